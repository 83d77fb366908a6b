package certverify

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// verifyWith runs a fresh Verifier with roots and pool at testEpoch and
// no revocation checking.
func verifyWith(t *testing.T, leaf *x509.Certificate, roots, pool []*x509.Certificate) (*Result, error) {
	t.Helper()
	v, err := New(Config{Roots: roots, Intermediates: pool})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	return v.VerifyAt(context.Background(), leaf, nil, testEpoch)
}

func TestPathValidation(t *testing.T) {
	root := issue(t, nil, caTemplate("Root"), nil)
	good := issue(t, root, caTemplate("Intermediate"), nil)

	noCertSign := caTemplate("No CertSign CA")
	noCertSign.KeyUsage = x509.KeyUsageCRLSign
	noCertSignCA := issue(t, root, noCertSign, nil)

	notCA := caTemplate("Not A CA")
	notCA.IsCA = false
	notCACert := issue(t, root, notCA, nil)

	noBC := caTemplate("No Basic Constraints")
	noBC.BasicConstraintsValid = false
	noBC.IsCA = false
	noBCCert := issue(t, root, noBC, nil)

	pathLen0 := caTemplate("PathLen0")
	pathLen0.MaxPathLenZero = true
	pathLen0CA := issue(t, root, pathLen0, nil)
	belowPathLen0 := issue(t, pathLen0CA, caTemplate("Below PathLen0"), nil)

	// Key rollover: a self-issued certificate under a pathLen 0 CA does
	// not count against the path length (RFC 5280 6.1.4 (l)).
	rollKey := newTestKey(t)
	rolloverTmpl := caTemplate("PathLen0")
	rolloverTmpl.AuthorityKeyId = pathLen0CA.cert.SubjectKeyId // Go omits it for self-issued certificates
	rollover := issue(t, pathLen0CA, rolloverTmpl, rollKey)

	expiredTmpl := caTemplate("Expired Intermediate")
	expiredTmpl.NotAfter = testEpoch.AddDate(0, 0, -1)
	expired := issue(t, root, expiredTmpl, nil)

	critical := leafTemplate("Critical Extension")
	critical.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Critical: true, Value: []byte{0x05, 0x00}}}
	nonCritical := leafTemplate("NonCritical Extension")
	nonCritical.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}, Value: []byte{0x05, 0x00}}}

	leafNC := leafTemplate("Leaf With Name Constraints")
	leafNC.PermittedDNSDomains = []string{"example.com"}
	leafNC.PermittedDNSDomainsCritical = true

	tests := []struct {
		name   string
		issuer *testCA
		leaf   *x509.Certificate
		pool   []*x509.Certificate
		want   Reason // "" means valid
		depth  int
	}{
		{name: "valid two-level path", issuer: good, leaf: leafTemplate("Leaf"), pool: []*x509.Certificate{good.cert}},
		{name: "issuer missing from pool", issuer: good, leaf: leafTemplate("Leaf"), want: ReasonUntrusted, depth: -1},
		{name: "intermediate without keyCertSign", issuer: noCertSignCA, leaf: leafTemplate("Leaf"), pool: []*x509.Certificate{noCertSignCA.cert}, want: ReasonUntrusted, depth: 1},
		{name: "intermediate with cA false", issuer: notCACert, leaf: leafTemplate("Leaf"), pool: []*x509.Certificate{notCACert.cert}, want: ReasonUntrusted, depth: 1},
		{name: "intermediate without basic constraints", issuer: noBCCert, leaf: leafTemplate("Leaf"), pool: []*x509.Certificate{noBCCert.cert}, want: ReasonUntrusted, depth: 1},
		{name: "path length exceeded", issuer: belowPathLen0, leaf: leafTemplate("Leaf"), pool: []*x509.Certificate{pathLen0CA.cert, belowPathLen0.cert}, want: ReasonUntrusted, depth: 1},
		{name: "self-issued rollover within path length", issuer: rollover, leaf: leafTemplate("Leaf"), pool: []*x509.Certificate{pathLen0CA.cert, rollover.cert}},
		{name: "expired intermediate", issuer: expired, leaf: leafTemplate("Leaf"), pool: []*x509.Certificate{expired.cert}, want: ReasonExpired, depth: 1},
		{name: "unknown critical extension", issuer: good, leaf: critical, pool: []*x509.Certificate{good.cert}, want: ReasonUntrusted, depth: 0},
		{name: "name constraints in a leaf", issuer: good, leaf: leafNC, pool: []*x509.Certificate{good.cert}, want: ReasonUntrusted, depth: 0},
		{name: "unknown non-critical extension", issuer: good, leaf: nonCritical, pool: []*x509.Certificate{good.cert}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf := issue(t, tt.issuer, tt.leaf, nil).cert
			res, err := verifyWith(t, leaf, []*x509.Certificate{root.cert}, tt.pool)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if got := res.Chain[len(res.Chain)-1]; got != root.cert {
					t.Errorf("chain ends at %v, want the root", got.Subject)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want %s, got %v", tt.want, err)
			}
			if e.Reason != tt.want || e.Depth != tt.depth {
				t.Errorf("got %s at depth %d (%v), want %s at depth %d", e.Reason, e.Depth, err, tt.want, tt.depth)
			}
		})
	}
}

func TestPathBuildingChoosesAmongCandidates(t *testing.T) {
	root := issue(t, nil, caTemplate("Root"), nil)
	// Two intermediates share a subject name. The first offered has expired;
	// the second is good. A third has the same name but a key that did not
	// sign the leaf.
	expTmpl := caTemplate("Shared Name CA")
	expTmpl.NotAfter = testEpoch.AddDate(0, -1, 0)
	expired := issue(t, root, expTmpl, nil)
	key := newTestKey(t)
	expiredSameKey := issue(t, root, func() *x509.Certificate { c := caTemplate("Shared Name CA"); c.NotAfter = expTmpl.NotAfter; return c }(), key)
	goodSameKey := issue(t, root, caTemplate("Shared Name CA"), key)
	other := issue(t, root, caTemplate("Shared Name CA"), nil)
	_ = expired

	leaf := issue(t, goodSameKey, leafTemplate("Leaf"), nil).cert
	pool := []*x509.Certificate{other.cert, expiredSameKey.cert, goodSameKey.cert}
	res, err := verifyWith(t, leaf, []*x509.Certificate{root.cert}, pool)
	if err != nil {
		t.Fatalf("want valid via the unexpired intermediate, got %v", err)
	}
	if res.Chain[1] != goodSameKey.cert {
		t.Errorf("path went through %v", res.Chain[1].NotAfter)
	}

	// Only the expired one: refused as expired, not as "no path".
	_, err = verifyWith(t, leaf, []*x509.Certificate{root.cert}, []*x509.Certificate{other.cert, expiredSameKey.cert})
	if ReasonOf(err) != ReasonExpired {
		t.Errorf("want %s, got %v", ReasonExpired, err)
	}
}

func TestPathBuildingTerminatesOnCycles(t *testing.T) {
	root := issue(t, nil, caTemplate("Root"), nil)
	aKey, bKey := newTestKey(t), newTestKey(t)
	a := &testCA{cert: issue(t, nil, caTemplate("A"), aKey).cert, key: aKey}
	b := issue(t, a, caTemplate("B"), bKey)
	aByB := issue(t, b, caTemplate("A"), aKey) // A certified by B: a cycle
	leaf := issue(t, b, leafTemplate("Leaf"), nil).cert
	_, err := verifyWith(t, leaf, []*x509.Certificate{root.cert}, []*x509.Certificate{b.cert, aByB.cert, a.cert})
	if ReasonOf(err) != ReasonUntrusted {
		t.Fatalf("want %s, got %v", ReasonUntrusted, err)
	}
}

func TestNameConstraintsInPath(t *testing.T) {
	root := issue(t, nil, caTemplate("Root"), nil)
	nc := caTemplate("Constrained CA")
	nc.ExcludedDNSDomains = []string{"forbidden.example"}
	nc.PermittedDNSDomainsCritical = true
	ca := issue(t, root, nc, nil)
	okLeaf := leafTemplate("ok")
	okLeaf.DNSNames = []string{"host.allowed.example"}
	badLeaf := leafTemplate("bad")
	badLeaf.DNSNames = []string{"host.forbidden.example"}
	roots, pool := []*x509.Certificate{root.cert}, []*x509.Certificate{ca.cert}
	if _, err := verifyWith(t, issue(t, ca, okLeaf, nil).cert, roots, pool); err != nil {
		t.Errorf("permitted name refused: %v", err)
	}
	if _, err := verifyWith(t, issue(t, ca, badLeaf, nil).cert, roots, pool); ReasonOf(err) != ReasonUntrusted {
		t.Errorf("excluded name: want %s, got %v", ReasonUntrusted, err)
	}
}

// TestNameConstraintWorkIsBounded: a certificate whose names times the
// subtrees in force exceed maxNameChecks is refused rather than checked.
func TestNameConstraintWorkIsBounded(t *testing.T) {
	root := issue(t, nil, caTemplate("Root"), nil)
	nc := caTemplate("Many Subtrees CA")
	nc.PermittedDNSDomainsCritical = true
	for i := range 600 {
		nc.PermittedDNSDomains = append(nc.PermittedDNSDomains, fmt.Sprintf("d%d.example", i))
	}
	ca := issue(t, root, nc, nil)
	few, many := leafTemplate("few names"), leafTemplate("many names")
	few.DNSNames = []string{"host.d1.example"}
	for i := range 600 {
		many.DNSNames = append(many.DNSNames, fmt.Sprintf("h.d%d.example", i))
	}
	roots, pool := []*x509.Certificate{root.cert}, []*x509.Certificate{ca.cert}
	if _, err := verifyWith(t, issue(t, ca, few, nil).cert, roots, pool); err != nil {
		t.Fatalf("few names: %v", err)
	}
	_, err := verifyWith(t, issue(t, ca, many, nil).cert, roots, pool)
	if ReasonOf(err) != ReasonUntrusted || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Fatalf("many names: want a work-limit refusal, got %v", err)
	}
}
