package certverify

import (
	"bytes"
	"context"
	"crypto/dsa" //nolint:staticcheck // tests of RFC 3279 DSA parameter inheritance.
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"sync"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// crypto/x509 can neither sign with DSA nor encode a DSA key, so the
// certificates and CRLs of these tests are built by hand.

// dsaTestParams are L1024N160 parameters, generated once per test binary.
var dsaTestParams = sync.OnceValues(func() (*dsa.Parameters, error) {
	p := new(dsa.Parameters)
	err := dsa.GenerateParameters(p, rand.Reader, dsa.L1024N160)
	return p, err
})

func newDSAKey(t testing.TB) *dsa.PrivateKey {
	t.Helper()
	params, err := dsaTestParams()
	if err != nil {
		t.Fatal(err)
	}
	k := &dsa.PrivateKey{PublicKey: dsa.PublicKey{Parameters: *params}}
	if err := dsa.GenerateKey(k, rand.Reader); err != nil {
		t.Fatal(err)
	}
	return k
}

// handCA is a certificate built by hand and its private key
// (*dsa.PrivateKey or *ecdsa.PrivateKey).
type handCA struct {
	cert *x509.Certificate
	key  any
}

var (
	oidTestDSA         = asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}
	oidTestDSAWithSHA2 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 3, 2}
	oidTestECDSASHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidTestSKI         = asn1.ObjectIdentifier{2, 5, 29, 14}
)

// dsaSPKI encodes a DSA SubjectPublicKeyInfo with explicit parameters,
// NULL parameters or none.
func dsaSPKI(t testing.TB, pub *dsa.PublicKey, params string) []byte {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(oidTestDSA)
			switch params {
			case "explicit":
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1BigInt(pub.P)
					b.AddASN1BigInt(pub.Q)
					b.AddASN1BigInt(pub.G)
				})
			case "null":
				b.AddASN1NULL()
			case "absent":
			default:
				t.Fatalf("unknown parameters form %q", params)
			}
		})
		b.AddASN1(cbasn1.BIT_STRING, func(b *cryptobyte.Builder) {
			b.AddUint8(0)
			b.AddASN1BigInt(pub.Y)
		})
	})
	return mustBytes(t, b)
}

func mustBytes(t testing.TB, b *cryptobyte.Builder) []byte {
	t.Helper()
	der, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// addSigAlg adds the AlgorithmIdentifier key signs with.
func addSigAlg(t testing.TB, b *cryptobyte.Builder, key any) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		switch key.(type) {
		case *dsa.PrivateKey:
			b.AddASN1ObjectIdentifier(oidTestDSAWithSHA2)
		case *ecdsa.PrivateKey:
			b.AddASN1ObjectIdentifier(oidTestECDSASHA256)
		default:
			t.Fatalf("cannot sign with %T", key)
		}
	})
}

// signed wraps tbs into a signed object (Certificate or CertificateList).
func signed(t testing.TB, key any, tbs []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(tbs)
	var sig []byte
	switch k := key.(type) {
	case *dsa.PrivateKey:
		h := digest[:(k.Q.BitLen()+7)/8] // FIPS 186: the leftmost N bits
		r, s, err := dsa.Sign(rand.Reader, k, h)
		if err != nil {
			t.Fatal(err)
		}
		b := cryptobyte.NewBuilder(nil)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1BigInt(r)
			b.AddASN1BigInt(s)
		})
		sig = mustBytes(t, b)
	case *ecdsa.PrivateKey:
		var err error
		if sig, err = ecdsa.SignASN1(rand.Reader, k, digest[:]); err != nil {
			t.Fatal(err)
		}
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		addSigAlg(t, b, key)
		b.AddASN1BitString(sig)
	})
	return mustBytes(t, b)
}

func addExtension(b *cryptobyte.Builder, id asn1.ObjectIdentifier, critical bool, value func(*cryptobyte.Builder)) {
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(id)
		if critical {
			b.AddASN1Boolean(true)
		}
		b.AddASN1(cbasn1.OCTET_STRING, value)
	})
}

func addAKI(b *cryptobyte.Builder, keyID []byte) {
	addExtension(b, crlOIDAuthorityKeyID, false, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddBytes(keyID) })
		})
	})
}

// handIssue builds a v3 certificate for spki, signed by issuer's key and
// valid around testEpoch, and parses it with parseCertificate. A CA gets
// basicConstraints cA and keyCertSign|cRLSign, an end entity
// digitalSignature.
func handIssue(t testing.TB, issuer *handCA, cn string, spki []byte, ca bool) []byte {
	t.Helper()
	subject, err := asn1.Marshal(pkix.Name{CommonName: cn, Organization: []string{"test"}}.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	ski := sha256.Sum256(spki)
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { b.AddASN1Int64(2) })
		b.AddASN1Int64(testSerial.Add(1))
		addSigAlg(t, b, issuer.key)
		b.AddBytes(issuer.cert.RawSubject)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1UTCTime(testEpoch.AddDate(-1, 0, 0))
			b.AddASN1UTCTime(testEpoch.AddDate(1, 0, 0))
		})
		b.AddBytes(subject)
		b.AddBytes(spki)
		b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				ku := []byte{0x80} // digitalSignature
				if ca {
					ku = []byte{0x06} // keyCertSign, cRLSign
					addExtension(b, oidExtBasicConstraints, true, func(b *cryptobyte.Builder) {
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Boolean(true) })
					})
				}
				addExtension(b, crlOIDKeyUsage, true, func(b *cryptobyte.Builder) { b.AddASN1BitString(ku) })
				addExtension(b, oidTestSKI, false, func(b *cryptobyte.Builder) { b.AddASN1OctetString(ski[:20]) })
				addAKI(b, issuer.cert.SubjectKeyId)
			})
		})
	})
	return signed(t, issuer.key, mustBytes(t, b))
}

// handDSACA issues a DSA key certificate and returns it parsed, with the key.
func handDSACA(t testing.TB, issuer *handCA, cn, params string, ca bool) *handCA {
	t.Helper()
	key := newDSAKey(t)
	der := handIssue(t, issuer, cn, dsaSPKI(t, &key.PublicKey, params), ca)
	c, err := parseCertificate(der)
	if err != nil {
		t.Fatalf("parse %q: %v", cn, err)
	}
	return &handCA{cert: c, key: key}
}

// handCRL builds a v2 CRL of issuer, current at testEpoch, revoking the
// given serial numbers.
func handCRL(t testing.TB, issuer *handCA, revoked ...*big.Int) *x509.RevocationList {
	t.Helper()
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Int64(1)
		addSigAlg(t, b, issuer.key)
		b.AddBytes(issuer.cert.RawSubject)
		b.AddASN1UTCTime(testEpoch.AddDate(0, 0, -1))
		b.AddASN1UTCTime(testEpoch.AddDate(0, 0, 7))
		if len(revoked) > 0 {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				for _, serial := range revoked {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1BigInt(serial)
						b.AddASN1UTCTime(testEpoch.AddDate(0, 0, -2))
					})
				}
			})
		}
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				addAKI(b, issuer.cert.SubjectKeyId)
				addExtension(b, crlOIDNumber, false, func(b *cryptobyte.Builder) { b.AddASN1Int64(1) })
			})
		})
	})
	crl, err := parseCRL(signed(t, issuer.key, mustBytes(t, b)))
	if err != nil {
		t.Fatalf("parse CRL: %v", err)
	}
	return crl
}

// dsaPKI is an ECDSA root, a DSA CA with parameters under it, a DSA CA
// that inherits them, and a leaf whose DSA key inherits them in turn.
type dsaPKI struct {
	root, ca, inheriting, leaf *handCA
}

func newDSAPKI(t testing.TB) *dsaPKI {
	t.Helper()
	root := issue(t, nil, caTemplate("DSA Test Root"), nil)
	p := &dsaPKI{root: &handCA{cert: root.cert, key: root.key}}
	p.ca = handDSACA(t, p.root, "DSA CA", "explicit", true)
	p.inheriting = handDSACA(t, p.ca, "DSA Parameters Inherited CA", "absent", true)
	p.leaf = handDSACA(t, p.inheriting, "DSA Leaf", "absent", false)
	return p
}

// TestParseCertificateDSAInheritance: crypto/x509 refuses a DSA key
// without parameters; parseCertificate accepts it (absent or NULL), with
// the original encoding and a key that has only Y.
func TestParseCertificateDSAInheritance(t *testing.T) {
	root := issue(t, nil, caTemplate("Root"), nil)
	issuer := &handCA{cert: root.cert, key: root.key}
	pub := &dsa.PublicKey{Y: big.NewInt(12345)} // parsing needs no real key
	for _, params := range []string{"absent", "null"} {
		t.Run(params, func(t *testing.T) {
			spki := dsaSPKI(t, pub, params)
			der := handIssue(t, issuer, "Inheriting", spki, true)
			if _, err := x509.ParseCertificate(der); err == nil {
				t.Skip("crypto/x509 now parses DSA keys without parameters")
			}
			c, err := parseCertificate(der)
			if err != nil {
				t.Fatalf("parseCertificate: %v", err)
			}
			if !bytes.Equal(c.Raw, der) || !bytes.Equal(c.RawSubjectPublicKeyInfo, spki) {
				t.Error("Raw or RawSubjectPublicKeyInfo is not the original encoding")
			}
			k, ok := c.PublicKey.(*dsa.PublicKey)
			if !ok || k.Y.Cmp(pub.Y) != 0 || !dsaInherits(k) {
				t.Fatalf("PublicKey = %#v, want a DSA key with Y and no parameters", c.PublicKey)
			}
			if err := checkCertSignature(root.cert, c); err != nil {
				t.Errorf("signature over the original TBS does not verify: %v", err)
			}
			if err := checkCertSignature(c, c); !errors.Is(err, errDSAParamsUnknown) {
				t.Errorf("verifying with the incomplete key: %v, want errDSAParamsUnknown", err)
			}
		})
	}
	t.Run("malformed parameters", func(t *testing.T) {
		spki := dsaSPKI(t, pub, "null")
		spki = bytes.Replace(spki, []byte{0x05, 0x00}, []byte{0x02, 0x00}, 1) // an empty INTEGER
		if _, err := parseCertificate(handIssue(t, issuer, "Bad", spki, true)); err == nil {
			t.Error("DSA key with malformed parameters accepted")
		}
	})
}

func TestDSAParameterInheritance(t *testing.T) {
	p := newDSAPKI(t)
	orphan := handDSACA(t, p.root, "Inheriting Under ECDSA", "absent", true)
	underOrphan := handDSACA(t, orphan, "Leaf Under Orphan", "absent", false)

	tampered := bytes.Clone(p.leaf.cert.Raw)
	tampered[len(tampered)-1] ^= 0x01 // the last byte of s
	tamperedLeaf, err := parseCertificate(tampered)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name  string
		leaf  *x509.Certificate
		pool  []*x509.Certificate
		want  Reason // "" means valid
		depth int
	}{
		{name: "inherited over two certificates", leaf: p.leaf.cert, pool: []*x509.Certificate{p.ca.cert, p.inheriting.cert}},
		{name: "inheriting CA as target", leaf: p.inheriting.cert, pool: []*x509.Certificate{p.ca.cert}},
		{name: "tampered signature by inheriting key", leaf: tamperedLeaf, pool: []*x509.Certificate{p.ca.cert, p.inheriting.cert},
			want: ReasonUntrusted, depth: 0},
		{name: "inheriting key under ECDSA issuer", leaf: orphan.cert, want: ReasonUntrusted, depth: 0},
		{name: "path through inheriting key under ECDSA issuer", leaf: underOrphan.cert, pool: []*x509.Certificate{orphan.cert},
			want: ReasonUntrusted, depth: 1},
	}
	v, err := New(Config{Roots: []*x509.Certificate{p.root.cert}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second time with the signature cache warm
				res, err := v.VerifyAt(context.Background(), tt.leaf, tt.pool, testEpoch)
				if tt.want == "" {
					if err != nil {
						t.Fatalf("want valid, got %v", err)
					}
					checkCompletedKeys(t, res.Chain, p.ca.key.(*dsa.PrivateKey).Parameters)
					continue
				}
				var e *Error
				if !errors.As(err, &e) || e.Reason != tt.want || e.Depth != tt.depth {
					t.Fatalf("got %v, want %s at depth %d", err, tt.want, tt.depth)
				}
			}
		})
	}
	if k := p.leaf.cert.PublicKey.(*dsa.PublicKey); !dsaInherits(k) {
		t.Error("verification changed the caller's certificate")
	}
}

// checkCompletedKeys: every DSA key of a validated chain has the
// parameters.
func checkCompletedKeys(t *testing.T, chain []*x509.Certificate, want dsa.Parameters) {
	t.Helper()
	for i, c := range chain {
		k, ok := c.PublicKey.(*dsa.PublicKey)
		if !ok {
			continue
		}
		if k.P == nil || k.P.Cmp(want.P) != 0 || k.Q.Cmp(want.Q) != 0 || k.G.Cmp(want.G) != 0 {
			t.Errorf("chain[%d] %q: DSA key without the path's parameters", i, describeName(c.RawSubject))
		}
	}
}

// TestDSAParameterInheritanceCRL: the CRL covering the leaf is signed by
// the key that inherits its parameters (as in PKITS 4.1.5).
func TestDSAParameterInheritanceCRL(t *testing.T) {
	p := newDSAPKI(t)
	root := &testCA{cert: p.root.cert, key: p.root.key.(*ecdsa.PrivateKey)}
	rootCRL := newCRL(t, root, &x509.RevocationList{})
	caCRL := handCRL(t, p.ca)
	badSig := bytes.Clone(handCRL(t, p.inheriting).Raw)
	badSig[len(badSig)-1] ^= 0x01
	tamperedCRL, err := parseCRL(badSig)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		crl   *x509.RevocationList
		want  Reason
		depth int
	}{
		{name: "not revoked", crl: handCRL(t, p.inheriting)},
		{name: "revoked", crl: handCRL(t, p.inheriting, p.leaf.cert.SerialNumber), want: ReasonRevoked},
		{name: "CRL signature does not verify", crl: tamperedCRL, want: ReasonRevocationUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := New(Config{
				Roots:         []*x509.Certificate{p.root.cert},
				Intermediates: []*x509.Certificate{p.ca.cert, p.inheriting.cert},
				CRLs:          []*x509.RevocationList{rootCRL, caCRL, tt.crl},
				Revocation:    RevocationConfig{Check: true},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			for range 2 { // the second time with the signature caches warm
				res, err := v.VerifyAt(context.Background(), p.leaf.cert, nil, testEpoch)
				if tt.want == "" {
					if err != nil {
						t.Fatalf("want valid, got %v", err)
					}
					for i, how := range res.Revocation {
						if how != "crl" {
							t.Errorf("revocation of chain[%d] established by %q, want crl", i, how)
						}
					}
					continue
				}
				var e *Error
				if !errors.As(err, &e) || e.Reason != tt.want || e.Depth != tt.depth {
					t.Fatalf("got %v, want %s at depth %d", err, tt.want, tt.depth)
				}
			}
		})
	}
}

// TestSigCacheInheritedDSA: a check made with a completed key is not
// remembered for the same certificate without (or with other) parameters.
func TestSigCacheInheritedDSA(t *testing.T) {
	p := newDSAPKI(t)
	path, err := resolveDSAParams(certPath{certs: []*x509.Certificate{p.leaf.cert, p.inheriting.cert, p.ca.cert}, anchor: p.root.cert})
	if err != nil {
		t.Fatal(err)
	}
	completed := path.certs[1]
	if completed == p.inheriting.cert || dsaInherits(completed.PublicKey) {
		t.Fatal("resolveDSAParams did not complete the inheriting CA's key")
	}
	var s sigCache
	for range 2 {
		if err := s.check(completed, p.leaf.cert); err != nil {
			t.Fatalf("completed key: %v", err)
		}
		if err := s.check(p.inheriting.cert, p.leaf.cert); !errors.Is(err, errDSAParamsUnknown) {
			t.Fatalf("incomplete key after a check with the completed one: %v, want errDSAParamsUnknown", err)
		}
	}
	if len(s.entries) != 0 {
		t.Errorf("%d checks with an inheriting key remembered", len(s.entries))
	}
}
