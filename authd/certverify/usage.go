package certverify

import (
	"crypto/x509"
	"encoding/asn1"
	"strings"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

var (
	oidExtExtKeyUsage = asn1.ObjectIdentifier{2, 5, 29, 37}
	// OIDAnyExtKeyUsage is anyExtendedKeyUsage (2.5.29.37.0).
	OIDAnyExtKeyUsage = mustOID("2.5.29.37.0")
	// OIDClientAuth is id-kp-clientAuth (1.3.6.1.5.5.7.3.2).
	OIDClientAuth = mustOID("1.3.6.1.5.5.7.3.2")
)

func mustOID(s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// extKeyUsages returns the OIDs in c's extended key usage extension
// exactly as encoded, and whether the extension is present.
func extKeyUsages(c *x509.Certificate) ([]x509.OID, bool) {
	for _, e := range c.Extensions {
		if !e.Id.Equal(oidExtExtKeyUsage) {
			continue
		}
		var out []x509.OID
		in := cryptobyte.String(e.Value)
		var seq cryptobyte.String
		if !in.ReadASN1(&seq, cbasn1.SEQUENCE) {
			return nil, true
		}
		for !seq.Empty() {
			var raw cryptobyte.String
			if !seq.ReadASN1(&raw, cbasn1.OBJECT_IDENTIFIER) {
				return out, true
			}
			var o x509.OID
			if o.UnmarshalBinary(raw) == nil {
				out = append(out, o)
			}
		}
		return out, true
	}
	return nil, false
}

// hasEKU reports whether the leaf's extended key usage allows want: the
// extension lists want or anyExtendedKeyUsage. A leaf without the extension
// does not satisfy a deployment that requires a purpose.
func hasEKU(c *x509.Certificate, want x509.OID) bool {
	ekus, _ := extKeyUsages(c)
	for _, o := range ekus {
		if o.Equal(want) || o.Equal(OIDAnyExtKeyUsage) {
			return true
		}
	}
	return false
}

var keyUsageNames = []struct {
	bit  x509.KeyUsage
	name string
}{
	{x509.KeyUsageDigitalSignature, "digitalSignature"},
	{x509.KeyUsageContentCommitment, "nonRepudiation"},
	{x509.KeyUsageKeyEncipherment, "keyEncipherment"},
	{x509.KeyUsageDataEncipherment, "dataEncipherment"},
	{x509.KeyUsageKeyAgreement, "keyAgreement"},
	{x509.KeyUsageCertSign, "keyCertSign"},
	{x509.KeyUsageCRLSign, "cRLSign"},
	{x509.KeyUsageEncipherOnly, "encipherOnly"},
	{x509.KeyUsageDecipherOnly, "decipherOnly"},
}

func keyUsageString(ku x509.KeyUsage) string {
	var parts []string
	for _, n := range keyUsageNames {
		if ku&n.bit != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, ",")
}

// ParseKeyUsage turns RFC 5280 key usage names (as printed by
// keyUsageString, comma-separated in configuration) into bits.
func ParseKeyUsage(names []string) (x509.KeyUsage, bool) {
	var ku x509.KeyUsage
	for _, s := range names {
		found := false
		for _, n := range keyUsageNames {
			if strings.EqualFold(n.name, s) {
				ku |= n.bit
				found = true
			}
		}
		if !found {
			return 0, false
		}
	}
	return ku, true
}

var crlReasons = []string{
	0: "unspecified", 1: "keyCompromise", 2: "cACompromise", 3: "affiliationChanged",
	4: "superseded", 5: "cessationOfOperation", 6: "certificateHold", 8: "removeFromCRL",
	9: "privilegeWithdrawn", 10: "aACompromise",
}

func crlReasonString(r int) string {
	if r >= 0 && r < len(crlReasons) && crlReasons[r] != "" {
		return crlReasons[r]
	}
	return "unspecified"
}
