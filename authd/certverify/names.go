package certverify

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Distinguished name comparison, RFC 5280 section 7.1.
//
// Two names match when they have the same number of RDNs, in the same
// order, and each pair of RDNs holds the same set of attribute type/value
// pairs. Values of the string types that can carry a DirectoryString (and
// IA5String, used by emailAddress and domainComponent) are compared after
// RFC 4518 string preparation as a case-ignore match; every other value is
// compared byte for byte, tag included.
//
// The RFC 4518 steps are implemented as follows:
//   - Transcode: each string type is decoded to Unicode (TeletexString as
//     ISO 8859-1, which is what T.61 means in practice). A value that does
//     not decode (invalid UTF-8, odd-length BMPString, ...) is compared as
//     raw bytes instead, so a name always equals itself.
//   - Map: the RFC 4518 section 2.2 tables (characters mapped to nothing,
//     separators and line breaks mapped to SPACE) and case folding.
//     Case folding is per code point (upper then lower case), plus the
//     common full folding of U+00DF/U+1E9E to "ss".
//   - Normalize (NFKC) is not applied: the standard library has no
//     normalizer. Names that differ only in composition do not match, which
//     errs towards refusing a chain, never towards accepting one.
//   - Prohibit and bidi checks are not applied; they only ever make a
//     comparison fail, and their absence keeps comparison reflexive.
//   - Insignificant space handling: leading and trailing spaces removed,
//     internal runs of spaces collapsed to one.

// Tags of string types not named by cryptobyte/asn1.
const (
	tagUniversalString = cbasn1.Tag(28)
	tagBMPString       = cbasn1.Tag(30)
)

// dnAttr is one AttributeTypeAndValue of a parsed Name.
type dnAttr struct {
	oid     string     // DER content octets of the attribute type
	tag     cbasn1.Tag // tag of the value
	content []byte     // content octets of the value
	key     string     // comparison key of the value, see attrValueKey
}

// dnRDN is one RelativeDistinguishedName, its attributes sorted by
// (oid, key) so that RDNs compare element-wise regardless of the order
// in which a multi-valued RDN was encoded.
type dnRDN []dnAttr

// parseDN parses a DER Name (an RDNSequence). It reports false when raw
// is not exactly one well-formed RDNSequence.
func parseDN(raw []byte) ([]dnRDN, bool) {
	input := cryptobyte.String(raw)
	var seq cryptobyte.String
	if !input.ReadASN1(&seq, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, false
	}
	var rdns []dnRDN
	for !seq.Empty() {
		var set cryptobyte.String
		if !seq.ReadASN1(&set, cbasn1.SET) || set.Empty() {
			return nil, false // RDN is SET SIZE (1..MAX)
		}
		var rdn dnRDN
		for !set.Empty() {
			var atav, oid, full cryptobyte.String
			var tag cbasn1.Tag
			if !set.ReadASN1(&atav, cbasn1.SEQUENCE) ||
				!atav.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || len(oid) == 0 {
				return nil, false
			}
			value := atav
			var content cryptobyte.String
			if !atav.ReadAnyASN1Element(&full, &tag) || !atav.Empty() ||
				!value.ReadAnyASN1(&content, &tag) {
				return nil, false
			}
			rdn = append(rdn, dnAttr{
				oid:     string(oid),
				tag:     tag,
				content: content,
				key:     attrValueKey(tag, content, full),
			})
		}
		slices.SortFunc(rdn, func(a, b dnAttr) int {
			return cmp.Or(cmp.Compare(a.oid, b.oid), cmp.Compare(a.key, b.key))
		})
		rdns = append(rdns, rdn)
	}
	return rdns, true
}

// attrValueKey returns the string an attribute value is compared by:
// "s" and the prepared string for string types that decode, "b" and the
// whole DER element otherwise. The prefixes keep the two kinds apart.
func attrValueKey(tag cbasn1.Tag, content, full []byte) string {
	if s, ok := decodeDirectoryString(tag, content); ok {
		return "s" + prepareString(s)
	}
	return "b" + string(full)
}

// decodeDirectoryString transcodes a string value of one of the
// DirectoryString types (or IA5String) to Go's UTF-8. It reports false for
// other types and for values that are not validly encoded.
func decodeDirectoryString(tag cbasn1.Tag, b []byte) (string, bool) {
	switch tag {
	case cbasn1.UTF8String:
		if !utf8.Valid(b) {
			return "", false
		}
		return string(b), true
	case cbasn1.PrintableString, cbasn1.IA5String:
		for _, c := range b {
			if c >= utf8.RuneSelf {
				return "", false
			}
		}
		return string(b), true
	case cbasn1.T61String:
		rs := make([]rune, len(b))
		for i, c := range b {
			rs[i] = rune(c) // ISO 8859-1
		}
		return string(rs), true
	case tagBMPString:
		if len(b)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		// Decode maps unpaired surrogates to U+FFFD; refuse those so
		// that different invalid values never compare equal.
		rs := utf16.Decode(u)
		for _, r := range rs {
			if r == utf8.RuneError {
				return "", false
			}
		}
		return string(rs), true
	case tagUniversalString:
		if len(b)%4 != 0 {
			return "", false
		}
		rs := make([]rune, len(b)/4)
		for i := range rs {
			r := rune(uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3]))
			if !utf8.ValidRune(r) {
				return "", false
			}
			rs[i] = r
		}
		return string(rs), true
	}
	return "", false
}

// prepareString applies the RFC 4518 Map step with case folding and the
// insignificant space handling of caseIgnoreMatch (see the file comment).
func prepareString(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false // a space is pending (only written before a non-space)
	for _, r := range s {
		switch {
		case mapsToNothing(r):
			continue
		case mapsToSpace(r):
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		switch r {
		case 'ß', 'ẞ':
			b.WriteString("ss")
		default:
			b.WriteRune(unicode.ToLower(unicode.ToUpper(r)))
		}
	}
	return b.String()
}

// mapsToNothing reports whether RFC 4518 section 2.2 maps r to nothing.
func mapsToNothing(r rune) bool {
	switch {
	case r == 0x00AD, r == 0x1806, r == 0x034F, r >= 0x180B && r <= 0x180D,
		r >= 0xFE00 && r <= 0xFE0F, r == 0xFFFC, r == 0x200B:
		return true
	// Control code points and code points with a control function.
	case r <= 0x0008, r >= 0x000E && r <= 0x001F, r >= 0x007F && r <= 0x0084,
		r >= 0x0086 && r <= 0x009F, r == 0x06DD, r == 0x070F, r == 0x180E,
		r >= 0x200C && r <= 0x200F, r >= 0x202A && r <= 0x202E,
		r >= 0x2060 && r <= 0x2063, r >= 0x206A && r <= 0x206F, r == 0xFEFF,
		r >= 0xFFF9 && r <= 0xFFFB, r >= 0x1D173 && r <= 0x1D17A,
		r == 0xE0001, r >= 0xE0020 && r <= 0xE007F:
		return true
	}
	return false
}

// mapsToSpace reports whether RFC 4518 section 2.2 maps r to SPACE.
func mapsToSpace(r rune) bool {
	switch {
	case r >= 0x0009 && r <= 0x000D, r == 0x0085, // tab, line breaks, NEL
		r == 0x0020, r == 0x00A0, r == 0x1680, r >= 0x2000 && r <= 0x200A,
		r == 0x2028, r == 0x2029, r == 0x202F, r == 0x205F, r == 0x3000:
		return true
	}
	return false
}

// rdnsEqual reports whether two parsed RDNs hold the same attributes.
func rdnsEqual(a, b dnRDN) bool {
	return slices.EqualFunc(a, b, func(x, y dnAttr) bool {
		return x.oid == y.oid && x.key == y.key
	})
}

// namesEqual reports whether two DER-encoded X.501 Names (e.g.
// cert.RawIssuer, cert.RawSubject, crl.RawIssuer) are equal under RFC 5280
// section 7.1: the same number of RDNs in the same order, each RDN the same
// set of attribute type/value pairs (order within a multi-valued RDN does
// not matter), string values compared after RFC 4518 preparation as a
// case-insensitive match with insignificant spaces removed, other values
// byte for byte. If either side fails to parse, the result is
// bytes.Equal(a, b).
func namesEqual(a, b []byte) bool {
	da, okA := parseDN(a)
	db, okB := parseDN(b)
	if !okA || !okB {
		return bytes.Equal(a, b)
	}
	return slices.EqualFunc(da, db, rdnsEqual)
}

// nameIsEmpty reports whether a DER Name is an empty RDNSequence.
// Anything that does not parse as a Name is not empty.
func nameIsEmpty(raw []byte) bool {
	rdns, ok := parseDN(raw)
	return ok && len(rdns) == 0
}

// dnWithinSubtree reports whether DN name lies within the directoryName
// subtree base: base's RDNs are a prefix of name's RDNs, each RDN compared
// as in namesEqual. An empty base contains every name. If either side fails
// to parse, only identical encodings are within each other.
func dnWithinSubtree(name, base []byte) bool {
	dn, okN := parseDN(name)
	db, okB := parseDN(base)
	if !okN || !okB {
		return bytes.Equal(name, base)
	}
	return dnRDNsWithin(dn, db)
}

// dnRDNsWithin is dnWithinSubtree on parsed names.
func dnRDNsWithin(name, base []dnRDN) bool {
	return len(base) <= len(name) && slices.EqualFunc(name[:len(base)], base, rdnsEqual)
}

// GeneralName syntax (RFC 5280 4.2.1.6) shared by subjectAltName and
// name constraints parsing.

// gnKind is the CHOICE tag number of a GeneralName (RFC 5280 4.2.1.6).
type gnKind int

const (
	gnOtherName     gnKind = 0
	gnRFC822Name    gnKind = 1
	gnDNSName       gnKind = 2
	gnX400Address   gnKind = 3
	gnDirectoryName gnKind = 4
	gnEDIPartyName  gnKind = 5
	gnURI           gnKind = 6
	gnIPAddress     gnKind = 7
	gnRegisteredID  gnKind = 8
)

func (k gnKind) String() string {
	switch k {
	case gnOtherName:
		return "otherName"
	case gnRFC822Name:
		return "rfc822Name"
	case gnDNSName:
		return "dNSName"
	case gnX400Address:
		return "x400Address"
	case gnDirectoryName:
		return "directoryName"
	case gnEDIPartyName:
		return "ediPartyName"
	case gnURI:
		return "uniformResourceIdentifier"
	case gnIPAddress:
		return "iPAddress"
	case gnRegisteredID:
		return "registeredID"
	}
	return fmt.Sprintf("GeneralName[%d]", int(k))
}

// gnConstructed reports whether the form is encoded constructed: the
// SEQUENCE types and directoryName (explicitly tagged, Name is a CHOICE).
func (k gnKind) gnConstructed() bool {
	return k == gnOtherName || k == gnX400Address || k == gnDirectoryName || k == gnEDIPartyName
}

// readGeneralName reads one GeneralName from s. value is the content of
// the CHOICE element; for directoryName it is the DER encoding of the Name.
func readGeneralName(s *cryptobyte.String) (kind gnKind, value []byte, err error) {
	var content cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&content, &tag) {
		return 0, nil, errors.New("malformed GeneralName")
	}
	const classMask, constructedBit = 0xc0, 0x20
	kind = gnKind(tag & 0x1f)
	if tag&classMask != 0x80 || kind > gnRegisteredID {
		return 0, nil, fmt.Errorf("unknown GeneralName tag 0x%02x", uint8(tag))
	}
	if (tag&constructedBit != 0) != kind.gnConstructed() {
		return 0, nil, fmt.Errorf("%s has the wrong encoding (constructed bit)", kind)
	}
	if kind == gnDirectoryName {
		if _, ok := parseDN(content); !ok {
			return 0, nil, errors.New("malformed directoryName")
		}
	}
	return kind, content, nil
}

// isIA5 reports whether b is a valid IA5String (7-bit) value.
func isIA5(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// validHostname reports whether s is a host name in the preferred name
// syntax (RFC 1034 3.5, RFC 5280 4.2.1.6): non-empty labels of letters,
// digits, hyphens (and, leniently, underscores), no trailing period. With
// wildcard, the leftmost label may be "*".
func validHostname(s string, wildcard bool) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i, label := range strings.Split(s, ".") {
		if label == "*" && i == 0 && wildcard {
			continue
		}
		if label == "" || len(label) > 63 {
			return false
		}
		for _, c := range []byte(label) {
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
			default:
				return false
			}
		}
	}
	return true
}

// parseMailbox splits an RFC 5321 Mailbox (Local-part "@" Domain) and
// lower-cases its domain. The local part is a Dot-string or a
// Quoted-string; the domain must be a host name (address literals are not
// supported and so are refused).
func parseMailbox(s string) (local, domain string, ok bool) {
	var rest string
	if strings.HasPrefix(s, `"`) {
		end := -1
		for i := 1; i < len(s) && end < 0; i++ {
			switch c := s[i]; {
			case c == '\\' && i+1 < len(s) && s[i+1] >= 0x20 && s[i+1] <= 0x7e:
				i++ // quoted-pair
			case c == '"':
				end = i
			case c < 0x20 || c > 0x7e || c == '\\':
				return "", "", false
			}
		}
		if end < 0 {
			return "", "", false
		}
		local, rest = s[:end+1], s[end+1:]
	} else {
		at := strings.IndexByte(s, '@')
		if at < 0 {
			return "", "", false
		}
		local, rest = s[:at], s[at:]
		for _, atom := range strings.Split(local, ".") {
			if atom == "" || strings.IndexFunc(atom, func(r rune) bool { return !isAtext(r) }) >= 0 {
				return "", "", false
			}
		}
	}
	if !strings.HasPrefix(rest, "@") || !validHostname(rest[1:], false) {
		return "", "", false
	}
	return local, strings.ToLower(rest[1:]), true
}

// isAtext reports whether r is an RFC 5322 atext character.
func isAtext(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
		strings.ContainsRune("!#$%&'*+-/=?^_`{|}~", r)
}

// uriHost returns the lower-cased host of an absolute URI. RFC 5280
// 4.2.1.10 constrains URIs by host name only, so a URI without an
// authority, or whose host is an IP address, cannot be evaluated.
func uriHost(s string) (string, error) {
	if !isIA5([]byte(s)) {
		return "", errors.New("not an IA5String")
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return "", errors.New("not a valid URI")
	case u.Scheme == "":
		return "", errors.New("relative URI")
	case u.Opaque != "" || u.Host == "":
		return "", errors.New("URI has no host to check against name constraints")
	}
	host := u.Hostname()
	if _, err := netip.ParseAddr(host); err == nil || strings.HasPrefix(u.Host, "[") {
		return "", errors.New("URI host is an IP address, which URI name constraints cannot match")
	}
	if !validHostname(host, false) {
		return "", errors.New("URI host is not a valid host name")
	}
	return strings.ToLower(host), nil
}
