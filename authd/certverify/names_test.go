package certverify

import (
	"encoding/asn1"
	"testing"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Attribute types used by the name tests.
var (
	ntOIDCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	ntOIDC      = asn1.ObjectIdentifier{2, 5, 4, 6}
	ntOIDO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	ntOIDOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	ntOIDDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	ntOIDEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	ntOIDSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
)

// ntAttr is one AttributeTypeAndValue for ntName: the value is encoded
// with the given tag and content octets.
type ntAttr struct {
	oid   asn1.ObjectIdentifier
	tag   cbasn1.Tag
	value []byte
}

func ntPrintable(oid asn1.ObjectIdentifier, s string) ntAttr {
	return ntAttr{oid, cbasn1.PrintableString, []byte(s)}
}

func ntUTF8(oid asn1.ObjectIdentifier, s string) ntAttr {
	return ntAttr{oid, cbasn1.UTF8String, []byte(s)}
}

func ntIA5(oid asn1.ObjectIdentifier, s string) ntAttr {
	return ntAttr{oid, cbasn1.IA5String, []byte(s)}
}

// ntBMP encodes s (BMP characters only) as a BMPString value.
func ntBMP(oid asn1.ObjectIdentifier, s string) ntAttr {
	var b []byte
	for _, r := range s {
		b = append(b, byte(r>>8), byte(r))
	}
	return ntAttr{oid, tagBMPString, b}
}

// ntRDN groups attributes into one (possibly multi-valued) RDN, in the
// order given (which need not be DER set order).
func ntRDN(attrs ...ntAttr) []ntAttr { return attrs }

// ntName encodes an RDNSequence.
func ntName(rdns ...[]ntAttr) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, rdn := range rdns {
			b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) {
				for _, a := range rdn {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(a.oid)
						b.AddASN1(a.tag, func(b *cryptobyte.Builder) { b.AddBytes(a.value) })
					})
				}
			})
		}
	})
	return b.BytesOrPanic()
}

// ntSimpleName is C=US, O=<o>, CN=<cn>, all PrintableString.
func ntSimpleName(o, cn string) []byte {
	return ntName(
		ntRDN(ntPrintable(ntOIDC, "US")),
		ntRDN(ntPrintable(ntOIDO, o)),
		ntRDN(ntPrintable(ntOIDCN, cn)),
	)
}

func TestNamesEqual(t *testing.T) {
	cUS := ntRDN(ntPrintable(ntOIDC, "US"))
	org := ntRDN(ntPrintable(ntOIDO, "Test Certificates"))
	tests := []struct {
		name string
		a, b []byte
		want bool
	}{
		{"identical", ntSimpleName("Test", "CA"), ntSimpleName("Test", "CA"), true},
		{"different value", ntSimpleName("Test", "CA"), ntSimpleName("Test", "CA2"), false},
		{"case folding", ntSimpleName("Test Certificates", "Good CA"), ntSimpleName("TEST certificates", "gOOD ca"), true},
		{"leading and trailing whitespace", ntSimpleName("Test", "Good CA"), ntSimpleName("  Test", "Good CA   "), true},
		{"internal whitespace runs", ntSimpleName("Test", "Good CA"), ntSimpleName("Test", "Good    CA"), true},
		{"whitespace separates words", ntSimpleName("Test", "Good CA"), ntSimpleName("Test", "GoodCA"), false},
		{"tab and newline map to space", ntSimpleName("Test", "Good CA"), ntSimpleName("Test", "Good\t\nCA"), true},
		{"all-space value equals empty value", ntSimpleName("Test", "   "), ntSimpleName("Test", ""), true},
		{
			"PrintableString vs UTF8String",
			ntName(cUS, org, ntRDN(ntPrintable(ntOIDCN, "Good CA"))),
			ntName(cUS, org, ntRDN(ntUTF8(ntOIDCN, "Good CA"))),
			true,
		},
		{
			"PrintableString vs UTF8String with case and spaces",
			ntName(cUS, ntRDN(ntPrintable(ntOIDO, "Test Certificates"))),
			ntName(ntRDN(ntUTF8(ntOIDC, "us")), ntRDN(ntUTF8(ntOIDO, " test  CERTIFICATES "))),
			true,
		},
		{
			"UTF8String non-ASCII case folding",
			ntName(ntRDN(ntUTF8(ntOIDO, "Ärztekammer Österreich"))),
			ntName(ntRDN(ntUTF8(ntOIDO, "ärztekammer ÖSTERREICH"))),
			true,
		},
		{
			"sharp s folds to ss",
			ntName(ntRDN(ntUTF8(ntOIDO, "Straße"))),
			ntName(ntRDN(ntUTF8(ntOIDO, "STRASSE"))),
			true,
		},
		{
			"no-break space and soft hyphen",
			ntName(ntRDN(ntUTF8(ntOIDO, "Good\u00a0C\u00adA"))),
			ntName(ntRDN(ntPrintable(ntOIDO, "Good CA"))),
			true,
		},
		{
			"BMPString vs UTF8String",
			ntName(ntRDN(ntBMP(ntOIDCN, "Müller"))),
			ntName(ntRDN(ntUTF8(ntOIDCN, "müller"))),
			true,
		},
		{
			"TeletexString as Latin-1",
			ntName(ntRDN(ntAttr{ntOIDCN, cbasn1.T61String, []byte("M\xfcller")})),
			ntName(ntRDN(ntUTF8(ntOIDCN, "MÜLLER"))),
			true,
		},
		{
			"IA5String domainComponent case-insensitive",
			ntName(ntRDN(ntIA5(ntOIDDC, "com")), ntRDN(ntIA5(ntOIDDC, "Example"))),
			ntName(ntRDN(ntIA5(ntOIDDC, "COM")), ntRDN(ntIA5(ntOIDDC, "example"))),
			true,
		},
		{
			"multi-valued RDN order does not matter",
			ntName(cUS, ntRDN(ntPrintable(ntOIDO, "Test"), ntPrintable(ntOIDOU, "Unit"))),
			ntName(cUS, ntRDN(ntPrintable(ntOIDOU, "unit"), ntPrintable(ntOIDO, "test"))),
			true,
		},
		{
			"multi-valued RDN vs the same attributes in two RDNs",
			ntName(cUS, ntRDN(ntPrintable(ntOIDO, "Test"), ntPrintable(ntOIDOU, "Unit"))),
			ntName(cUS, ntRDN(ntPrintable(ntOIDO, "Test")), ntRDN(ntPrintable(ntOIDOU, "Unit"))),
			false,
		},
		{
			"multi-valued RDN with a different attribute count",
			ntName(ntRDN(ntPrintable(ntOIDO, "Test"), ntPrintable(ntOIDOU, "Unit"))),
			ntName(ntRDN(ntPrintable(ntOIDO, "Test"), ntPrintable(ntOIDOU, "Unit"), ntPrintable(ntOIDOU, "Unit"))),
			false,
		},
		{
			"RDN order matters",
			ntName(cUS, org, ntRDN(ntPrintable(ntOIDCN, "CA"))),
			ntName(org, cUS, ntRDN(ntPrintable(ntOIDCN, "CA"))),
			false,
		},
		{
			"different RDN count",
			ntName(cUS, org, ntRDN(ntPrintable(ntOIDCN, "CA"))),
			ntName(cUS, org, ntRDN(ntPrintable(ntOIDOU, "Unit")), ntRDN(ntPrintable(ntOIDCN, "CA"))),
			false,
		},
		{
			"same value, different attribute type",
			ntName(ntRDN(ntPrintable(ntOIDO, "Test"))),
			ntName(ntRDN(ntPrintable(ntOIDOU, "Test"))),
			false,
		},
		{
			"non-string values compare byte for byte",
			ntName(ntRDN(ntAttr{ntOIDSerial, cbasn1.OCTET_STRING, []byte("abc")})),
			ntName(ntRDN(ntAttr{ntOIDSerial, cbasn1.OCTET_STRING, []byte("ABC")})),
			false,
		},
		{
			"non-string equal bytes",
			ntName(ntRDN(ntAttr{ntOIDSerial, cbasn1.OCTET_STRING, []byte("abc")})),
			ntName(ntRDN(ntAttr{ntOIDSerial, cbasn1.OCTET_STRING, []byte("abc")})),
			true,
		},
		{
			"string vs non-string with the same octets",
			ntName(ntRDN(ntAttr{ntOIDSerial, cbasn1.OCTET_STRING, []byte("abc")})),
			ntName(ntRDN(ntPrintable(ntOIDSerial, "abc"))),
			false,
		},
		{
			"invalid UTF-8 equals itself",
			ntName(ntRDN(ntAttr{ntOIDCN, cbasn1.UTF8String, []byte("\xff\xfe")})),
			ntName(ntRDN(ntAttr{ntOIDCN, cbasn1.UTF8String, []byte("\xff\xfe")})),
			true,
		},
		{
			"invalid UTF-8 compared as bytes",
			ntName(ntRDN(ntAttr{ntOIDCN, cbasn1.UTF8String, []byte("\xff\xfe")})),
			ntName(ntRDN(ntAttr{ntOIDCN, cbasn1.UTF8String, []byte("\xff\xfd")})),
			false,
		},
		{"empty names", []byte{0x30, 0x00}, []byte{0x30, 0x00}, true},
		{"empty vs non-empty", []byte{0x30, 0x00}, ntSimpleName("Test", "CA"), false},
		{"unparsable equal bytes", []byte("garbage"), []byte("garbage"), true},
		{"unparsable different bytes", []byte("garbage"), []byte("garbagf"), false},
		{"unparsable vs valid", []byte{0x30, 0x03, 0x31, 0x00, 0x00}, []byte{0x30, 0x00}, false},
		{"trailing data is unparsable", append(ntSimpleName("T", "CA"), 0), ntSimpleName("T", "CA"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := namesEqual(tt.a, tt.b); got != tt.want {
				t.Errorf("namesEqual(a, b) = %v, want %v", got, tt.want)
			}
			if got := namesEqual(tt.b, tt.a); got != tt.want {
				t.Errorf("namesEqual(b, a) = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNamesEqualCertificates checks chaining names produced by
// crypto/x509, including a CA whose subject is re-encoded as UTF8String
// (PKITS 4.3.10, "rollover from PrintableString to UTF8String").
func TestNamesEqualCertificates(t *testing.T) {
	root := issue(t, nil, caTemplate("Name Root"), nil)
	leaf := issue(t, root, leafTemplate("leaf"), nil)
	if !namesEqual(leaf.cert.RawIssuer, root.cert.RawSubject) {
		t.Error("issuer of leaf does not equal subject of root")
	}
	if namesEqual(leaf.cert.RawSubject, root.cert.RawSubject) {
		t.Error("leaf subject equals root subject")
	}

	printable := caTemplate("")
	printable.RawSubject = ntName(ntRDN(ntPrintable(ntOIDC, "US")), ntRDN(ntPrintable(ntOIDO, "Rollover  CA")))
	ca := issue(t, nil, printable, nil)
	child := leafTemplate("")
	child.RawSubject = ntName(ntRDN(ntPrintable(ntOIDCN, "child")))
	childCert := issue(t, ca, child, nil).cert
	utf8Subject := ntName(ntRDN(ntUTF8(ntOIDC, "US")), ntRDN(ntUTF8(ntOIDO, "rollover ca")))
	if !namesEqual(childCert.RawIssuer, utf8Subject) {
		t.Error("PrintableString issuer does not match UTF8String subject")
	}
}

func TestNameIsEmpty(t *testing.T) {
	tests := []struct {
		name string
		raw  []byte
		want bool
	}{
		{"empty sequence", []byte{0x30, 0x00}, true},
		{"one RDN", ntSimpleName("T", "CA"), false},
		{"nil", nil, false},
		{"trailing data", []byte{0x30, 0x00, 0x00}, false},
		{"not a sequence", []byte{0x31, 0x00}, false},
		{"empty RDN set is malformed", []byte{0x30, 0x02, 0x31, 0x00}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nameIsEmpty(tt.raw); got != tt.want {
				t.Errorf("nameIsEmpty = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDNWithinSubtree(t *testing.T) {
	cUS := ntRDN(ntPrintable(ntOIDC, "US"))
	org := ntRDN(ntPrintable(ntOIDO, "Test Certificates"))
	ou := ntRDN(ntPrintable(ntOIDOU, "permittedSubtree1"))
	cn := ntRDN(ntPrintable(ntOIDCN, "Valid EE"))
	tests := []struct {
		name       string
		dn, base   []byte
		wantWithin bool
	}{
		{"proper prefix", ntName(cUS, org, ou, cn), ntName(cUS, org, ou), true},
		{"equal", ntName(cUS, org, ou), ntName(cUS, org, ou), true},
		{"empty base contains all", ntName(cUS, org), []byte{0x30, 0x00}, true},
		{"empty name within empty base", []byte{0x30, 0x00}, []byte{0x30, 0x00}, true},
		{"base longer than name", ntName(cUS, org), ntName(cUS, org, ou), false},
		{"different RDN", ntName(cUS, org, ntRDN(ntPrintable(ntOIDOU, "excluded")), cn), ntName(cUS, org, ou), false},
		{"base is a suffix, not a prefix", ntName(cUS, org, ou, cn), ntName(ou, cn), false},
		{
			"prefix after string preparation",
			ntName(cUS, org, ou, cn),
			ntName(ntRDN(ntUTF8(ntOIDC, "us")), ntRDN(ntUTF8(ntOIDO, "TEST   certificates"))),
			true,
		},
		{
			"attribute value prefix is not enough",
			ntName(cUS, ntRDN(ntPrintable(ntOIDO, "Test Certificates 2011"))),
			ntName(cUS, ntRDN(ntPrintable(ntOIDO, "Test Certificates"))),
			false,
		},
		{"unparsable identical", []byte("x"), []byte("x"), true},
		{"unparsable base", ntName(cUS), []byte("x"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dnWithinSubtree(tt.dn, tt.base); got != tt.wantWithin {
				t.Errorf("dnWithinSubtree = %v, want %v", got, tt.wantWithin)
			}
		})
	}
}

func TestDNPrepareString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{" A  b ", "a b"},
		{"\u2003x\u3000y\u2028", "x y"},
		{"a\u200bb", "ab"},
		{"a\x00b", "ab"},
		{"KELVIN \u212a", "kelvin k"},
	}
	for _, tt := range tests {
		if got := prepareString(tt.in); got != tt.want {
			t.Errorf("prepareString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func FuzzNamesEqual(f *testing.F) {
	f.Add(ntSimpleName("Test", "CA"), ntSimpleName("TEST", " ca "))
	f.Add([]byte{0x30, 0x00}, []byte{0x30, 0x00})
	f.Add(ntName(ntRDN(ntBMP(ntOIDCN, "x"), ntIA5(ntOIDEmail, "a@b"))), []byte("garbage"))
	f.Add(ntName(ntRDN(ntAttr{ntOIDCN, tagUniversalString, []byte{0, 0, 0, 'a'}})), []byte{0x30, 0x02, 0x31, 0x00})
	f.Fuzz(func(t *testing.T, a, b []byte) {
		ab, ba := namesEqual(a, b), namesEqual(b, a)
		if ab != ba {
			t.Errorf("namesEqual is not symmetric: %v vs %v", ab, ba)
		}
		if !namesEqual(a, a) {
			t.Errorf("namesEqual(a, a) is false for %x", a)
		}
		if !dnWithinSubtree(a, a) {
			t.Errorf("dnWithinSubtree(a, a) is false for %x", a)
		}
		if ab && nameIsEmpty(a) != nameIsEmpty(b) {
			t.Errorf("equal names %x and %x disagree on emptiness", a, b)
		}
		_ = dnWithinSubtree(a, b)
	})
}
