package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const roleProfileColumns = `id, uid, ods, job_role, start_us, end_us, status, approved_by, created_at_us`

// CreateRoleProfile implements Store.
func (s *sqlStore) CreateRoleProfile(ctx context.Context, rp RoleProfile) error {
	if rp.CreatedAt.IsZero() {
		rp.CreatedAt = s.stamp()
	}
	rp.CreatedAt, rp.Start = normTime(rp.CreatedAt), normTime(rp.Start)
	if !rp.End.IsZero() {
		rp.End = normTime(rp.End)
	}
	rp.Activities, rp.Workgroups = sortedCopy(rp.Activities), sortedCopy(rp.Workgroups)
	if err := rp.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "create role profile", func(tx *sql.Tx) error {
		dup, err := exists(ctx, tx, `SELECT 1 FROM role_profiles WHERE id = $1`, rp.ID)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("registration: role profile %s: %w", rp.ID, ErrExists)
		}
		if err := mustExist(ctx, tx, "uid", "person", personExistsSQL, rp.UID); err != nil {
			return err
		}
		if err := mustExist(ctx, tx, "ods", "organisation", orgExistsSQL, rp.ODS); err != nil {
			return err
		}
		if rp.ApprovedBy != "" {
			if err := mustExist(ctx, tx, "approved_by", "person", personExistsSQL, rp.ApprovedBy); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO role_profiles (`+roleProfileColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			rp.ID, rp.UID, rp.ODS, rp.JobRole, toMicros(rp.Start), nullMicros(rp.End),
			string(rp.Status), nullString(rp.ApprovedBy), toMicros(rp.CreatedAt))
		if err != nil {
			return err
		}
		if err := insertAll(ctx, tx, `INSERT INTO role_profile_activities (role_profile_id, activity) VALUES ($1, $2)`,
			rp.ID, rp.Activities); err != nil {
			return err
		}
		return insertAll(ctx, tx, `INSERT INTO role_profile_workgroups (role_profile_id, workgroup) VALUES ($1, $2)`,
			rp.ID, rp.Workgroups)
	})
}

func insertAll(ctx context.Context, tx *sql.Tx, query, id string, values []string) error {
	if len(values) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, v := range values {
		if _, err := stmt.ExecContext(ctx, id, v); err != nil {
			return err
		}
	}
	return nil
}

// RoleProfile implements Store.
func (s *sqlStore) RoleProfile(ctx context.Context, id string) (*RoleProfile, error) {
	if err := ValidateRoleProfileID(id); err != nil {
		return nil, err
	}
	var out []RoleProfile
	err := s.read(ctx, "get role profile", func(tx *sql.Tx) error {
		var err error
		out, err = queryRoleProfiles(ctx, tx, `WHERE role_profiles.id = $1`, id)
		if err == nil && len(out) == 0 {
			err = fmt.Errorf("registration: role profile %s: %w", id, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// RoleProfilesOf implements Store.
func (s *sqlStore) RoleProfilesOf(ctx context.Context, uid string) ([]RoleProfile, error) {
	if err := ValidateUserID(uid); err != nil {
		return nil, err
	}
	var out []RoleProfile
	err := s.read(ctx, "list role profiles", func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, personExistsSQL, uid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("registration: person %s: %w", uid, ErrNotFound)
		}
		out, err = queryRoleProfiles(ctx, tx, `WHERE role_profiles.uid = $1`, uid)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryRoleProfiles loads the role profiles matching where (a clause on
// role_profiles with one parameter, $1 = arg), ordered by start and ID,
// with their activities and workgroups.
func queryRoleProfiles(ctx context.Context, tx *sql.Tx, where string, arg any) ([]RoleProfile, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+roleProfileColumns+` FROM role_profiles `+where+
		` ORDER BY start_us, id`, arg)
	if err != nil {
		return nil, err
	}
	out := []RoleProfile{}
	index := map[string]int{}
	for rows.Next() {
		var rp RoleProfile
		var start, created int64
		var end sql.NullInt64
		var status string
		var approvedBy sql.NullString
		if err := rows.Scan(&rp.ID, &rp.UID, &rp.ODS, &rp.JobRole, &start, &end,
			&status, &approvedBy, &created); err != nil {
			rows.Close()
			return nil, err
		}
		rp.Start, rp.CreatedAt = fromMicros(start), fromMicros(created)
		if end.Valid {
			rp.End = fromMicros(end.Int64)
		}
		rp.Status, rp.ApprovedBy = RoleProfileStatus(status), approvedBy.String
		rp.Activities, rp.Workgroups = []string{}, []string{}
		index[rp.ID] = len(out)
		out = append(out, rp)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return out, nil
	}
	for _, child := range []struct {
		table, column string
		list          func(rp *RoleProfile) *[]string
	}{
		{"role_profile_activities", "activity", func(rp *RoleProfile) *[]string { return &rp.Activities }},
		{"role_profile_workgroups", "workgroup", func(rp *RoleProfile) *[]string { return &rp.Workgroups }},
	} {
		rows, err := tx.QueryContext(ctx, `SELECT c.role_profile_id, c.`+child.column+
			` FROM `+child.table+` c JOIN role_profiles ON role_profiles.id = c.role_profile_id `+
			where+` ORDER BY c.role_profile_id, c.`+child.column, arg)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var id, v string
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, err
			}
			if i, ok := index[id]; ok {
				l := child.list(&out[i])
				*l = append(*l, v)
			}
		}
		if err := closeRows(rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	return errors.Join(err, rows.Close())
}

// SetRoleProfileStatus implements Store.
func (s *sqlStore) SetRoleProfileStatus(ctx context.Context, id string, st RoleProfileStatus, approvedBy string) error {
	if err := ValidateRoleProfileID(id); err != nil {
		return err
	}
	switch {
	case !st.Valid():
		return invalid("status", "must be pending, active or ended")
	case st == RoleProfilePending:
		return invalid("status", "a role profile cannot return to pending")
	case st == RoleProfileActive && approvedBy == "":
		return invalid("approved_by", "is required to approve a role profile")
	case st != RoleProfileActive && approvedBy != "":
		return invalid("approved_by", "must be empty except when approving")
	case approvedBy != "":
		if err := checkUserID("approved_by", approvedBy); err != nil {
			return err
		}
	}
	return s.write(ctx, "set role profile status", func(tx *sql.Tx) error {
		var holder, cur string
		err := tx.QueryRowContext(ctx, `SELECT uid, status FROM role_profiles WHERE id = $1`, id).Scan(&holder, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: role profile %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		from := RoleProfileStatus(cur)
		if !roleProfileTransitionOK(from, st) {
			return fmt.Errorf("registration: role profile %s is %s and cannot become %s: %w", id, from, st, ErrConflict)
		}
		if approvedBy != "" {
			if err := checkApprover(st, approvedBy, holder); err != nil {
				return err
			}
			if err := mustExist(ctx, tx, "approved_by", "person", personExistsSQL, approvedBy); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE role_profiles
			SET status = $1, approved_by = COALESCE($2, approved_by)
			WHERE id = $3 AND status = $4`,
			string(st), nullString(approvedBy), id, cur)
		if err != nil {
			return err
		}
		return oneRow(res, "role profile "+id)
	})
}

// oneRow turns a compare-and-set update that matched nothing (another
// writer got there first) into ErrConflict.
func oneRow(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("registration: %s changed concurrently: %w", what, ErrConflict)
	}
	return nil
}

func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: toMicros(t), Valid: true}
}
