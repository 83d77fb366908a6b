package registration

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"time"
)

// The card CA's records: the certificates it issued, their revocations and
// the CRLs it published. Package registration/cardca signs; this file is
// what it stores (migration 0004_ca.sql, sqlstore_ca.go).

// ErrKeyReused: the public key has been certified before (it matches
// ErrExists too). A new certificate, a renewal included, needs a new key.
var ErrKeyReused = fmt.Errorf("registration: this public key has been certified before; a new certificate needs a new key: %w", ErrExists)

// RevocationReason is an RFC 5280 CRLReason code. Only the reasons that
// make sense for a card certificate are accepted.
type RevocationReason int

const (
	ReasonUnspecified          RevocationReason = 0
	ReasonKeyCompromise        RevocationReason = 1
	ReasonAffiliationChanged   RevocationReason = 3
	ReasonSuperseded           RevocationReason = 4
	ReasonCessationOfOperation RevocationReason = 5
	ReasonPrivilegeWithdrawn   RevocationReason = 9
)

var reasonNames = map[RevocationReason]string{
	ReasonUnspecified:          "unspecified",
	ReasonKeyCompromise:        "keyCompromise",
	ReasonAffiliationChanged:   "affiliationChanged",
	ReasonSuperseded:           "superseded",
	ReasonCessationOfOperation: "cessationOfOperation",
	ReasonPrivilegeWithdrawn:   "privilegeWithdrawn",
}

// Valid reports whether r is one of the reasons above.
func (r RevocationReason) Valid() bool { _, ok := reasonNames[r]; return ok }

// String returns the RFC 5280 name, e.g. "keyCompromise".
func (r RevocationReason) String() string {
	if n, ok := reasonNames[r]; ok {
		return n
	}
	return "invalid"
}

// ParseRevocationReason reads an RFC 5280 reason name ("keyCompromise",
// "affiliationChanged", "superseded", "cessationOfOperation",
// "privilegeWithdrawn", "unspecified").
func ParseRevocationReason(s string) (RevocationReason, error) {
	for r, n := range reasonNames {
		if n == s {
			return r, nil
		}
	}
	return 0, invalid("reason", "must be one of unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn")
}

// IssuerID names a CA in the store: the lower-case hex SHA-256 of its
// certificate's SubjectPublicKeyInfo.
func IssuerID(ca *x509.Certificate) string {
	sum := sha256.Sum256(ca.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// KeyHash is the SHA-256 of a certificate's SubjectPublicKeyInfo: the
// store refuses to certify one key twice.
func KeyHash(cert *x509.Certificate) [32]byte { return sha256.Sum256(cert.RawSubjectPublicKeyInfo) }

// IssuedCert is a certificate the card CA issued.
type IssuedCert struct {
	Issuer      string // IssuerID of the CA
	Serial      string // SerialHex
	CardID      string
	UID         string
	Fingerprint [32]byte // of the DER
	KeyHash     [32]byte // of the SubjectPublicKeyInfo
	NotBefore   time.Time
	NotAfter    time.Time
	IssuedAt    time.Time
	DER         []byte
	// Replaces is the serial of the certificate this one renewed, or "".
	Replaces string
	// RevokedAt is zero while the certificate is not revoked.
	RevokedAt time.Time
	Reason    RevocationReason // meaningful when RevokedAt is set
}

// Revoked reports whether c has been revoked.
func (c IssuedCert) Revoked() bool { return !c.RevokedAt.IsZero() }

// Validate checks c as RecordNewCard and RecordRenewal receive it.
func (c IssuedCert) Validate() error {
	if err := validateIssuer(c.Issuer); err != nil {
		return err
	}
	if err := ValidateCertSerial(c.Serial); err != nil {
		return err
	}
	if err := ValidateCardID(c.CardID); err != nil {
		return err
	}
	if err := ValidateUserID(c.UID); err != nil {
		return err
	}
	if c.Fingerprint == ([32]byte{}) || c.KeyHash == ([32]byte{}) {
		return invalid("fingerprint", "certificate and key fingerprints must be set")
	}
	for _, f := range []struct {
		name string
		t    time.Time
	}{{"not_before", c.NotBefore}, {"not_after", c.NotAfter}, {"issued_at", c.IssuedAt}} {
		if err := checkTime(f.name, f.t); err != nil {
			return err
		}
	}
	if !c.NotAfter.After(c.NotBefore) {
		return invalid("not_after", "must be after not_before")
	}
	if len(c.DER) < 64 || len(c.DER) > 12000 {
		return invalid("der", "must be a certificate of 64 to 12000 bytes")
	}
	if Fingerprint(c.DER) != c.Fingerprint {
		return invalid("fingerprint", "does not match the certificate")
	}
	if c.Replaces != "" {
		if err := ValidateCertSerial(c.Replaces); err != nil {
			return invalid("replaces", "must be a certificate serial")
		}
	}
	if c.Revoked() {
		return invalid("revoked_at", "a new certificate is not revoked")
	}
	return nil
}

func validateIssuer(s string) error {
	if len(s) != 64 {
		return invalid("issuer", "must be 64 lower-case hex digits")
	}
	if err := ValidateCertSerial(s); err != nil {
		return invalid("issuer", "must be 64 lower-case hex digits")
	}
	return nil
}

// CRLRecord is a CRL the CA published.
type CRLRecord struct {
	Issuer     string
	Number     int64
	ThisUpdate time.Time
	NextUpdate time.Time
	// Revocations is the issuer's revocation counter the CRL reflects:
	// when the stored counter has moved on, the CRL is out of date.
	Revocations int64
	DER         []byte
}

// CAStore is what the card CA stores. Every write is one transaction;
// revocations are never undone.
type CAStore interface {
	// EnsureIssuer records the CA named issuer (IssuerID) with its
	// subject, if it is not recorded yet.
	EnsureIssuer(ctx context.Context, issuer, subject string) error
	// RecordNewCard stores a new card (active) and its first certificate
	// together. card.CertSerial and card.CertFingerprint must be cert's.
	RecordNewCard(ctx context.Context, card Card, cert IssuedCert) error
	// RecordRenewal stores cert, which replaces the card's current
	// certificate cert.Replaces: the card (which must be active and still
	// carry cert.Replaces, else ErrConflict) now carries cert, and the
	// replaced certificate is revoked as superseded at cert.IssuedAt.
	RecordRenewal(ctx context.Context, cert IssuedCert) error
	// IssuedCert returns one certificate, or ErrNotFound.
	IssuedCert(ctx context.Context, issuer, serial string) (*IssuedCert, error)
	// CardCertificates returns the certificates issued for a card, oldest
	// first; ErrNotFound when the card does not exist.
	CardCertificates(ctx context.Context, cardID string) ([]IssuedCert, error)
	// RevokeCert revokes one certificate at time at. Revoking a revoked
	// certificate changes nothing and reports changed false (the stored
	// record keeps its first time and reason).
	RevokeCert(ctx context.Context, issuer, serial string, reason RevocationReason, at time.Time) (cert *IssuedCert, changed bool, err error)
	// CancelCard sets the card cancelled and revokes every certificate of
	// it that is not revoked yet, at time at, in one transaction; it
	// returns the certificates it revoked. Cancelling a cancelled card
	// revokes nothing and is not an error.
	CancelCard(ctx context.Context, cardID string, reason RevocationReason, at time.Time) ([]IssuedCert, error)
	// RevokedCerts returns the issuer's revoked certificates that have not
	// expired at time at (an expired one may leave the CRL, RFC 5280
	// 3.3), ordered by serial; with the revocation counter read in the
	// same snapshot.
	RevokedCerts(ctx context.Context, issuer string, at time.Time) (certs []IssuedCert, revocations int64, err error)
	// Revocations returns the issuer's revocation counter.
	Revocations(ctx context.Context, issuer string) (int64, error)
	// LatestCRL returns the issuer's CRL with the highest number, or
	// ErrNotFound.
	LatestCRL(ctx context.Context, issuer string) (*CRLRecord, error)
	// StoreCRL records a CRL whose number must be above the latest;
	// otherwise, or when another node stored that number first,
	// ErrConflict.
	StoreCRL(ctx context.Context, crl CRLRecord) error
}
