package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Patient facts on the SQL store: relationships, consent and seals, and
// PatientFacts, the PDP's one-statement read of all three.
//
// Every read is a single statement on the read pool, without an explicit
// transaction: one statement reads one snapshot on both databases (SQLite
// runs it in its own read transaction, PostgreSQL gives each statement a
// snapshot), which is what makes PatientFacts consistent.
//
// Lists that hold free-form tokens (dissent codes, sections) are sorted in
// Go, by bytes, rather than by ORDER BY: PostgreSQL would order them by the
// database's collation, which is not byte order ("9Ndo" and "93C3", "-"
// and "/"), and the conformance suite wants one order from every backend.

const (
	relationshipColumns = `id, nhs_number, target_type, target, kind, created_by, reason,
	created_at_us, expires_at_us, ended_at_us`
	relationshipsForSQL = `SELECT ` + relationshipColumns + ` FROM relationships
	WHERE nhs_number = $1 AND created_at_us <= $2 ORDER BY created_at_us, id`
	consentSQL = `SELECT c.scr, c.updated_by, c.updated_at_us, c.version, d.code
	FROM consents c LEFT JOIN consent_dissent_codes d ON d.nhs_number = c.nhs_number
	WHERE c.nhs_number = $1`
	sealColumns = `nhs_number, section, state, owner_workgroup, created_by, created_at_us`
	sealsSQL    = `SELECT ` + sealColumns + ` FROM seals WHERE nhs_number = $1`
)

// eachRow runs query on the read pool and calls scan for each row; errors
// are wrapped with op.
func (s *sqlStore) eachRow(ctx context.Context, op string, scan func(*sql.Rows) error, query string, args ...any) error {
	rows, err := s.r.QueryContext(ctx, query, args...)
	return s.scanAll(op, rows, err, scan)
}

// scanAll calls scan for each row of a query's result (rows, err).
func (s *sqlStore) scanAll(op string, rows *sql.Rows, err error, scan func(*sql.Rows) error) error {
	if err != nil {
		return s.wrap(op, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.wrap(op, err)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return s.wrap(op, err)
	}
	return nil
}

// CreateRelationship implements Store.
func (s *sqlStore) CreateRelationship(ctx context.Context, r Relationship) error {
	if !r.EndedAt.IsZero() {
		return invalid("ended_at", "must be zero for a new relationship")
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = s.stamp()
	}
	r.CreatedAt = normTime(r.CreatedAt)
	if !r.ExpiresAt.IsZero() {
		r.ExpiresAt = normTime(r.ExpiresAt)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "create relationship", func(tx *sql.Tx) error {
		dup, err := exists(ctx, tx, `SELECT 1 FROM relationships WHERE id = $1`, r.ID)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("registration: relationship %s: %w", r.ID, ErrExists)
		}
		if err := mustExist(ctx, tx, "created_by", "person", personExistsSQL, r.CreatedBy); err != nil {
			return err
		}
		switch r.TargetType {
		case TargetUser:
			err = mustExist(ctx, tx, "target", "person", personExistsSQL, r.Target)
		case TargetOrganisation:
			err = mustExist(ctx, tx, "target", "organisation", orgExistsSQL, r.Target)
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO relationships (`+relationshipColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL)`,
			r.ID, r.NHSNumber, string(r.TargetType), r.Target, string(r.Kind), r.CreatedBy,
			nullString(r.Reason), toMicros(r.CreatedAt), nullMicros(r.ExpiresAt))
		return err
	})
}

// RelationshipsFor implements Store.
func (s *sqlStore) RelationshipsFor(ctx context.Context, nhs string, at time.Time) ([]Relationship, error) {
	if err := ValidateNHSNumber(nhs); err != nil {
		return nil, err
	}
	until := int64(math.MaxInt64)
	if !at.IsZero() {
		if err := checkTime("at", at); err != nil {
			return nil, err
		}
		until = toMicros(normTime(at))
	}
	out := []Relationship{}
	err := s.eachRow(ctx, "list relationships", func(rows *sql.Rows) error {
		var r Relationship
		var tt, kind string
		var reason sql.NullString
		var created int64
		var expires, ended sql.NullInt64
		if err := rows.Scan(&r.ID, &r.NHSNumber, &tt, &r.Target, &kind, &r.CreatedBy, &reason,
			&created, &expires, &ended); err != nil {
			return err
		}
		r.TargetType, r.Kind, r.Reason = TargetType(tt), RelationshipKind(kind), reason.String
		r.CreatedAt, r.ExpiresAt, r.EndedAt = fromMicros(created), optMicros(expires), optMicros(ended)
		out = append(out, r)
		return nil
	}, relationshipsForSQL, nhs, until)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EndRelationship implements Store.
func (s *sqlStore) EndRelationship(ctx context.Context, id string, at time.Time) error {
	if err := ValidateRecordID(id); err != nil {
		return err
	}
	if at.IsZero() {
		at = s.stamp()
	}
	at = normTime(at)
	if err := checkTime("at", at); err != nil {
		return err
	}
	return s.write(ctx, "end relationship", func(tx *sql.Tx) error {
		var created int64
		var ended sql.NullInt64
		err := tx.QueryRowContext(ctx, `SELECT created_at_us, ended_at_us FROM relationships WHERE id = $1`, id).
			Scan(&created, &ended)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: relationship %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if ended.Valid {
			return fmt.Errorf("registration: relationship %s has already ended: %w", id, ErrConflict)
		}
		if toMicros(at) < created {
			return invalid("at", "must not be before the relationship was created")
		}
		res, err := tx.ExecContext(ctx, `UPDATE relationships SET ended_at_us = $1
			WHERE id = $2 AND ended_at_us IS NULL`, toMicros(at), id)
		if err != nil {
			return err
		}
		return oneRow(res, "relationship "+id)
	})
}

// Consent implements Store.
func (s *sqlStore) Consent(ctx context.Context, nhs string) (*Consent, error) {
	if err := ValidateNHSNumber(nhs); err != nil {
		return nil, err
	}
	var c *Consent
	err := s.eachRow(ctx, "get consent", func(rows *sql.Rows) error {
		var scr, by string
		var updated int64
		var version int
		var code sql.NullString
		if err := rows.Scan(&scr, &by, &updated, &version, &code); err != nil {
			return err
		}
		if c == nil {
			c = &Consent{NHSNumber: nhs, SCR: ConsentSCR(scr), DissentCodes: []string{},
				UpdatedBy: by, UpdatedAt: fromMicros(updated), Version: version}
		}
		if code.Valid {
			c.DissentCodes = append(c.DissentCodes, code.String)
		}
		return nil
	}, consentSQL, nhs)
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("registration: consent of %s: %w", nhs, ErrNotFound)
	}
	slices.Sort(c.DissentCodes)
	return c, nil
}

// SetConsent implements Store.
func (s *sqlStore) SetConsent(ctx context.Context, c Consent) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = s.stamp()
	}
	c.UpdatedAt = normTime(c.UpdatedAt)
	c.DissentCodes = sortedCopy(c.DissentCodes)
	if err := c.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "set consent", func(tx *sql.Tx) error {
		var cur int
		err := tx.QueryRowContext(ctx, `SELECT version FROM consents WHERE nhs_number = $1`, c.NHSNumber).Scan(&cur)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if cur != c.Version {
			return fmt.Errorf("registration: consent of %s is at version %d, not %d: %w",
				c.NHSNumber, cur, c.Version, ErrConflict)
		}
		if err := mustExist(ctx, tx, "updated_by", "person", personExistsSQL, c.UpdatedBy); err != nil {
			return err
		}
		if cur == 0 {
			_, err = tx.ExecContext(ctx, `INSERT INTO consents (nhs_number, scr, updated_by, updated_at_us, version)
				VALUES ($1, $2, $3, $4, 1)`, c.NHSNumber, string(c.SCR), c.UpdatedBy, toMicros(c.UpdatedAt))
			if err != nil && errors.Is(s.classify(err), ErrExists) {
				// A concurrent first write won (PostgreSQL; SQLite's
				// single writer never gets here): a stale version.
				return fmt.Errorf("registration: consent of %s changed concurrently: %w", c.NHSNumber, ErrConflict)
			}
		} else {
			var res sql.Result
			res, err = tx.ExecContext(ctx, `UPDATE consents SET scr = $1, updated_by = $2, updated_at_us = $3,
				version = version + 1 WHERE nhs_number = $4 AND version = $5`,
				string(c.SCR), c.UpdatedBy, toMicros(c.UpdatedAt), c.NHSNumber, cur)
			if err == nil {
				err = oneRow(res, "consent of "+c.NHSNumber)
			}
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM consent_dissent_codes WHERE nhs_number = $1`, c.NHSNumber); err != nil {
			return err
		}
		return insertAll(ctx, tx, `INSERT INTO consent_dissent_codes (nhs_number, code) VALUES ($1, $2)`,
			c.NHSNumber, c.DissentCodes)
	})
}

// Seals implements Store.
func (s *sqlStore) Seals(ctx context.Context, nhs string) ([]Seal, error) {
	if err := ValidateNHSNumber(nhs); err != nil {
		return nil, err
	}
	out := []Seal{}
	err := s.eachRow(ctx, "list seals", func(rows *sql.Rows) error {
		var sl Seal
		var state string
		var owner sql.NullString
		var created int64
		if err := rows.Scan(&sl.NHSNumber, &sl.Section, &state, &owner, &sl.CreatedBy, &created); err != nil {
			return err
		}
		sl.State, sl.OwnerWorkgroup, sl.CreatedAt = SealState(state), owner.String, fromMicros(created)
		out = append(out, sl)
		return nil
	}, sealsSQL, nhs)
	if err != nil {
		return nil, err
	}
	sortSeals(out)
	return out, nil
}

func sortSeals(seals []Seal) {
	slices.SortFunc(seals, func(a, b Seal) int { return strings.Compare(a.Section, b.Section) })
}

// CreateSeal implements Store.
func (s *sqlStore) CreateSeal(ctx context.Context, sl Seal) error {
	if sl.CreatedAt.IsZero() {
		sl.CreatedAt = s.stamp()
	}
	sl.CreatedAt = normTime(sl.CreatedAt)
	if err := sl.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "create seal", func(tx *sql.Tx) error {
		dup, err := exists(ctx, tx, `SELECT 1 FROM seals WHERE nhs_number = $1 AND section = $2`, sl.NHSNumber, sl.Section)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("registration: seal on %s of %s: %w", sl.Section, sl.NHSNumber, ErrExists)
		}
		if err := mustExist(ctx, tx, "created_by", "person", personExistsSQL, sl.CreatedBy); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO seals (`+sealColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			sl.NHSNumber, sl.Section, string(sl.State), nullString(sl.OwnerWorkgroup), sl.CreatedBy,
			toMicros(sl.CreatedAt))
		return err
	})
}

// PatientFacts implements Store.
func (s *sqlStore) PatientFacts(ctx context.Context, nhs string) (*PatientFacts, error) {
	df, err := s.DecisionFacts(ctx, nil, []string{nhs})
	if err != nil {
		return nil, err
	}
	return df.Patients[nhs], nil
}

// optMicros is the time of a nullable _us column: zero for NULL.
func optMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}
