package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Alerts on the SQL store: the PDP creates them (on its hot path, before
// it answers), privacy officers list and review them.

const alertColumns = `id, alert_type, nhs_number, uid, role_profile_id, ods, reason, decision_id,
	created_at_us, status, reviewed_by, review_note, reviewed_at_us`

// CreateAlert implements Store.
func (s *sqlStore) CreateAlert(ctx context.Context, a Alert) error {
	return s.CreateAlerts(ctx, []Alert{a})
}

// CreateAlerts implements Store. A batch of access decisions stores its
// alerts with it: one transaction, one commit (and one fsync) for all.
func (s *sqlStore) CreateAlerts(ctx context.Context, alerts []Alert) error {
	alerts = slices.Clone(alerts) // normalised below; the caller's stay as they are
	for i := range alerts {
		a := &alerts[i]
		if a.Status != AlertOpen {
			return invalid("status", "must be open for a new alert")
		}
		if a.CreatedAt.IsZero() {
			a.CreatedAt = s.stamp()
		}
		a.CreatedAt = normTime(a.CreatedAt)
		if err := a.Validate(); err != nil {
			return err
		}
	}
	if len(alerts) == 0 {
		return nil
	}
	return s.write(ctx, "create alert", func(tx *sql.Tx) error {
		for _, a := range alerts {
			if err := insertAlert(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertAlert(ctx context.Context, tx *sql.Tx, a Alert) error {
	dup, err := exists(ctx, tx, `SELECT 1 FROM alerts WHERE id = $1`, a.ID)
	if err != nil {
		return err
	}
	if dup {
		return fmt.Errorf("registration: alert %s: %w", a.ID, ErrExists)
	}
	var holder, ods string
	err = tx.QueryRowContext(ctx, `SELECT uid, ods FROM role_profiles WHERE id = $1`, a.RoleProfileID).
		Scan(&holder, &ods)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return invalid("role_profile_id", "names no registered role profile")
	case err != nil:
		return err
	case holder != a.UID:
		return invalid("uid", "must be the holder of the role profile")
	case ods != a.ODS:
		return invalid("ods", "must be the organisation of the role profile")
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO alerts (`+alertColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, NULL)`,
		a.ID, string(a.Type), a.NHSNumber, a.UID, a.RoleProfileID, a.ODS, a.Reason,
		nullString(a.DecisionID), toMicros(a.CreatedAt), string(a.Status))
	return err
}

// Alerts implements Store.
func (s *sqlStore) Alerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	f, err := f.validate()
	if err != nil {
		return nil, err
	}
	var where []string
	var args []any
	arg := func(column string, v any) {
		args = append(args, v)
		where = append(where, column+" = $"+strconv.Itoa(len(args)))
	}
	if f.ODS != "" {
		arg("ods", f.ODS)
	}
	if f.Status != "" {
		arg("status", string(f.Status))
	}
	query := `SELECT ` + alertColumns + ` FROM alerts`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	args = append(args, f.Limit)
	query += ` ORDER BY created_at_us, id LIMIT $` + strconv.Itoa(len(args))

	out := []Alert{}
	err = s.eachRow(ctx, "list alerts", func(rows *sql.Rows) error {
		var a Alert
		var typ, status string
		var decision, reviewer, note sql.NullString
		var created int64
		var reviewed sql.NullInt64
		if err := rows.Scan(&a.ID, &typ, &a.NHSNumber, &a.UID, &a.RoleProfileID, &a.ODS, &a.Reason,
			&decision, &created, &status, &reviewer, &note, &reviewed); err != nil {
			return err
		}
		a.Type, a.Status = AlertType(typ), AlertStatus(status)
		a.DecisionID, a.ReviewedBy, a.ReviewNote = decision.String, reviewer.String, note.String
		a.CreatedAt, a.ReviewedAt = fromMicros(created), optMicros(reviewed)
		out = append(out, a)
		return nil
	}, query, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReviewAlert implements Store.
func (s *sqlStore) ReviewAlert(ctx context.Context, id, reviewer string, st AlertStatus, note string) error {
	if err := ValidateRecordID(id); err != nil {
		return err
	}
	switch {
	case !st.Valid():
		return invalid("status", "must be closed or escalated")
	case st == AlertOpen:
		return invalid("status", "an alert cannot return to open")
	}
	if err := checkUserID("reviewed_by", reviewer); err != nil {
		return err
	}
	if note != "" {
		if err := checkText("review_note", note, MaxReviewNoteLen); err != nil {
			return err
		}
	}
	return s.write(ctx, "review alert", func(tx *sql.Tx) error {
		var uid, cur string
		err := tx.QueryRowContext(ctx, `SELECT uid, status FROM alerts WHERE id = $1`, id).Scan(&uid, &cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: alert %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		from := AlertStatus(cur)
		if !alertTransitionOK(from, st) {
			return fmt.Errorf("registration: alert %s is %s and cannot become %s: %w", id, from, st, ErrConflict)
		}
		if err := checkReviewer(reviewer, uid); err != nil {
			return err
		}
		if err := mustExist(ctx, tx, "reviewed_by", "person", personExistsSQL, reviewer); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE alerts
			SET status = $1, reviewed_by = $2, review_note = $3, reviewed_at_us = $4
			WHERE id = $5 AND status = $6`,
			string(st), reviewer, nullString(note), toMicros(s.stamp()), id, cur)
		if err != nil {
			return err
		}
		return oneRow(res, "alert "+id)
	})
}
