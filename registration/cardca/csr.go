package cardca

import (
	"crypto"
	"crypto/x509"
)

// maxCSRBytes bounds a certificate request.
const maxCSRBytes = 16 << 10

// PublicKeyFromCSR returns the public key of a DER PKCS#10 certificate
// request after checking its signature: proof that whoever sent it holds
// the private key (the card signed it, for example with
// x509.CreateCertificateRequest and pkcs11.Token.KeySigner). Only the key
// is taken: the subject and extensions of a certificate come from the
// registration store and the CA's profile, never from the request. A
// request that does not parse or verify is a key_unsupported refusal.
func PublicKeyFromCSR(der []byte) (crypto.PublicKey, error) {
	if len(der) == 0 || len(der) > maxCSRBytes {
		return nil, refuse(ReasonKeyUnsupported, nil, "the certificate request must be 1 to %d bytes of DER", maxCSRBytes)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, refuse(ReasonKeyUnsupported, err, "the certificate request does not parse")
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refuse(ReasonKeyUnsupported, err, "the certificate request's signature does not verify: no proof of possession")
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, err
	}
	return csr.PublicKey, nil
}
