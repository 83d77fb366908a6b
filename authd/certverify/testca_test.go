package certverify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync/atomic"
	"testing"
	"time"
)

// Shared helpers for building small PKIs inside tests. Fixtures that are
// committed live in testkeys/; these are for cases a test builds itself.

var testSerial atomic.Int64

// testEpoch is the "now" of tests that build their own certificates.
var testEpoch = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func newTestKey(t testing.TB) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// issue signs tmpl with the CA (or self-signs when ca is nil) and returns
// the parsed certificate. Missing fields get sensible defaults: a serial,
// a validity window around testEpoch and a fresh P-256 key.
func issue(t testing.TB, ca *testCA, tmpl *x509.Certificate, key crypto.Signer) *testCA {
	t.Helper()
	if key == nil {
		key = newTestKey(t)
	}
	if tmpl.SerialNumber == nil {
		tmpl.SerialNumber = big.NewInt(testSerial.Add(1))
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = testEpoch.AddDate(-1, 0, 0)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = testEpoch.AddDate(1, 0, 0)
	}
	parent, signer := tmpl, key
	if ca != nil {
		parent, signer = ca.cert, ca.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatalf("create certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate %q: %v", tmpl.Subject.CommonName, err)
	}
	return &testCA{cert: c, key: key}
}

// caTemplate is a CA certificate template with the given common name.
func caTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"test"}},
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
}

// leafTemplate is an end-entity template with the given common name.
func leafTemplate(cn string) *x509.Certificate {
	return &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"test"}},
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
}

// newCRL signs a CRL with the CA. Missing fields get defaults: number 1,
// thisUpdate a day before testEpoch, nextUpdate a week after.
func newCRL(t testing.TB, ca *testCA, tmpl *x509.RevocationList) *x509.RevocationList {
	t.Helper()
	if tmpl.Number == nil {
		tmpl.Number = big.NewInt(1)
	}
	if tmpl.ThisUpdate.IsZero() {
		tmpl.ThisUpdate = testEpoch.AddDate(0, 0, -1)
	}
	if tmpl.NextUpdate.IsZero() {
		tmpl.NextUpdate = testEpoch.AddDate(0, 0, 7)
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cert, ca.key)
	if err != nil {
		t.Fatalf("create CRL: %v", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	return crl
}
