package cardca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
)

// The RA's card issue, renewal and cancellation, with a software key
// standing in for the card's (in production: pkcs11.Token.GenerateKey,
// and Token.WriteCertificate with the result).
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cardca-example-")
	defer os.RemoveAll(dir)
	store, err := registration.OpenSQLite(ctx, filepath.Join(dir, "reg.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	_ = store.CreatePerson(ctx, registration.Person{UID: "555000000021", Name: "Grace Hopper", Status: registration.PersonActive})

	caCert, caKey := exampleCA() // the sub-CA's certificate and crypto.Signer
	ca, err := cardca.New(ctx, cardca.Config{
		Cert: caCert, Signer: caKey,
		CRLURL:  "https://authd.example/v1/pki/crl",
		OCSPURL: "https://authd.example/v1/pki/ocsp",
	}, store)
	if err != nil {
		fmt.Println(err)
		return
	}
	cardKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	issued, err := ca.IssueCard(ctx, "555000000021", cardKey.Public())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(issued.Cert.Subject.CommonName, issued.Card.Status)

	_, err = ca.RenewCard(ctx, issued.Card.ID, cardKey.Public())
	fmt.Println(cardca.ReasonOf(err)) // too early, and the same key

	revoked, _ := ca.CancelCard(ctx, issued.Card.ID, registration.ReasonAffiliationChanged)
	fmt.Println(len(revoked), revoked[0].Reason)
	// Output:
	// 555000000021_Grace Hopper active
	// renewal_not_open
	// 1 affiliationChanged
}

// exampleCA makes a throwaway CA (tests use testkeys' sub-CA).
func exampleCA() (*x509.Certificate, crypto.Signer) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Example Sub-CA", Organization: []string{"nhs"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	cert, _ := x509.ParseCertificate(der)
	return cert, key
}
