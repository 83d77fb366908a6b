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
	c, err := s.prepareCard(c)
	if err != nil {
		return err
	}
	return s.write(ctx, "create card", func(tx *sql.Tx) error { return createCardTx(ctx, tx, c) })
}

// prepareCard fills in and checks a new card.
func (s *sqlStore) prepareCard(c Card) (Card, error) {
	if c.IssuedAt.IsZero() {
		c.IssuedAt = s.stamp()
	}
	c.IssuedAt, c.CertNotAfter = normTime(c.IssuedAt), normTime(c.CertNotAfter)
	return c, c.Validate()
}

// createCardTx inserts c, prepared by prepareCard.
func createCardTx(ctx context.Context, tx *sql.Tx, c Card) error {
	fp := hex.EncodeToString(c.CertFingerprint[:])
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
}

// The card reads. cardsOfSQL starts from people so that one statement
// tells a person without cards (one row of NULLs) from no such person
// (no row).
const (
	cardSelect           = `SELECT c.id, c.uid, c.cert_serial, c.cert_fingerprint, c.cert_not_after_us, c.status, c.issued_at_us`
	cardSQL              = cardSelect + ` FROM cards c WHERE c.id = $1`
	cardByFingerprintSQL = cardSelect + ` FROM cards c WHERE c.cert_fingerprint = $1`
	cardsOfSQL           = cardSelect + ` FROM people p LEFT JOIN cards c ON c.uid = p.uid
		WHERE p.uid = $1 ORDER BY c.issued_at_us, c.id`
)

// Card implements Store.
func (s *sqlStore) Card(ctx context.Context, id string) (*Card, error) {
	if err := ValidateCardID(id); err != nil {
		return nil, err
	}
	return s.oneCard(ctx, s.q.card, id, "card "+id)
}

// CardByFingerprint implements Store.
func (s *sqlStore) CardByFingerprint(ctx context.Context, fp [32]byte) (*Card, error) {
	if fp == ([32]byte{}) {
		return nil, invalid("cert_fingerprint", "must be set")
	}
	return s.oneCard(ctx, s.q.cardByFingerprint, hex.EncodeToString(fp[:]), "card with this certificate")
}

// oneCard runs stmt, a lookup by a unique key, with arg.
func (s *sqlStore) oneCard(ctx context.Context, stmt *sql.Stmt, arg, what string) (*Card, error) {
	var r cardRow
	err := stmt.QueryRowContext(ctx, arg).Scan(r.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("registration: %s: %w", what, ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("get card", err)
	}
	c, err := r.card()
	if err != nil {
		return nil, s.wrap("get card", err)
	}
	return &c, nil
}

// CardsOf implements Store.
func (s *sqlStore) CardsOf(ctx context.Context, uid string) ([]Card, error) {
	if err := ValidateUserID(uid); err != nil {
		return nil, err
	}
	cards, found, err := queryOwned[Card](ctx, s.q.cardsOf, uid, &cardRow{})
	if err != nil {
		return nil, s.wrap("list cards", err)
	}
	if !found {
		return nil, fmt.Errorf("registration: person %s: %w", uid, ErrNotFound)
	}
	return cards, nil
}

// cardRow is one row of cardSelect. The columns are nullable for the
// LEFT JOIN of cardsOfSQL; for a card (a non-NULL id) card checks that
// the rest are set, as the schema requires.
type cardRow struct {
	id, uid, serial, fp, status sql.NullString
	notAfter, issued            sql.NullInt64
}

func (r *cardRow) dest() []any {
	return []any{&r.id, &r.uid, &r.serial, &r.fp, &r.notAfter, &r.status, &r.issued}
}

// present reports whether the row holds a card (not just its owner).
func (r *cardRow) present() bool { return r.id.Valid }

func (r *cardRow) value() (Card, error) { return r.card() }

func (r *cardRow) card() (Card, error) {
	c := Card{ID: r.id.String, UID: r.uid.String, CertSerial: r.serial.String, Status: CardStatus(r.status.String)}
	if !r.id.Valid || !r.uid.Valid || !r.serial.Valid || !r.status.Valid || !r.notAfter.Valid || !r.issued.Valid {
		return Card{}, fmt.Errorf("card %s: NULL in a required column", c.ID)
	}
	b, err := hex.DecodeString(r.fp.String)
	if !r.fp.Valid || err != nil || len(b) != len(c.CertFingerprint) {
		return Card{}, fmt.Errorf("card %s: corrupt fingerprint in database", c.ID)
	}
	copy(c.CertFingerprint[:], b)
	c.CertNotAfter, c.IssuedAt = fromMicros(r.notAfter.Int64), fromMicros(r.issued.Int64)
	return c, nil
}

// SetCardStatus implements Store.
func (s *sqlStore) SetCardStatus(ctx context.Context, id string, st CardStatus) error {
	if err := ValidateCardID(id); err != nil {
		return err
	}
	if !st.Valid() {
		return invalid("status", "must be active, suspended or cancelled")
	}
	return s.write(ctx, "set card status", func(tx *sql.Tx) error { return setCardStatusTx(ctx, tx, id, st) })
}

// setCardStatusTx is SetCardStatus's transaction, for arguments it has
// checked.
func setCardStatusTx(ctx context.Context, tx *sql.Tx, id string, st CardStatus) error {
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
}
