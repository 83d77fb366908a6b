package certverify

import (
	"crypto/dsa" //nolint:staticcheck // DSA is verified only for RFC 5280 conformance; nothing here signs with it.
	"crypto/x509"
	"errors"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// DSA parameter inheritance (RFC 3279 2.3.2; RFC 5280 6.1.4 (e), (f)): a
// DSA subjectPublicKeyInfo whose AlgorithmIdentifier has no parameters
// (absent, or NULL, which RFC 5280 treats alike) uses the p, q and g of
// its issuer's DSA key, which may have inherited them in turn. Such a
// key's parameters depend on the path, not on the certificate:
//
//   - parseCertificate gives the certificate a *dsa.PublicKey with only Y
//     set (dsaInherits); checkSignature refuses to verify with it.
//   - The path builder cannot check a signature made with such a key. It
//     accepts the candidate, and resolveDSAParams checks the signature
//     once the path is known, with the parameters the path supplies.
//   - resolveDSAParams returns the path with copies of those certificates
//     whose keys carry the path's parameters, for the revocation checks
//     and the caller.
//   - sigCache never remembers a check made with such a key, completed or
//     not: its keys are the certificates, and the parameters are not in
//     them.

// oidDSADER is the DER content of id-dsa, 1.2.840.10040.4.1.
const oidDSADER = "\x2a\x86\x48\xce\x38\x04\x01"

// placeholderDSAParams is Dss-Parms {p 1, q 1, g 1}, which crypto/x509
// accepts: it is what a key with inherited parameters is parsed with. It
// never reaches a *dsa.PublicKey this package verifies with.
var placeholderDSAParams = []byte{0x30, 0x09, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}

var errDSAParamsUnknown = errors.New("DSA key inherits its parameters from its issuer, and none were supplied")

// dsaInherits reports whether pub is a DSA key whose parameters are
// inherited and not (yet) supplied by a path.
func dsaInherits(pub any) bool {
	k, ok := pub.(*dsa.PublicKey)
	return ok && (k.P == nil || k.Q == nil || k.G == nil)
}

// inheritsDSAParams reports whether c's key is a DSA key whose parameters
// come from the path rather than from c, whether or not a path has
// supplied them.
func inheritsDSAParams(c *x509.Certificate) bool {
	k, ok := c.PublicKey.(*dsa.PublicKey)
	if !ok {
		return false
	}
	if k.P == nil {
		return true
	}
	_, ok = dsaKeyWithoutParams(c.RawSubjectPublicKeyInfo)
	return ok
}

// dsaKeyWithoutParams reports whether spki (DER) is an id-dsa
// SubjectPublicKeyInfo whose AlgorithmIdentifier has absent or NULL
// parameters, and returns its subjectPublicKey BIT STRING element.
func dsaKeyWithoutParams(spki []byte) (key []byte, ok bool) {
	in := cryptobyte.String(spki)
	var body, algo, oid, bits cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !in.Empty() ||
		!body.ReadASN1(&algo, cbasn1.SEQUENCE) ||
		!body.ReadASN1Element(&bits, cbasn1.BIT_STRING) || !body.Empty() ||
		!algo.ReadASN1(&oid, cbasn1.OBJECT_IDENTIFIER) || string(oid) != oidDSADER {
		return nil, false
	}
	if !algo.Empty() {
		var null cryptobyte.String
		if !algo.ReadASN1(&null, cbasn1.NULL) || !null.Empty() || !algo.Empty() {
			return nil, false
		}
	}
	return bits, true
}

// withDSAPlaceholder returns tbs (a DER TBSCertificate) with
// placeholderDSAParams in its subjectPublicKeyInfo, and the original
// subjectPublicKeyInfo, when that is a DSA key without parameters. It
// returns tbs and nil otherwise.
func withDSAPlaceholder(tbs []byte) (out, spki []byte) {
	in := cryptobyte.String(tbs)
	var body cryptobyte.String
	if !in.ReadASN1(&body, cbasn1.SEQUENCE) || !in.Empty() {
		return tbs, nil
	}
	rest := body
	if !rest.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) { // version
		return tbs, nil
	}
	for range 5 { // serialNumber, signature, issuer, validity, subject
		var skip cryptobyte.String
		var tag cbasn1.Tag
		if !rest.ReadAnyASN1Element(&skip, &tag) {
			return tbs, nil
		}
	}
	head := body[:len(body)-len(rest)]
	var elem cryptobyte.String
	if !rest.ReadASN1Element(&elem, cbasn1.SEQUENCE) {
		return tbs, nil
	}
	key, ok := dsaKeyWithoutParams(elem)
	if !ok {
		return tbs, nil
	}
	b := cryptobyte.NewBuilder(nil)
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(head)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.OBJECT_IDENTIFIER, func(b *cryptobyte.Builder) { b.AddBytes([]byte(oidDSADER)) })
				b.AddBytes(placeholderDSAParams)
			})
			b.AddBytes(key)
		})
		b.AddBytes(rest)
	})
	out, err := b.Bytes()
	if err != nil {
		return tbs, nil
	}
	return out, elem
}

// resolveDSAParams applies RFC 5280 6.1.4 (d)-(f) to DSA parameters along
// p, from the anchor to the leaf, and checks the signatures that the path
// builder could not (6.1.3 (a)(1)): those made with a key that inherits
// its parameters. It refuses a certificate whose key inherits parameters
// when its issuer's key is not a DSA key with parameters. It returns p
// unchanged when no key inherits, and otherwise a copy of p whose
// certificates carry the completed keys.
func resolveDSAParams(p certPath) (certPath, error) {
	var params *dsa.Parameters // working_public_key_parameters, when the working key is DSA
	if k, ok := p.anchor.PublicKey.(*dsa.PublicKey); ok && !dsaInherits(k) {
		params = &k.Parameters
	}
	issuer := p.anchor // with its key completed
	var certs []*x509.Certificate
	for i := 1; i <= p.n(); i++ {
		c := p.at(i)
		depth := p.n() - i
		if dsaInherits(p.issuerOf(depth).PublicKey) {
			if err := checkCertSignature(issuer, c); err != nil {
				return p, newError(ReasonUntrusted, depth, err, "signature of %q by %q does not verify",
					describeName(c.RawSubject), describeName(issuer.RawSubject))
			}
		}
		k, isDSA := c.PublicKey.(*dsa.PublicKey)
		switch {
		case !isDSA:
			params = nil
		case !dsaInherits(k):
			params = &k.Parameters
		case params == nil:
			return p, newError(ReasonUntrusted, depth, nil,
				"certificate %q has a DSA key without parameters, and its issuer's key has none to inherit",
				describeName(c.RawSubject))
		default:
			completed := *c
			completed.PublicKey = &dsa.PublicKey{Parameters: *params, Y: k.Y}
			if certs == nil {
				certs = slices.Clone(p.certs)
			}
			certs[depth] = &completed
			c = &completed
		}
		issuer = c
	}
	if certs != nil {
		p.certs = certs
	}
	return p, nil
}
