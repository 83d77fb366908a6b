package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var _ RA = (*sqlStore)(nil)

// RegisterPerson implements RA.
func (s *sqlStore) RegisterPerson(ctx context.Context, p Person, check IdentityCheck, a AuditEntry) error {
	p, err := s.preparePerson(p)
	if err != nil {
		return err
	}
	if check.ID == "" {
		check.ID = NewRecordID()
	}
	if check.CheckedAt.IsZero() {
		check.CheckedAt = s.stamp()
	}
	check.CheckedAt = normTime(check.CheckedAt)
	if err := check.Validate(); err != nil {
		return err
	}
	if check.UID != p.UID {
		return invalid("identity_check", "must be for the person registered")
	}
	_, err = s.audited(ctx, "register person", a, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "ods", "organisation", orgExistsSQL, check.ODS); err != nil {
			return err
		}
		if err := mustExist(ctx, tx, "checked_by", "person", personExistsSQL, check.CheckedBy); err != nil {
			return err
		}
		if err := createPersonTx(ctx, tx, p); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO identity_checks
			(id, uid, ods, document_type, document_ref, checked_by, checked_at_us)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			check.ID, check.UID, check.ODS, string(check.DocumentType), check.DocumentRef,
			check.CheckedBy, toMicros(check.CheckedAt))
		return err
	})
	return err
}

// UpdatePerson implements RA.
func (s *sqlStore) UpdatePerson(ctx context.Context, p Person, a AuditEntry) (*Person, error) {
	if err := ValidateUserID(p.UID); err != nil {
		return nil, err
	}
	if err := ValidateName(p.Name); err != nil {
		return nil, err
	}
	if !p.Status.Valid() {
		return nil, invalid("status", "must be active, suspended or closed")
	}
	if p.Version < 1 {
		return nil, invalid("version", "must be the version read (1 or more)")
	}
	updated := s.stamp()
	var out Person
	_, err := s.audited(ctx, "update person", a, func(tx *sql.Tx) error {
		var version int
		var created, prevUpdated int64
		err := tx.QueryRowContext(ctx, `SELECT version, created_at_us, updated_at_us FROM people WHERE uid = $1`, p.UID).
			Scan(&version, &created, &prevUpdated)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: person %s: %w", p.UID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if version != p.Version {
			return fmt.Errorf("registration: person %s is at version %d, not %d: %w", p.UID, version, p.Version, ErrConflict)
		}
		at := updated
		if prev := fromMicros(prevUpdated); at.Before(prev) {
			at = prev
		}
		res, err := tx.ExecContext(ctx, `UPDATE people SET name = $1, status = $2, version = version + 1, updated_at_us = $3
			WHERE uid = $4 AND version = $5`, p.Name, string(p.Status), toMicros(at), p.UID, p.Version)
		if err != nil {
			return err
		}
		if err := oneRow(res, "person "+p.UID); err != nil {
			return err
		}
		out = Person{UID: p.UID, Name: p.Name, Status: p.Status, Version: version + 1,
			CreatedAt: fromMicros(created), UpdatedAt: at}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// IdentityChecks implements RA.
func (s *sqlStore) IdentityChecks(ctx context.Context, uid string) ([]IdentityCheck, error) {
	if err := s.mustPerson(ctx, uid); err != nil {
		return nil, err
	}
	out := []IdentityCheck{}
	err := s.eachRow(ctx, "list identity checks", func(rows *sql.Rows) error {
		var c IdentityCheck
		var typ string
		var at int64
		if err := rows.Scan(&c.ID, &c.UID, &c.ODS, &typ, &c.DocumentRef, &c.CheckedBy, &at); err != nil {
			return err
		}
		c.DocumentType, c.CheckedAt = DocumentType(typ), fromMicros(at)
		out = append(out, c)
		return nil
	}, `SELECT id, uid, ods, document_type, document_ref, checked_by, checked_at_us
		FROM identity_checks WHERE uid = $1 ORDER BY checked_at_us, id`, uid)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// mustPerson returns ErrInvalid for a malformed uid and ErrNotFound for
// one nobody holds.
func (s *sqlStore) mustPerson(ctx context.Context, uid string) error {
	_, err := s.Person(ctx, uid)
	return err
}

// PersonOrganisations implements RA.
func (s *sqlStore) PersonOrganisations(ctx context.Context, uid string) ([]string, error) {
	if err := s.mustPerson(ctx, uid); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	err := s.eachRow(ctx, "person organisations", func(rows *sql.Rows) error {
		var ods string
		if err := rows.Scan(&ods); err != nil {
			return err
		}
		seen[ods] = true
		return nil
	}, `SELECT ods FROM identity_checks WHERE uid = $1
		UNION SELECT ods FROM role_profiles WHERE uid = $1 AND status <> 'ended'`, uid)
	if err != nil {
		return nil, err
	}
	return sortedKeys(seen), nil
}

// FindPeople implements RA.
func (s *sqlStore) FindPeople(ctx context.Context, f PersonFilter) ([]Person, error) {
	f, err := f.validate()
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	if f.Name != "" {
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(f.Name))
		args = append(args, "%"+esc+"%")
		where = append(where, `lower(p.name) LIKE $`+strconv.Itoa(len(args))+` ESCAPE '\'`)
	}
	if f.ODS != "" {
		args = append(args, f.ODS)
		n := strconv.Itoa(len(args))
		where = append(where, `p.uid IN (SELECT uid FROM identity_checks WHERE ods = $`+n+`
			UNION SELECT uid FROM role_profiles WHERE ods = $`+n+` AND status <> 'ended')`)
	}
	args = append(args, f.Limit)
	query := `SELECT p.uid, p.name, p.status, p.version, p.created_at_us, p.updated_at_us FROM people p
		WHERE ` + strings.Join(where, ` AND `) + ` ORDER BY p.name, p.uid LIMIT $` + strconv.Itoa(len(args))
	out := []Person{}
	err = s.eachRow(ctx, "find people", func(rows *sql.Rows) error {
		var p Person
		var status string
		var created, updated int64
		if err := rows.Scan(&p.UID, &p.Name, &status, &p.Version, &created, &updated); err != nil {
			return err
		}
		p.Status, p.CreatedAt, p.UpdatedAt = PersonStatus(status), fromMicros(created), fromMicros(updated)
		out = append(out, p)
		return nil
	}, query, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// RequestRoleProfile implements RA.
func (s *sqlStore) RequestRoleProfile(ctx context.Context, rp RoleProfile, req RoleProfileRequest, a AuditEntry) error {
	if rp.Status != RoleProfilePending {
		return invalid("status", "a requested role profile must be pending")
	}
	rp, err := s.prepareRoleProfile(rp)
	if err != nil {
		return err
	}
	if req.RequestedAt.IsZero() {
		req.RequestedAt = s.stamp()
	}
	req.RequestedAt = normTime(req.RequestedAt)
	switch {
	case req.RoleProfileID != rp.ID:
		return invalid("role_profile_id", "the request must be for the profile created")
	case req.Reason != "":
		if err := checkText("reason", req.Reason, 500); err != nil {
			return err
		}
	}
	if err := checkUserID("requested_by", req.RequestedBy); err != nil {
		return err
	}
	if req.RequestedBy == rp.UID {
		return invalid("requested_by", "must not be the holder of the profile")
	}
	_, err = s.audited(ctx, "request role profile", a, func(tx *sql.Tx) error {
		if err := mustExist(ctx, tx, "requested_by", "person", personExistsSQL, req.RequestedBy); err != nil {
			return err
		}
		if err := createRoleProfileTx(ctx, tx, rp); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO role_profile_requests
			(role_profile_id, requested_by, requested_at_us, reason) VALUES ($1, $2, $3, $4)`,
			rp.ID, req.RequestedBy, toMicros(req.RequestedAt), nullString(req.Reason))
		return err
	})
	return err
}

// RoleProfileRequest implements RA.
func (s *sqlStore) RoleProfileRequest(ctx context.Context, id string) (*RoleProfileRequest, error) {
	if err := ValidateRoleProfileID(id); err != nil {
		return nil, err
	}
	var r RoleProfileRequest
	var at int64
	var reason sql.NullString
	err := s.r.QueryRowContext(ctx, `SELECT role_profile_id, requested_by, requested_at_us, reason
		FROM role_profile_requests WHERE role_profile_id = $1`, id).Scan(&r.RoleProfileID, &r.RequestedBy, &at, &reason)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("registration: request for role profile %s: %w", id, ErrNotFound)
	case err != nil:
		return nil, s.wrap("get role profile request", err)
	}
	r.RequestedAt, r.Reason = fromMicros(at), reason.String
	return &r, nil
}

// ApproveRoleProfile implements RA.
func (s *sqlStore) ApproveRoleProfile(ctx context.Context, id, approver string, a AuditEntry) error {
	if err := ValidateRoleProfileID(id); err != nil {
		return err
	}
	if err := checkUserID("approved_by", approver); err != nil {
		return err
	}
	_, err := s.audited(ctx, "approve role profile", a, func(tx *sql.Tx) error {
		var requester string
		err := tx.QueryRowContext(ctx, `SELECT requested_by FROM role_profile_requests WHERE role_profile_id = $1`, id).Scan(&requester)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case requester == approver:
			return fmt.Errorf("registration: role profile %s: its requester cannot approve it: %w", id, ErrConflict)
		}
		var holder string
		err = tx.QueryRowContext(ctx, `SELECT uid FROM role_profiles WHERE id = $1`, id).Scan(&holder)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("registration: role profile %s: %w", id, ErrNotFound)
		case err != nil:
			return err
		case holder == approver:
			return fmt.Errorf("registration: role profile %s: its holder cannot approve it: %w", id, ErrConflict)
		}
		return setRoleProfileStatusTx(ctx, tx, id, RoleProfileActive, approver)
	})
	return err
}

// EndRoleProfile implements RA.
func (s *sqlStore) EndRoleProfile(ctx context.Context, id string, a AuditEntry) error {
	if err := ValidateRoleProfileID(id); err != nil {
		return err
	}
	_, err := s.audited(ctx, "end role profile", a, func(tx *sql.Tx) error {
		return setRoleProfileStatusTx(ctx, tx, id, RoleProfileEnded, "")
	})
	return err
}

// PendingRoleProfiles implements RA.
func (s *sqlStore) PendingRoleProfiles(ctx context.Context, ods string) ([]RoleProfile, error) {
	if err := ValidateODSCode(ods); err != nil {
		return nil, err
	}
	out := []RoleProfile{}
	var r profileRow
	err := s.eachRow(ctx, "list pending role profiles", func(rows *sql.Rows) error {
		if err := rows.Scan(r.dest()...); err != nil {
			return err
		}
		rp, err := r.profile()
		if err != nil {
			return err
		}
		out = append(out, rp)
		return nil
	}, profileSelect+`FROM role_profiles rp WHERE rp.ods = $1 AND rp.status = 'pending'
		ORDER BY rp.created_at_us, rp.id`, ods)
	if err != nil {
		return nil, err
	}
	return out, nil
}
