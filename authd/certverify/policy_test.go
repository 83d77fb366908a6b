package certverify

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
)

// Tests for policy.go. The chains mirror the NIST PKITS scenarios of
// sections 4.8 to 4.12 (the PKITS test number is given where a case follows
// one); they are built here rather than taken from PKITS so that each case
// shows the extensions it depends on.

// Test policies: polOID(k) is NIST-test-policy-k, 2.16.840.1.101.3.2.1.48.k.
func polOID(k uint64) x509.OID { return mustPolicyOID(2, 16, 840, 1, 101, 3, 2, 1, 48, k) }

var (
	pol1, pol2, pol3 = polOID(1), polOID(2), polOID(3)
	polAny           = anyPolicyOID
)

// polSkip returns a pointer to a SkipCerts value, for policyCertSpec.
func polSkip(n int) *int { return &n }

// policyCertSpec describes one certificate below the trust anchor. The last
// one of a chain is the leaf; the others are CAs.
type policyCertSpec struct {
	selfIssued      bool // subject name equal to the issuer's
	policies        []x509.OID
	mappings        []x509.PolicyMapping
	requireExplicit *int // policyConstraints requireExplicitPolicy
	inhibitMapping  *int // policyConstraints inhibitPolicyMapping
	inhibitAny      *int // inhibitAnyPolicy extension
}

// polMap is x509.PolicyMapping{issuer, subject}.
func polMap(issuer, subject x509.OID) x509.PolicyMapping {
	return x509.PolicyMapping{IssuerDomainPolicy: issuer, SubjectDomainPolicy: subject}
}

// polCA and polEE are shorthands for a certificate that asserts pols and
// nothing else; two names so that tables read as chains.
func polCA(pols ...x509.OID) policyCertSpec { return policyCertSpec{policies: pols} }
func polEE(pols ...x509.OID) policyCertSpec { return policyCertSpec{policies: pols} }

// polSet is a policy set, for brevity in tables.
func polSet(oids ...x509.OID) []x509.OID { return oids }

// polMaps pairs its arguments as (issuerDomainPolicy, subjectDomainPolicy).
func polMaps(pairs ...x509.OID) []x509.PolicyMapping {
	var m []x509.PolicyMapping
	for k := 0; k+1 < len(pairs); k += 2 {
		m = append(m, polMap(pairs[k], pairs[k+1]))
	}
	return m
}

// polSelf makes s self-issued.
func polSelf(s policyCertSpec) policyCertSpec { s.selfIssued = true; return s }

// DER helpers. crypto/x509 in Go 1.26 encodes only certificatePolicies from
// a template; policyMappings, policyConstraints and inhibitAnyPolicy are
// ignored by CreateCertificate and must be supplied as ExtraExtensions.

var (
	polExtMappings    = asn1.ObjectIdentifier{2, 5, 29, 33}
	polExtConstraints = asn1.ObjectIdentifier{2, 5, 29, 36}
	polExtInhibitAny  = asn1.ObjectIdentifier{2, 5, 29, 54}
)

// polDER encodes one DER element with the given (single-octet) tag.
func polDER(tag byte, content ...[]byte) []byte {
	body := bytes.Join(content, nil)
	out := []byte{tag}
	switch n := len(body); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	default:
		out = append(out, 0x82, byte(n>>8), byte(n))
	}
	return append(out, body...)
}

// polDERInt encodes v as an INTEGER, retagged with tag.
func polDERInt(tag byte, v int) []byte {
	b, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	b[0] = tag
	return b
}

func polDEROID(oid x509.OID) []byte {
	b, _ := oid.MarshalBinary()
	return polDER(0x06, b)
}

// policyExtensions returns the extensions CreateCertificate does not make.
func (s policyCertSpec) policyExtensions() []pkix.Extension {
	var exts []pkix.Extension
	if len(s.mappings) > 0 {
		var seq [][]byte
		for _, m := range s.mappings {
			seq = append(seq, polDER(0x30, polDEROID(m.IssuerDomainPolicy), polDEROID(m.SubjectDomainPolicy)))
		}
		exts = append(exts, pkix.Extension{Id: polExtMappings, Critical: true, Value: polDER(0x30, seq...)})
	}
	if s.requireExplicit != nil || s.inhibitMapping != nil {
		var fields [][]byte
		if s.requireExplicit != nil {
			fields = append(fields, polDERInt(0x80, *s.requireExplicit))
		}
		if s.inhibitMapping != nil {
			fields = append(fields, polDERInt(0x81, *s.inhibitMapping))
		}
		exts = append(exts, pkix.Extension{Id: polExtConstraints, Critical: true, Value: polDER(0x30, fields...)})
	}
	if s.inhibitAny != nil {
		exts = append(exts, pkix.Extension{Id: polExtInhibitAny, Critical: true, Value: polDERInt(0x02, *s.inhibitAny)})
	}
	return exts
}

// buildPolicyChain issues the chain below a fresh trust anchor and returns
// it root side first (index 0 is certificate 1).
func buildPolicyChain(t *testing.T, specs []policyCertSpec) []*x509.Certificate {
	t.Helper()
	issuer := issue(t, nil, caTemplate("policy test anchor"), nil)
	var chain []*x509.Certificate
	for j, s := range specs {
		cn := fmt.Sprintf("policy test cert %d", j+1)
		if s.selfIssued {
			cn = issuer.cert.Subject.CommonName
		}
		tmpl := caTemplate(cn)
		if j == len(specs)-1 {
			tmpl = leafTemplate(cn)
		}
		tmpl.Policies = s.policies
		tmpl.ExtraExtensions = s.policyExtensions()
		next := issue(t, issuer, tmpl, nil)
		chain = append(chain, next.cert)
		issuer = next
	}
	return chain
}

// runPolicies drives a policyValidator over chain as validatePath does.
func runPolicies(opts policyOptions, chain []*x509.Certificate) ([]x509.OID, error) {
	p := newPolicyValidator(opts, len(chain))
	for k, c := range chain {
		if err := p.processCert(c, k+1, bytes.Equal(c.RawSubject, c.RawIssuer)); err != nil {
			return nil, err
		}
	}
	return p.finish(chain[len(chain)-1])
}

// policySetString renders a policy set in sorted order, for comparison.
func policySetString(set []x509.OID) string {
	s := make([]string, len(set))
	for k, oid := range set {
		s[k] = oid.String()
	}
	slices.Sort(s)
	return "{" + strings.Join(s, " ") + "}"
}

// Option sets used by the table besides the PKITS default settings (the
// zero policyOptions): initial-explicit-policy, with or without a
// user-initial-policy-set.
var polExplicit = policyOptions{RequireExplicit: true}

func polUser(oids ...x509.OID) policyOptions { return policyOptions{InitialPolicies: oids} }

func polUserExplicit(oids ...x509.OID) policyOptions {
	return policyOptions{InitialPolicies: oids, RequireExplicit: true}
}

func TestPolicyValidation(t *testing.T) {
	type path = []policyCertSpec
	var (
		p1 = polSet(pol1)
		// Specs used more than once.
		rep0p1   = policyCertSpec{policies: p1, requireExplicit: polSkip(0)}
		map1to2  = policyCertSpec{policies: p1, mappings: polMaps(pol1, pol2)}
		map1to3  = policyCertSpec{policies: p1, mappings: polMaps(pol1, pol3)}
		ipm0rep0 = policyCertSpec{policies: p1, inhibitMapping: polSkip(0), requireExplicit: polSkip(0)}
		ipm1rep0 = policyCertSpec{policies: p1, inhibitMapping: polSkip(1), requireExplicit: polSkip(0)}
		iap0rep0 = policyCertSpec{policies: p1, inhibitAny: polSkip(0), requireExplicit: polSkip(0)}
		mapAny   = policyCertSpec{policies: polSet(polAny), mappings: polMaps(pol1, pol2)}
	)
	tests := []struct {
		name    string
		chain   path
		opts    policyOptions
		want    []x509.OID // user-constrained policy set when valid
		wantErr error      // nil when valid
	}{
		// 4.8 certificate policies.
		{name: "same policy everywhere (4.8.1)", chain: path{polCA(pol1), polEE(pol1)}, want: p1},
		{name: "same policy, explicit (4.8.1)", chain: path{polCA(pol1), polEE(pol1)}, opts: polExplicit, want: p1},
		{name: "same policy, user set matches (4.8.1)", chain: path{polCA(pol1), polEE(pol1)}, opts: polUserExplicit(pol1), want: p1},
		{name: "same policy, user set differs, explicit (4.8.1)", chain: path{polCA(pol1), polEE(pol1)}, opts: polUserExplicit(pol2), wantErr: errPolicyRequired},
		{name: "same policy, user set differs, not explicit", chain: path{polCA(pol1), polEE(pol1)}, opts: polUser(pol2), want: nil},
		{name: "no policies anywhere (4.8.2)", chain: path{polCA(), polEE()}, want: nil},
		{name: "no policies anywhere, explicit (4.8.2)", chain: path{polCA(), polEE()}, opts: polExplicit, wantErr: errPolicyRequired},
		{name: "different policies (4.8.3)", chain: path{polCA(pol1), polCA(pol2), polEE(pol1)}, want: nil},
		{name: "different policies, explicit (4.8.3)", chain: path{polCA(pol1), polCA(pol2), polEE(pol1)}, opts: polExplicit, wantErr: errPolicyRequired},
		{name: "CA without policies, nothing required", chain: path{polCA(pol1), polCA(), polEE(pol1)}, want: nil},
		{name: "CA without policies, requireExplicitPolicy 0", chain: path{rep0p1, polCA(), polEE(pol1)}, wantErr: errPolicyRequired},
		{name: "overlapping policies (4.8.6)", chain: path{polCA(pol1, pol2), polCA(pol1), polEE(pol1, pol2)}, want: p1},
		{name: "same two policies (4.8.10)", chain: path{polCA(pol1, pol2), polEE(pol1, pol2)}, want: polSet(pol1, pol2)},
		{name: "same two policies, user pol2 (4.8.10)", chain: path{polCA(pol1, pol2), polEE(pol1, pol2)}, opts: polUserExplicit(pol2), want: polSet(pol2)},
		{name: "anyPolicy everywhere (4.8.11)", chain: path{polCA(polAny), polEE(polAny)}, want: polSet(polAny)},
		{name: "anyPolicy everywhere, user pol1 (4.8.11)", chain: path{polCA(polAny), polEE(polAny)}, opts: polUserExplicit(pol1), want: p1},
		{name: "anyPolicy CA, user pol1 (4.8.14)", chain: path{polCA(polAny), polEE(pol1)}, opts: polUserExplicit(pol1), want: p1},
		{name: "anyPolicy CA, user pol2 (4.8.14)", chain: path{polCA(polAny), polEE(pol1)}, opts: polUserExplicit(pol2), wantErr: errPolicyRequired},
		{name: "leaf anyPolicy under a pol1 CA", chain: path{polCA(pol1), polEE(polAny)}, opts: polExplicit, want: p1},
		{name: "user set holding anyPolicy is anyPolicy", chain: path{polCA(polAny), polEE(polAny)}, opts: polUser(pol1, polAny), want: polSet(polAny)},
		{name: "anyPolicy and pol1 at the leaf", chain: path{polCA(polAny), polEE(pol1, polAny)}, want: polSet(pol1, polAny)},

		// 4.9 requireExplicitPolicy: with no policies anywhere the path is
		// valid iff fewer than k certificates follow the one setting k.
		{name: "requireExplicitPolicy 10, 4 follow (4.9.1)", chain: polNoPolicyChain(10, 4), want: nil},
		{name: "requireExplicitPolicy 5, 4 follow (4.9.2)", chain: polNoPolicyChain(5, 4), want: nil},
		{name: "requireExplicitPolicy 4, 4 follow (4.9.3)", chain: polNoPolicyChain(4, 4), wantErr: errPolicyRequired},
		{name: "requireExplicitPolicy 2, 1 follows", chain: polNoPolicyChain(2, 1), want: nil},
		{name: "requireExplicitPolicy 2, 2 follow", chain: polNoPolicyChain(2, 2), wantErr: errPolicyRequired},
		{name: "requireExplicitPolicy 1, 1 follows", chain: polNoPolicyChain(1, 1), wantErr: errPolicyRequired},
		{name: "requireExplicitPolicy 0, 1 follows", chain: polNoPolicyChain(0, 1), wantErr: errPolicyRequired},
		{name: "requireExplicitPolicy 0 with policies (4.9.4)", chain: path{rep0p1, polCA(pol1), polEE(pol1)}, want: p1},
		{
			name:    "lower requireExplicitPolicy later wins (4.9.5)",
			chain:   path{{requireExplicit: polSkip(7)}, polCA(), {requireExplicit: polSkip(2)}, polCA(), polCA(), polEE()},
			wantErr: errPolicyRequired,
		},
		{name: "self-issued CA does not count (4.9.6)", chain: path{{requireExplicit: polSkip(2)}, polSelf(polCA()), polEE()}, want: nil},
		{
			name:    "self-issued CA then sub CA (4.9.7)",
			chain:   path{{requireExplicit: polSkip(2)}, polSelf(polCA()), polCA(), polEE()},
			wantErr: errPolicyRequired,
		},
		{
			name:    "two self-issued CAs (4.9.8)",
			chain:   path{{requireExplicit: polSkip(2)}, polSelf(polCA()), polCA(), polSelf(polCA()), polEE()},
			wantErr: errPolicyRequired,
		},
		{
			name:    "leaf requireExplicitPolicy 0 (6.1.5 (b))",
			chain:   path{polCA(pol1), {policies: polSet(pol2), requireExplicit: polSkip(0)}},
			wantErr: errPolicyRequired,
		},
		{name: "leaf requireExplicitPolicy 0 with a policy", chain: path{polCA(pol1), rep0p1}, want: p1},

		// 4.10 policy mappings. Results are in the trust anchor's domain.
		{name: "mapping pol1 to pol2 (4.10.1)", chain: path{map1to2, polEE(pol2)}, want: p1},
		{name: "mapping, user pol1 (4.10.1)", chain: path{map1to2, polEE(pol2)}, opts: polUserExplicit(pol1), want: p1},
		{name: "mapping, user pol2 (4.10.1)", chain: path{map1to2, polEE(pol2)}, opts: polUserExplicit(pol2), wantErr: errPolicyRequired},
		{name: "mapping, initial-policy-mapping-inhibit", chain: path{map1to2, polEE(pol2)}, opts: policyOptions{InhibitMapping: true}, want: nil},
		{
			name:    "mapping, initial-policy-mapping-inhibit, explicit",
			chain:   path{map1to2, polEE(pol2)},
			opts:    policyOptions{InhibitMapping: true, RequireExplicit: true},
			wantErr: errPolicyRequired,
		},
		{name: "mapping to anyPolicy (4.10.8)", chain: path{{policies: p1, mappings: polMaps(pol1, polAny)}, polEE(pol1)}, wantErr: errPolicyMapsAny},
		{name: "mapping from anyPolicy (4.10.7)", chain: path{{policies: p1, mappings: polMaps(polAny, pol1)}, polEE(pol1)}, wantErr: errPolicyMapsAny},
		{name: "leaf mappings are not examined", chain: path{polCA(pol1), {policies: p1, mappings: polMaps(pol1, polAny)}}, want: p1},
		{name: "anyPolicy CA maps pol1 to pol2 (4.10.9)", chain: path{mapAny, polEE(pol2)}, opts: polUserExplicit(pol1), want: p1},
		{name: "anyPolicy CA maps, leaf keeps pol1", chain: path{mapAny, polEE(pol1)}, opts: polUserExplicit(pol1), want: p1},
		{
			name:  "two issuer policies map to one (node with two parents)",
			chain: path{{policies: polSet(pol1, pol2), mappings: polMaps(pol1, pol3, pol2, pol3)}, polEE(pol3)},
			want:  polSet(pol1, pol2),
		},
		{
			name:  "one issuer policy maps to two",
			chain: path{{policies: p1, mappings: polMaps(pol1, pol2, pol1, pol3)}, polCA(pol3), polEE(pol3)},
			opts:  polUserExplicit(pol1),
			want:  p1,
		},
		{name: "mapped-away policy no longer matches itself", chain: path{map1to2, polEE(pol1)}, opts: polExplicit, wantErr: errPolicyRequired},

		// 4.11 inhibitPolicyMapping.
		{name: "inhibitPolicyMapping 0 (4.11.1)", chain: path{ipm0rep0, map1to3, polEE(pol3)}, wantErr: errPolicyRequired},
		{name: "inhibitPolicyMapping 1, mapping next (4.11.2)", chain: path{ipm1rep0, map1to3, polEE(pol3)}, want: p1},
		{name: "inhibitPolicyMapping 1, mapping too late", chain: path{ipm1rep0, polCA(pol1), map1to3, polEE(pol3)}, wantErr: errPolicyRequired},
		{
			name:  "inhibited mapping keeps the anyPolicy branch",
			chain: path{{policies: polSet(polAny), inhibitMapping: polSkip(0)}, mapAny, polEE(pol1)},
			opts:  polUserExplicit(pol1),
			want:  p1,
		},
		{name: "self-issued CA does not count (4.11.7)", chain: path{ipm1rep0, polSelf(polCA(pol1)), map1to3, polEE(pol3)}, want: p1},
		{
			name:    "self-issued CA, mapping one CA too late (4.11.8)",
			chain:   path{ipm1rep0, polSelf(polCA(pol1)), polCA(pol1), map1to3, polEE(pol3)},
			wantErr: errPolicyRequired,
		},

		// 4.12 inhibitAnyPolicy.
		{name: "inhibitAnyPolicy 0, anyPolicy sub CA (4.12.1)", chain: path{iap0rep0, polCA(polAny), polEE(pol1)}, wantErr: errPolicyRequired},
		{name: "inhibitAnyPolicy 0, sub CA has pol1 (4.12.2)", chain: path{iap0rep0, polCA(pol1, polAny), polEE(pol1)}, want: p1},
		{name: "inhibitAnyPolicy 1, two anyPolicy CAs", chain: polAnyChain(polCA(polAny), polCA(polAny), polEE(pol1)), wantErr: errPolicyRequired},
		{name: "inhibitAnyPolicy 1, one anyPolicy CA", chain: polAnyChain(polCA(polAny), polCA(pol1), polEE(pol1)), want: p1},
		{name: "inhibitAnyPolicy 1, anyPolicy leaf (4.12.4)", chain: polAnyChain(polCA(polAny), polEE(polAny)), wantErr: errPolicyRequired},
		{name: "initial-any-policy-inhibit", chain: path{polCA(polAny), polEE(pol1)}, opts: policyOptions{InhibitAny: true}, want: nil},
		{
			name:    "initial-any-policy-inhibit, explicit",
			chain:   path{polCA(polAny), polEE(pol1)},
			opts:    policyOptions{InhibitAny: true, RequireExplicit: true},
			wantErr: errPolicyRequired,
		},
		{
			name:  "initial-any-policy-inhibit spares a self-issued CA",
			chain: path{polCA(pol1), polSelf(polCA(polAny)), polEE(pol1)},
			opts:  policyOptions{InhibitAny: true, RequireExplicit: true},
			want:  p1,
		},
		{name: "self-issued CA does not count (4.12.7)", chain: polAnyChain(polSelf(polCA(pol1)), polCA(polAny), polEE(pol1)), want: p1},
		{
			name:    "self-issued CA, anyPolicy too late (4.12.8)",
			chain:   polAnyChain(polSelf(polCA(pol1)), polCA(polAny), polCA(polAny), polEE(pol1)),
			wantErr: errPolicyRequired,
		},
		{
			name:  "self-issued sub CA may use anyPolicy (4.12.9)",
			chain: polAnyChain(polSelf(polCA(pol1)), polCA(polAny), polSelf(polCA(polAny)), polEE(pol1)),
			want:  p1,
		},
		{
			name:    "self-issued leaf may not use anyPolicy (4.12.10)",
			chain:   polAnyChain(polSelf(polCA(pol1)), polCA(polAny), polSelf(polEE(polAny))),
			wantErr: errPolicyRequired,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain := buildPolicyChain(t, tt.chain)
			got, err := runPolicies(tt.opts, chain)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %s, %v; want error %v", policySetString(got), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if g, w := policySetString(got), policySetString(tt.want); g != w {
				t.Errorf("user-constrained policy set = %s, want %s", g, w)
			}
		})
	}
}

// polNoPolicyChain is a chain without any certificate policies whose first
// CA has requireExplicitPolicy k, followed by m certificates (the last one
// the leaf).
func polNoPolicyChain(k, m int) []policyCertSpec {
	chain := []policyCertSpec{{requireExplicit: polSkip(k)}}
	for range m {
		chain = append(chain, polCA())
	}
	return chain
}

// polAnyChain prefixes rest with a CA asserting pol1 with inhibitAnyPolicy 1
// and requireExplicitPolicy 0, as the PKITS 4.12 chains do.
func polAnyChain(rest ...policyCertSpec) []policyCertSpec {
	first := policyCertSpec{policies: []x509.OID{pol1}, inhibitAny: polSkip(1), requireExplicit: polSkip(0)}
	return append([]policyCertSpec{first}, rest...)
}

// TestPolicyExtensionsParsed checks that the hand-encoded extensions reach
// the crypto/x509 fields the validator reads.
func TestPolicyExtensionsParsed(t *testing.T) {
	chain := buildPolicyChain(t, []policyCertSpec{
		{
			policies:        []x509.OID{pol1},
			mappings:        []x509.PolicyMapping{polMap(pol1, pol2)},
			requireExplicit: polSkip(0),
			inhibitMapping:  polSkip(3),
			inhibitAny:      polSkip(0),
		},
		polEE(pol2),
	})
	c := chain[0]
	if len(c.PolicyMappings) != 1 || !c.PolicyMappings[0].IssuerDomainPolicy.Equal(pol1) ||
		!c.PolicyMappings[0].SubjectDomainPolicy.Equal(pol2) {
		t.Errorf("PolicyMappings = %v", c.PolicyMappings)
	}
	if c.RequireExplicitPolicy != 0 || !c.RequireExplicitPolicyZero {
		t.Errorf("RequireExplicitPolicy = %d, zero %v", c.RequireExplicitPolicy, c.RequireExplicitPolicyZero)
	}
	if c.InhibitPolicyMapping != 3 || c.InhibitPolicyMappingZero {
		t.Errorf("InhibitPolicyMapping = %d, zero %v", c.InhibitPolicyMapping, c.InhibitPolicyMappingZero)
	}
	if c.InhibitAnyPolicy != 0 || !c.InhibitAnyPolicyZero {
		t.Errorf("InhibitAnyPolicy = %d, zero %v", c.InhibitAnyPolicy, c.InhibitAnyPolicyZero)
	}
	if len(c.UnhandledCriticalExtensions) != 0 {
		t.Errorf("UnhandledCriticalExtensions = %v", c.UnhandledCriticalExtensions)
	}
}

// TestPolicyMalformed covers extension values the parser accepts (or that
// a caller could construct) but the validator must refuse.
func TestPolicyMalformed(t *testing.T) {
	// Go's parser refuses a repeated policy OID outright.
	// issue would fail the test on the parse error, so sign by hand.
	root := issue(t, nil, caTemplate("dup anchor"), nil)
	tmpl := leafTemplate("dup leaf")
	tmpl.Policies = []x509.OID{pol1, pol1}
	tmpl.SerialNumber = big.NewInt(testSerial.Add(1))
	tmpl.NotBefore, tmpl.NotAfter = testEpoch.AddDate(-1, 0, 0), testEpoch.AddDate(1, 0, 0)
	key := newTestKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.cert, key.Public(), root.key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x509.ParseCertificate(der); err == nil {
		t.Error("crypto/x509 parsed a certificate with a repeated policy OID")
	}

	// A negative SkipCerts survives the parser.
	neg := buildPolicyChain(t, []policyCertSpec{{policies: []x509.OID{pol1}, requireExplicit: polSkip(-1)}, polEE(pol1)})
	if neg[0].RequireExplicitPolicy != -1 {
		t.Fatalf("RequireExplicitPolicy = %d, want -1 from the parser", neg[0].RequireExplicitPolicy)
	}

	tests := []struct {
		name string
		cert *x509.Certificate
	}{
		{name: "repeated policy", cert: &x509.Certificate{Policies: []x509.OID{pol1, pol2, pol1}}},
		{name: "negative requireExplicitPolicy (parsed)", cert: neg[0]},
		{name: "negative inhibitPolicyMapping", cert: &x509.Certificate{InhibitPolicyMapping: -2}},
		{name: "negative inhibitAnyPolicy", cert: &x509.Certificate{InhibitAnyPolicy: -1}},
		{name: "invalid mapping OID", cert: &x509.Certificate{PolicyMappings: []x509.PolicyMapping{{SubjectDomainPolicy: pol1}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPolicyValidator(policyOptions{}, 2)
			if err := p.processCert(tt.cert, 1, false); !errors.Is(err, errPolicyMalformed) {
				t.Fatalf("processCert = %v, want %v", err, errPolicyMalformed)
			}
		})
	}
}

// TestPolicyValidatorMisuse checks that calls out of order are refused and
// that a failed validator stays failed.
func TestPolicyValidatorMisuse(t *testing.T) {
	chain := buildPolicyChain(t, []policyCertSpec{polCA(pol1), polCA(pol1), polEE(pol1)})
	// upTo processes certificates 1..k of chain, which must succeed.
	upTo := func(p *policyValidator, k int) {
		for i := 1; i <= k; i++ {
			if err := p.processCert(chain[i-1], i, false); err != nil {
				t.Fatalf("certificate %d: %v", i, err)
			}
		}
	}
	tests := []struct {
		name string
		run  func(p *policyValidator) error
	}{
		{name: "skips a certificate", run: func(p *policyValidator) error { return p.processCert(chain[1], 2, false) }},
		{name: "nil certificate", run: func(p *policyValidator) error { return p.processCert(nil, 1, false) }},
		{name: "beyond n", run: func(p *policyValidator) error { upTo(p, 3); return p.processCert(chain[2], 4, false) }},
		{name: "finish too early", run: func(p *policyValidator) error { upTo(p, 1); _, err := p.finish(chain[2]); return err }},
		{name: "finish, another leaf", run: func(p *policyValidator) error { upTo(p, 3); _, err := p.finish(chain[1]); return err }},
		{name: "finish twice", run: func(p *policyValidator) error {
			upTo(p, 3)
			if _, err := p.finish(chain[2]); err != nil {
				t.Fatalf("first finish: %v", err)
			}
			_, err := p.finish(chain[2])
			return err
		}},
		{name: "empty path", run: func(*policyValidator) error {
			_, err := newPolicyValidator(policyOptions{}, 0).finish(chain[2])
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.run(newPolicyValidator(policyOptions{}, len(chain))); !errors.Is(err, errPolicyMisuse) {
				t.Fatalf("got %v, want %v", err, errPolicyMisuse)
			}
		})
	}

	// After a failure every call fails with the same error.
	bad := buildPolicyChain(t, []policyCertSpec{{policies: polSet(pol1), mappings: polMaps(pol1, polAny)}, polEE(pol1)})
	p := newPolicyValidator(policyOptions{}, len(bad))
	if err := p.processCert(bad[0], 1, false); !errors.Is(err, errPolicyMapsAny) {
		t.Fatalf("processCert = %v, want %v", err, errPolicyMapsAny)
	}
	if _, err := p.finish(bad[1]); !errors.Is(err, errPolicyMapsAny) {
		t.Fatalf("finish after failure = %v, want %v", err, errPolicyMapsAny)
	}
}

// TestPolicyGraphStaysSmall runs the chain that makes the RFC 5280 policy
// tree exponential: every CA asserts k policies and maps each of them to
// all k. The tree would have k^depth leaves; the graph has k per level.
func TestPolicyGraphStaysSmall(t *testing.T) {
	const k, depth = 12, 16
	var pols []x509.OID
	for j := range k {
		pols = append(pols, polOID(uint64(100+j)))
	}
	var maps []x509.PolicyMapping
	for _, a := range pols {
		for _, b := range pols {
			maps = append(maps, polMap(a, b))
		}
	}
	// Certificates need not be signed for policy processing, so this test
	// uses bare structs to keep the run short.
	var chain []*x509.Certificate
	for range depth - 1 {
		chain = append(chain, &x509.Certificate{Policies: pols, PolicyMappings: maps})
	}
	chain = append(chain, &x509.Certificate{Policies: pols})
	p := newPolicyValidator(policyOptions{RequireExplicit: true}, depth)
	for j, c := range chain {
		if err := p.processCert(c, j+1, false); err != nil {
			t.Fatal(err)
		}
		if got := len(p.graph[j+1].nodes); got != k {
			t.Fatalf("depth %d has %d nodes, want %d", j+1, got, k)
		}
	}
	got, err := p.finish(chain[depth-1])
	if err != nil {
		t.Fatal(err)
	}
	if g, w := policySetString(got), policySetString(pols); g != w {
		t.Errorf("user-constrained policy set = %s, want %s", g, w)
	}
}
