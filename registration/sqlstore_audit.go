package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// The audit trail is appended in the transaction of the change it records.
// audited locks the head of the chain first (UPDATE ... RETURNING takes the
// row lock on PostgreSQL; SQLite has one writer), so every audited write
// takes its locks in the same order and appends never fork the chain.

// auditEntry fills in and checks an entry a caller gives.
func (s *sqlStore) auditEntry(a AuditEntry, outcome AuditOutcome) (AuditEntry, error) {
	if a.ID == "" {
		a.ID = NewRecordID()
	}
	if a.At.IsZero() {
		a.At = s.stamp()
	}
	a.At = normTime(a.At)
	if a.Outcome == "" {
		a.Outcome = outcome
	}
	a.Seq, a.PrevHash, a.Hash = 0, "", ""
	return a, a.Validate()
}

// audited runs fn and appends a (outcome done) in one transaction.
func (s *sqlStore) audited(ctx context.Context, op string, a AuditEntry, fn func(tx *sql.Tx) error) (*AuditEntry, error) {
	a, err := s.auditEntry(a, AuditDone)
	if err != nil {
		return nil, err
	}
	if a.Outcome != AuditDone {
		return nil, invalid("outcome", "must be done for a change")
	}
	err = s.write(withoutPendingAudit(ctx), op, func(tx *sql.Tx) error {
		seq, prev, err := s.lockAuditHead(ctx, tx)
		if err != nil {
			return err
		}
		if fn != nil {
			if err := fn(tx); err != nil {
				return err
			}
		}
		return insertAudit(ctx, tx, &a, seq, prev)
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// errAuditHeadRace: two transactions both found the chain's head row
// missing (a store whose tables were emptied) and created it; the loser
// is run again and finds it.
var errAuditHeadRace = errors.New("the audit head was created concurrently")

// lockAuditHead advances the head's sequence number, holding its row
// until the transaction ends, and returns the new number and the hash of
// the entry before it. A missing head row is created only while the log
// is empty (a fresh or emptied store); with entries in the log it is an
// error, never a silent restart of the chain.
func (s *sqlStore) lockAuditHead(ctx context.Context, tx *sql.Tx) (int64, string, error) {
	var seq int64
	var prev string
	err := tx.QueryRowContext(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&seq, &prev)
	if err == nil {
		return seq, prev, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO audit_head (id, seq, hash)
		SELECT 1, 1, $1 WHERE NOT EXISTS (SELECT 1 FROM audit_log)`, ZeroHash)
	if err != nil {
		if s.classify(err) == ErrExists {
			return 0, "", fmt.Errorf("audit head: %w (%v)", errAuditHeadRace, err)
		}
		return 0, "", fmt.Errorf("audit head: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		// Either the log has entries and no head (an error), or another
		// transaction created the head and its first entry since the
		// UPDATE above: then the head is there now.
		err := tx.QueryRowContext(ctx, `UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash`).Scan(&seq, &prev)
		switch {
		case err == nil:
			return seq, prev, nil
		case errors.Is(err, sql.ErrNoRows):
			return 0, "", errors.New("audit head: the head row is missing but the log has entries")
		default:
			return 0, "", fmt.Errorf("audit head: %w", err)
		}
	}
	return 1, ZeroHash, nil
}

func insertAudit(ctx context.Context, tx *sql.Tx, a *AuditEntry, seq int64, prev string) error {
	a.Seq, a.PrevHash = seq, prev
	a.Hash = a.ComputeHash()
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (`+auditColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		a.Seq, a.ID, toMicros(a.At), nullString(a.ActorUID), nullString(a.ActorRoleProfileID),
		a.Action, string(a.Outcome), nullString(a.SubjectUID), nullString(a.Target),
		nullString(a.Reason), nullString(a.DecisionID), nullString(a.Details), a.PrevHash, a.Hash)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `UPDATE audit_head SET hash = $1 WHERE id = 1 AND seq = $2`, a.Hash, a.Seq)
	if err != nil {
		return err
	}
	return oneRow(res, "audit head")
}

const auditColumns = `seq, id, at_us, actor_uid, actor_role_profile_id, action, outcome,
	subject_uid, target, reason, decision_id, details, prev_hash, hash`

// AppendAudit implements RA.
func (s *sqlStore) AppendAudit(ctx context.Context, a AuditEntry) (*AuditEntry, error) {
	a, err := s.auditEntry(a, AuditDone)
	if err != nil {
		return nil, err
	}
	err = s.write(withoutPendingAudit(ctx), "append audit", func(tx *sql.Tx) error {
		seq, prev, err := s.lockAuditHead(ctx, tx)
		if err != nil {
			return err
		}
		return insertAudit(ctx, tx, &a, seq, prev)
	})
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// AuditEntries implements RA.
func (s *sqlStore) AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	f, err := f.validate()
	if err != nil {
		return nil, err
	}
	args := []any{f.AfterSeq}
	query := `SELECT ` + auditColumns + ` FROM audit_log WHERE seq > $1`
	if f.SubjectUID != "" {
		args = append(args, f.SubjectUID)
		query += ` AND subject_uid = $2`
	}
	args = append(args, f.Limit)
	query += ` ORDER BY seq LIMIT $` + strconv.Itoa(len(args))
	out := []AuditEntry{}
	err = s.eachRow(ctx, "list audit", func(rows *sql.Rows) error {
		var a AuditEntry
		var at int64
		var outcome string
		var actor, actorRP, subject, target, reason, decision, details sql.NullString
		if err := rows.Scan(&a.Seq, &a.ID, &at, &actor, &actorRP, &a.Action, &outcome,
			&subject, &target, &reason, &decision, &details, &a.PrevHash, &a.Hash); err != nil {
			return err
		}
		a.At, a.Outcome = fromMicros(at), AuditOutcome(outcome)
		a.ActorUID, a.ActorRoleProfileID, a.SubjectUID = actor.String, actorRP.String, subject.String
		a.Target, a.Reason, a.DecisionID, a.Details = target.String, reason.String, decision.String, details.String
		out = append(out, a)
		return nil
	}, query, args...)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AuditHead implements RA. A store whose head row is missing has an
// empty chain only if its log is empty too.
func (s *sqlStore) AuditHead(ctx context.Context) (*AuditHead, error) {
	var h AuditHead
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&h.Seq, &h.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		var any int
		err = s.r.QueryRowContext(ctx, `SELECT 1 FROM audit_log LIMIT 1`).Scan(&any)
		if errors.Is(err, sql.ErrNoRows) {
			return &AuditHead{Seq: 0, Hash: ZeroHash}, nil
		}
		if err == nil {
			return nil, &AuditChainError{Seq: 1, Problem: "the head of the chain is missing while the log has entries"}
		}
	}
	if err != nil {
		return nil, s.wrap("audit head", err)
	}
	return &h, nil
}

// VerifyAudit implements RA.
func (s *sqlStore) VerifyAudit(ctx context.Context) (int64, error) {
	head, err := s.AuditHead(ctx)
	if err != nil {
		return 0, err
	}
	v := NewAuditVerifier()
	after := int64(0)
	for after < head.Seq {
		page, err := s.AuditEntries(ctx, AuditFilter{AfterSeq: after, Limit: 1000})
		if err != nil {
			return v.Entries, err
		}
		if len(page) == 0 {
			break
		}
		for _, a := range page {
			if a.Seq > head.Seq {
				break // appended after the head was read
			}
			if err := v.Add(a); err != nil {
				return v.Entries, err
			}
		}
		after = page[len(page)-1].Seq
	}
	return v.Entries, v.Finish(head.Seq, head.Hash)
}
