package certverify

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DER builders for GeneralNames, NameConstraints and SubjectAltName.

// ntGN encodes a GeneralName of the given form around value (the Name's
// DER for directoryName, the content octets otherwise).
func ntGN(kind gnKind, value []byte) []byte {
	tag := cbasn1.Tag(kind).ContextSpecific()
	if kind.gnConstructed() {
		tag = tag.Constructed()
	}
	var b cryptobyte.Builder
	b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes(value) })
	return b.BytesOrPanic()
}

func ntDNS(s string) []byte      { return ntGN(gnDNSName, []byte(s)) }
func ntEmail(s string) []byte    { return ntGN(gnRFC822Name, []byte(s)) }
func ntURI(s string) []byte      { return ntGN(gnURI, []byte(s)) }
func ntDirName(dn []byte) []byte { return ntGN(gnDirectoryName, dn) }

// ntIPAddr encodes an iPAddress SAN (4 or 16 octets as parsed).
func ntIPAddr(s string) []byte {
	a := netip.MustParseAddr(s)
	return ntGN(gnIPAddress, a.AsSlice())
}

// ntIPNet encodes an iPAddress constraint: address then mask.
func ntIPNet(cidr string) []byte {
	p := netip.MustParsePrefix(cidr)
	addr := p.Addr().AsSlice()
	mask := make([]byte, len(addr))
	for i := range p.Bits() {
		mask[i/8] |= 0x80 >> (i % 8)
	}
	return ntGN(gnIPAddress, append(addr, mask...))
}

// ntOtherName encodes an otherName with an explicit [0] NULL value.
func ntOtherName(oid asn1.ObjectIdentifier) []byte {
	var b cryptobyte.Builder
	b.AddASN1ObjectIdentifier(oid)
	b.AddASN1(cbasn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
		b.AddASN1NULL()
	})
	return ntGN(gnOtherName, b.BytesOrPanic())
}

// ntRegisteredID encodes a registeredID.
func ntRegisteredID(oid asn1.ObjectIdentifier) []byte {
	der, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return ntGN(gnRegisteredID, der[2:]) // content octets (short OIDs only)
}

// ntSubtree wraps a GeneralName in a GeneralSubtree; extra elements
// (minimum, maximum) are appended as given.
func ntSubtree(gn []byte, extra ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(gn)
		for _, e := range extra {
			b.AddBytes(e)
		}
	})
	return b.BytesOrPanic()
}

// ntST wraps each GeneralName in a plain GeneralSubtree.
func ntST(gns ...[]byte) [][]byte {
	out := make([][]byte, len(gns))
	for i, gn := range gns {
		out[i] = ntSubtree(gn)
	}
	return out
}

// ntNC encodes NameConstraints from encoded GeneralSubtrees. A nil list
// is omitted; an empty non-nil list is encoded as an empty sequence.
func ntNC(permitted, excluded [][]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for i, list := range [][][]byte{permitted, excluded} {
			if list == nil {
				continue
			}
			b.AddASN1(cbasn1.Tag(i).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
				for _, st := range list {
					b.AddBytes(st)
				}
			})
		}
	})
	return b.BytesOrPanic()
}

// ntPermit and ntExclude are NameConstraints with one kind of subtrees.
func ntPermit(gns ...[]byte) []byte  { return ntNC(ntST(gns...), nil) }
func ntExclude(gns ...[]byte) []byte { return ntNC(nil, ntST(gns...)) }

// ntSAN encodes a SubjectAltName extension value.
func ntSAN(gns ...[]byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, gn := range gns {
			b.AddBytes(gn)
		}
	})
	return b.BytesOrPanic()
}

// ntExt is a critical name constraints extension.
func ntExt(der []byte) pkix.Extension {
	return pkix.Extension{Id: ncOIDNameConstraints, Critical: true, Value: der}
}

// ntCA returns a bare CA certificate carrying the given extensions, for
// extension values crypto/x509 itself would refuse to parse.
func ntCA(exts ...pkix.Extension) *x509.Certificate {
	return &x509.Certificate{BasicConstraintsValid: true, IsCA: true, Extensions: exts}
}

var ntDefaultSubject = ntName(
	ntRDN(ntPrintable(ntOIDC, "US")),
	ntRDN(ntPrintable(ntOIDO, "Test Certificates")),
	ntRDN(ntPrintable(ntOIDOU, "permittedSubtree1")),
	ntRDN(ntPrintable(ntOIDCN, "leaf")),
)

// ntLeaf describes the end-entity certificate of a check case.
type ntLeaf struct {
	subject []byte // raw subject; nil means ntDefaultSubject
	san     []byte // SubjectAltName value; nil means none
	// synthetic: crypto/x509 refuses this leaf (e.g. an IP-literal URI),
	// so check a bare x509.Certificate with the same subject and SAN.
	synthetic bool
}

// ntCheckPath issues root -> CA_1 .. CA_n -> leaf, where CA_i carries the
// i-th NameConstraints, walks the constraints as 6.1.4 (g) does, and
// returns the result of checking the leaf.
func ntCheckPath(t *testing.T, ncs [][]byte, leaf ntLeaf) error {
	t.Helper()
	parent := issue(t, nil, caTemplate("NC Root"), nil)
	var state nameConstraintState
	for i, der := range ncs {
		tmpl := caTemplate(fmt.Sprintf("NC CA %d", i+1))
		tmpl.ExtraExtensions = []pkix.Extension{ntExt(der)}
		parent = issue(t, parent, tmpl, nil)
		nc, err := certNameConstraints(parent.cert)
		if err != nil {
			t.Fatalf("CA %d: certNameConstraints: %v", i+1, err)
		}
		state.add(nc)
	}
	subject := leaf.subject
	if subject == nil {
		subject = ntDefaultSubject
	}
	var exts []pkix.Extension
	if leaf.san != nil {
		exts = append(exts, pkix.Extension{Id: ncOIDSubjectAltName, Critical: nameIsEmpty(subject), Value: leaf.san})
	}
	if leaf.synthetic {
		return state.check(&x509.Certificate{RawSubject: subject, Extensions: exts})
	}
	tmpl := leafTemplate("")
	tmpl.RawSubject = subject
	tmpl.ExtraExtensions = exts
	return state.check(issue(t, parent, tmpl, nil).cert)
}

func TestNameConstraintsCheck(t *testing.T) {
	one := func(nc []byte) [][]byte { return [][]byte{nc} }
	san := func(gns ...[]byte) ntLeaf { return ntLeaf{san: ntSAN(gns...)} }
	emailSubject := func(addr string) []byte {
		return ntName(ntRDN(ntPrintable(ntOIDO, "Test")), ntRDN(ntIA5(ntOIDEmail, addr)))
	}
	permittedDN := ntName(ntRDN(ntPrintable(ntOIDC, "US")), ntRDN(ntPrintable(ntOIDO, "Test Certificates")),
		ntRDN(ntPrintable(ntOIDOU, "permittedSubtree1")))
	otherDN := ntName(ntRDN(ntPrintable(ntOIDC, "US")), ntRDN(ntPrintable(ntOIDO, "Other")))
	privateOID := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55738, 666, 3}

	tests := []struct {
		name    string
		ncs     [][]byte
		leaf    ntLeaf
		wantErr string // "" means the leaf is accepted
	}{
		// No constraints: anything goes, even names that cannot be parsed.
		{"unconstrained", nil, san(ntDNS("..bad..")), ""},

		// dNSName.
		{"dns permitted exact", one(ntPermit(ntDNS("example.com"))), san(ntDNS("example.com")), ""},
		{"dns permitted subdomain", one(ntPermit(ntDNS("example.com"))), san(ntDNS("foo.bar.example.com")), ""},
		{"dns permitted mismatch", one(ntPermit(ntDNS("example.com"))), san(ntDNS("not-example.com")), "not within any permitted"},
		{"dns label boundary", one(ntPermit(ntDNS("testcertificates.gov"))), san(ntDNS("mytestcertificates.gov")), "not within any permitted"},
		{"dns parent of constraint", one(ntPermit(ntDNS("host.example.com"))), san(ntDNS("example.com")), "not within any permitted"},
		{"dns case-insensitive", one(ntPermit(ntDNS("Example.COM"))), san(ntDNS("WWW.example.com")), ""},
		{"dns every SAN must be permitted", one(ntPermit(ntDNS("example.com"))), san(ntDNS("a.example.com"), ntDNS("b.example.net")), "not within any permitted"},
		{"dns excluded exact", one(ntExclude(ntDNS("example.com"))), san(ntDNS("example.com")), "excluded"},
		{"dns excluded subdomain", one(ntExclude(ntDNS("example.com"))), san(ntDNS("a.example.com")), "excluded"},
		{"dns excluded second SAN", one(ntExclude(ntDNS("not-allowed.example.com"))), san(ntDNS("example.com"), ntDNS("not-allowed.example.com")), "excluded"},
		{"dns excluded elsewhere", one(ntExclude(ntDNS("invalidcertificates.gov"))), san(ntDNS("testserver.testcertificates.gov")), ""},
		{"dns empty excluded matches all", one(ntExclude(ntDNS(""))), san(ntDNS("example.com")), "excluded"},
		{"dns empty permitted matches all", one(ntPermit(ntDNS(""))), san(ntDNS("example.com")), ""},
		{"dns permitted and excluded", one(ntNC(ntST(ntDNS("example.com")), ntST(ntDNS("example.com")))), san(ntDNS("example.com")), "excluded"},
		{"dns wildcard within permitted", one(ntPermit(ntDNS("example.com"))), san(ntDNS("*.example.com")), ""},
		{"dns wildcard wider than permitted", one(ntPermit(ntDNS("foo.example.com"))), san(ntDNS("*.example.com")), "not within any permitted"},
		{"dns wildcard covers excluded", one(ntExclude(ntDNS("foo.example.com"))), san(ntDNS("*.example.com")), "excluded"},
		{"dns wildcard cannot cover deeper excluded", one(ntExclude(ntDNS("a.foo.example.com"))), san(ntDNS("*.example.com")), ""},
		{"dns malformed SAN", one(ntPermit(ntDNS("example.com"))), san(ntDNS(".example.com"), ntDNS("foo.example.com")), "not a valid host name"},
		{"dns malformed SAN, excluded only", one(ntExclude(ntDNS("other.com"))), san(ntDNS("foo..example.com")), "not a valid host name"},
		{"dns malformed SAN, other form constrained", one(ntPermit(ntIPNet("192.0.2.0/24"))), san(ntDNS("foo..example.com")), ""},
		{"dns constraint ignores other forms", one(ntPermit(ntIPNet("192.0.2.0/24"))), san(ntDNS("example.com")), ""},
		{"ip excluded ignores other forms", one(ntExclude(ntIPNet("192.0.2.0/24"))), san(ntDNS("example.com")), ""},

		// rfc822Name.
		{"email mailbox", one(ntPermit(ntEmail("foo@example.com"))), san(ntEmail("foo@example.com")), ""},
		{"email mailbox domain case", one(ntPermit(ntEmail("foo@EXAMPLE.com"))), san(ntEmail("foo@example.COM")), ""},
		{"email mailbox other local part", one(ntPermit(ntEmail("foo@example.com"))), san(ntEmail("bar@example.com")), "not within any permitted"},
		{"email mailbox local part is case-sensitive", one(ntPermit(ntEmail("foo@example.com"))), san(ntEmail("Foo@example.com")), "not within any permitted"},
		{"email host", one(ntPermit(ntEmail("example.com"))), san(ntEmail("foo@example.com")), ""},
		{"email host excludes subdomains", one(ntPermit(ntEmail("example.com"))), san(ntEmail("foo@mail.example.com")), "not within any permitted"},
		{"email domain", one(ntPermit(ntEmail(".example.com"))), san(ntEmail("foo@mail.Example.com")), ""},
		{"email domain excludes the host", one(ntPermit(ntEmail(".example.com"))), san(ntEmail("foo@example.com")), "not within any permitted"},
		{"email excluded host", one(ntExclude(ntEmail("example.com"))), san(ntEmail("foo@EXAMPLE.COM")), "excluded"},
		{"email excluded mailbox", one(ntExclude(ntEmail("root@example.com"))), san(ntEmail("root@example.com")), "excluded"},
		{"email quoted local part", one(ntPermit(ntEmail("example.com"))), san(ntEmail(`"a@b c"@example.com`)), ""},
		{"email malformed SAN", one(ntPermit(ntEmail("example.com"))), san(ntEmail("good@example.com"), ntEmail("invalid@address@example.com")), "not a valid mailbox"},
		{"email without at sign", one(ntPermit(ntEmail("example.com"))), san(ntEmail("example.com")), "not a valid mailbox"},

		// emailAddress in the subject DN.
		{"subject email outside, no SAN", one(ntPermit(ntEmail(".testcertificates.gov"))), ntLeaf{subject: emailSubject("ee@invalid.gov")}, "not within any permitted"},
		{"subject email inside, no SAN", one(ntPermit(ntEmail("testcertificates.gov"))), ntLeaf{subject: emailSubject("ee@testcertificates.gov")}, ""},
		{"subject email excluded, no SAN", one(ntExclude(ntEmail("bad.gov"))), ntLeaf{subject: emailSubject("ee@bad.gov")}, "excluded"},
		{"subject email local part case-insensitive", one(ntPermit(ntEmail("ee@example.com"))), ntLeaf{subject: emailSubject("EE@example.com")}, ""},
		{"subject email ignored with rfc822 SAN", one(ntPermit(ntEmail("example.com"))), ntLeaf{subject: emailSubject("ee@other.com"), san: ntSAN(ntEmail("ee@example.com"))}, ""},
		{"subject email checked with non-email SAN", one(ntPermit(ntEmail("example.com"))), ntLeaf{subject: emailSubject("ee@other.com"), san: ntSAN(ntDNS("example.com"))}, "not within any permitted"},
		{"subject email malformed", one(ntPermit(ntEmail("example.com"))), ntLeaf{subject: emailSubject("not-an-address")}, "not a valid mailbox"},

		// uniformResourceIdentifier.
		{"uri domain", one(ntPermit(ntURI(".testcertificates.gov"))), san(ntURI("http://testserver.testcertificates.gov/index.html")), ""},
		{"uri domain mismatch", one(ntPermit(ntURI(".testcertificates.gov"))), san(ntURI("http://testserver.invalidcertificates.gov/index.html")), "not within any permitted"},
		{"uri domain excludes the host", one(ntPermit(ntURI(".example.com"))), san(ntURI("https://example.com/")), "not within any permitted"},
		{"uri host", one(ntPermit(ntURI("host.example.com"))), san(ntURI("https://HOST.example.com/x")), ""},
		{"uri host excludes subdomains", one(ntPermit(ntURI("host.example.com"))), san(ntURI("https://a.host.example.com/")), "not within any permitted"},
		{"uri excluded host", one(ntExclude(ntURI("testcertificates.gov"))), san(ntURI("http://testcertificates.gov/index.html")), "excluded"},
		{"uri excluded domain elsewhere", one(ntExclude(ntURI(".invalidcertificates.gov"))), san(ntURI("http://testserver.testcertificates.gov/")), ""},
		{"uri userinfo", one(ntPermit(ntURI(".example.com"))), san(ntURI("ldap://user@dir.example.com/o=x")), ""},
		{"uri port", one(ntPermit(ntURI(".example.com"))), ntLeaf{san: ntSAN(ntURI("https://www.example.com:8443/")), synthetic: true}, ""},
		{"uri without authority", one(ntPermit(ntURI(".example.com"))), san(ntURI("urn:example:a")), "no host"},
		{"uri without authority, excluded only", one(ntExclude(ntURI(".example.com"))), san(ntURI("urn:example:a")), "no host"},
		{"uri with IP host", one(ntExclude(ntURI(".example.com"))), ntLeaf{san: ntSAN(ntURI("http://192.0.2.1/")), synthetic: true}, "IP address"},
		{"uri with IPv6 host", one(ntPermit(ntURI(".example.com"))), ntLeaf{san: ntSAN(ntURI("http://[2001:db8::1]/")), synthetic: true}, "IP address"},
		{"uri not constrained by dns", one(ntPermit(ntDNS("example.com"))), san(ntURI("urn:example:a")), ""},

		// iPAddress.
		{"ipv4 permitted", one(ntPermit(ntIPNet("192.0.2.0/24"))), san(ntIPAddr("192.0.2.1")), ""},
		{"ipv4 permitted mismatch", one(ntPermit(ntIPNet("192.0.2.0/24"))), san(ntIPAddr("192.0.3.1")), "not within any permitted"},
		{"ipv4 excluded", one(ntExclude(ntIPNet("192.0.2.0/24"))), san(ntIPAddr("192.0.2.1")), "excluded"},
		{"ipv6 permitted", one(ntPermit(ntIPNet("::1/128"))), san(ntIPAddr("::1")), ""},
		{"ipv6 excluded", one(ntExclude(ntIPNet("2001:db8::/32"))), san(ntIPAddr("2001:db8::5")), "excluded"},
		{"ipv6 name, only ipv4 permitted", one(ntPermit(ntIPNet("192.0.2.0/24"))), san(ntIPAddr("2001:db8::5")), "not within any permitted"},
		{"ipv4-mapped name vs excluded ipv4", one(ntExclude(ntIPNet("192.0.2.0/24"))), ntLeaf{san: ntSAN(ntGN(gnIPAddress, netip.MustParseAddr("::ffff:192.0.2.7").AsSlice()))}, "excluded"},
		{"ip permitted zero prefix", one(ntPermit(ntIPNet("0.0.0.0/0"))), san(ntIPAddr("203.0.113.9")), ""},
		{"ip malformed SAN", one(ntPermit(ntIPNet("192.0.2.0/24"))), ntLeaf{san: ntSAN(ntIPNet("192.0.2.0/24"), ntIPAddr("192.0.2.1")), synthetic: true}, "not an IPv4 or IPv6"},

		// directoryName.
		{"dn subject permitted", one(ntPermit(ntDirName(permittedDN))), ntLeaf{}, ""},
		{"dn subject not permitted", one(ntPermit(ntDirName(otherDN))), ntLeaf{}, "not within any permitted directoryName"},
		{"dn permitted after string preparation", one(ntPermit(ntDirName(ntName(ntRDN(ntUTF8(ntOIDC, "us")), ntRDN(ntUTF8(ntOIDO, " test  CERTIFICATES")))))), ntLeaf{}, ""},
		{"dn subject excluded", one(ntExclude(ntDirName(permittedDN))), ntLeaf{}, "excluded"},
		{"dn SAN not permitted", one(ntPermit(ntDirName(permittedDN))), ntLeaf{san: ntSAN(ntDirName(otherDN))}, `directoryName subjectAltName "O=Other,C=US" is not within`},
		{"dn SAN excluded, subject not", one(ntExclude(ntDirName(otherDN))), ntLeaf{san: ntSAN(ntDirName(otherDN))}, "excluded"},
		{"dn subject excluded, SAN not", one(ntExclude(ntDirName(permittedDN))), ntLeaf{san: ntSAN(ntDirName(otherDN))}, "excluded"},
		{"dn empty subject is not checked", one(ntPermit(ntDirName(otherDN))), ntLeaf{subject: ntName(), san: ntSAN(ntDNS("example.com"))}, ""},
		{"dn empty subject, SAN checked", one(ntPermit(ntDirName(otherDN))), ntLeaf{subject: ntName(), san: ntSAN(ntDirName(permittedDN))}, "not within"},
		{"dn constraint ignores dns", one(ntPermit(ntDirName(permittedDN))), ntLeaf{san: ntSAN(ntDNS("anything.example"))}, ""},

		// Forms that are not evaluated: refuse only when such a name occurs.
		{"othername excluded and present", one(ntNC(ntST(ntDNS("example.com")), ntST(ntOtherName(privateOID)))), san(ntDNS("example.com"), ntOtherName(privateOID)), "not supported"},
		{"othername excluded, absent", one(ntNC(ntST(ntDNS("example.com")), ntST(ntOtherName(privateOID)))), san(ntDNS("example.com")), ""},
		{"registeredID permitted and present", one(ntPermit(ntRegisteredID(asn1.ObjectIdentifier{1, 2, 3}))), san(ntRegisteredID(asn1.ObjectIdentifier{1, 2, 3})), "not supported"},
		{"othername name without othername constraints", one(ntPermit(ntDNS("example.com"))), san(ntDNS("example.com"), ntOtherName(privateOID)), ""},

		// Intersection of permitted subtrees across CAs (6.1.4 (g)).
		{"intersection narrows", [][]byte{ntPermit(ntDNS("foo.example.com"), ntDNS("bar.example.com")), ntPermit(ntDNS("bar.example.com"))}, san(ntDNS("foo.example.com")), "not within any permitted"},
		{"intersection keeps common", [][]byte{ntPermit(ntDNS("foo.example.com"), ntDNS("bar.example.com")), ntPermit(ntDNS("bar.example.com"))}, san(ntDNS("x.bar.example.com")), ""},
		{"later CA cannot widen", [][]byte{ntPermit(ntDNS("bar.example.com")), ntPermit(ntDNS("foo.example.com"), ntDNS("bar.example.com"))}, san(ntDNS("foo.example.com")), "not within any permitted"},
		{"nested subtrees", [][]byte{ntPermit(ntDNS("example.com")), ntPermit(ntDNS("a.example.com"))}, san(ntDNS("x.a.example.com")), ""},
		{"disjoint permits nothing", [][]byte{ntPermit(ntDNS("a.example")), ntPermit(ntDNS("b.example"))}, san(ntDNS("a.example")), "not within any permitted"},
		{"other form does not intersect", [][]byte{ntPermit(ntDNS("example.com")), ntPermit(ntIPNet("192.0.2.0/24"))}, san(ntDNS("example.com"), ntIPAddr("192.0.2.9")), ""},
		{"dn intersection", [][]byte{ntPermit(ntDirName(ntName(ntRDN(ntPrintable(ntOIDC, "US"))))), ntPermit(ntDirName(otherDN))}, ntLeaf{}, "not within any permitted directoryName"},

		// Union of excluded subtrees.
		{"excluded union first", [][]byte{ntExclude(ntDNS("a.example")), ntExclude(ntDNS("b.example"))}, san(ntDNS("x.a.example")), "excluded"},
		{"excluded union second", [][]byte{ntExclude(ntDNS("a.example")), ntExclude(ntDNS("b.example"))}, san(ntDNS("b.example")), "excluded"},
		{"excluded union neither", [][]byte{ntExclude(ntDNS("a.example")), ntExclude(ntDNS("b.example"))}, san(ntDNS("c.example")), ""},
		{"excluded by earlier CA, permitted by later", [][]byte{ntExclude(ntDNS("bad.example.com")), ntPermit(ntDNS("example.com"))}, san(ntDNS("bad.example.com")), "excluded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ntCheckPath(t, tt.ncs, tt.leaf)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("check: %v, want success", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("check succeeded, want error containing %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("check: %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestNameConstraintsTemplateFields uses constraints written by
// crypto/x509 from template fields, the way most tests build them.
func TestNameConstraintsTemplateFields(t *testing.T) {
	root := issue(t, nil, caTemplate("Template Root"), nil)
	tmpl := caTemplate("Template CA")
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = []string{"example.com"}
	tmpl.ExcludedDNSDomains = []string{"bad.example.com"}
	tmpl.PermittedEmailAddresses = []string{".example.com"}
	tmpl.PermittedURIDomains = []string{".example.com"}
	_, v4net, _ := net.ParseCIDR("10.0.0.0/8")
	tmpl.PermittedIPRanges = []*net.IPNet{v4net}
	ca := issue(t, root, tmpl, nil)
	nc, err := certNameConstraints(ca.cert)
	if err != nil || nc == nil {
		t.Fatalf("certNameConstraints = %v, %v", nc, err)
	}
	var state nameConstraintState
	state.add(nc)

	good := leafTemplate("good")
	good.DNSNames = []string{"www.example.com"}
	good.EmailAddresses = []string{"a@mail.example.com"}
	if err := state.check(issue(t, ca, good, nil).cert); err != nil {
		t.Errorf("good leaf: %v", err)
	}
	bad := leafTemplate("bad")
	bad.DNSNames = []string{"x.bad.example.com"}
	if err := state.check(issue(t, ca, bad, nil).cert); err == nil {
		t.Error("excluded leaf accepted")
	}

	// A copy of the state is independent of later additions.
	copied := state
	state.add(&nameConstraints{excluded: []ncSubtree{{kind: gnDNSName, text: "www.example.com"}}})
	copied.add(&nameConstraints{excluded: []ncSubtree{{kind: gnDNSName, text: "other.example.com"}}})
	if err := copied.check(issue(t, ca, good, nil).cert); err != nil {
		t.Errorf("copied state sees the original's additions: %v", err)
	}
	if err := state.check(issue(t, ca, good, nil).cert); err == nil {
		t.Error("state lost its own addition")
	}
}

func TestNameConstraintsMalformed(t *testing.T) {
	ext := func(der []byte) *x509.Certificate { return ntCA(ntExt(der)) }
	minimum := func(v ...byte) []byte { return append([]byte{0x80, byte(len(v))}, v...) }
	maximum := []byte{0x81, 0x01, 0x05}
	ipRaw := func(b ...byte) []byte { return ntGN(gnIPAddress, b) }
	tests := []struct {
		name    string
		cert    *x509.Certificate
		wantErr bool
	}{
		{"absent", ntCA(), false},
		{"valid dns", ext(ntPermit(ntDNS("example.com"))), false},
		{"valid every form", ext(ntNC(
			ntST(ntDNS(""), ntEmail("a@example.com"), ntEmail(".example.com"), ntEmail("example.com"),
				ntURI(".example.com"), ntURI("host.example.com"), ntIPNet("10.0.0.0/8"), ntIPNet("2001:db8::/32"),
				ntDirName(ntSimpleName("T", "CA")), ntOtherName(asn1.ObjectIdentifier{1, 2, 3}),
				ntRegisteredID(asn1.ObjectIdentifier{1, 2, 3})),
			ntST(ntDNS("bad.example.com")))), false},
		{"explicit minimum 0", ext(ntNC([][]byte{ntSubtree(ntDNS("example.com"), minimum(0))}, nil)), false},
		{"minimum 1", ext(ntNC([][]byte{ntSubtree(ntDNS("example.com"), minimum(1))}, nil)), true},
		{"minimum not minimally encoded", ext(ntNC([][]byte{ntSubtree(ntDNS("example.com"), minimum(0, 0))}, nil)), true},
		{"maximum present", ext(ntNC([][]byte{ntSubtree(ntDNS("example.com"), maximum)}, nil)), true},
		{"minimum 0 and maximum", ext(ntNC([][]byte{ntSubtree(ntDNS("example.com"), minimum(0), maximum)}, nil)), true},
		{"minimum twice", ext(ntNC([][]byte{ntSubtree(ntDNS("example.com"), minimum(0), minimum(0))}, nil)), true},
		{"empty NameConstraints", ext([]byte{0x30, 0x00}), true},
		{"empty permittedSubtrees", ext(ntNC([][]byte{}, nil)), true},
		{"both empty", ext(ntNC([][]byte{}, [][]byte{})), true},
		{"empty excluded, valid permitted", ext(ntNC(ntST(ntDNS("example.com")), [][]byte{})), true},
		{"trailing data", ext(append(ntPermit(ntDNS("example.com")), 0)), true},
		{"not DER", ext([]byte{0x30, 0x80, 0x00, 0x00}), true},
		{"subtrees out of order", ext([]byte{0x30, 0x0a, 0xa1, 0x03, 0x30, 0x01, 0x82, 0xa0, 0x03, 0x30, 0x01, 0x82}), true},
		{"ipv4 without mask", ext(ntPermit(ntIPAddr("127.0.0.1"))), true},
		{"ipv6 without mask", ext(ntPermit(ntIPAddr("::1"))), true},
		{"non-prefix mask", ext(ntPermit(ipRaw(10, 0, 0, 0, 255, 0, 255, 0))), true},
		{"host bits set is fine", ext(ntPermit(ipRaw(10, 1, 2, 3, 255, 0, 0, 0))), false},
		{"dns leading period", ext(ntPermit(ntDNS(".example.com"))), true},
		{"dns wildcard", ext(ntPermit(ntDNS("*.example.com"))), true},
		{"dns trailing period", ext(ntPermit(ntDNS("example.com."))), true},
		{"dns non-ASCII", ext(ntPermit(ntDNS("exämple.com"))), true},
		{"email two at signs", ext(ntPermit(ntEmail("invalid@invalid@example.com"))), true},
		{"email empty local part", ext(ntPermit(ntEmail("@example.com"))), true},
		{"email bad domain", ext(ntPermit(ntEmail("..example.com"))), true},
		{"uri with scheme", ext(ntPermit(ntURI("http://example.com"))), true},
		{"directoryName not a Name", ext(ntPermit(ntGN(gnDirectoryName, []byte{0x04, 0x00}))), true},
		{"primitive directoryName", ext(ntPermit([]byte{0x84, 0x02, 0x30, 0x00})), true},
		{"unknown GeneralName tag", ext(ntPermit([]byte{0x89, 0x00})), true},
		{"universal-class GeneralName", ext(ntPermit([]byte{0x16, 0x01, 'a'})), true},
		{"non-critical", ntCA(pkix.Extension{Id: ncOIDNameConstraints, Value: ntPermit(ntDNS("example.com"))}), true},
		{"not a CA", &x509.Certificate{Extensions: []pkix.Extension{ntExt(ntPermit(ntDNS("example.com")))}}, true},
		{"duplicate extension", ntCA(ntExt(ntPermit(ntDNS("a.com"))), ntExt(ntPermit(ntDNS("b.com")))), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, err := certNameConstraints(tt.cert)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("certNameConstraints error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && (nc == nil) != (tt.name == "absent") {
				t.Errorf("certNameConstraints = %v", nc)
			}
			if tt.name == "non-critical" && !errors.Is(err, errNameConstraintsNotCritical) {
				t.Errorf("non-critical: error %v is not errNameConstraintsNotCritical", err)
			}
		})
	}
}

// TestNameConstraintsMalformedSAN: a subjectAltName that does not parse
// refuses the certificate once any constraint is in force.
func TestNameConstraintsMalformedSAN(t *testing.T) {
	var state nameConstraintState
	nc, err := parseNameConstraints(ntExclude(ntDNS("bad.example")))
	if err != nil {
		t.Fatal(err)
	}
	state.add(nc)
	for name, value := range map[string][]byte{
		"empty GeneralNames": ntSAN(),
		"trailing data":      append(ntSAN(ntDNS("a.example")), 0),
		"unknown tag":        ntSAN([]byte{0x8a, 0x00}),
		"bad directoryName":  ntSAN(ntGN(gnDirectoryName, []byte{0x31, 0x00})),
	} {
		t.Run(name, func(t *testing.T) {
			c := &x509.Certificate{RawSubject: ntName(), Extensions: []pkix.Extension{{Id: ncOIDSubjectAltName, Value: value}}}
			if err := state.check(c); err == nil {
				t.Error("malformed subjectAltName accepted")
			}
		})
	}
}

func FuzzParseNameConstraints(f *testing.F) {
	f.Add(ntPermit(ntDNS("example.com")))
	f.Add(ntNC(ntST(ntEmail("a@example.com"), ntURI(".example.com"), ntIPNet("10.0.0.0/8")), ntST(ntDirName(ntSimpleName("T", "CA")))))
	f.Add(ntNC([][]byte{ntSubtree(ntDNS("x"), []byte{0x80, 0x01, 0x00})}, ntST(ntOtherName(asn1.ObjectIdentifier{1, 2}))))
	f.Add(ntSAN(ntDNS("*.example.com"), ntEmail(`"q"@example.com`), ntIPAddr("::1"), ntURI("http://a.example.com/")))
	f.Add([]byte{0x30, 0x00})

	// A certificate with one name of every evaluated form, and a state
	// with constraints on every form.
	subject := ntName(ntRDN(ntPrintable(ntOIDO, "T")), ntRDN(ntIA5(ntOIDEmail, "a@example.com")))
	fixed := &x509.Certificate{RawSubject: subject, Extensions: []pkix.Extension{{Id: ncOIDSubjectAltName, Value: ntSAN(
		ntDNS("a.example.com"), ntIPAddr("10.1.2.3"), ntURI("https://a.example.com/"), ntDirName(subject),
		ntOtherName(asn1.ObjectIdentifier{1, 2, 3}))}}}
	everyForm, err := parseNameConstraints(ntNC(
		ntST(ntDNS("example.com"), ntEmail(".example.com"), ntURI("a.example.com"), ntIPNet("10.0.0.0/8"), ntDirName(ntName())),
		ntST(ntRegisteredID(asn1.ObjectIdentifier{1, 2, 3}))))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		nc, err := parseNameConstraints(data)
		if (nc == nil) == (err == nil) {
			t.Fatalf("parseNameConstraints = %v, %v", nc, err)
		}
		if nc != nil {
			var s nameConstraintState
			s.add(nc)
			_ = s.check(fixed)
		}
		// The same bytes as a subjectAltName.
		_, _ = parseSANs(data)
		var s nameConstraintState
		s.add(everyForm)
		_ = s.check(&x509.Certificate{RawSubject: subject, Extensions: []pkix.Extension{{Id: ncOIDSubjectAltName, Value: data}}})
	})
}
