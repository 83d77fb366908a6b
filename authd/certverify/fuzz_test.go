package certverify

import (
	"context"
	"crypto/dsa" //nolint:staticcheck // a seed with a DSA key.
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"
)

// FuzzParseCertificates feeds arbitrary bytes to the certificate file and
// request parser: it must never panic, and whatever it returns must be
// consistent (no certificate and error both nil for non-empty input).
func FuzzParseCertificates(f *testing.F) {
	root := issue(f, nil, caTemplate("Fuzz Root"), nil)
	leaf := issue(f, root, leafTemplate("Fuzz Leaf"), nil)
	f.Add(leaf.cert.Raw)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.cert.Raw}))
	f.Add(append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.cert.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.cert.Raw})...))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	// A DSA key that inherits its parameters (parsed by parseCertificate's fallback).
	f.Add(handIssue(f, &handCA{cert: root.cert, key: root.key}, "Fuzz DSA",
		dsaSPKI(f, &dsa.PublicKey{Y: big.NewInt(12345)}, "absent"), true))
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, bad, err := ParseCertificates(data)
		if err != nil && (len(certs) > 0 || len(bad) > 0) {
			t.Fatalf("error %v returned with results", err)
		}
		for _, c := range certs {
			if c == nil {
				t.Fatal("nil certificate returned")
			}
		}
		_, _, _ = ParseCRLs(data)
	})
}

// FuzzVerifyChain treats arbitrary bytes as a presented chain (leaf first)
// and verifies it against a fixed root with its real intermediate in the
// pool. It must never panic, and must never accept a leaf that the root's
// hierarchy did not issue.
func FuzzVerifyChain(f *testing.F) {
	root := issue(f, nil, caTemplate("Fuzz Root"), nil)
	inter := issue(f, root, caTemplate("Fuzz Intermediate"), nil)
	leaf := issue(f, inter, leafTemplate("Fuzz Leaf"), nil)
	v, err := New(Config{Roots: []*x509.Certificate{root.cert}, Intermediates: []*x509.Certificate{inter.cert}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf.cert.Raw}))
	f.Add(leaf.cert.Raw)
	f.Add(inter.cert.Raw)
	f.Fuzz(func(t *testing.T, data []byte) {
		certs, _, err := ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			return
		}
		res, err := v.VerifyAt(context.Background(), certs[0], certs[1:], testEpoch)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatal("refusal without a reason")
			}
			return
		}
		// Accepted: the leaf must be signed by a certificate we know.
		if len(res.Chain) < 2 || res.Chain[len(res.Chain)-1] != root.cert {
			t.Fatalf("accepted a chain that does not end at the root")
		}
		issuer := res.Chain[1]
		if issuer != inter.cert && issuer != root.cert && !containsCert(certs, issuer) {
			t.Fatalf("accepted via unknown issuer %v", issuer.Subject)
		}
		if err := checkCertSignature(issuer, certs[0]); err != nil {
			t.Fatalf("accepted a leaf whose signature does not verify: %v", err)
		}
	})
}
