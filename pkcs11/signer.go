package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Signer signs with the private key of a token's authentication
// certificate; the key never leaves the card. It is safe for concurrent
// use (signatures run one at a time on the token).
//
// Supported: RSA PKCS#1 v1.5 with SHA-256/384/512 (or a prepared DigestInfo
// when opts.HashFunc() is 0), RSA-PSS with SHA-256/384/512 (opts of type
// *rsa.PSSOptions; salt length PSSSaltLengthEqualsHash, an explicit length,
// or PSSSaltLengthAuto meaning the largest, as crypto/rsa signs), and ECDSA
// (P-256, P-384) returning an ASN.1 DER signature. SHA-1 is refused.
type Signer struct {
	t    *Token
	cert *x509.Certificate // nil for a key without a certificate (KeySigner)
	pub  crypto.PublicKey  // the certificate's key, or the public key object's
	id   []byte            // CKA_ID shared by the certificate and the key

	key     uint // guarded by t.sem
	haveKey bool // guarded by t.sem; false until the key has been found
}

var _ crypto.Signer = (*Signer)(nil)

// Public returns the certificate's public key (for KeySigner without a
// certificate, the token's public key object of the same CKA_ID).
func (s *Signer) Public() crypto.PublicKey { return s.pub }

// Certificate returns the certificate whose key s uses; nil for a
// KeySigner whose key has no certificate on the token.
func (s *Signer) Certificate() *x509.Certificate { return s.cert }

// ID returns the CKA_ID of the key.
func (s *Signer) ID() []byte { return append([]byte(nil), s.id...) }

// Sign is SignContext without a context. The random source is not used:
// the card brings its own.
func (s *Signer) Sign(_ io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	return s.SignContext(context.Background(), digest, opts)
}

// SignContext signs digest as crypto.Signer documents. The user must be
// logged in (ErrNotLoggedIn otherwise). ctx bounds the wait for the token;
// a signature under way on the card cannot be interrupted.
func (s *Signer) SignContext(ctx context.Context, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts == nil {
		return nil, &Error{Op: "sign", Kind: ErrUnsupported, Err: errors.New("no signer options")}
	}
	mech, data, err := prepare(s.pub, digest, opts)
	if err != nil {
		return nil, err
	}
	if err := s.t.lock(ctx); err != nil {
		return nil, err
	}
	defer s.t.unlock()
	cached := s.haveKey
	if !cached {
		if err := s.findKey(); err != nil {
			return nil, err
		}
	}
	raw, err := s.t.sign(s.key, mech, data)
	if cached && errors.Is(err, ErrNoKey) {
		// The handle went stale (a token may hide the key after logout,
		// or renumber it): look it up again, once.
		s.haveKey = false
		if err := s.findKey(); err != nil {
			return nil, err
		}
		raw, err = s.t.sign(s.key, mech, data)
	}
	if err != nil {
		return nil, err
	}
	if mech.kind == mechECDSA {
		return ecdsaDER(raw)
	}
	return raw, nil
}

// findKey looks up the private key by CKA_ID (a token may show it only
// after login); the caller holds t.sem.
func (s *Signer) findKey() error {
	privs, err := s.t.keyObjects(true)
	if err != nil {
		return err
	}
	k := keyByID(privs, s.id)
	if k == nil {
		user, err := s.t.userLoggedIn()
		if err != nil {
			return err
		}
		if !user {
			return &Error{Op: "sign", Kind: ErrNotLoggedIn, Err: errors.New("the private key is not visible before login")}
		}
		return &Error{Op: "sign", Kind: ErrNoKey, Err: fmt.Errorf("no private key with CKA_ID %x", s.id)}
	}
	if err := checkKey(s.pub, *k); err != nil {
		return err
	}
	s.key, s.haveKey = k.handle, true
	return nil
}

// mechKind is the signing mechanism.
type mechKind int

const (
	mechRSAPKCS mechKind = iota + 1 // CKM_RSA_PKCS over a DigestInfo
	mechRSAPSS                      // CKM_RSA_PKCS_PSS over the digest
	mechECDSA                       // CKM_ECDSA over the digest
)

// mechanism is a signing mechanism and, for PSS, its parameters.
type mechanism struct {
	kind    mechKind
	hash    crypto.Hash // PSS: hashAlg and MGF1 hash
	saltLen int         // PSS: sLen
}

// prepare chooses the mechanism for pub and opts and the bytes the card
// signs.
func prepare(pub crypto.PublicKey, digest []byte, opts crypto.SignerOpts) (mechanism, []byte, error) {
	h := opts.HashFunc()
	if h != 0 && len(digest) != h.Size() {
		return mechanism{}, nil, &Error{Op: "sign", Kind: ErrUnsupported,
			Err: fmt.Errorf("digest is %d bytes, %v needs %d", len(digest), h, h.Size())}
	}
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			return preparePSS(pub, digest, pss)
		}
		if h == 0 {
			return mechanism{kind: mechRSAPKCS}, digest, nil // a DigestInfo the caller prepared
		}
		prefix, err := digestInfoPrefix(h)
		if err != nil {
			return mechanism{}, nil, err
		}
		return mechanism{kind: mechRSAPKCS}, append(prefix, digest...), nil
	case *ecdsa.PublicKey:
		if h == 0 || h == crypto.SHA1 {
			return mechanism{}, nil, &Error{Op: "sign", Kind: ErrUnsupported, Err: fmt.Errorf("ECDSA with hash %v", h)}
		}
		// Use the leftmost bits of the digest, as ECDSA does (exact for
		// curves whose order is a whole number of bytes: P-256, P-384).
		if n := (pub.Curve.Params().N.BitLen() + 7) / 8; len(digest) > n {
			digest = digest[:n]
		}
		return mechanism{kind: mechECDSA}, digest, nil
	default:
		return mechanism{}, nil, &Error{Op: "sign", Kind: ErrUnsupported, Err: fmt.Errorf("key type %T", pub)}
	}
}

func preparePSS(pub *rsa.PublicKey, digest []byte, opts *rsa.PSSOptions) (mechanism, []byte, error) {
	h := opts.Hash
	if _, err := digestInfoPrefix(h); err != nil {
		return mechanism{}, nil, err
	}
	// RFC 8017 9.1.1: emLen = ceil((modBits-1)/8) >= hLen + sLen + 2.
	maxSalt := (pub.N.BitLen()-1+7)/8 - h.Size() - 2
	salt := opts.SaltLength
	switch {
	case salt == rsa.PSSSaltLengthEqualsHash:
		salt = h.Size()
	case salt == rsa.PSSSaltLengthAuto:
		salt = maxSalt
	case salt < 0 || salt > maxSalt:
		return mechanism{}, nil, &Error{Op: "sign", Kind: ErrUnsupported, Err: fmt.Errorf("PSS salt length %d (at most %d)", salt, maxSalt)}
	}
	return mechanism{kind: mechRSAPSS, hash: h, saltLen: salt}, digest, nil
}

// digestInfoPrefix returns the DER of a DigestInfo up to the digest
// (RFC 8017 section 9.2, note 1) for the hashes this package signs with.
func digestInfoPrefix(h crypto.Hash) ([]byte, error) {
	switch h {
	case crypto.SHA256:
		return []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}, nil
	case crypto.SHA384:
		return []byte{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}, nil
	case crypto.SHA512:
		return []byte{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}, nil
	default:
		return nil, &Error{Op: "sign", Kind: ErrUnsupported, Err: fmt.Errorf("hash %v", h)}
	}
}

// ecdsaDER converts the card's r||s (each the size of the curve order) to
// the ASN.1 ECDSA-Sig-Value crypto.Signer returns.
func ecdsaDER(raw []byte) ([]byte, error) {
	if len(raw) == 0 || len(raw)%2 != 0 {
		return nil, &Error{Op: "sign", Kind: ErrTokenFailure, Err: fmt.Errorf("ECDSA signature of %d bytes", len(raw))}
	}
	r := new(big.Int).SetBytes(raw[:len(raw)/2])
	s := new(big.Int).SetBytes(raw[len(raw)/2:])
	if r.Sign() == 0 || s.Sign() == 0 {
		return nil, &Error{Op: "sign", Kind: ErrTokenFailure, Err: errors.New("ECDSA signature with a zero component")}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.Bytes()
}
