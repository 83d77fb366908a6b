package registration

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"strings"
	"time"
)

// Fingerprint is the card certificate fingerprint the store keys cards by:
// SHA-256 of the certificate's DER encoding (x509.Certificate.Raw).
func Fingerprint(der []byte) [32]byte { return sha256.Sum256(der) }

// SerialHex is the stored form of a certificate serial number: the
// big-endian magnitude in lower-case hex, two digits per octet ("00" for
// zero). A negative serial (forbidden by RFC 5280) is refused.
func SerialHex(serial *big.Int) (string, error) {
	if serial == nil || serial.Sign() < 0 {
		return "", invalid("cert_serial", "must be a non-negative integer")
	}
	if serial.Sign() == 0 {
		return "00", nil
	}
	s := hex.EncodeToString(serial.Bytes())
	if err := ValidateCertSerial(s); err != nil {
		return "", err
	}
	return s, nil
}

// CardIDFromSerial derives a printable card ID from a serial in SerialHex
// form: "C" and its first 12 hex digits in upper case.
func CardIDFromSerial(serialHex string) string {
	if len(serialHex) > 12 {
		serialHex = serialHex[:12]
	}
	return "C" + strings.ToUpper(serialHex)
}

// NewCard describes the card that carries cert, owned by uid: ID from the
// serial (CardIDFromSerial), fingerprint, expiry, status active. It does
// not verify the certificate; that is the login path's job.
func NewCard(cert *x509.Certificate, uid string, issuedAt time.Time) (Card, error) {
	if cert == nil || len(cert.Raw) == 0 {
		return Card{}, invalid("certificate", "must be a parsed certificate")
	}
	serial, err := SerialHex(cert.SerialNumber)
	if err != nil {
		return Card{}, err
	}
	c := Card{
		ID:              CardIDFromSerial(serial),
		UID:             uid,
		CertSerial:      serial,
		CertFingerprint: Fingerprint(cert.Raw),
		CertNotAfter:    normTime(cert.NotAfter),
		Status:          CardActive,
		IssuedAt:        normTime(issuedAt),
	}
	return c, c.Validate()
}
