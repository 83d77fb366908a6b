package registration

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
)

const cardColumns = `id, uid, cert_serial, cert_fingerprint, cert_not_after_us, status, issued_at_us`

// CreateCard implements Store.
func (s *sqlStore) CreateCard(ctx context.Context, c Card) error {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = s.stamp()
	}
	c.IssuedAt, c.CertNotAfter = normTime(c.IssuedAt), normTime(c.CertNotAfter)
	if err := c.Validate(); err != nil {
		return err
	}
	fp := hex.EncodeToString(c.CertFingerprint[:])
	return s.write(ctx, "create card", func(tx *sql.Tx) error {
		dup, err := exists(ctx, tx, `SELECT 1 FROM cards WHERE id = $1`, c.ID)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("registration: card %s: %w", c.ID, ErrExists)
		}
		dup, err = exists(ctx, tx, `SELECT 1 FROM cards WHERE cert_fingerprint = $1`, fp)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("registration: card %s: another card has the same certificate: %w", c.ID, ErrExists)
		}
		if err := mustExist(ctx, tx, "uid", "person", personExistsSQL, c.UID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO cards (`+cardColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			c.ID, c.UID, c.CertSerial, fp, toMicros(c.CertNotAfter), string(c.Status), toMicros(c.IssuedAt))
		return err
	})
}

// Card implements Store.
func (s *sqlStore) Card(ctx context.Context, id string) (*Card, error) {
	if err := ValidateCardID(id); err != nil {
		return nil, err
	}
	return s.oneCard(ctx, `WHERE id = $1`, id, "card "+id)
}

// CardByFingerprint implements Store.
func (s *sqlStore) CardByFingerprint(ctx context.Context, fp [32]byte) (*Card, error) {
	if fp == ([32]byte{}) {
		return nil, invalid("cert_fingerprint", "must be set")
	}
	return s.oneCard(ctx, `WHERE cert_fingerprint = $1`, hex.EncodeToString(fp[:]), "card with this certificate")
}

func (s *sqlStore) oneCard(ctx context.Context, where string, arg any, what string) (*Card, error) {
	var cards []Card
	err := s.read(ctx, "get card", func(tx *sql.Tx) error {
		var err error
		cards, err = queryCards(ctx, tx, where, arg)
		if err == nil && len(cards) == 0 {
			err = fmt.Errorf("registration: %s: %w", what, ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return &cards[0], nil
}

// CardsOf implements Store.
func (s *sqlStore) CardsOf(ctx context.Context, uid string) ([]Card, error) {
	if err := ValidateUserID(uid); err != nil {
		return nil, err
	}
	var cards []Card
	err := s.read(ctx, "list cards", func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, personExistsSQL, uid)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("registration: person %s: %w", uid, ErrNotFound)
		}
		cards, err = queryCards(ctx, tx, `WHERE uid = $1`, uid)
		return err
	})
	if err != nil {
		return nil, err
	}
	return cards, nil
}

func queryCards(ctx context.Context, tx *sql.Tx, where string, arg any) ([]Card, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+cardColumns+` FROM cards `+where+` ORDER BY issued_at_us, id`, arg)
	if err != nil {
		return nil, err
	}
	out := []Card{}
	for rows.Next() {
		var c Card
		var fp, status string
		var notAfter, issued int64
		if err := rows.Scan(&c.ID, &c.UID, &c.CertSerial, &fp, &notAfter, &status, &issued); err != nil {
			rows.Close()
			return nil, err
		}
		b, err := hex.DecodeString(fp)
		if err != nil || len(b) != len(c.CertFingerprint) {
			rows.Close()
			return nil, fmt.Errorf("card %s: corrupt fingerprint in database", c.ID)
		}
		copy(c.CertFingerprint[:], b)
		c.CertNotAfter, c.IssuedAt = fromMicros(notAfter), fromMicros(issued)
		c.Status = CardStatus(status)
		out = append(out, c)
	}
	return out, closeRows(rows)
}

// SetCardStatus implements Store.
func (s *sqlStore) SetCardStatus(ctx context.Context, id string, st CardStatus) error {
	if err := ValidateCardID(id); err != nil {
		return err
	}
	if !st.Valid() {
		return invalid("status", "must be active, suspended or cancelled")
	}
	return s.write(ctx, "set card status", func(tx *sql.Tx) error {
		var cur string
		err := tx.QueryRowContext(ctx, `SELECT status FROM cards WHERE id = $1`, id).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: card %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if !cardTransitionOK(CardStatus(cur), st) {
			return fmt.Errorf("registration: card %s is %s and cannot become %s: %w", id, cur, st, ErrConflict)
		}
		res, err := tx.ExecContext(ctx, `UPDATE cards SET status = $1 WHERE id = $2 AND status = $3`, string(st), id, cur)
		if err != nil {
			return err
		}
		return oneRow(res, "card "+id)
	})
}
