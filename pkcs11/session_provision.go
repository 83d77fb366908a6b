package pkcs11

// The PKCS#11 calls of provision.go: like session.go, one step each on the
// session, with the caller holding t.sem.

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// countObjects counts the objects the session can see with CKA_ID id.
func (t *Token) countObjects(id []byte) (int, error) {
	var n int
	err := t.call("find objects", func(c *p11.Ctx, sh p11.SessionHandle) error {
		hs, err := find(c, sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, id)})
		n = len(hs)
		return err
	})
	return n, err
}

// generateKeyPair runs C_GenerateKeyPair and reads the public key back.
func (t *Token) generateKeyPair(typ KeyType, id []byte, label string) (crypto.PublicKey, error) {
	pubT := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, false),
		p11.NewAttribute(p11.CKA_VERIFY, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, false),
		p11.NewAttribute(p11.CKA_WRAP, false),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	privT := []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_SENSITIVE, true),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
		p11.NewAttribute(p11.CKA_SIGN, true),
		p11.NewAttribute(p11.CKA_DECRYPT, false),
		p11.NewAttribute(p11.CKA_UNWRAP, false),
		p11.NewAttribute(p11.CKA_DERIVE, false),
		p11.NewAttribute(p11.CKA_ID, id),
		p11.NewAttribute(p11.CKA_LABEL, label),
	}
	var mech *p11.Mechanism
	switch typ {
	case RSA2048:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)
		pubT = append(pubT,
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
			p11.NewAttribute(p11.CKA_MODULUS_BITS, 2048),
			p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}))
		privT = append(privT, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA))
	case ECP256:
		params, err := asn1.Marshal(oidP256)
		if err != nil {
			return nil, &Error{Op: "generate key", Kind: ErrUnsupported, Err: err}
		}
		mech = p11.NewMechanism(p11.CKM_EC_KEY_PAIR_GEN, nil)
		pubT = append(pubT,
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC),
			p11.NewAttribute(p11.CKA_EC_PARAMS, params))
		privT = append(privT, p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_EC))
	}
	var pubH p11.ObjectHandle
	err := t.call("generate key", func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		pubH, _, err = c.GenerateKeyPair(sh, []*p11.Mechanism{mech}, pubT, privT)
		return err
	})
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	err = t.call("read public key", func(c *p11.Ctx, sh p11.SessionHandle) error {
		var err error
		pub, err = readPublicKey(c, sh, pubH)
		return err
	})
	return pub, err
}

// readPublicKey decodes the RSA or EC public key object h.
func readPublicKey(c *p11.Ctx, sh p11.SessionHandle, h p11.ObjectHandle) (crypto.PublicKey, error) {
	typ, _, err := attr(c, sh, h, p11.CKA_KEY_TYPE)
	if err != nil {
		return nil, err
	}
	switch ulong(typ) {
	case p11.CKK_RSA:
		as, err := c.GetAttributeValue(sh, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_MODULUS, nil), p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, nil)})
		if err != nil {
			return nil, err
		}
		pub, err := rsaPublicKey(as[0].Value, as[1].Value)
		if err != nil {
			return nil, &Error{Op: "read public key", Kind: ErrTokenFailure, Err: err}
		}
		return pub, nil
	case p11.CKK_EC:
		as, err := c.GetAttributeValue(sh, h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_EC_PARAMS, nil), p11.NewAttribute(p11.CKA_EC_POINT, nil)})
		if err != nil {
			return nil, err
		}
		pub, err := ecPublicKey(as[0].Value, as[1].Value)
		if err != nil {
			return nil, &Error{Op: "read public key", Kind: ErrUnsupported, Err: err}
		}
		return pub, nil
	default:
		return nil, &Error{Op: "read public key", Kind: ErrUnsupported, Err: fmt.Errorf("key type %#x", ulong(typ))}
	}
}

// publicKeyByID returns the public key object with CKA_ID id, or nil when
// there is none.
func (t *Token) publicKeyByID(id []byte) (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	err := t.call("read public key", func(c *p11.Ctx, sh p11.SessionHandle) error {
		hs, err := find(c, sh, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
			p11.NewAttribute(p11.CKA_ID, id),
		})
		if err != nil || len(hs) == 0 {
			return err
		}
		pub, err = readPublicKey(c, sh, hs[0])
		return err
	})
	return pub, err
}

// createCertificate writes cert as a public token object.
func (t *Token) createCertificate(id []byte, label string, serial []byte, cert *x509.Certificate) error {
	return t.call("write certificate", func(c *p11.Ctx, sh p11.SessionHandle) error {
		_, err := c.CreateObject(sh, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE),
			p11.NewAttribute(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, false),
			p11.NewAttribute(p11.CKA_MODIFIABLE, true),
			p11.NewAttribute(p11.CKA_ID, id),
			p11.NewAttribute(p11.CKA_LABEL, label),
			p11.NewAttribute(p11.CKA_SUBJECT, cert.RawSubject),
			p11.NewAttribute(p11.CKA_ISSUER, cert.RawIssuer),
			p11.NewAttribute(p11.CKA_SERIAL_NUMBER, serial),
			p11.NewAttribute(p11.CKA_VALUE, cert.Raw),
		})
		return err
	})
}

// destroyByID destroys the objects with CKA_ID id.
func (t *Token) destroyByID(id []byte) (int, error) {
	var n int
	err := t.call("delete objects", func(c *p11.Ctx, sh p11.SessionHandle) error {
		hs, err := find(c, sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_ID, id)})
		if err != nil {
			return err
		}
		for _, h := range hs {
			if err := c.DestroyObject(sh, h); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	return n, err
}
