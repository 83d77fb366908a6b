package certverify

import (
	"crypto/x509"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidDistPointsDER is the DER content of 2.5.29.31 (cRLDistributionPoints).
const oidDistPointsDER = "\x55\x1d\x1f"

// parseCertificate is x509.ParseCertificate plus one encoding RFC 5280
// allows and crypto/x509 refuses: a cRLDistributionPoints extension whose
// distribution point is a nameRelativeToCRLIssuer (4.2.1.13). Such a
// certificate is parsed with that extension's value blanked, and then
// given back what was blanked: Raw and RawTBSCertificate (so signatures are
// checked over what was signed), the extension's value (which this
// package's CRL code reads), and the distribution points' URIs.
func parseCertificate(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	rewritten, tbs, orig, ok := blankRelativeDistPoints(der)
	if !ok {
		return nil, err
	}
	c, err2 := x509.ParseCertificate(rewritten)
	if err2 != nil {
		return nil, err // the original complaint is the useful one
	}
	c.Raw, c.RawTBSCertificate = der, tbs
	for i := range c.Extensions {
		if c.Extensions[i].Id.Equal(crlOIDDistPoints) {
			c.Extensions[i].Value = orig
		}
	}
	dps, derr := parseDistPoints(orig)
	if derr != nil {
		return nil, err
	}
	c.CRLDistributionPoints = nil
	for _, dp := range dps {
		for _, n := range dp.name.full {
			if n.tag == crlGNURI {
				c.CRLDistributionPoints = append(c.CRLDistributionPoints, string(n.value))
			}
		}
	}
	return c, nil
}

// blankRelativeDistPoints returns der with the value of a
// cRLDistributionPoints extension that uses nameRelativeToCRLIssuer
// replaced by an empty SEQUENCE, the original TBSCertificate and the
// original extension value. ok is false when der has no such extension or
// is not shaped like a certificate.
func blankRelativeDistPoints(der []byte) (rewritten, tbs, orig []byte, ok bool) {
	in := cryptobyte.String(der)
	var cert, tbsElem, sigAlg, sig cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !in.Empty() ||
		!cert.ReadASN1Element(&tbsElem, cbasn1.SEQUENCE) ||
		!cert.ReadASN1Element(&sigAlg, cbasn1.SEQUENCE) ||
		!cert.ReadASN1Element(&sig, cbasn1.BIT_STRING) || !cert.Empty() {
		return nil, nil, nil, false
	}
	newTBS, ok := rewriteExtension(tbsElem, oidDistPointsDER, func(value []byte) []byte {
		dps, err := parseDistPoints(value)
		if err != nil {
			return value
		}
		for _, dp := range dps {
			if dp.name.relative != nil {
				orig = value
				return []byte{0x30, 0x00}
			}
		}
		return value
	})
	if !ok || orig == nil {
		return nil, nil, nil, false
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(newTBS)
		b.AddBytes(sigAlg)
		b.AddBytes(sig)
	})
	out, err := b.Bytes()
	if err != nil {
		return nil, nil, nil, false
	}
	return out, tbsElem, orig, true
}

// rewriteExtension re-encodes a DER TBSCertificate with the value of the
// extension whose OID has DER content oid passed through fn. Everything
// else is copied byte for byte.
func rewriteExtension(tbs []byte, oid string, fn func(value []byte) []byte) ([]byte, bool) {
	in := cryptobyte.String(tbs)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !in.Empty() {
		return nil, false
	}
	extsTag := cbasn1.Tag(3).Constructed().ContextSpecific()
	ok := true
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for !body.Empty() && ok {
			var elem cryptobyte.String
			var tag cbasn1.Tag
			if !body.ReadAnyASN1Element(&elem, &tag) {
				ok = false
				return
			}
			if tag != extsTag {
				b.AddBytes(elem)
				continue
			}
			var wrapper, seq cryptobyte.String
			if !elem.ReadASN1(&wrapper, extsTag) || !wrapper.ReadASN1(&seq, cbasn1.SEQUENCE) || !wrapper.Empty() {
				ok = false
				return
			}
			b.AddASN1(extsTag, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					for !seq.Empty() && ok {
						ok = rewriteOneExtension(b, &seq, oid, fn)
					}
				})
			})
		}
	})
	out, err := b.Bytes()
	return out, ok && err == nil
}

func rewriteOneExtension(b *cryptobyte.Builder, seq *cryptobyte.String, oid string, fn func([]byte) []byte) bool {
	var raw cryptobyte.String
	if !seq.ReadASN1Element(&raw, cbasn1.SEQUENCE) {
		return false
	}
	ext := raw
	var body, id cryptobyte.String
	if !ext.ReadASN1(&body, cbasn1.SEQUENCE) || !body.ReadASN1(&id, cbasn1.OBJECT_IDENTIFIER) {
		return false
	}
	if string(id) != oid {
		b.AddBytes(raw)
		return true
	}
	var critical cryptobyte.String
	hasCritical := body.PeekASN1Tag(cbasn1.BOOLEAN)
	if hasCritical && !body.ReadASN1Element(&critical, cbasn1.BOOLEAN) {
		return false
	}
	var value cryptobyte.String
	if !body.ReadASN1(&value, cbasn1.OCTET_STRING) || !body.Empty() {
		return false
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes(id) })
		if hasCritical {
			b.AddBytes(critical)
		}
		b.AddASN1OctetString(fn(value))
	})
	return true
}
