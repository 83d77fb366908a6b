package vcard_test

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/carespine/spineauth/testkeys"
)

// issueCert has the test sub-CA certify pub for user, as an RA's card
// issuance would: a digital signature certificate for slot 9C.
func issueCert(t *testing.T, user testkeys.User, pub crypto.PublicKey) []byte {
	t.Helper()
	ca, caKey := testkeys.Cert(t, "subca"), testkeys.Key(t, "subca")
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"People"}, CommonName: user.CN()},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
