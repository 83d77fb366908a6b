package certverify

import (
	"crypto/dsa" //nolint:staticcheck // DSA is verified only for RFC 5280 conformance; nothing here signs with it.
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// checkSignature verifies that signer's public key produced signature over
// signed with algo. It is crypto/x509's low-level check (which performs no
// constraint checks of its own, and rejects MD5) plus DSA, which crypto/x509
// parses but will not verify and which older PKIs still contain. A DSA key
// whose parameters are inherited verifies nothing until a path has
// completed it (resolveDSAParams).
func checkSignature(signer *x509.Certificate, algo x509.SignatureAlgorithm, signed, signature []byte) error {
	err := signer.CheckSignature(algo, signed, signature)
	if !errors.Is(err, x509.ErrUnsupportedAlgorithm) {
		return err
	}
	pub, ok := signer.PublicKey.(*dsa.PublicKey)
	if !ok {
		return err
	}
	if dsaInherits(pub) {
		return errDSAParamsUnknown // resolveDSAParams supplies them
	}
	var digest []byte
	switch algo {
	case x509.DSAWithSHA1:
		h := sha1.Sum(signed)
		digest = h[:]
	case x509.DSAWithSHA256:
		h := sha256.Sum256(signed)
		digest = h[:]
	default:
		return err
	}
	r, s := new(big.Int), new(big.Int)
	in := cryptobyte.String(signature)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(r) || !seq.ReadASN1Integer(s) || !seq.Empty() {
		return errors.New("x509: malformed DSA signature")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 {
		return errors.New("x509: DSA signature contained zero or negative values")
	}
	// FIPS 186 truncates the digest to the bit length of Q.
	if n := (pub.Q.BitLen() + 7) / 8; len(digest) > n {
		digest = digest[:n]
	}
	if !dsa.Verify(pub, digest, r, s) {
		return errors.New("x509: DSA verification failure")
	}
	return nil
}

// checkCertSignature verifies child's signature with parent's key.
func checkCertSignature(parent, child *x509.Certificate) error {
	return checkSignature(parent, child.SignatureAlgorithm, child.RawTBSCertificate, child.Signature)
}
