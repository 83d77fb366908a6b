package certverify

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Name constraints, RFC 5280 sections 4.2.1.10, 6.1.3 (b)(c) and 6.1.4 (g).
//
// Name forms evaluated: directoryName, rfc822Name, dNSName,
// uniformResourceIdentifier and iPAddress. Constraints on otherName,
// x400Address, ediPartyName and registeredID are accepted when parsing
// but refuse any certificate that carries a name of that form (RFC 5280
// 4.2.1.10: "MUST either process the constraint or reject the
// certificate"). Likewise a name of a constrained form that cannot be
// evaluated (a malformed dNSName, a URI without a host, ...) is refused.

// OIDs used here. (validate.go has its own copies for the
// unhandled-critical-extension check; these are kept separate so that the
// two files do not depend on each other's names.)
var (
	ncOIDSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
	ncOIDNameConstraints = asn1.ObjectIdentifier{2, 5, 29, 30}
)

// errNameConstraintsNotCritical is returned by certNameConstraints for a
// non-critical NameConstraints extension. RFC 5280 4.2.1.10 requires it to
// be critical and x509-limbo's rfc5280 profile refuses such a chain; the
// CA/Browser Forum baseline requirements allow it. A caller that wants
// the CABF behaviour can match this error and re-parse with
// parseNameConstraints.
var errNameConstraintsNotCritical = errors.New("name constraints extension is not critical (RFC 5280 4.2.1.10)")

// oidEmailAddressDER is the DER content of 1.2.840.113549.1.9.1
// (PKCS #9 emailAddress).
const oidEmailAddressDER = "\x2a\x86\x48\x86\xf7\x0d\x01\x09\x01"

// ncSubtree is one GeneralSubtree, reduced to what matching needs.
type ncSubtree struct {
	kind gnKind
	// text is the lower-cased dNSName or URI constraint, or for rfc822Name
	// the lower-cased host (or ".domain") part: "" matches every name.
	text    string
	local   string // rfc822Name mailbox constraint: its local part
	mailbox bool   // rfc822Name constraint names one mailbox
	ip      netip.Prefix
	dn      []dnRDN
	rawDN   []byte // directoryName: DER, for messages
}

func (st ncSubtree) String() string {
	switch st.kind {
	case gnRFC822Name:
		if st.mailbox {
			return fmt.Sprintf("%q", st.local+"@"+st.text)
		}
		return fmt.Sprintf("%q", st.text)
	case gnDNSName, gnURI:
		return fmt.Sprintf("%q", st.text)
	case gnIPAddress:
		return st.ip.String()
	case gnDirectoryName:
		return fmt.Sprintf("%q", describeName(st.rawDN))
	}
	return st.kind.String()
}

// nameConstraints is a parsed NameConstraints extension (OID 2.5.29.30).
type nameConstraints struct {
	permitted []ncSubtree
	excluded  []ncSubtree
}

// certNameConstraints returns the parsed name constraints of c, nil if it
// has none, or an error if the extension is malformed: not DER, an empty
// NameConstraints or GeneralSubtrees, minimum other than 0 or maximum
// present, a constraint that is not a valid name of its form, an IP mask
// that is not a prefix. It is also an error for the extension to be
// non-critical or to appear in a certificate that is not a CA (RFC 5280
// 4.2.1.10 profiles it as critical and CA-only), or to appear twice.
func certNameConstraints(c *x509.Certificate) (*nameConstraints, error) {
	var value []byte
	found, critical := false, false
	for _, e := range c.Extensions {
		if !e.Id.Equal(ncOIDNameConstraints) {
			continue
		}
		if found {
			return nil, errors.New("duplicate name constraints extension")
		}
		found, value = true, e.Value
		critical = e.Critical
	}
	if !found {
		return nil, nil
	}
	if !critical {
		return nil, errNameConstraintsNotCritical
	}
	if !c.BasicConstraintsValid || !c.IsCA {
		return nil, errors.New("name constraints extension in a certificate that is not a CA")
	}
	return parseNameConstraints(value)
}

// parseNameConstraints parses the DER value of a NameConstraints extension.
func parseNameConstraints(der []byte) (*nameConstraints, error) {
	input := cryptobyte.String(der)
	var seq, permitted, excluded cryptobyte.String
	var hasPermitted, hasExcluded bool
	if !input.ReadASN1(&seq, cbasn1.SEQUENCE) || !input.Empty() ||
		!seq.ReadOptionalASN1(&permitted, &hasPermitted, cbasn1.Tag(0).ContextSpecific().Constructed()) ||
		!seq.ReadOptionalASN1(&excluded, &hasExcluded, cbasn1.Tag(1).ContextSpecific().Constructed()) ||
		!seq.Empty() {
		return nil, errors.New("malformed name constraints")
	}
	if !hasPermitted && !hasExcluded {
		return nil, errors.New("empty name constraints")
	}
	var nc nameConstraints
	var err error
	if hasPermitted {
		if nc.permitted, err = parseGeneralSubtrees(permitted); err != nil {
			return nil, fmt.Errorf("permittedSubtrees: %w", err)
		}
	}
	if hasExcluded {
		if nc.excluded, err = parseGeneralSubtrees(excluded); err != nil {
			return nil, fmt.Errorf("excludedSubtrees: %w", err)
		}
	}
	return &nc, nil
}

// parseGeneralSubtrees parses the content of GeneralSubtrees, a
// SEQUENCE SIZE (1..MAX) OF GeneralSubtree.
func parseGeneralSubtrees(s cryptobyte.String) ([]ncSubtree, error) {
	if s.Empty() {
		return nil, errors.New("empty GeneralSubtrees")
	}
	var out []ncSubtree
	for !s.Empty() {
		var sub, minimum, maximum cryptobyte.String
		var hasMin, hasMax bool
		if !s.ReadASN1(&sub, cbasn1.SEQUENCE) {
			return nil, errors.New("malformed GeneralSubtree")
		}
		kind, value, err := readGeneralName(&sub)
		if err != nil {
			return nil, err
		}
		if !sub.ReadOptionalASN1(&minimum, &hasMin, cbasn1.Tag(0).ContextSpecific()) {
			return nil, errors.New("malformed GeneralSubtree minimum")
		}
		if hasMin && string(minimum) != "\x00" {
			return nil, errors.New("GeneralSubtree minimum is not 0")
		}
		if !sub.ReadOptionalASN1(&maximum, &hasMax, cbasn1.Tag(1).ContextSpecific()) || hasMax {
			return nil, errors.New("GeneralSubtree maximum is present")
		}
		if !sub.Empty() {
			return nil, errors.New("malformed GeneralSubtree")
		}
		st, err := newSubtree(kind, value)
		if err != nil {
			return nil, fmt.Errorf("%s constraint: %w", kind, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// newSubtree validates the base of a GeneralSubtree of the given form.
func newSubtree(kind gnKind, v []byte) (ncSubtree, error) {
	st := ncSubtree{kind: kind}
	switch kind {
	case gnDNSName:
		// RFC 5280 4.2.1.10: a host name; labels may be added on the left.
		// Neither a leading period nor a wildcard is part of that syntax.
		if !isIA5(v) || (len(v) > 0 && !validHostname(string(v), false)) {
			return st, fmt.Errorf("invalid dNSName %q", v)
		}
		st.text = strings.ToLower(string(v))
	case gnRFC822Name:
		s := string(v)
		switch {
		case !isIA5(v):
			return st, fmt.Errorf("invalid rfc822Name %q", v)
		case strings.Contains(s, "@"):
			local, domain, ok := parseMailbox(s)
			if !ok {
				return st, fmt.Errorf("invalid mailbox %q", s)
			}
			st.mailbox, st.local, st.text = true, local, domain
		case s == "" || validHostname(strings.TrimPrefix(s, "."), false):
			st.text = strings.ToLower(s)
		default:
			return st, fmt.Errorf("invalid rfc822Name %q", s)
		}
	case gnURI:
		// A host ("host.example.com") or a domain (".example.com").
		s := string(v)
		if !isIA5(v) || (s != "" && !validHostname(strings.TrimPrefix(s, "."), false)) {
			return st, fmt.Errorf("invalid uniformResourceIdentifier %q", v)
		}
		st.text = strings.ToLower(s)
	case gnIPAddress:
		p, ok := ipConstraint(v)
		if !ok {
			return st, fmt.Errorf("invalid iPAddress %x (want address and prefix mask)", v)
		}
		st.ip = p
	case gnDirectoryName:
		st.dn, _ = parseDN(v) // validated by readGeneralName
		st.rawDN = v
	}
	return st, nil
}

// ipConstraint parses an iPAddress constraint: an IPv4 or IPv6 address
// followed by a mask of the same length whose one bits are contiguous.
func ipConstraint(v []byte) (netip.Prefix, bool) {
	if len(v) != 8 && len(v) != 32 {
		return netip.Prefix{}, false
	}
	addr, mask := v[:len(v)/2], v[len(v)/2:]
	ones, zeroSeen := 0, false
	for _, m := range mask {
		for bit := 7; bit >= 0; bit-- {
			switch {
			case m&(1<<bit) == 0:
				zeroSeen = true
			case zeroSeen:
				return netip.Prefix{}, false
			default:
				ones++
			}
		}
	}
	a, _ := netip.AddrFromSlice(addr)
	return netip.PrefixFrom(a, ones).Masked(), true
}

// ncName is a name of a certificate, prepared for matching. When err is
// set the name could not be interpreted as its form: it is refused by any
// constraint on that form and ignored otherwise.
type ncName struct {
	kind gnKind
	desc string // for error messages
	err  error

	dn        []dnRDN    // directoryName (subject or SAN)
	local     string     // rfc822Name local part
	host      string     // lower-cased rfc822Name domain, dNSName or URI host
	foldLocal bool       // local part from subject emailAddress: case-insensitive
	ip        netip.Addr // iPAddress
}

// newNCName prepares one subjectAltName entry.
func newNCName(kind gnKind, v []byte) ncName {
	n := ncName{kind: kind, desc: fmt.Sprintf("%s %q", kind, v)}
	switch kind {
	case gnDirectoryName:
		n.desc = fmt.Sprintf("directoryName subjectAltName %q", describeName(v))
		n.dn, _ = parseDN(v) // validated by readGeneralName
	case gnRFC822Name:
		var ok bool
		if n.local, n.host, ok = parseMailbox(string(v)); !ok || !isIA5(v) {
			n.err = fmt.Errorf("%s is not a valid mailbox", n.desc)
		}
	case gnDNSName:
		if !isIA5(v) || !validHostname(string(v), true) {
			n.err = fmt.Errorf("%s is not a valid host name", n.desc)
		}
		n.host = strings.ToLower(string(v))
	case gnURI:
		var err error
		if n.host, err = uriHost(string(v)); err != nil {
			n.err = fmt.Errorf("%s: %w", n.desc, err)
		}
	case gnIPAddress:
		n.desc = fmt.Sprintf("iPAddress %x", v)
		var ok bool
		if n.ip, ok = netip.AddrFromSlice(v); ok {
			n.desc = "iPAddress " + n.ip.String()
		} else {
			n.err = fmt.Errorf("%s is not an IPv4 or IPv6 address", n.desc)
		}
	default:
		n.desc = kind.String() + " subjectAltName"
	}
	return n
}

// matches reports whether name n lies within subtree st (of the same
// form). For excluded subtrees, a wildcard dNSName ("*.example.com") is
// treated as within the subtree when it could stand for a name that is.
func (st ncSubtree) matches(n ncName, excluded bool) (bool, error) {
	if n.err != nil {
		return false, n.err
	}
	switch st.kind {
	case gnDirectoryName:
		return dnRDNsWithin(n.dn, st.dn), nil
	case gnDNSName:
		if domainWithin(n.host, st.text) {
			return true, nil
		}
		if !excluded || !strings.HasPrefix(n.host, "*") {
			return false, nil
		}
		// "*.rest" stands for any "x.rest", so an excluded "x.rest"
		// overlaps it; a lone "*" stands for any one-label name.
		if n.host == "*" {
			return !strings.Contains(st.text, "."), nil
		}
		label, ok := strings.CutSuffix(st.text, strings.TrimPrefix(n.host, "*"))
		return ok && label != "" && !strings.Contains(label, "."), nil
	case gnRFC822Name:
		if st.mailbox {
			localOK := n.local == st.local || (n.foldLocal && strings.EqualFold(n.local, st.local))
			return localOK && n.host == st.text, nil
		}
		return hostOrDomainMatch(n.host, st.text), nil
	case gnURI:
		return hostOrDomainMatch(n.host, st.text), nil
	case gnIPAddress:
		if st.ip.Contains(n.ip) {
			return true, nil
		}
		// An IPv4-mapped IPv6 address is the IPv4 address to most stacks.
		return excluded && n.ip.Is4In6() && st.ip.Contains(n.ip.Unmap()), nil
	}
	return false, fmt.Errorf("%s name constraints are not supported and the certificate has a %s", st.kind, n.desc)
}

// domainWithin reports whether host is base or a subdomain of it
// (dNSName rule: labels may be added on the left). "" contains all.
func domainWithin(host, base string) bool {
	return base == "" || host == base || strings.HasSuffix(host, "."+base)
}

// hostOrDomainMatch applies the rfc822Name/URI host rule: ".example.com"
// matches proper subdomains only, "example.com" that host only, and ""
// every host.
func hostOrDomainMatch(host, constraint string) bool {
	if strings.HasPrefix(constraint, ".") {
		return strings.HasSuffix(host, constraint)
	}
	return constraint == "" || host == constraint
}

// nameConstraintState holds permitted_subtrees and excluded_subtrees while
// walking a path. The zero value means "no constraints yet" (permitted
// unbounded for every form, excluded empty). A copy of the value is
// independent of later add calls on the original.
// maxNameChecks bounds the name-against-subtree comparisons for one
// certificate, so that a hostile chain cannot make validation quadratic
// without limit; a certificate that needs more is refused (fail closed).
const maxNameChecks = 1 << 18

type nameConstraintState struct {
	// permitted holds the permittedSubtrees of each certificate that had
	// them: a name of form F must lie within one F-subtree of every entry
	// that has F-subtrees. That is the intersection of 6.1.4 (g).
	permitted [][]ncSubtree
	excluded  []ncSubtree // union of all excludedSubtrees
}

// add applies 6.1.4 (g): permitted subtrees are intersected with the
// state's, excluded ones are added to the union. A nil nc changes nothing.
func (s *nameConstraintState) add(nc *nameConstraints) {
	if nc == nil {
		return
	}
	if len(nc.permitted) > 0 {
		s.permitted = append(slices.Clip(s.permitted), nc.permitted)
	}
	if len(nc.excluded) > 0 {
		s.excluded = append(slices.Clip(s.excluded), nc.excluded...)
	}
}

// check applies 6.1.3 (b) and (c) to certificate c: its subject DN (when
// non-empty) and every subjectAltName entry must lie within the permitted
// subtrees of their form and outside the excluded ones. Email addresses in
// the subject DN (emailAddress attributes) are checked as rfc822Names when
// c has no rfc822Name subjectAltName (RFC 5280 4.2.1.10 requires it when c
// has no subjectAltName; see the comment in certNames). A name of a form
// that is constrained but cannot be evaluated refuses the certificate.
//
// check does not skip self-issued certificates; the caller exempts
// self-issued intermediates as 6.1.3 (b) says.
func (s *nameConstraintState) check(c *x509.Certificate) error {
	if len(s.permitted) == 0 && len(s.excluded) == 0 {
		return nil
	}
	names, err := certNames(c)
	if err != nil {
		return err
	}
	subtrees := len(s.excluded)
	for _, set := range s.permitted {
		subtrees += len(set)
	}
	if len(names)*subtrees > maxNameChecks {
		return fmt.Errorf("%d names against %d subtrees exceeds the limit of %d comparisons", len(names), subtrees, maxNameChecks)
	}
	for _, n := range names {
		if err := s.checkName(n); err != nil {
			return err
		}
	}
	return nil
}

// checkName checks one name against the excluded and permitted subtrees.
func (s *nameConstraintState) checkName(n ncName) error {
	for _, st := range s.excluded {
		if st.kind != n.kind {
			continue
		}
		in, err := st.matches(n, true)
		if err != nil {
			return err
		}
		if in {
			return fmt.Errorf("%s is within excluded subtree %s", n.desc, st)
		}
	}
	for _, set := range s.permitted {
		constrained, in := false, false
		for _, st := range set {
			if st.kind != n.kind {
				continue
			}
			constrained = true
			ok, err := st.matches(n, false)
			if err != nil {
				return err
			}
			if ok {
				in = true
				break
			}
		}
		if constrained && !in {
			return fmt.Errorf("%s is not within any permitted %s subtree", n.desc, n.kind)
		}
	}
	return nil
}

// certNames collects the names of c that name constraints apply to.
func certNames(c *x509.Certificate) ([]ncName, error) {
	var names []ncName
	hasRFC822 := false
	for _, e := range c.Extensions {
		if !e.Id.Equal(ncOIDSubjectAltName) {
			continue
		}
		sans, err := parseSANs(e.Value)
		if err != nil {
			return nil, fmt.Errorf("subjectAltName: %w", err)
		}
		for _, san := range sans {
			hasRFC822 = hasRFC822 || san.kind == gnRFC822Name
		}
		names = append(names, sans...)
	}
	if nameIsEmpty(c.RawSubject) {
		return names, nil
	}
	subject := ncName{kind: gnDirectoryName, desc: fmt.Sprintf("subject DN %q", describeName(c.RawSubject))}
	var ok bool
	if subject.dn, ok = parseDN(c.RawSubject); !ok {
		subject.err = errors.New("subject DN is malformed")
		return append(names, subject), nil
	}
	names = append(names, subject)
	// RFC 5280 4.2.1.10 applies rfc822Name constraints to emailAddress
	// attributes when the certificate has no subjectAltName. We also do so
	// when it has a subjectAltName without any rfc822Name, so that an
	// address in the subject is never left unconstrained.
	if hasRFC822 {
		return names, nil
	}
	for _, rdn := range subject.dn {
		for _, a := range rdn {
			if a.oid != oidEmailAddressDER {
				continue
			}
			n := ncName{kind: gnRFC822Name, desc: fmt.Sprintf("subject emailAddress %q", a.content), foldLocal: true}
			s, ok := decodeDirectoryString(a.tag, a.content)
			if ok {
				n.local, n.host, ok = parseMailbox(s)
			}
			if !ok {
				n.err = fmt.Errorf("%s is not a valid mailbox", n.desc)
			}
			names = append(names, n)
		}
	}
	return names, nil
}

// parseSANs parses a SubjectAltName extension value (GeneralNames, a
// SEQUENCE SIZE (1..MAX) OF GeneralName).
func parseSANs(der []byte) ([]ncName, error) {
	input := cryptobyte.String(der)
	var seq cryptobyte.String
	if !input.ReadASN1(&seq, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, errors.New("malformed GeneralNames")
	}
	if seq.Empty() {
		return nil, errors.New("empty GeneralNames")
	}
	var out []ncName
	for !seq.Empty() {
		kind, value, err := readGeneralName(&seq)
		if err != nil {
			return nil, err
		}
		out = append(out, newNCName(kind, value))
	}
	return out, nil
}
