package pkcs11

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
)

// This file is the RA's side of a card: making a key pair on the token,
// writing the certificate the CA issued for it, removing the objects of a
// replaced key, and a Signer for a key chosen by CKA_ID. The PKCS#11 calls
// themselves are in session_provision.go.

// KeyType is the kind of key pair GenerateKey makes.
type KeyType int

const (
	// RSA2048 is an RSA key of 2048 bits with public exponent 65537.
	RSA2048 KeyType = iota + 1
	// ECP256 is an ECDSA key on NIST P-256.
	ECP256
)

func (k KeyType) String() string {
	switch k {
	case RSA2048:
		return "RSA-2048"
	case ECP256:
		return "EC P-256"
	default:
		return fmt.Sprintf("KeyType(%d)", int(k))
	}
}

// ParseKeyType reads "rsa2048" or "ecp256" (as configuration and the RA
// API spell them).
func ParseKeyType(s string) (KeyType, error) {
	switch s {
	case "rsa2048", "rsa-2048", "RSA-2048":
		return RSA2048, nil
	case "ecp256", "ec-p256", "EC P-256", "p256":
		return ECP256, nil
	}
	return 0, &Error{Op: "key type", Kind: ErrUnsupported, Err: fmt.Errorf("%q is not one of rsa2048, ecp256", s)}
}

// KeySpec describes a key pair to generate.
type KeySpec struct {
	Type KeyType
	// ID is the CKA_ID the private key, the public key and, later, the
	// certificate share. Empty: 20 random bytes.
	ID []byte
	// Label is the CKA_LABEL of both keys (and, by convention, of the
	// certificate); at most 64 bytes.
	Label string
}

// KeyPair is a key pair made on a token. The private key stays on the
// token: only its CKA_ID and the public key are known here.
type KeyPair struct {
	ID     []byte
	Label  string
	Public crypto.PublicKey // *rsa.PublicKey or *ecdsa.PublicKey
}

// maxIDLen bounds CKA_ID values this package writes.
const maxIDLen = 64

// GenerateKey makes a key pair on the token (C_GenerateKeyPair) and
// returns its public key. The private key is a token object that is
// private, sensitive and not extractable (CKA_TOKEN, CKA_PRIVATE,
// CKA_SENSITIVE true, CKA_EXTRACTABLE false), usable only to sign; the
// public key is a public token object with the same CKA_ID and label.
// The user must be logged in (ErrNotLoggedIn otherwise). An existing key
// with the same CKA_ID is refused (ErrKeyExists): two keys under one ID
// would make the card's authentication key ambiguous.
func (t *Token) GenerateKey(ctx context.Context, spec KeySpec) (*KeyPair, error) {
	if spec.Type != RSA2048 && spec.Type != ECP256 {
		return nil, &Error{Op: "generate key", Kind: ErrUnsupported, Err: fmt.Errorf("key type %v", spec.Type)}
	}
	if len(spec.Label) > 64 {
		return nil, &Error{Op: "generate key", Kind: ErrUnsupported, Err: errors.New("label longer than 64 bytes")}
	}
	id := spec.ID
	if len(id) == 0 {
		id = make([]byte, 20)
		if _, err := rand.Read(id); err != nil {
			return nil, &Error{Op: "generate key", Kind: ErrTokenFailure, Err: err}
		}
	}
	if len(id) > maxIDLen {
		return nil, &Error{Op: "generate key", Kind: ErrUnsupported, Err: fmt.Errorf("CKA_ID of %d bytes (at most %d)", len(id), maxIDLen)}
	}
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.unlock()
	n, err := t.countObjects(id)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, &Error{Op: "generate key", Kind: ErrKeyExists, Err: fmt.Errorf("%d objects already have CKA_ID %x", n, id)}
	}
	pub, err := t.generateKeyPair(spec.Type, id, spec.Label)
	if err != nil {
		return nil, err
	}
	return &KeyPair{ID: append([]byte(nil), id...), Label: spec.Label, Public: pub}, nil
}

// WriteCertificate stores cert on the token as a public X.509 certificate
// object (CKA_TOKEN true, CKA_PRIVATE false) with CKA_ID id, CKA_LABEL
// label and the certificate's subject, issuer and serial number, so that
// AuthCertificate finds it beside the private key of the same CKA_ID. The
// token must hold a private key with that CKA_ID whose public key is the
// certificate's (ErrNoKey otherwise), and no certificate with it yet
// (ErrKeyExists). The user must be logged in.
func (t *Token) WriteCertificate(ctx context.Context, id []byte, label string, cert *x509.Certificate) error {
	if cert == nil || len(cert.Raw) == 0 {
		return &Error{Op: "write certificate", Kind: ErrUnsupported, Err: errors.New("no certificate")}
	}
	if len(id) == 0 || len(id) > maxIDLen || len(label) > 64 {
		return &Error{Op: "write certificate", Kind: ErrUnsupported, Err: errors.New("CKA_ID must be 1 to 64 bytes and the label at most 64")}
	}
	serial, err := asn1.Marshal(cert.SerialNumber)
	if err != nil {
		return &Error{Op: "write certificate", Kind: ErrUnsupported, Err: err}
	}
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.unlock()
	privs, err := t.keyObjects(true)
	if err != nil {
		return err
	}
	k := keyByID(privs, id)
	if k == nil {
		user, uerr := t.userLoggedIn()
		if uerr == nil && !user {
			return &Error{Op: "write certificate", Kind: ErrNotLoggedIn, Err: errors.New("the private key is not visible before login")}
		}
		return &Error{Op: "write certificate", Kind: ErrNoKey, Err: fmt.Errorf("no private key with CKA_ID %x", id)}
	}
	if err := checkKey(cert.PublicKey, *k); err != nil {
		return err
	}
	// The modulus check in checkKey covers RSA; for EC compare with the
	// public key object of the same ID when the token shows one.
	if pub, err := t.publicKeyByID(id); err == nil && pub != nil {
		if eq, ok := pub.(interface{ Equal(crypto.PublicKey) bool }); ok && !eq.Equal(cert.PublicKey) {
			return &Error{Op: "write certificate", Kind: ErrNoKey, Err: errors.New("the certificate's public key is not the key pair's with this CKA_ID")}
		}
	} else if err != nil {
		return err
	}
	certs, err := t.certObjects()
	if err != nil {
		return err
	}
	for _, c := range certs {
		if string(c.id) == string(id) {
			return &Error{Op: "write certificate", Kind: ErrKeyExists, Err: fmt.Errorf("a certificate with CKA_ID %x is already on the token", id)}
		}
	}
	return t.createCertificate(id, label, serial, cert)
}

// DeleteObjects destroys every object on the token with CKA_ID id (the
// private key, public key and certificate of a replaced key pair) and
// returns how many it destroyed. The user must be logged in to see, and
// so destroy, the private key.
func (t *Token) DeleteObjects(ctx context.Context, id []byte) (int, error) {
	if len(id) == 0 {
		return 0, &Error{Op: "delete objects", Kind: ErrUnsupported, Err: errors.New("no CKA_ID given")}
	}
	if err := t.lock(ctx); err != nil {
		return 0, err
	}
	defer t.unlock()
	return t.destroyByID(id)
}

// KeySigner returns a Signer for the private key with CKA_ID id: a key
// GenerateKey made, before its certificate is written, or a CA's key on an
// HSM. Its public key comes from the certificate with the same CKA_ID
// when there is one, otherwise from the public key object. The user must
// be logged in to sign.
func (t *Token) KeySigner(ctx context.Context, id []byte) (*Signer, error) {
	if len(id) == 0 {
		return nil, &Error{Op: "find key", Kind: ErrNoKey, Err: errors.New("no CKA_ID given")}
	}
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.unlock()
	s := &Signer{t: t, id: append([]byte(nil), id...)}
	certs, err := t.certObjects()
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		if string(c.id) != string(id) {
			continue
		}
		cert, err := x509.ParseCertificate(c.der)
		if err != nil {
			return nil, &Error{Op: "find key", Kind: ErrNoCertificate, Err: err}
		}
		s.cert, s.pub = cert, cert.PublicKey
		break
	}
	if s.pub == nil {
		pub, err := t.publicKeyByID(id)
		if err != nil {
			return nil, err
		}
		if pub == nil {
			return nil, &Error{Op: "find key", Kind: ErrNoKey, Err: fmt.Errorf("no certificate or public key with CKA_ID %x", id)}
		}
		s.pub = pub
	}
	if err := s.findKey(); err != nil && !errors.Is(err, ErrNotLoggedIn) {
		return nil, err
	}
	return s, nil
}

// oidP256 is the namedCurve of P-256 (RFC 5480).
var oidP256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}

// ecPublicKey decodes CKA_EC_PARAMS and CKA_EC_POINT (a DER OCTET STRING
// holding the uncompressed point; some tokens give the raw point).
func ecPublicKey(params, point []byte) (*ecdsa.PublicKey, error) {
	var oid asn1.ObjectIdentifier
	if rest, err := asn1.Unmarshal(params, &oid); err != nil || len(rest) > 0 {
		return nil, fmt.Errorf("CKA_EC_PARAMS is not a named curve")
	}
	if !oid.Equal(oidP256) {
		return nil, fmt.Errorf("curve %v is not supported", oid)
	}
	raw := point
	var inner []byte
	if rest, err := asn1.Unmarshal(point, &inner); err == nil && len(rest) == 0 {
		raw = inner
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), raw)
	if err != nil {
		return nil, fmt.Errorf("CKA_EC_POINT: %w", err)
	}
	return pub, nil
}

// rsaPublicKey decodes CKA_MODULUS and CKA_PUBLIC_EXPONENT.
func rsaPublicKey(mod, exp []byte) (*rsa.PublicKey, error) {
	n := new(big.Int).SetBytes(mod)
	e := new(big.Int).SetBytes(exp)
	if n.Sign() == 0 || !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return nil, errors.New("RSA public key attributes are malformed")
	}
	return &rsa.PublicKey{N: n, E: int(e.Int64())}, nil
}
