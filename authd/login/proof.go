package login

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ChallengePrefix starts every challenge; it says what the signature is
// for, so that a card signature made for anything else cannot pass as a
// login.
const ChallengePrefix = "spineauth-login-v1\n"

// newChallengeID returns 16 random bytes in hex.
func newChallengeID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

func validChallengeID(s string) bool {
	if len(s) != 32 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// challengeBytes are the bytes a card signs: they name the service
// (audience), the challenge, a fresh nonce and the expiry.
func challengeBytes(audience, id string, expires time.Time) ([]byte, error) {
	var nonce [32]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "%saudience: %s\nchallenge: %s\nnonce: %s\nexpires: %s\n",
		ChallengePrefix, audience, id, base64.RawURLEncoding.EncodeToString(nonce[:]),
		expires.UTC().Format(time.RFC3339)), nil
}

// SignChallenge signs to_sign with a card key the way cardagent does: a
// SHA-256 digest, PKCS#1 v1.5 for RSA and ASN.1 ECDSA for EC keys. It is
// exported for clients and tests.
func SignChallenge(signer crypto.Signer, toSign []byte) ([]byte, error) {
	digest := sha256.Sum256(toSign)
	return signer.Sign(rand.Reader, digest[:], crypto.SHA256)
}

var errBadSignature = errors.New("signature does not verify with the certificate's key")

// verifyProof checks that sig over toSign was made with the private key of
// pub: RSA PKCS#1 v1.5 or PSS with SHA-256, ECDSA with SHA-256, or
// Ed25519 over the bytes themselves.
func verifyProof(pub crypto.PublicKey, toSign, sig []byte) error {
	digest := sha256.Sum256(toSign)
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if rsa.VerifyPKCS1v15(k, crypto.SHA256, digest[:], sig) == nil {
			return nil
		}
		if rsa.VerifyPSS(k, crypto.SHA256, digest[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) == nil {
			return nil
		}
		return errBadSignature
	case *ecdsa.PublicKey:
		if ecdsa.VerifyASN1(k, digest[:], sig) {
			return nil
		}
		return errBadSignature
	case ed25519.PublicKey:
		if ed25519.Verify(k, toSign, sig) {
			return nil
		}
		return errBadSignature
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}
