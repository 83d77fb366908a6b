package caserve

import (
	"crypto"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// OCSP requests (RFC 6960 section 4.1). golang.org/x/crypto/ocsp parses
// requests without their extensions, so the nonce would be lost; this
// parser keeps the CertID as sent (the response repeats it) and the
// nonce's extnValue (echoed as is).

// ErrMalformedRequest: the body is not an OCSP request this responder
// answers. The responder sends malformedRequest.
var ErrMalformedRequest = errors.New("malformed OCSP request")

// Limits on what a request may carry.
const (
	maxRequestBytes = 8 << 10
	maxNonceValue   = 66 // extnValue: OCTET STRING header + up to 64 octets (RFC 8954 asks for at most 32)
)

var (
	oidNonce  = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidSHA1   = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512 = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// OCSPRequest is the one certificate an OCSP request asks about.
type OCSPRequest struct {
	HashAlg        crypto.Hash // of IssuerNameHash and IssuerKeyHash
	IssuerNameHash []byte
	IssuerKeyHash  []byte
	Serial         *big.Int
	// CertID is the DER of the request's CertID, repeated in the answer.
	CertID []byte
	// Nonce is the extnValue of the nonce extension (the DER of the
	// Nonce OCTET STRING), nil when the request has none.
	Nonce []byte
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformedRequest, fmt.Sprintf(format, args...))
}

// ParseOCSPRequest parses a DER OCSPRequest asking about exactly one
// certificate. A signature on the request is skipped (requests need not
// be signed); an unknown critical extension, trailing data, a version
// other than v1 or more than one certificate are ErrMalformedRequest.
func ParseOCSPRequest(der []byte) (*OCSPRequest, error) {
	if len(der) > maxRequestBytes {
		return nil, malformed("larger than %d bytes", maxRequestBytes)
	}
	input := cryptobyte.String(der)
	var req, tbs cryptobyte.String
	if !input.ReadASN1(&req, cbasn1.SEQUENCE) || !input.Empty() {
		return nil, malformed("not a DER SEQUENCE")
	}
	if !req.ReadASN1(&tbs, cbasn1.SEQUENCE) {
		return nil, malformed("no tbsRequest")
	}
	if !req.Empty() {
		var sig cryptobyte.String
		if !req.ReadASN1(&sig, cbasn1.Tag(0).Constructed().ContextSpecific()) || !req.Empty() {
			return nil, malformed("data after tbsRequest")
		}
	}
	if tbs.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		var v cryptobyte.String
		var version int64
		if !tbs.ReadASN1(&v, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
			!v.ReadASN1Integer(&version) || !v.Empty() || version != 0 {
			return nil, malformed("version is not v1")
		}
	}
	if tbs.PeekASN1Tag(cbasn1.Tag(1).Constructed().ContextSpecific()) {
		if !tbs.SkipASN1(cbasn1.Tag(1).Constructed().ContextSpecific()) {
			return nil, malformed("bad requestorName")
		}
	}
	var list, one cryptobyte.String
	if !tbs.ReadASN1(&list, cbasn1.SEQUENCE) || !list.ReadASN1(&one, cbasn1.SEQUENCE) {
		return nil, malformed("no request in requestList")
	}
	if !list.Empty() {
		return nil, malformed("more than one certificate in one request")
	}
	out := &OCSPRequest{}
	var certID cryptobyte.String
	if !one.ReadASN1Element(&certID, cbasn1.SEQUENCE) {
		return nil, malformed("no CertID")
	}
	out.CertID = append([]byte(nil), certID...)
	if err := out.parseCertID(certID); err != nil {
		return nil, err
	}
	if one.PeekASN1Tag(cbasn1.Tag(0).Constructed().ContextSpecific()) {
		var exts cryptobyte.String
		if !one.ReadASN1(&exts, cbasn1.Tag(0).Constructed().ContextSpecific()) {
			return nil, malformed("bad singleRequestExtensions")
		}
		if err := out.parseExtensions(exts); err != nil {
			return nil, err
		}
	}
	if !one.Empty() {
		return nil, malformed("data after the Request")
	}
	if tbs.PeekASN1Tag(cbasn1.Tag(2).Constructed().ContextSpecific()) {
		var exts cryptobyte.String
		if !tbs.ReadASN1(&exts, cbasn1.Tag(2).Constructed().ContextSpecific()) {
			return nil, malformed("bad requestExtensions")
		}
		if err := out.parseExtensions(exts); err != nil {
			return nil, err
		}
	}
	if !tbs.Empty() {
		return nil, malformed("data after requestExtensions")
	}
	return out, nil
}

// parseCertID reads CertID ::= SEQUENCE { hashAlgorithm, issuerNameHash,
// issuerKeyHash, serialNumber }.
func (r *OCSPRequest) parseCertID(certID cryptobyte.String) error {
	var id, alg cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !certID.ReadASN1(&id, cbasn1.SEQUENCE) || !id.ReadASN1(&alg, cbasn1.SEQUENCE) || !alg.ReadASN1ObjectIdentifier(&oid) {
		return malformed("bad CertID hashAlgorithm")
	}
	if !alg.Empty() && !(alg.PeekASN1Tag(cbasn1.NULL) && alg.SkipASN1(cbasn1.NULL) && alg.Empty()) {
		return malformed("hashAlgorithm parameters are not NULL")
	}
	switch {
	case oid.Equal(oidSHA1):
		r.HashAlg = crypto.SHA1
	case oid.Equal(oidSHA256):
		r.HashAlg = crypto.SHA256
	case oid.Equal(oidSHA384):
		r.HashAlg = crypto.SHA384
	case oid.Equal(oidSHA512):
		r.HashAlg = crypto.SHA512
	default:
		return malformed("hash algorithm %v is not supported", oid)
	}
	var name, key cryptobyte.String
	r.Serial = new(big.Int)
	if !id.ReadASN1(&name, cbasn1.OCTET_STRING) || !id.ReadASN1(&key, cbasn1.OCTET_STRING) ||
		!id.ReadASN1Integer(r.Serial) || !id.Empty() {
		return malformed("bad CertID")
	}
	if len(name) != r.HashAlg.Size() || len(key) != r.HashAlg.Size() {
		return malformed("issuer hashes are not %v digests", r.HashAlg)
	}
	r.IssuerNameHash, r.IssuerKeyHash = append([]byte(nil), name...), append([]byte(nil), key...)
	return nil
}

// parseExtensions reads Extensions, keeping the nonce and refusing an
// unknown critical extension or a repeated nonce.
func (r *OCSPRequest) parseExtensions(exts cryptobyte.String) error {
	var seq cryptobyte.String
	if !exts.ReadASN1(&seq, cbasn1.SEQUENCE) || !exts.Empty() {
		return malformed("bad Extensions")
	}
	for !seq.Empty() {
		var ext, value cryptobyte.String
		var oid asn1.ObjectIdentifier
		critical := false
		if !seq.ReadASN1(&ext, cbasn1.SEQUENCE) || !ext.ReadASN1ObjectIdentifier(&oid) ||
			!ext.ReadOptionalASN1Boolean(&critical, cbasn1.BOOLEAN, false) ||
			!ext.ReadASN1(&value, cbasn1.OCTET_STRING) || !ext.Empty() {
			return malformed("bad Extension")
		}
		switch {
		case oid.Equal(oidNonce):
			if r.Nonce != nil {
				return malformed("two nonces")
			}
			var inner cryptobyte.String
			v := value
			if len(value) == 0 || len(value) > maxNonceValue || !v.ReadASN1(&inner, cbasn1.OCTET_STRING) || !v.Empty() || len(inner) == 0 {
				return malformed("nonce is not an OCTET STRING of 1 to %d octets", maxNonceValue-2)
			}
			r.Nonce = append([]byte(nil), value...)
		case critical:
			return malformed("unsupported critical extension %v", oid)
		}
	}
	return nil
}
