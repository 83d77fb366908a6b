package certverify

import (
	"crypto/dsa" //nolint:staticcheck // DSA keys are parsed for RFC 5280 conformance; nothing here signs with them.
	"crypto/x509"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// oidDistPointsDER is the DER content of 2.5.29.31 (cRLDistributionPoints).
const oidDistPointsDER = "\x55\x1d\x1f"

// parseCertificate is x509.ParseCertificate plus encodings RFC 5280
// allows and crypto/x509 refuses:
//
//   - a cRLDistributionPoints extension whose distribution point is a
//     nameRelativeToCRLIssuer (4.2.1.13): the certificate is parsed with
//     that extension's value blanked, and then given back the extension's
//     value (which this package's CRL code reads) and the distribution
//     points' URIs;
//   - a DSA key whose parameters are inherited from the issuer's key
//     (RFC 3279 2.3.2, RFC 5280 6.1.4 (e)): the certificate is parsed with
//     placeholder parameters, and then given a *dsa.PublicKey with only Y
//     set, which the path completes (dsaparams.go).
//
// Either way Raw, RawTBSCertificate and RawSubjectPublicKeyInfo are the
// original bytes, so signatures are checked over what was signed.
func parseCertificate(der []byte) (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return c, nil
	}
	tbs, sigAlg, sig, ok := splitCertificate(der)
	if !ok {
		return nil, err
	}
	newTBS, dpValue := blankRelativeDistPoints(tbs)
	newTBS, spki := withDSAPlaceholder(newTBS)
	if dpValue == nil && spki == nil {
		return nil, err
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(newTBS)
		b.AddBytes(sigAlg)
		b.AddBytes(sig)
	})
	rewritten, berr := b.Bytes()
	if berr != nil {
		return nil, err
	}
	c, err2 := x509.ParseCertificate(rewritten)
	if err2 != nil {
		return nil, err // the original complaint is the useful one
	}
	c.Raw, c.RawTBSCertificate = der, tbs
	if spki != nil {
		k, ok := c.PublicKey.(*dsa.PublicKey)
		if !ok {
			return nil, err
		}
		c.RawSubjectPublicKeyInfo = spki
		c.PublicKey = &dsa.PublicKey{Y: k.Y}
	}
	if dpValue != nil && !restoreDistPoints(c, dpValue) {
		return nil, err
	}
	return c, nil
}

// restoreDistPoints gives c back the cRLDistributionPoints extension value
// orig that was blanked for parsing, and the URIs of its distribution
// points.
func restoreDistPoints(c *x509.Certificate, orig []byte) bool {
	for i := range c.Extensions {
		if c.Extensions[i].Id.Equal(crlOIDDistPoints) {
			c.Extensions[i].Value = orig
		}
	}
	dps, err := parseDistPoints(orig)
	if err != nil {
		return false
	}
	c.CRLDistributionPoints = nil
	for _, dp := range dps {
		for _, n := range dp.name.full {
			if n.tag == crlGNURI {
				c.CRLDistributionPoints = append(c.CRLDistributionPoints, string(n.value))
			}
		}
	}
	return true
}

// splitCertificate returns the three elements of a DER Certificate.
func splitCertificate(der []byte) (tbs, sigAlg, sig []byte, ok bool) {
	in := cryptobyte.String(der)
	var cert, tbsElem, algElem, sigElem cryptobyte.String
	if !in.ReadASN1(&cert, cbasn1.SEQUENCE) || !in.Empty() ||
		!cert.ReadASN1Element(&tbsElem, cbasn1.SEQUENCE) ||
		!cert.ReadASN1Element(&algElem, cbasn1.SEQUENCE) ||
		!cert.ReadASN1Element(&sigElem, cbasn1.BIT_STRING) || !cert.Empty() {
		return nil, nil, nil, false
	}
	return tbsElem, algElem, sigElem, true
}

// blankRelativeDistPoints returns tbs (a DER TBSCertificate) with the
// value of a cRLDistributionPoints extension that uses
// nameRelativeToCRLIssuer replaced by an empty SEQUENCE, and the original
// value. It returns tbs and nil when there is no such extension.
func blankRelativeDistPoints(tbs []byte) (out, orig []byte) {
	newTBS, ok := rewriteExtension(tbs, oidDistPointsDER, func(value []byte) []byte {
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
		return tbs, nil
	}
	return newTBS, orig
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
