package pkcs11

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
)

// keyKind is the CKA_KEY_TYPE of a key object, as far as this package
// cares.
type keyKind int

const (
	keyOther keyKind = iota
	keyRSA
	keyEC
)

func (k keyKind) String() string {
	switch k {
	case keyRSA:
		return "RSA"
	case keyEC:
		return "EC"
	default:
		return "other"
	}
}

// certObject is an X.509 certificate object on the token.
type certObject struct {
	id  []byte // CKA_ID
	der []byte // CKA_VALUE
}

// keyObject is a private or public key object on the token. Nothing secret
// is ever read from a key: only its handle and public attributes.
type keyObject struct {
	handle     uint
	id         []byte // CKA_ID
	kind       keyKind
	modulus    []byte // CKA_MODULUS of an RSA key, when the token shows it
	alwaysAuth bool   // CKA_ALWAYS_AUTHENTICATE: the PIN is needed at every use
}

// authChoice is the authentication certificate and its key.
type authChoice struct {
	cert *x509.Certificate
	id   []byte
	key  *keyObject // the private key; nil when only a public key was visible
}

// chooseAuth picks the authentication certificate among certs: those that
// share a non-empty CKA_ID with a private key (or, when no private key is
// visible, with a public key), ranked as AuthCertificate documents.
func chooseAuth(certs []certObject, privs, pubs []keyObject) (authChoice, error) {
	keys, private := privs, true
	if len(privs) == 0 {
		keys, private = pubs, false
	}
	var (
		best      authChoice
		bestScore = -1
		parseErr  error
	)
	for _, co := range certs {
		k := keyByID(keys, co.id)
		if k == nil {
			continue
		}
		cert, err := x509.ParseCertificate(co.der)
		if err != nil {
			parseErr = err // a card may hold odd certificates: skip them
			continue
		}
		score := 0
		if cert.KeyUsage&x509.KeyUsageDigitalSignature != 0 {
			score += 4
		}
		if !k.alwaysAuth {
			score += 2
		}
		if cert.KeyUsage&x509.KeyUsageContentCommitment == 0 {
			score++
		}
		if score > bestScore {
			best, bestScore = authChoice{cert: cert, id: co.id}, score
			if private {
				best.key = k
			}
		}
	}
	if bestScore >= 0 {
		return best, nil
	}
	cause := fmt.Errorf("%d certificates, none with a key of the same CKA_ID (%d private and %d public keys visible)",
		len(certs), len(privs), len(pubs))
	if parseErr != nil {
		cause = errors.Join(cause, parseErr)
	}
	return authChoice{}, &Error{Op: "find certificate", Kind: ErrNoCertificate, Err: cause}
}

func keyByID(keys []keyObject, id []byte) *keyObject {
	if len(id) == 0 {
		return nil
	}
	for i := range keys {
		if bytes.Equal(keys[i].id, id) {
			return &keys[i]
		}
	}
	return nil
}

// checkKey makes sure that the private key k belongs to the public key pub
// (a certificate's, normally), as far as
// the token's public attributes tell, so that a mislabelled CKA_ID is
// caught here and not as a bad signature at the server.
func checkKey(pub crypto.PublicKey, k keyObject) error {
	var want keyKind
	switch pub := pub.(type) {
	case *rsa.PublicKey:
		want = keyRSA
		if len(k.modulus) > 0 && !bytes.Equal(bytes.TrimLeft(k.modulus, "\x00"), pub.N.Bytes()) {
			return &Error{Op: "find key", Kind: ErrNoKey, Err: errors.New("the RSA key with the certificate's CKA_ID has another modulus")}
		}
	case *ecdsa.PublicKey:
		want = keyEC
	default:
		return &Error{Op: "find key", Kind: ErrUnsupported, Err: fmt.Errorf("certificate key type %T", pub)}
	}
	if k.kind != want {
		return &Error{Op: "find key", Kind: ErrNoKey,
			Err: fmt.Errorf("the key with the certificate's CKA_ID is %v, the certificate's is %v", k.kind, want)}
	}
	return nil
}
