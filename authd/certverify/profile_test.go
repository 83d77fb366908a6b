package certverify

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"testing"
	"time"
)

// TestAnchorAndProfile covers the checks on the trust anchor itself and the
// RFC 5280 section 4 profile rules applied to every certificate of a path.
func TestAnchorAndProfile(t *testing.T) {
	type chain struct {
		root  *testCA
		inter *testCA // nil: the leaf is issued by the root
		leaf  *x509.Certificate
	}
	build := func(rootTmpl, interTmpl, leafTmpl *x509.Certificate) chain {
		c := chain{root: issue(t, nil, rootTmpl, nil)}
		issuer := c.root
		if interTmpl != nil {
			c.inter = issue(t, c.root, interTmpl, nil)
			issuer = c.inter
		}
		c.leaf = issue(t, issuer, leafTmpl, nil).cert
		return c
	}
	root := func(mod func(*x509.Certificate)) *x509.Certificate {
		c := caTemplate("Root")
		if mod != nil {
			mod(c)
		}
		return c
	}
	inter := func(mod func(*x509.Certificate)) *x509.Certificate {
		c := caTemplate("Intermediate")
		if mod != nil {
			mod(c)
		}
		return c
	}
	leaf := func(mod func(*x509.Certificate)) *x509.Certificate {
		c := leafTemplate("Leaf")
		c.DNSNames = []string{"leaf.example.com"}
		if mod != nil {
			mod(c)
		}
		return c
	}
	emptyEKU := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Value: []byte{0x30, 0x00}}
	emptyKU := pkix.Extension{Id: asn1.ObjectIdentifier{2, 5, 29, 15}, Critical: true, Value: []byte{0x03, 0x01, 0x00}}

	tests := []struct {
		name  string
		c     chain
		at    time.Time
		want  Reason // "" = valid
		depth int
	}{
		{name: "plain chain", c: build(root(nil), inter(nil), leaf(nil))},
		{name: "expired root", c: build(root(func(c *x509.Certificate) { c.NotAfter = testEpoch.Add(-time.Hour) }), inter(nil), leaf(nil)), want: ReasonExpired, depth: 2},
		{name: "root name constraints apply", c: build(root(func(c *x509.Certificate) {
			c.PermittedDNSDomains, c.PermittedDNSDomainsCritical = []string{"other.example"}, true
		}), inter(nil), leaf(nil)), want: ReasonUntrusted, depth: 0},
		{name: "root name constraints permit", c: build(root(func(c *x509.Certificate) {
			c.PermittedDNSDomains, c.PermittedDNSDomainsCritical = []string{"example.com"}, true
		}), inter(nil), leaf(nil))},
		{name: "root path length 0 forbids an intermediate", c: build(root(func(c *x509.Certificate) { c.MaxPathLenZero = true }), inter(nil), leaf(nil)), want: ReasonUntrusted, depth: 1},
		{name: "root path length 0 allows a leaf", c: build(root(func(c *x509.Certificate) { c.MaxPathLenZero = true }), nil, leaf(nil))},
		{name: "root without basic constraints", c: build(root(func(c *x509.Certificate) { c.BasicConstraintsValid, c.IsCA = false, false }), inter(nil), leaf(nil)), want: ReasonUntrusted, depth: 2},
		{name: "root with unknown critical extension", c: build(root(func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 2}, Critical: true, Value: []byte{5, 0}}}
		}), inter(nil), leaf(nil)), want: ReasonUntrusted, depth: 2},
		{name: "intermediate with empty key usage", c: build(root(nil), inter(func(c *x509.Certificate) {
			c.KeyUsage = 0
			c.ExtraExtensions = []pkix.Extension{emptyKU}
		}), leaf(nil)), want: ReasonUntrusted, depth: 1},
		{name: "leaf asserting keyCertSign without cA", c: build(root(nil), inter(nil), leaf(func(c *x509.Certificate) {
			c.KeyUsage |= x509.KeyUsageCertSign
		})), want: ReasonUntrusted, depth: 0},
		{name: "leaf with empty extKeyUsage", c: build(root(nil), inter(nil), leaf(func(c *x509.Certificate) {
			c.ExtKeyUsage = nil
			c.ExtraExtensions = []pkix.Extension{emptyEKU}
		})), want: ReasonUntrusted, depth: 0},
		{name: "leaf with empty subject and non-critical SAN", c: build(root(nil), inter(nil), leaf(func(c *x509.Certificate) {
			// Go would mark the SAN critical itself; encode it by hand.
			c.Subject, c.DNSNames = pkix.Name{}, nil
			san := append([]byte{0x30, 0x12, 0x82, 0x10}, "leaf.example.com"...)
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}}
		})), want: ReasonUntrusted, depth: 0},
		{name: "leaf with empty subject and critical SAN", c: build(root(nil), inter(nil), leaf(func(c *x509.Certificate) {
			c.Subject = pkix.Name{}
		}))},
		{name: "intermediate with an empty subject key identifier", c: build(root(nil), inter(func(c *x509.Certificate) {
			c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 14}, Value: []byte{0x04, 0x00}}}
		}), leaf(nil)), want: ReasonUntrusted, depth: 1},
		{name: "leaf without authority key identifier", c: func() chain {
			c := build(root(nil), inter(nil), leaf(nil))
			// Go copies the issuer's SubjectKeyId into the AKI; an issuer
			// without one yields a leaf without an AKI.
			anon := *c.inter.cert
			anon.SubjectKeyId = nil
			c.leaf = issue(t, &testCA{cert: &anon, key: c.inter.key}, leaf(nil), nil).cert
			return c
		}(), want: ReasonUntrusted, depth: 0},
		{name: "validity is to the second", c: build(root(nil), inter(nil), leaf(func(c *x509.Certificate) {
			c.NotAfter = testEpoch
		})), at: testEpoch.Add(500 * time.Millisecond)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at := tt.at
			if at.IsZero() {
				at = testEpoch
			}
			var pool []*x509.Certificate
			if tt.c.inter != nil {
				pool = append(pool, tt.c.inter.cert)
			}
			v, err := New(Config{Roots: []*x509.Certificate{tt.c.root.cert}, Intermediates: pool})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.VerifyAt(t.Context(), tt.c.leaf, nil, at)
			checkOutcome(t, err, tt.want, tt.depth)
		})
	}
}

// checkOutcome asserts a verification result: valid when want is "",
// otherwise an *Error with that reason at that depth.
func checkOutcome(t *testing.T, err error, want Reason, depth int) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want %s, got %v", want, err)
	}
	if e.Reason != want || e.Depth != depth {
		t.Errorf("got %s at depth %d (%v), want %s at depth %d", e.Reason, e.Depth, err, want, depth)
	}
}
