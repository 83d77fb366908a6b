package caserve

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// OCSP responses (RFC 6960 section 4.2), built here rather than with
// ocsp.CreateResponse, which puts extensions in the SingleResponse (the
// nonce belongs in responseExtensions), names the responder only by name
// and stamps producedAt from the wall clock. Clients parse them with
// golang.org/x/crypto/ocsp, as the tests do.

var (
	oidOCSPBasic       = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 1}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
)

// Responder signs OCSP responses: the CA itself, or a delegated responder
// whose certificate the CA issued with id-kp-OCSPSigning (RFC 6960
// 4.2.2.2), which is then sent with every response.
type Responder struct {
	Cert   *x509.Certificate
	Signer crypto.Signer
}

// certStatus is what one SingleResponse says.
type certStatus struct {
	status     int // ocsp.Good, ocsp.Revoked or ocsp.Unknown
	revokedAt  time.Time
	reason     int  // CRLReason
	hasReason  bool // revocationReason present
	thisUpdate time.Time
	nextUpdate time.Time // zero: none
}

// signatureAlgorithm picks the algorithm for the responder's key.
func signatureAlgorithm(pub crypto.PublicKey) (asn1.ObjectIdentifier, crypto.Hash, bool, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P384() {
			return oidECDSAWithSHA384, crypto.SHA384, false, nil
		}
		return oidECDSAWithSHA256, crypto.SHA256, false, nil
	case *rsa.PublicKey:
		return oidSHA256WithRSA, crypto.SHA256, true, nil
	}
	return nil, 0, false, fmt.Errorf("OCSP responder key type %T is not supported", pub)
}

// responderKeyHash is the SHA-1 of the responder's subjectPublicKey, its
// ResponderID byKey (RFC 6960 4.2.1).
func responderKeyHash(c *x509.Certificate) ([]byte, error) {
	bits, err := responderKeyBits(c)
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum(bits)
	return sum[:], nil
}

// responderKeyBits is the subjectPublicKey of c, the input of the key
// hashes in CertID and ResponderID.
func responderKeyBits(c *x509.Certificate) ([]byte, error) {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(c.RawSubjectPublicKeyInfo, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("malformed SubjectPublicKeyInfo")
	}
	return info.PublicKey.RightAlign(), nil
}

// buildResponse signs a successful response about the certificate the
// request named.
func buildResponse(r Responder, embed bool, req *OCSPRequest, st certStatus, producedAt time.Time) ([]byte, error) {
	sigOID, hash, rsaNull, err := signatureAlgorithm(r.Signer.Public())
	if err != nil {
		return nil, err
	}
	keyHash, err := responderKeyHash(r.Cert)
	if err != nil {
		return nil, err
	}
	gt := func(b *cryptobyte.Builder, t time.Time) { b.AddASN1GeneralizedTime(t.UTC().Truncate(time.Second)) }

	var tbs cryptobyte.Builder
	tbs.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		// version v1 is the DEFAULT and so left out; responderID byKey
		b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1OctetString(keyHash)
		})
		gt(b, producedAt)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // responses
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // SingleResponse
				b.AddBytes(req.CertID)
				switch st.status {
				case ocsp.Good:
					b.AddASN1(cbasn1.Tag(0).ContextSpecific(), func(*cryptobyte.Builder) {})
				case ocsp.Revoked:
					b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
						gt(b, st.revokedAt)
						if st.hasReason {
							b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
								b.AddASN1(cbasn1.ENUM, func(b *cryptobyte.Builder) { b.AddUint8(uint8(st.reason)) })
							})
						}
					})
				default:
					b.AddASN1(cbasn1.Tag(2).ContextSpecific(), func(*cryptobyte.Builder) {})
				}
				gt(b, st.thisUpdate)
				if !st.nextUpdate.IsZero() {
					b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) { gt(b, st.nextUpdate) })
				}
			})
		})
		if req.Nonce != nil {
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidNonce)
						b.AddASN1OctetString(req.Nonce)
					})
				})
			})
		}
	})
	tbsDER, err := tbs.Bytes()
	if err != nil {
		return nil, err
	}
	h := hash.New()
	h.Write(tbsDER)
	sig, err := r.Signer.Sign(rand.Reader, h.Sum(nil), hash)
	if err != nil {
		return nil, fmt.Errorf("signing the OCSP response: %w", err)
	}

	var basic cryptobyte.Builder
	basic.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbsDER)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(sigOID)
			if rsaNull {
				b.AddASN1NULL()
			}
		})
		b.AddASN1BitString(sig)
		if embed {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddBytes(r.Cert.Raw) })
			})
		}
	})
	basicDER, err := basic.Bytes()
	if err != nil {
		return nil, err
	}
	var resp cryptobyte.Builder
	resp.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1Enum(0) // successful
		b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1ObjectIdentifier(oidOCSPBasic)
				b.AddASN1OctetString(basicDER)
			})
		})
	})
	return resp.Bytes()
}

// errorResponse is an OCSPResponse with an error status and no body.
func errorResponse(status ocsp.ResponseStatus) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1Enum(int64(status)) })
	return b.BytesOrPanic()
}
