package certverify

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/carespine/spineauth/testkeys"
)

// BenchmarkVerify measures a full verification of a card as the login path
// runs it: path building, RFC 5280 validation, the login policy, and
// revocation of every certificate against CRLs already in hand (the cached
// case). BenchmarkRawSignatures measures only the public-key operations
// such a verification implies, for comparison.
func BenchmarkVerify(b *testing.B) {
	for _, card := range []string{"card-555000000011-rsa", "card-555000000011-ec"} {
		b.Run(card, func(b *testing.B) {
			v, err := New(Config{
				Roots:         []*x509.Certificate{testkeys.Cert(b, "root")},
				Intermediates: []*x509.Certificate{testkeys.Cert(b, "subca")},
				CRLs:          []*x509.RevocationList{testkeys.CRL(b, "root"), testkeys.CRL(b, "auth")},
				Revocation:    RevocationConfig{Check: true},
				Login:         cardLoginPolicy(),
			})
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			leaf := testkeys.Cert(b, card)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.VerifyAt(ctx, leaf, nil, fixtureAt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyNewCard is BenchmarkVerify for a card the verifier has
// never seen: each iteration verifies a freshly issued P-256 card, so its
// signature is checked while the CA certificates' and the CRLs' signature
// checks are remembered from earlier logins. Issuing the card is not timed.
func BenchmarkVerifyNewCard(b *testing.B) {
	subca := &testCA{cert: testkeys.Cert(b, "subca"), key: testkeys.Key(b, "subca")}
	v, err := New(Config{
		Roots:         []*x509.Certificate{testkeys.Cert(b, "root")},
		Intermediates: []*x509.Certificate{subca.cert},
		CRLs:          []*x509.RevocationList{testkeys.CRL(b, "root"), testkeys.CRL(b, "auth")},
		Revocation:    RevocationConfig{Check: true},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	tmpl := testkeys.Cert(b, "card-555000000011-ec")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		card := issue(b, subca, &x509.Certificate{
			Subject:               tmpl.Subject,
			NotBefore:             tmpl.NotBefore,
			NotAfter:              tmpl.NotAfter,
			KeyUsage:              tmpl.KeyUsage,
			ExtKeyUsage:           tmpl.ExtKeyUsage,
			BasicConstraintsValid: true,
			CRLDistributionPoints: tmpl.CRLDistributionPoints,
			AuthorityKeyId:        tmpl.AuthorityKeyId,
		}, nil).cert
		b.StartTimer()
		if _, err := v.VerifyAt(ctx, card, nil, fixtureAt); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawSignatures performs the four signature verifications behind
// one card verification: card by sub-CA, sub-CA by root, the sub-CA's CRL
// and the root's CRL.
func BenchmarkRawSignatures(b *testing.B) {
	root, subca := testkeys.Cert(b, "root"), testkeys.Cert(b, "subca")
	rootCRL, authCRL := testkeys.CRL(b, "root"), testkeys.CRL(b, "auth")
	for _, card := range []string{"card-555000000011-rsa", "card-555000000011-ec"} {
		b.Run(card, func(b *testing.B) {
			leaf := testkeys.Cert(b, card)
			b.ReportAllocs()
			for b.Loop() {
				if err := subca.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
					b.Fatal(err)
				}
				if err := root.CheckSignature(subca.SignatureAlgorithm, subca.RawTBSCertificate, subca.Signature); err != nil {
					b.Fatal(err)
				}
				if err := subca.CheckSignature(authCRL.SignatureAlgorithm, authCRL.RawTBSRevocationList, authCRL.Signature); err != nil {
					b.Fatal(err)
				}
				if err := root.CheckSignature(rootCRL.SignatureAlgorithm, rootCRL.RawTBSRevocationList, rootCRL.Signature); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// The one signature a new card adds: card by sub-CA (P-256).
	b.Run("new-card-signature-only", func(b *testing.B) {
		leaf := testkeys.Cert(b, "card-555000000011-ec")
		for b.Loop() {
			if err := subca.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature); err != nil {
				b.Fatal(err)
			}
		}
	})
}
