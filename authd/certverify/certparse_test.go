package certverify

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// relativeDistPoints encodes cRLDistributionPoints with one distribution
// point named relative to the CRL issuer (CN=CRL1) and one full URI.
func relativeDistPoints(t testing.TB, uri string) []byte {
	t.Helper()
	ctx := func(n int) cbasn1.Tag { return cbasn1.Tag(n).ContextSpecific().Constructed() }
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctx(0), func(b *cryptobyte.Builder) {
				b.AddASN1(ctx(1), func(b *cryptobyte.Builder) { // nameRelativeToCRLIssuer
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier([]int{2, 5, 4, 3})
						b.AddASN1(cbasn1.UTF8String, func(b *cryptobyte.Builder) { b.AddBytes([]byte("CRL1")) })
					})
				})
			})
		})
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(ctx(0), func(b *cryptobyte.Builder) {
				b.AddASN1(ctx(0), func(b *cryptobyte.Builder) { // fullName
					b.AddASN1(cbasn1.Tag(6).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes([]byte(uri)) })
				})
			})
		})
	})
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// TestParseCertificateRelativeDistributionPoint: crypto/x509 refuses a
// nameRelativeToCRLIssuer distribution point (RFC 5280 4.2.1.13 allows
// it); parseCertificate accepts it with signatures, the extension and the
// URIs intact.
func TestParseCertificateRelativeDistributionPoint(t *testing.T) {
	ca := issue(t, nil, caTemplate("CA"), nil)
	tmpl := leafTemplate("Leaf")
	tmpl.SerialNumber = big.NewInt(77)
	tmpl.NotBefore, tmpl.NotAfter = testEpoch.AddDate(-1, 0, 0), testEpoch.AddDate(1, 0, 0)
	dp := relativeDistPoints(t, "http://crl.example/ca.crl")
	tmpl.ExtraExtensions = []pkix.Extension{{Id: crlOIDDistPoints, Value: dp}}
	key := newTestKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificate(der); err == nil {
		t.Skip("crypto/x509 now parses relative distribution points; parseCertificate's fallback is unused")
	}
	c, err := parseCertificate(der)
	if err != nil {
		t.Fatalf("parseCertificate: %v", err)
	}
	if !bytes.Equal(c.Raw, der) {
		t.Error("Raw is not the original encoding")
	}
	if err := checkCertSignature(ca.cert, c); err != nil {
		t.Errorf("signature over the original TBS does not verify: %v", err)
	}
	if v, ok := certExtension(c, crlOIDDistPoints); !ok || !bytes.Equal(v, dp) {
		t.Error("distribution points extension not restored")
	}
	if got := c.CRLDistributionPoints; len(got) != 1 || got[0] != "http://crl.example/ca.crl" {
		t.Errorf("CRLDistributionPoints = %q", got)
	}
	dps, err := certDistPoints(c)
	if err != nil || len(dps) != 2 || dps[0].name.relative == nil {
		t.Errorf("distribution points as parsed for CRL checks: %+v, %v", dps, err)
	}

	// Anything else that crypto/x509 refuses is still refused.
	bad := append([]byte(nil), der...)
	bad[len(bad)-1] ^= 0xff
	bad = bad[:len(bad)-3]
	if _, err := parseCertificate(bad); err == nil {
		t.Error("truncated certificate accepted")
	}
}
