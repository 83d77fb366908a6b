package pkcs11

// This file and module.go are the only ones that call the PKCS#11 library
// (through github.com/miekg/pkcs11, which uses cgo). The Token methods here
// each do one step on the session; the caller holds t.sem.

import (
	"crypto"
	"encoding/binary"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

type userType uint

const (
	userNormal userType = p11.CKU_USER
	userSO     userType = p11.CKU_SO
)

func newToken(m *Module, info TokenInfo, sh p11.SessionHandle) *Token {
	return &Token{m: m, slot: info.Slot, sem: make(chan struct{}, 1), session: uint(sh), info: info}
}

// call runs fn on the session and turns a failure into an *Error for op.
// A session that died with the card is remembered, so that Close does not
// try to close it again.
func (t *Token) call(op string, fn func(c *p11.Ctx, sh p11.SessionHandle) error) error {
	if t.gone {
		return &Error{Op: op, Kind: ErrTokenRemoved}
	}
	err := t.m.with(func(c *p11.Ctx) error { return fn(c, p11.SessionHandle(t.session)) })
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err // already classified by fn
	}
	if errors.Is(err, ErrClosed) {
		return &Error{Op: op, Kind: ErrClosed}
	}
	k := classify(err, true)
	if k == ErrTokenRemoved {
		t.gone = true
	}
	return &Error{Op: op, Kind: k, Err: err}
}

// readInfo reads the token's slot again. A token that is no longer there,
// or has another serial number (another card in the reader), has been
// removed.
func (t *Token) readInfo() (TokenInfo, error) {
	if t.gone {
		return TokenInfo{}, &Error{Op: "read token", Kind: ErrTokenRemoved}
	}
	var info TokenInfo
	err := t.m.with(func(c *p11.Ctx) error {
		var err error
		info, err = slotInfo(c, t.slot)
		return err
	})
	if errors.Is(err, ErrClosed) {
		return TokenInfo{}, &Error{Op: "read token", Kind: ErrClosed}
	}
	if err != nil {
		return TokenInfo{}, err
	}
	if !info.Present || info.Serial != t.Info().Serial {
		t.gone = true
		return TokenInfo{}, &Error{Op: "read token", Kind: ErrTokenRemoved}
	}
	return info, nil
}

// login logs in as u. CKR_USER_ALREADY_LOGGED_IN is success.
func (t *Token) login(u userType, pin string) error {
	op := "login"
	if u == userSO {
		op = "security officer login"
	}
	return t.call(op, func(c *p11.Ctx, sh p11.SessionHandle) error {
		err := c.Login(sh, uint(u), pin)
		if isCode(err, p11.CKR_USER_ALREADY_LOGGED_IN) {
			return nil
		}
		return err
	})
}

// logout logs out whoever is logged in. CKR_USER_NOT_LOGGED_IN is success.
func (t *Token) logout() error {
	return t.call("logout", func(c *p11.Ctx, sh p11.SessionHandle) error {
		err := c.Logout(sh)
		if isCode(err, p11.CKR_USER_NOT_LOGGED_IN) {
			return nil
		}
		return err
	})
}

func (t *Token) closeSession() error {
	return t.call("close session", func(c *p11.Ctx, sh p11.SessionHandle) error {
		return c.CloseSession(sh)
	})
}

func (t *Token) initPIN(pin string) error {
	return t.call("init PIN", func(c *p11.Ctx, sh p11.SessionHandle) error {
		return c.InitPIN(sh, pin)
	})
}

func (t *Token) setPIN(old, new string) error {
	return t.call("change PIN", func(c *p11.Ctx, sh p11.SessionHandle) error {
		return c.SetPIN(sh, old, new)
	})
}

// userLoggedIn reports whether the session is in a user state, whoever
// logged in (login state is shared by the process's sessions on a token).
func (t *Token) userLoggedIn() (bool, error) {
	var user bool
	err := t.call("read session", func(c *p11.Ctx, sh p11.SessionHandle) error {
		si, err := c.GetSessionInfo(sh)
		user = si.State == p11.CKS_RO_USER_FUNCTIONS || si.State == p11.CKS_RW_USER_FUNCTIONS
		return err
	})
	return user, err
}

// find returns the handles of the objects matching template.
func find(c *p11.Ctx, sh p11.SessionHandle, template []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := c.FindObjectsInit(sh, template); err != nil {
		return nil, err
	}
	var all []p11.ObjectHandle
	for {
		hs, _, err := c.FindObjects(sh, 32)
		if err != nil {
			_ = c.FindObjectsFinal(sh)
			return nil, err
		}
		if len(hs) == 0 {
			break
		}
		all = append(all, hs...)
	}
	return all, c.FindObjectsFinal(sh)
}

// attr reads one attribute. ok is false when the object does not have it
// or the token will not show it; other errors are returned.
func attr(c *p11.Ctx, sh p11.SessionHandle, h p11.ObjectHandle, typ uint) (val []byte, ok bool, err error) {
	as, err := c.GetAttributeValue(sh, h, []*p11.Attribute{p11.NewAttribute(typ, nil)})
	if isCode(err, p11.CKR_ATTRIBUTE_TYPE_INVALID) || isCode(err, p11.CKR_ATTRIBUTE_SENSITIVE) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return as[0].Value, true, nil
}

// certObjects lists the X.509 certificates on the token.
func (t *Token) certObjects() ([]certObject, error) {
	var certs []certObject
	err := t.call("list certificates", func(c *p11.Ctx, sh p11.SessionHandle) error {
		hs, err := find(c, sh, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_CERTIFICATE),
			p11.NewAttribute(p11.CKA_CERTIFICATE_TYPE, p11.CKC_X_509),
		})
		if err != nil {
			return err
		}
		for _, h := range hs {
			id, _, err := attr(c, sh, h, p11.CKA_ID)
			if err != nil {
				return err
			}
			der, ok, err := attr(c, sh, h, p11.CKA_VALUE)
			if err != nil {
				return err
			}
			if ok && len(der) > 0 {
				certs = append(certs, certObject{id: id, der: der})
			}
		}
		return nil
	})
	return certs, err
}

// keyObjects lists the private (or public) keys on the token that the
// session can see, with their public attributes.
func (t *Token) keyObjects(private bool) ([]keyObject, error) {
	class := uint(p11.CKO_PUBLIC_KEY)
	if private {
		class = p11.CKO_PRIVATE_KEY
	}
	var keys []keyObject
	err := t.call("list keys", func(c *p11.Ctx, sh p11.SessionHandle) error {
		hs, err := find(c, sh, []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)})
		if err != nil {
			return err
		}
		for _, h := range hs {
			k := keyObject{handle: uint(h)}
			if k.id, _, err = attr(c, sh, h, p11.CKA_ID); err != nil {
				return err
			}
			typ, _, err := attr(c, sh, h, p11.CKA_KEY_TYPE)
			if err != nil {
				return err
			}
			switch ulong(typ) {
			case p11.CKK_RSA:
				k.kind = keyRSA
				if k.modulus, _, err = attr(c, sh, h, p11.CKA_MODULUS); err != nil {
					return err
				}
			case p11.CKK_EC:
				k.kind = keyEC
			}
			if private {
				always, _, err := attr(c, sh, h, p11.CKA_ALWAYS_AUTHENTICATE)
				if err != nil {
					return err
				}
				k.alwaysAuth = len(always) == 1 && always[0] != 0
			}
			keys = append(keys, k)
		}
		return nil
	})
	return keys, err
}

// ulong decodes a CK_ULONG attribute value (native byte order and size),
// or returns ^uint(0) when b is not one.
func ulong(b []byte) uint {
	switch len(b) {
	case 4:
		return uint(binary.NativeEndian.Uint32(b))
	case 8:
		return uint(binary.NativeEndian.Uint64(b))
	default:
		return ^uint(0)
	}
}

// sign signs data with the private key key.
func (t *Token) sign(key uint, m mechanism, data []byte) ([]byte, error) {
	var mech *p11.Mechanism
	switch m.kind {
	case mechRSAPKCS:
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS, nil)
	case mechECDSA:
		mech = p11.NewMechanism(p11.CKM_ECDSA, nil)
	case mechRSAPSS:
		ckm, mgf, err := pssHash(m.hash)
		if err != nil {
			return nil, err
		}
		mech = p11.NewMechanism(p11.CKM_RSA_PKCS_PSS, p11.NewPSSParams(ckm, mgf, uint(m.saltLen)))
	default:
		return nil, &Error{Op: "sign", Kind: ErrUnsupported, Err: fmt.Errorf("mechanism %d", m.kind)}
	}
	var sig []byte
	err := t.call("sign", func(c *p11.Ctx, sh p11.SessionHandle) error {
		if err := c.SignInit(sh, []*p11.Mechanism{mech}, p11.ObjectHandle(key)); err != nil {
			return err
		}
		var err error
		sig, err = c.Sign(sh, data)
		return err
	})
	return sig, err
}

func pssHash(h crypto.Hash) (ckm, mgf uint, err error) {
	switch h {
	case crypto.SHA256:
		return p11.CKM_SHA256, p11.CKG_MGF1_SHA256, nil
	case crypto.SHA384:
		return p11.CKM_SHA384, p11.CKG_MGF1_SHA384, nil
	case crypto.SHA512:
		return p11.CKM_SHA512, p11.CKG_MGF1_SHA512, nil
	default:
		return 0, 0, &Error{Op: "sign", Kind: ErrUnsupported, Err: fmt.Errorf("PSS with %v", h)}
	}
}
