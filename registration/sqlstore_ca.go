package registration

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// The card CA's records (CAStore) over the same portable SQL as the rest
// of the store. Each write is one transaction on the write pool; a
// revocation bumps its issuer's counter in the same transaction, so the
// counter moves whenever the set of revoked certificates does.

var _ CAStore = (*sqlStore)(nil)

const issuedColumns = `issuer, cert_serial, card_id, uid, fingerprint, key_sha256, not_before_us,
	not_after_us, issued_at_us, der, replaces, revoked_at_us, revocation_reason`

// EnsureIssuer implements CAStore.
func (s *sqlStore) EnsureIssuer(ctx context.Context, issuer, subject string) error {
	if err := validateIssuer(issuer); err != nil {
		return err
	}
	if subject == "" || len(subject) > 1000 {
		return invalid("subject", "must be 1 to 1000 bytes")
	}
	err := s.write(ctx, "record CA", func(tx *sql.Tx) error {
		ok, err := exists(ctx, tx, `SELECT 1 FROM ca_issuers WHERE issuer = $1`, issuer)
		if err != nil || ok {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO ca_issuers (issuer, subject, revocations, created_at_us)
			VALUES ($1, $2, 0, $3)`, issuer, subject, toMicros(s.stamp()))
		return err
	})
	if errors.Is(err, ErrExists) {
		return nil // another node, starting at the same time, recorded it first
	}
	return err
}

// insertIssued inserts c after checking that its key was never certified.
func insertIssued(ctx context.Context, tx *sql.Tx, c IssuedCert) error {
	kh := hex.EncodeToString(c.KeyHash[:])
	reused, err := exists(ctx, tx, `SELECT 1 FROM ca_certificates WHERE key_sha256 = $1`, kh)
	if err != nil {
		return err
	}
	if reused {
		return ErrKeyReused
	}
	ok, err := exists(ctx, tx, `SELECT 1 FROM ca_issuers WHERE issuer = $1`, c.Issuer)
	if err != nil {
		return err
	}
	if !ok {
		return invalid("issuer", "names no recorded CA")
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO ca_certificates (`+issuedColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL)`,
		c.Issuer, c.Serial, c.CardID, c.UID, hex.EncodeToString(c.Fingerprint[:]), kh,
		toMicros(c.NotBefore), toMicros(c.NotAfter), toMicros(c.IssuedAt),
		base64.StdEncoding.EncodeToString(c.DER), nullString(c.Replaces))
	return err
}

func normIssued(c IssuedCert) IssuedCert {
	c.NotBefore, c.NotAfter, c.IssuedAt = normTime(c.NotBefore), normTime(c.NotAfter), normTime(c.IssuedAt)
	return c
}

// RecordNewCard implements CAStore.
func (s *sqlStore) RecordNewCard(ctx context.Context, card Card, cert IssuedCert) error {
	cert = normIssued(cert)
	if card.IssuedAt.IsZero() {
		card.IssuedAt = cert.IssuedAt
	}
	card.IssuedAt, card.CertNotAfter = normTime(card.IssuedAt), normTime(card.CertNotAfter)
	if err := card.Validate(); err != nil {
		return err
	}
	if err := cert.Validate(); err != nil {
		return err
	}
	switch {
	case cert.Replaces != "":
		return invalid("replaces", "must be empty for a new card")
	case card.Status != CardActive:
		return invalid("status", "a new card is active")
	case card.ID != cert.CardID || card.UID != cert.UID || card.CertSerial != cert.Serial ||
		card.CertFingerprint != cert.Fingerprint || !card.CertNotAfter.Equal(cert.NotAfter):
		return invalid("card", "must carry the certificate recorded with it")
	}
	fp := hex.EncodeToString(card.CertFingerprint[:])
	return s.write(ctx, "record new card", func(tx *sql.Tx) error {
		dup, err := exists(ctx, tx, `SELECT 1 FROM cards WHERE id = $1 OR cert_fingerprint = $2`, card.ID, fp)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("registration: card %s: a card with this ID or certificate exists: %w", card.ID, ErrExists)
		}
		if err := mustExist(ctx, tx, "uid", "person", personExistsSQL, card.UID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cards (`+cardColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			card.ID, card.UID, card.CertSerial, fp, toMicros(card.CertNotAfter), string(card.Status), toMicros(card.IssuedAt)); err != nil {
			return err
		}
		return insertIssued(ctx, tx, cert)
	})
}

// RecordRenewal implements CAStore.
func (s *sqlStore) RecordRenewal(ctx context.Context, cert IssuedCert) error {
	cert = normIssued(cert)
	if err := cert.Validate(); err != nil {
		return err
	}
	if cert.Replaces == "" {
		return invalid("replaces", "a renewal names the certificate it replaces")
	}
	return s.write(ctx, "record renewal", func(tx *sql.Tx) error {
		var status, serial, uid string
		err := tx.QueryRowContext(ctx, `SELECT status, cert_serial, uid FROM cards WHERE id = $1`, cert.CardID).
			Scan(&status, &serial, &uid)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: card %s: %w", cert.CardID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		switch {
		case CardStatus(status) != CardActive:
			return fmt.Errorf("registration: card %s is %s; only an active card is renewed: %w", cert.CardID, status, ErrConflict)
		case serial != cert.Replaces:
			return fmt.Errorf("registration: card %s no longer carries the certificate being replaced: %w", cert.CardID, ErrConflict)
		case uid != cert.UID:
			return invalid("uid", "is not the card's owner")
		}
		old, err := issuedIn(ctx, tx, cert.Issuer, cert.Replaces)
		if err != nil {
			return err
		}
		if old.Revoked() {
			return fmt.Errorf("registration: the card's certificate is revoked: %w", ErrConflict)
		}
		if err := insertIssued(ctx, tx, cert); err != nil {
			return err
		}
		if err := revokeIn(ctx, tx, cert.Issuer, cert.Replaces, ReasonSuperseded, cert.IssuedAt); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE cards SET cert_serial = $1, cert_fingerprint = $2, cert_not_after_us = $3
			WHERE id = $4 AND cert_serial = $5 AND status = 'active'`,
			cert.Serial, hex.EncodeToString(cert.Fingerprint[:]), toMicros(cert.NotAfter), cert.CardID, cert.Replaces)
		if err != nil {
			return err
		}
		return oneRow(res, "card "+cert.CardID)
	})
}

// revokeIn revokes one unrevoked certificate and bumps its issuer's
// counter.
func revokeIn(ctx context.Context, tx *sql.Tx, issuer, serial string, reason RevocationReason, at time.Time) error {
	res, err := tx.ExecContext(ctx, `UPDATE ca_certificates SET revoked_at_us = $1, revocation_reason = $2
		WHERE issuer = $3 AND cert_serial = $4 AND revoked_at_us IS NULL`,
		toMicros(at), int(reason), issuer, serial)
	if err != nil {
		return err
	}
	if err := oneRow(res, "certificate "+serial); err != nil {
		return err
	}
	res, err = tx.ExecContext(ctx, `UPDATE ca_issuers SET revocations = revocations + 1 WHERE issuer = $1`, issuer)
	if err != nil {
		return err
	}
	return oneRow(res, "CA "+issuer)
}

// IssuedCert implements CAStore.
func (s *sqlStore) IssuedCert(ctx context.Context, issuer, serial string) (*IssuedCert, error) {
	if err := validateIssuer(issuer); err != nil {
		return nil, err
	}
	if err := ValidateCertSerial(serial); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+issuedColumns+` FROM ca_certificates
		WHERE issuer = $1 AND cert_serial = $2`, issuer, serial)
	if err != nil {
		return nil, s.wrap("get certificate", err)
	}
	certs, err := scanIssued(rows)
	if err != nil {
		return nil, s.wrap("get certificate", err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("registration: certificate %s: %w", serial, ErrNotFound)
	}
	return &certs[0], nil
}

// issuedIn reads one certificate inside a transaction.
func issuedIn(ctx context.Context, tx *sql.Tx, issuer, serial string) (*IssuedCert, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+issuedColumns+` FROM ca_certificates
		WHERE issuer = $1 AND cert_serial = $2`, issuer, serial)
	if err != nil {
		return nil, err
	}
	certs, err := scanIssued(rows)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("registration: certificate %s: %w", serial, ErrNotFound)
	}
	return &certs[0], nil
}

// CardCertificates implements CAStore.
func (s *sqlStore) CardCertificates(ctx context.Context, cardID string) ([]IssuedCert, error) {
	if err := ValidateCardID(cardID); err != nil {
		return nil, err
	}
	if _, err := s.Card(ctx, cardID); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+issuedColumns+` FROM ca_certificates
		WHERE card_id = $1 ORDER BY issued_at_us, cert_serial`, cardID)
	if err != nil {
		return nil, s.wrap("list card certificates", err)
	}
	certs, err := scanIssued(rows)
	if err != nil {
		return nil, s.wrap("list card certificates", err)
	}
	return certs, nil
}

// RevokeCert implements CAStore.
func (s *sqlStore) RevokeCert(ctx context.Context, issuer, serial string, reason RevocationReason, at time.Time) (*IssuedCert, bool, error) {
	if err := validateIssuer(issuer); err != nil {
		return nil, false, err
	}
	if err := ValidateCertSerial(serial); err != nil {
		return nil, false, err
	}
	if !reason.Valid() {
		return nil, false, invalid("reason", "is not a card revocation reason")
	}
	if at.IsZero() {
		at = s.stamp()
	}
	at = normTime(at)
	if err := checkTime("revoked_at", at); err != nil {
		return nil, false, err
	}
	var (
		out     *IssuedCert
		changed bool
	)
	err := s.write(ctx, "revoke certificate", func(tx *sql.Tx) error {
		c, err := issuedIn(ctx, tx, issuer, serial)
		if err != nil {
			return err
		}
		if c.Revoked() {
			out = c
			return nil
		}
		if err := revokeIn(ctx, tx, issuer, serial, reason, at); err != nil {
			return err
		}
		c.RevokedAt, c.Reason = at, reason
		out, changed = c, true
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	return out, changed, nil
}

// CancelCard implements CAStore.
func (s *sqlStore) CancelCard(ctx context.Context, cardID string, reason RevocationReason, at time.Time) ([]IssuedCert, error) {
	if err := ValidateCardID(cardID); err != nil {
		return nil, err
	}
	if !reason.Valid() {
		return nil, invalid("reason", "is not a card revocation reason")
	}
	if at.IsZero() {
		at = s.stamp()
	}
	at = normTime(at)
	if err := checkTime("revoked_at", at); err != nil {
		return nil, err
	}
	revoked := []IssuedCert{}
	err := s.write(ctx, "cancel card", func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM cards WHERE id = $1`, cardID).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("registration: card %s: %w", cardID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+issuedColumns+` FROM ca_certificates
			WHERE card_id = $1 AND revoked_at_us IS NULL ORDER BY issued_at_us, cert_serial`, cardID)
		if err != nil {
			return err
		}
		live, err := scanIssued(rows)
		if err != nil {
			return err
		}
		for _, c := range live {
			if err := revokeIn(ctx, tx, c.Issuer, c.Serial, reason, at); err != nil {
				return err
			}
			c.RevokedAt, c.Reason = at, reason
			revoked = append(revoked, c)
		}
		if CardStatus(status) == CardCancelled {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE cards SET status = 'cancelled' WHERE id = $1 AND status = $2`, cardID, status)
		if err != nil {
			return err
		}
		return oneRow(res, "card "+cardID)
	})
	if err != nil {
		return nil, err
	}
	return revoked, nil
}

// RevokedCerts implements CAStore. The counter is read before the list:
// without a snapshot across the two statements, a revocation in between
// makes the list newer than the counter, never older, so a CRL built from
// them is at worst regenerated once more.
func (s *sqlStore) RevokedCerts(ctx context.Context, issuer string, at time.Time) ([]IssuedCert, int64, error) {
	n, err := s.Revocations(ctx, issuer)
	if err != nil {
		return nil, 0, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+issuedColumns+` FROM ca_certificates
		WHERE issuer = $1 AND revoked_at_us IS NOT NULL AND not_after_us > $2 ORDER BY cert_serial`,
		issuer, toMicros(at))
	if err != nil {
		return nil, 0, s.wrap("list revoked certificates", err)
	}
	certs, err := scanIssued(rows)
	if err != nil {
		return nil, 0, s.wrap("list revoked certificates", err)
	}
	return certs, n, nil
}

// Revocations implements CAStore.
func (s *sqlStore) Revocations(ctx context.Context, issuer string) (int64, error) {
	if err := validateIssuer(issuer); err != nil {
		return 0, err
	}
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT revocations FROM ca_issuers WHERE issuer = $1`, issuer).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("registration: CA %s: %w", issuer, ErrNotFound)
	}
	if err != nil {
		return 0, s.wrap("read revocation counter", err)
	}
	return n, nil
}

// LatestCRL implements CAStore.
func (s *sqlStore) LatestCRL(ctx context.Context, issuer string) (*CRLRecord, error) {
	if err := validateIssuer(issuer); err != nil {
		return nil, err
	}
	r := CRLRecord{Issuer: issuer}
	var this, next int64
	var der string
	err := s.r.QueryRowContext(ctx, `SELECT number, this_update_us, next_update_us, revocations, der
		FROM ca_crls WHERE issuer = $1 ORDER BY number DESC LIMIT 1`, issuer).
		Scan(&r.Number, &this, &next, &r.Revocations, &der)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("registration: CRL of %s: %w", issuer, ErrNotFound)
	}
	if err != nil {
		return nil, s.wrap("read CRL", err)
	}
	r.ThisUpdate, r.NextUpdate = fromMicros(this), fromMicros(next)
	if r.DER, err = base64.StdEncoding.DecodeString(der); err != nil {
		return nil, s.wrap("read CRL", fmt.Errorf("corrupt CRL %d in database", r.Number))
	}
	return &r, nil
}

// StoreCRL implements CAStore.
func (s *sqlStore) StoreCRL(ctx context.Context, c CRLRecord) error {
	if err := validateIssuer(c.Issuer); err != nil {
		return err
	}
	c.ThisUpdate, c.NextUpdate = normTime(c.ThisUpdate), normTime(c.NextUpdate)
	switch {
	case c.Number < 1:
		return invalid("number", "must be at least 1")
	case !c.NextUpdate.After(c.ThisUpdate):
		return invalid("next_update", "must be after this_update")
	case c.Revocations < 0:
		return invalid("revocations", "must not be negative")
	case len(c.DER) == 0 || len(c.DER) > 64<<20:
		return invalid("der", "must be a CRL")
	}
	return s.write(ctx, "store CRL", func(tx *sql.Tx) error {
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT max(number) FROM ca_crls WHERE issuer = $1`, c.Issuer).Scan(&latest); err != nil {
			return err
		}
		if c.Number <= latest.Int64 {
			return fmt.Errorf("registration: CRL number %d: the latest is %d: %w", c.Number, latest.Int64, ErrConflict)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ca_crls (issuer, number, this_update_us, next_update_us, revocations, der)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.Issuer, c.Number, toMicros(c.ThisUpdate), toMicros(c.NextUpdate),
			c.Revocations, base64.StdEncoding.EncodeToString(c.DER))
		if s.classify(err) == ErrExists {
			return fmt.Errorf("registration: CRL number %d was stored by another writer: %w", c.Number, ErrConflict)
		}
		return err
	})
}

// scanIssued reads ca_certificates rows and closes rows.
func scanIssued(rows *sql.Rows) ([]IssuedCert, error) {
	defer rows.Close()
	out := []IssuedCert{}
	for rows.Next() {
		var (
			c                 IssuedCert
			fp, kh, der       string
			nb, na, issued    int64
			replaces          sql.NullString
			revokedAt, reason sql.NullInt64
		)
		if err := rows.Scan(&c.Issuer, &c.Serial, &c.CardID, &c.UID, &fp, &kh, &nb, &na, &issued,
			&der, &replaces, &revokedAt, &reason); err != nil {
			return nil, err
		}
		fpb, err1 := hex.DecodeString(fp)
		khb, err2 := hex.DecodeString(kh)
		derb, err3 := base64.StdEncoding.DecodeString(der)
		if err := errors.Join(err1, err2, err3); err != nil || len(fpb) != 32 || len(khb) != 32 {
			return nil, fmt.Errorf("certificate %s: corrupt row in database", c.Serial)
		}
		copy(c.Fingerprint[:], fpb)
		copy(c.KeyHash[:], khb)
		c.DER = derb
		c.NotBefore, c.NotAfter, c.IssuedAt = fromMicros(nb), fromMicros(na), fromMicros(issued)
		c.Replaces = replaces.String
		if revokedAt.Valid {
			c.RevokedAt, c.Reason = fromMicros(revokedAt.Int64), RevocationReason(reason.Int64)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
