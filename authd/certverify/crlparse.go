package certverify

import (
	"bytes"
	"cmp"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Parsing of the CRL and certificate extensions that RFC 5280 section 6.3
// needs and crypto/x509 does not expose: cRLDistributionPoints with names,
// reasons and cRLIssuer (4.2.1.13), issuingDistributionPoint (5.2.5),
// deltaCRLIndicator (5.2.4) and the certificateIssuer entry extension
// (5.3.3). Everything here treats its input as hostile.

// Extension OIDs. CRL extensions first, then CRL entry extensions, then the
// certificate extensions the CRL check reads.
var (
	crlOIDAuthorityKeyID    = asn1.ObjectIdentifier{2, 5, 29, 35}
	crlOIDIssuerAltName     = asn1.ObjectIdentifier{2, 5, 29, 18}
	crlOIDNumber            = asn1.ObjectIdentifier{2, 5, 29, 20}
	crlOIDDeltaIndicator    = asn1.ObjectIdentifier{2, 5, 29, 27}
	crlOIDIssuingDistPoint  = asn1.ObjectIdentifier{2, 5, 29, 28}
	crlOIDFreshestCRL       = asn1.ObjectIdentifier{2, 5, 29, 46}
	crlOIDAuthorityInfo     = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 1, 1}
	crlOIDReasonCode        = asn1.ObjectIdentifier{2, 5, 29, 21}
	crlOIDHoldInstruction   = asn1.ObjectIdentifier{2, 5, 29, 23}
	crlOIDInvalidityDate    = asn1.ObjectIdentifier{2, 5, 29, 24}
	crlOIDCertificateIssuer = asn1.ObjectIdentifier{2, 5, 29, 29}
	crlOIDDistPoints        = asn1.ObjectIdentifier{2, 5, 29, 31}
	crlOIDKeyUsage          = asn1.ObjectIdentifier{2, 5, 29, 15}
)

// CRL problems that make a CRL unusable on its own (crlUsable).
var (
	errCRLMalformed     = errors.New("CRL is malformed")
	errCRLCritical      = errors.New("CRL has an unknown critical extension")
	errCRLEntryCritical = errors.New("CRL entry has an unknown critical extension")
)

// CRLReason values (RFC 5280 5.3.1) the check acts on.
const (
	crlReasonCertificateHold = 6
	crlReasonRemoveFromCRL   = 8
)

// reasonMask is a set of revocation reasons, bit i being ReasonFlags bit i
// (RFC 5280 4.2.1.13): 1 keyCompromise ... 8 aACompromise. Bit 0 ("unused")
// is never part of a mask.
type reasonMask uint16

// allReasons is RFC 5280's all-reasons: every defined ReasonFlags bit.
const allReasons reasonMask = 0x1fe

// GeneralName tags (context-specific tag numbers, RFC 5280 4.2.1.6).
const (
	crlGNOther     = 0
	crlGNRFC822    = 1
	crlGNDNS       = 2
	crlGNX400      = 3
	crlGNDirectory = 4
	crlGNEDIParty  = 5
	crlGNURI       = 6
	crlGNIP        = 7
	crlGNRegID     = 8
)

// crlGeneralName is one GeneralName: its tag number and value. The value of
// a directoryName is the whole DER Name (SEQUENCE included); of every other
// kind it is the content octets.
type crlGeneralName struct {
	tag   int
	value []byte
}

func directoryName(raw []byte) crlGeneralName {
	return crlGeneralName{tag: crlGNDirectory, value: raw}
}

// matches compares two names for distribution point and certificate issuer
// matching: directoryNames under RFC 5280 7.1 (namesEqual), dNSNames
// case-insensitively, rfc822Names with a case-insensitive domain part, and
// everything else (URIs included) byte for byte. Byte equality of URIs is
// stricter than RFC 3986 equivalence; it can only make a CRL not apply,
// never make the wrong CRL apply.
func (g crlGeneralName) matches(h crlGeneralName) bool {
	if g.tag != h.tag {
		return false
	}
	switch g.tag {
	case crlGNDirectory:
		return namesEqual(g.value, h.value)
	case crlGNDNS:
		return strings.EqualFold(string(g.value), string(h.value))
	case crlGNRFC822:
		gl, gd, gok := strings.Cut(string(g.value), "@")
		hl, hd, hok := strings.Cut(string(h.value), "@")
		if !gok || !hok {
			return strings.EqualFold(string(g.value), string(h.value))
		}
		return gl == hl && strings.EqualFold(gd, hd)
	default:
		return bytes.Equal(g.value, h.value)
	}
}

// anyNameMatches reports whether some name of a matches some name of b.
func anyNameMatches(a, b []crlGeneralName) bool {
	for _, x := range a {
		for _, y := range b {
			if x.matches(y) {
				return true
			}
		}
	}
	return false
}

// distPointName is a DistributionPointName: fullName, or
// nameRelativeToCRLIssuer kept as a DER RDN (SET) to be appended to the
// CRL issuer's name.
type distPointName struct {
	present  bool
	full     []crlGeneralName
	relative []byte
}

// distPoint is one DistributionPoint of a certificate.
type distPoint struct {
	name       distPointName
	hasReasons bool
	reasons    reasonMask
	crlIssuer  []crlGeneralName
}

// issuingDistPoint is a parsed issuingDistributionPoint CRL extension.
type issuingDistPoint struct {
	name            distPointName
	onlyUser        bool
	onlyCA          bool
	onlyAttribute   bool
	hasReasons      bool
	onlySomeReasons reasonMask
	indirect        bool
}

// revokedEntry is one revokedCertificates entry with the certificate issuer it
// applies to resolved (RFC 5280 5.3.3).
type revokedEntry struct {
	serial    *big.Int
	issuer    []crlGeneralName // nil: the CRL issuer
	issuerKey string           // DER of the certificateIssuer in force; "" for the CRL issuer
	reason    int
	revokedAt time.Time
}

// crlInfo is what analyzeCRL learns from a parsed CRL.
type crlInfo struct {
	v1      bool
	idp     *issuingDistPoint // nil when the extension is absent
	idpRaw  []byte            // extension value, for delta scope comparison
	isDelta bool
	base    *big.Int // BaseCRLNumber of a delta CRL
	entries []revokedEntry
}

func crlMalformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errCRLMalformed, fmt.Sprintf(format, args...))
}

// crlUsable reports the problems that make a CRL unusable on its own
// (parse-level: unknown critical extensions in the CRL or entries,
// malformed IDP/delta indicator). nil = usable.
//
// Besides RFC 5280's "unknown critical extension" rule (5.2, 5.3) it
// refuses: a v1 CRL carrying extensions; a v2 CRL without cRLNumber or with
// a critical or negative one (5.2.3); duplicate extensions; an IDP
// asserting more than one of the onlyContains* flags (5.2.5); a
// certificateIssuer entry extension in a CRL that is not indirect (5.3.3);
// reason codes outside RFC 5280's list (5.3.1); and two entries for the
// same certificate issuer and serial number, which make the CRL ambiguous.
func crlUsable(crl *x509.RevocationList) error {
	_, err := analyzeCRL(crl)
	return err
}

// analyzeCRL checks a CRL as crlUsable describes and returns what the CRL
// check needs from its extensions and entries.
func analyzeCRL(crl *x509.RevocationList) (*crlInfo, error) {
	if crl == nil {
		return nil, crlMalformed("no CRL")
	}
	v1, err := crlIsV1(crl.RawTBSRevocationList)
	if err != nil {
		return nil, err
	}
	info := &crlInfo{v1: v1}
	if v1 && len(crl.Extensions) > 0 {
		return nil, crlMalformed("version 1 CRL with extensions")
	}
	seen := make(map[string]bool, len(crl.Extensions))
	for _, ext := range crl.Extensions {
		id := ext.Id.String()
		if seen[id] {
			return nil, crlMalformed("duplicate extension %s", id)
		}
		seen[id] = true
		switch {
		case ext.Id.Equal(crlOIDNumber):
			if ext.Critical {
				return nil, crlMalformed("critical cRLNumber")
			}
			if crl.Number == nil || crl.Number.Sign() < 0 {
				return nil, crlMalformed("bad cRLNumber")
			}
		case ext.Id.Equal(crlOIDDeltaIndicator):
			base, err := parseDeltaIndicator(ext.Value)
			if err != nil {
				return nil, err
			}
			info.isDelta, info.base = true, base
		case ext.Id.Equal(crlOIDIssuingDistPoint):
			idp, err := parseIDP(ext.Value)
			if err != nil {
				return nil, err
			}
			info.idp, info.idpRaw = idp, ext.Value
		case ext.Id.Equal(crlOIDAuthorityKeyID), ext.Id.Equal(crlOIDIssuerAltName),
			ext.Id.Equal(crlOIDFreshestCRL), ext.Id.Equal(crlOIDAuthorityInfo):
			// Understood; the check does not need their contents.
		default:
			if ext.Critical {
				return nil, fmt.Errorf("%w: %s", errCRLCritical, id)
			}
		}
	}
	if !v1 && crl.Number == nil {
		return nil, crlMalformed("version 2 CRL without cRLNumber")
	}
	if err := info.readEntries(crl); err != nil {
		return nil, err
	}
	return info, nil
}

// readEntries checks the entries' extensions and resolves each entry's
// certificate issuer: in an indirect CRL the certificateIssuer extension
// sets it for that entry and those that follow; before the first one it is
// the CRL issuer.
func (info *crlInfo) readEntries(crl *x509.RevocationList) error {
	indirect := info.idp != nil && info.idp.indirect
	var (
		issuer    []crlGeneralName
		issuerKey string
	)
	info.entries = make([]revokedEntry, 0, len(crl.RevokedCertificateEntries))
	for i, e := range crl.RevokedCertificateEntries {
		if e.SerialNumber == nil {
			return crlMalformed("entry %d has no serial number", i)
		}
		if info.v1 && len(e.Extensions) > 0 {
			return crlMalformed("version 1 CRL entry with extensions")
		}
		for j, ext := range e.Extensions {
			if slices.ContainsFunc(e.Extensions[:j], func(o pkix.Extension) bool { return o.Id.Equal(ext.Id) }) {
				return crlMalformed("entry %d: duplicate extension %s", i, ext.Id)
			}
			switch {
			case ext.Id.Equal(crlOIDReasonCode):
				if e.ReasonCode < 0 || e.ReasonCode > 10 || e.ReasonCode == 7 {
					return crlMalformed("entry %d: reason code %d", i, e.ReasonCode)
				}
			case ext.Id.Equal(crlOIDHoldInstruction), ext.Id.Equal(crlOIDInvalidityDate):
			case ext.Id.Equal(crlOIDCertificateIssuer):
				if !indirect {
					return crlMalformed("entry %d: certificateIssuer in a CRL that is not indirect", i)
				}
				names, err := parseGeneralNamesExt(ext.Value)
				if err != nil {
					return fmt.Errorf("entry %d certificateIssuer: %w", i, err)
				}
				issuer, issuerKey = names, string(ext.Value)
			default:
				if ext.Critical {
					return fmt.Errorf("%w: entry %d: %s", errCRLEntryCritical, i, ext.Id)
				}
			}
		}
		info.entries = append(info.entries, revokedEntry{
			serial: e.SerialNumber, issuer: issuer, issuerKey: issuerKey,
			reason: e.ReasonCode, revokedAt: e.RevocationTime,
		})
	}
	return info.checkDuplicates()
}

// checkDuplicates refuses two entries for the same certificate issuer and
// serial number: which of them holds would be a guess.
func (info *crlInfo) checkDuplicates() error {
	order := make([]int, len(info.entries))
	for i := range order {
		order[i] = i
	}
	byKey := func(a, b int) int {
		ea, eb := &info.entries[a], &info.entries[b]
		return cmp.Or(ea.serial.Cmp(eb.serial), strings.Compare(ea.issuerKey, eb.issuerKey))
	}
	slices.SortFunc(order, byKey)
	for i := 1; i < len(order); i++ {
		if byKey(order[i-1], order[i]) == 0 {
			return crlMalformed("duplicate entry for serial %s", info.entries[order[i]].serial)
		}
	}
	return nil
}

// crlIsV1 reports whether a tbsCertList omits its version (a v1 CRL).
func crlIsV1(tbs []byte) (bool, error) {
	in := cryptobyte.String(tbs)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) {
		return false, crlMalformed("bad tbsCertList")
	}
	if !body.PeekASN1Tag(cbasn1.INTEGER) {
		return true, nil
	}
	var v int
	if !body.ReadASN1Integer(&v) || v != 1 {
		return false, crlMalformed("unsupported version")
	}
	return false, nil
}

// parseCRL parses one DER CRL. Unlike x509.ParseRevocationList it accepts
// version 1 CRLs (no version field, hence no extensions), which RFC 5280
// relying parties still meet, and it refuses trailing data. For a v1 CRL
// the returned Raw and RawTBSRevocationList are the original bytes, so
// that signature verification covers exactly what was signed.
func parseCRL(der []byte) (*x509.RevocationList, error) {
	in := cryptobyte.String(der)
	var whole cryptobyte.String
	if !in.ReadASN1Element(&whole, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, errors.New("x509: malformed crl or trailing data")
	}
	crl, err := x509.ParseRevocationList(whole)
	if err == nil {
		return crl, nil
	}
	outer := whole
	var body, tbs cryptobyte.String
	if !outer.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1Element(&tbs, cbasn1.SEQUENCE) {
		return nil, err
	}
	tbsBody := tbs
	if !tbsBody.ReadASN1(&tbsBody, cbasn1.SEQUENCE) || tbsBody.PeekASN1Tag(cbasn1.INTEGER) {
		return nil, err // a v2 CRL that crypto/x509 refused
	}
	// Insert version v2 so crypto/x509 can parse the fields, then restore
	// the original encoding.
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1Int64(1)
			b.AddBytes(tbsBody)
		})
		b.AddBytes(body)
	})
	rewritten, berr := b.Bytes()
	if berr != nil {
		return nil, err
	}
	crl, err = x509.ParseRevocationList(rewritten)
	if err != nil {
		return nil, err
	}
	if len(crl.Extensions) > 0 {
		return nil, errors.New("x509: version 1 crl with extensions")
	}
	for _, e := range crl.RevokedCertificateEntries {
		if len(e.Extensions) > 0 {
			return nil, errors.New("x509: version 1 crl entry with extensions")
		}
	}
	crl.Raw, crl.RawTBSRevocationList = []byte(whole), []byte(tbs)
	return crl, nil
}

// parseDeltaIndicator parses deltaCRLIndicator: BaseCRLNumber INTEGER.
func parseDeltaIndicator(v []byte) (*big.Int, error) {
	in := cryptobyte.String(v)
	base := new(big.Int)
	if !in.ReadASN1Integer(base) || !in.Empty() || base.Sign() < 0 {
		return nil, crlMalformed("bad deltaCRLIndicator")
	}
	return base, nil
}

var (
	crlTagCtx0C = cbasn1.Tag(0).ContextSpecific().Constructed()
	crlTagCtx1  = cbasn1.Tag(1).ContextSpecific()
	crlTagCtx1C = cbasn1.Tag(1).ContextSpecific().Constructed()
	crlTagCtx2  = cbasn1.Tag(2).ContextSpecific()
	crlTagCtx2C = cbasn1.Tag(2).ContextSpecific().Constructed()
	crlTagCtx3  = cbasn1.Tag(3).ContextSpecific()
	crlTagCtx4  = cbasn1.Tag(4).ContextSpecific()
	crlTagCtx5  = cbasn1.Tag(5).ContextSpecific()
)

// parseDistPoints parses a cRLDistributionPoints extension value.
func parseDistPoints(v []byte) ([]distPoint, error) {
	in := cryptobyte.String(v)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || seq.Empty() {
		return nil, crlMalformed("bad cRLDistributionPoints")
	}
	var dps []distPoint
	for !seq.Empty() {
		var dpSeq, name, reasons, issuer cryptobyte.String
		var hasName, hasReasons, hasIssuer bool
		if !seq.ReadASN1(&dpSeq, cbasn1.SEQUENCE) ||
			!dpSeq.ReadOptionalASN1(&name, &hasName, crlTagCtx0C) ||
			!dpSeq.ReadOptionalASN1(&reasons, &hasReasons, crlTagCtx1) ||
			!dpSeq.ReadOptionalASN1(&issuer, &hasIssuer, crlTagCtx2C) ||
			!dpSeq.Empty() {
			return nil, crlMalformed("bad DistributionPoint")
		}
		var dp distPoint
		var err error
		if hasName {
			if dp.name, err = parseDistPointName(name); err != nil {
				return nil, err
			}
		}
		if hasReasons {
			dp.hasReasons = true
			if dp.reasons, err = parseReasonFlags(reasons); err != nil {
				return nil, err
			}
		}
		if hasIssuer {
			if dp.crlIssuer, err = parseGeneralNames(issuer); err != nil {
				return nil, err
			}
		}
		dps = append(dps, dp)
	}
	return dps, nil
}

// parseIDP parses an issuingDistributionPoint extension value.
func parseIDP(v []byte) (*issuingDistPoint, error) {
	in := cryptobyte.String(v)
	var seq, name, reasons cryptobyte.String
	var hasName, hasReasons bool
	idp := new(issuingDistPoint)
	ok := in.ReadASN1(&seq, cbasn1.SEQUENCE) && in.Empty() &&
		seq.ReadOptionalASN1(&name, &hasName, crlTagCtx0C) &&
		readImplicitBool(&seq, crlTagCtx1, &idp.onlyUser) &&
		readImplicitBool(&seq, crlTagCtx2, &idp.onlyCA) &&
		seq.ReadOptionalASN1(&reasons, &hasReasons, crlTagCtx3) &&
		readImplicitBool(&seq, crlTagCtx4, &idp.indirect) &&
		readImplicitBool(&seq, crlTagCtx5, &idp.onlyAttribute) &&
		seq.Empty()
	if !ok {
		return nil, crlMalformed("bad issuingDistributionPoint")
	}
	var err error
	if hasName {
		if idp.name, err = parseDistPointName(name); err != nil {
			return nil, err
		}
	}
	if hasReasons {
		idp.hasReasons = true
		if idp.onlySomeReasons, err = parseReasonFlags(reasons); err != nil {
			return nil, err
		}
	}
	n := 0
	for _, b := range []bool{idp.onlyUser, idp.onlyCA, idp.onlyAttribute} {
		if b {
			n++
		}
	}
	if n > 1 {
		return nil, crlMalformed("issuingDistributionPoint asserts more than one onlyContains flag")
	}
	return idp, nil
}

// readImplicitBool reads an optional [n] IMPLICIT BOOLEAN DEFAULT FALSE.
// An explicitly encoded FALSE (not DER, but harmless) is accepted.
func readImplicitBool(s *cryptobyte.String, tag cbasn1.Tag, out *bool) bool {
	var v cryptobyte.String
	var present bool
	if !s.ReadOptionalASN1(&v, &present, tag) {
		return false
	}
	if !present {
		return true
	}
	if len(v) != 1 || (v[0] != 0 && v[0] != 0xff) {
		return false
	}
	*out = v[0] == 0xff
	return true
}

// parseDistPointName parses the contents of the [0] EXPLICIT
// DistributionPointName of a DistributionPoint or IDP.
func parseDistPointName(s cryptobyte.String) (distPointName, error) {
	var inner cryptobyte.String
	var tag cbasn1.Tag
	if !s.ReadAnyASN1(&inner, &tag) || !s.Empty() {
		return distPointName{}, crlMalformed("bad DistributionPointName")
	}
	switch tag {
	case crlTagCtx0C:
		names, err := parseGeneralNames(inner)
		if err != nil {
			return distPointName{}, err
		}
		return distPointName{present: true, full: names}, nil
	case crlTagCtx1C:
		// RelativeDistinguishedName: SET SIZE (1..MAX) OF AttributeTypeAndValue.
		if inner.Empty() {
			return distPointName{}, crlMalformed("empty nameRelativeToCRLIssuer")
		}
		for rest := inner; !rest.Empty(); {
			// AttributeTypeAndValue: an OID and exactly one value of any type.
			var atav, oid, value cryptobyte.String
			var valueTag cbasn1.Tag
			if !rest.ReadASN1(&atav, cbasn1.SEQUENCE) || !atav.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) ||
				!atav.ReadAnyASN1Element(&value, &valueTag) || !atav.Empty() {
				return distPointName{}, crlMalformed("bad nameRelativeToCRLIssuer")
			}
		}
		var b cryptobyte.Builder
		b.AddASN1(cbasn1.SET, func(b *cryptobyte.Builder) { b.AddBytes(inner) })
		rdn, err := b.Bytes()
		if err != nil {
			return distPointName{}, crlMalformed("bad nameRelativeToCRLIssuer")
		}
		return distPointName{present: true, relative: rdn}, nil
	default:
		return distPointName{}, crlMalformed("unknown DistributionPointName choice")
	}
}

// parseGeneralNamesExt parses an extension value holding GeneralNames.
func parseGeneralNamesExt(v []byte) ([]crlGeneralName, error) {
	in := cryptobyte.String(v)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, crlMalformed("bad GeneralNames")
	}
	return parseGeneralNames(seq)
}

// parseGeneralNames parses the contents of GeneralNames
// (SEQUENCE SIZE (1..MAX) OF GeneralName).
func parseGeneralNames(s cryptobyte.String) ([]crlGeneralName, error) {
	if s.Empty() {
		return nil, crlMalformed("empty GeneralNames")
	}
	var names []crlGeneralName
	for !s.Empty() {
		var v cryptobyte.String
		var tag cbasn1.Tag
		if !s.ReadAnyASN1(&v, &tag) || tag&0xc0 != 0x80 {
			return nil, crlMalformed("bad GeneralName")
		}
		n := int(tag & 0x1f)
		constructed := tag&0x20 != 0
		want := n == crlGNOther || n == crlGNX400 || n == crlGNDirectory || n == crlGNEDIParty
		if n > crlGNRegID || constructed != want {
			return nil, crlMalformed("bad GeneralName tag %d", n)
		}
		value := []byte(v)
		if n == crlGNDirectory {
			// [4] EXPLICIT Name: exactly one RDNSequence.
			var name cryptobyte.String
			if !v.ReadASN1Element(&name, cbasn1.SEQUENCE) || !v.Empty() {
				return nil, crlMalformed("bad directoryName")
			}
			value = name
		}
		names = append(names, crlGeneralName{tag: n, value: value})
	}
	return names, nil
}

// parseReasonFlags parses the contents of an IMPLICIT ReasonFlags BIT
// STRING. Bits beyond aACompromise are ignored.
func parseReasonFlags(v []byte) (reasonMask, error) {
	if len(v) == 0 || v[0] > 7 || (len(v) == 1 && v[0] != 0) {
		return 0, crlMalformed("bad ReasonFlags")
	}
	nbits := (len(v)-1)*8 - int(v[0])
	var m reasonMask
	for i := 1; i < nbits && i <= 8; i++ {
		if v[1+i/8]&(0x80>>(i%8)) != 0 {
			m |= 1 << i
		}
	}
	return m, nil
}

// appendRDN returns the DER Name made of name followed by one more RDN
// (a DER SET), as nameRelativeToCRLIssuer asks (RFC 5280 4.2.1.13).
func appendRDN(name, rdn []byte) ([]byte, bool) {
	in := cryptobyte.String(name)
	var rdns cryptobyte.String
	if !in.ReadASN1(&rdns, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, false
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(rdns)
		b.AddBytes(rdn)
	})
	out, err := b.Bytes()
	return out, err == nil
}

// expand returns the names a DistributionPointName stands for: its
// fullName, or nameRelativeToCRLIssuer appended to each of bases (DER
// Names).
func (n distPointName) expand(bases [][]byte) []crlGeneralName {
	if n.relative == nil {
		return n.full
	}
	var out []crlGeneralName
	for _, base := range bases {
		if full, ok := appendRDN(base, n.relative); ok {
			out = append(out, directoryName(full))
		}
	}
	return out
}

// directoryNames returns the DER Names among names.
func directoryNames(names []crlGeneralName) [][]byte {
	var out [][]byte
	for _, n := range names {
		if n.tag == crlGNDirectory {
			out = append(out, n.value)
		}
	}
	return out
}

// certExtension returns the value of cert's extension id, if present.
func certExtension(cert *x509.Certificate, id asn1.ObjectIdentifier) ([]byte, bool) {
	for _, ext := range cert.Extensions {
		if ext.Id.Equal(id) {
			return ext.Value, true
		}
	}
	return nil, false
}

// certDistPoints returns cert's CRL distribution points (none when the
// extension is absent).
func certDistPoints(cert *x509.Certificate) ([]distPoint, error) {
	v, ok := certExtension(cert, crlOIDDistPoints)
	if !ok {
		return nil, nil
	}
	return parseDistPoints(v)
}

// certIssuerNames returns the names of cert's issuer: its issuer DN and,
// when present and well formed, its issuerAltName extension (RFC 5280
// 6.3.3, last paragraph).
func certIssuerNames(cert *x509.Certificate) []crlGeneralName {
	names := []crlGeneralName{directoryName(cert.RawIssuer)}
	if v, ok := certExtension(cert, crlOIDIssuerAltName); ok {
		if alt, err := parseGeneralNamesExt(v); err == nil {
			names = append(names, alt...)
		}
	}
	return names
}
