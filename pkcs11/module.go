package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// Module is a loaded PKCS#11 library (such as opensc-pkcs11.so or
// libsofthsm2.so). It is safe for concurrent use.
//
// A PKCS#11 library is initialised once per process: open each library
// once and share the Module. Opening it a second time works (the library
// reports it is already initialised), but only the Module that initialised
// it finalises it on Close, which ends every session in the process.
type Module struct {
	path string

	mu       sync.RWMutex
	ctx      *p11.Ctx // guarded by mu; nil once closed
	finalize bool     // guarded by mu; this Module's C_Initialize succeeded

	tokensMu sync.Mutex
	tokens   map[*Token]struct{} // guarded by tokensMu; open Tokens
}

// Open loads the PKCS#11 library at path, which must be absolute (a bare
// name would be looked up on the loader's search path, letting the
// environment choose the code that sees the PIN), and initialises it.
func Open(path string) (*Module, error) {
	if !filepath.IsAbs(path) {
		return nil, &Error{Op: "open module", Kind: ErrModule, Err: fmt.Errorf("module path %q is not absolute", path)}
	}
	c := p11.New(path)
	if c == nil {
		return nil, &Error{Op: "open module", Kind: ErrModule, Err: fmt.Errorf("cannot load %s", path)}
	}
	finalize := true
	if err := c.Initialize(); err != nil {
		if !isCode(err, p11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			c.Destroy()
			return nil, &Error{Op: "initialize " + path, Kind: ErrModule, Err: err}
		}
		finalize = false
	}
	return &Module{path: path, ctx: c, finalize: finalize, tokens: make(map[*Token]struct{})}, nil
}

// Path returns the path the module was loaded from.
func (m *Module) Path() string { return m.path }

// Close closes the Tokens opened from m (logging them out), finalises the
// library (if this Module initialised it) and unloads it. Close is
// idempotent.
func (m *Module) Close() error {
	// Tokens first, without holding mu: Token.Close takes the token, then
	// mu for reading, and Close must not take them the other way round.
	m.tokensMu.Lock()
	open := make([]*Token, 0, len(m.tokens))
	for t := range m.tokens {
		open = append(open, t)
	}
	m.tokensMu.Unlock()
	var errs []error
	for _, t := range open {
		errs = append(errs, t.Close())
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil {
		return errors.Join(errs...)
	}
	if m.finalize {
		if err := m.ctx.Finalize(); err != nil {
			errs = append(errs, &Error{Op: "finalize", Kind: ErrTokenFailure, Err: err})
		}
	}
	m.ctx.Destroy()
	m.ctx = nil
	return errors.Join(errs...)
}

func (m *Module) track(t *Token) {
	m.tokensMu.Lock()
	defer m.tokensMu.Unlock()
	m.tokens[t] = struct{}{}
}

func (m *Module) untrack(t *Token) {
	m.tokensMu.Lock()
	defer m.tokensMu.Unlock()
	delete(m.tokens, t)
}

// with runs fn with the library while holding the read lock, so that Close
// cannot finalise the library under a running call. fn must not call with.
func (m *Module) with(fn func(c *p11.Ctx) error) error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.ctx == nil {
		return ErrClosed
	}
	return fn(m.ctx)
}

// Tokens lists the slots that hold a token.
func (m *Module) Tokens(ctx context.Context) ([]TokenInfo, error) {
	return m.slots(ctx, true)
}

// Slots lists every slot, including empty ones (Present false, token fields
// empty), so that a PC/SC reader can be matched to its slot by
// SlotDescription before a card is inserted.
func (m *Module) Slots(ctx context.Context) ([]TokenInfo, error) {
	return m.slots(ctx, false)
}

func (m *Module) slots(ctx context.Context, presentOnly bool) ([]TokenInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var infos []TokenInfo
	err := m.with(func(c *p11.Ctx) error {
		ids, err := c.GetSlotList(presentOnly)
		if err != nil {
			return &Error{Op: "list slots", Kind: classify(err, false), Err: err}
		}
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			info, err := slotInfo(c, id)
			if errors.Is(err, ErrTokenNotPresent) {
				continue // removed while we looked
			}
			if err != nil {
				return err
			}
			if presentOnly && !info.Present {
				continue
			}
			infos = append(infos, info)
		}
		return nil
	})
	return infos, err
}

// slotInfo reads a slot and, if one is present, its token.
func slotInfo(c *p11.Ctx, slot uint) (TokenInfo, error) {
	si, err := c.GetSlotInfo(slot)
	if err != nil {
		return TokenInfo{}, &Error{Op: "read slot", Kind: classify(err, false), Err: err}
	}
	info := TokenInfo{
		Slot:            slot,
		SlotDescription: si.SlotDescription,
		Present:         si.Flags&p11.CKF_TOKEN_PRESENT != 0,
		Removable:       si.Flags&p11.CKF_REMOVABLE_DEVICE != 0,
	}
	if !info.Present {
		return info, nil
	}
	ti, err := c.GetTokenInfo(slot)
	if isCode(err, p11.CKR_TOKEN_NOT_PRESENT) {
		info.Present = false
		return info, nil
	}
	if err != nil {
		return TokenInfo{}, &Error{Op: "read token", Kind: classify(err, false), Err: err}
	}
	info.setToken(ti)
	return info, nil
}

func (i *TokenInfo) setToken(ti p11.TokenInfo) {
	f := ti.Flags
	i.Label = ti.Label
	i.Manufacturer = ti.ManufacturerID
	i.Model = ti.Model
	i.Serial = ti.SerialNumber
	i.Initialized = f&p11.CKF_TOKEN_INITIALIZED != 0
	i.LoginRequired = f&p11.CKF_LOGIN_REQUIRED != 0
	i.UserPINInitialized = f&p11.CKF_USER_PIN_INITIALIZED != 0
	i.ProtectedAuthPath = f&p11.CKF_PROTECTED_AUTHENTICATION_PATH != 0
	i.PINCountLow = f&p11.CKF_USER_PIN_COUNT_LOW != 0
	i.PINFinalTry = f&p11.CKF_USER_PIN_FINAL_TRY != 0
	i.PINLocked = f&p11.CKF_USER_PIN_LOCKED != 0
	i.PINToBeChanged = f&p11.CKF_USER_PIN_TO_BE_CHANGED != 0
	i.SOPINCountLow = f&p11.CKF_SO_PIN_COUNT_LOW != 0
	i.SOPINFinalTry = f&p11.CKF_SO_PIN_FINAL_TRY != 0
	i.SOPINLocked = f&p11.CKF_SO_PIN_LOCKED != 0
}

// OpenToken opens a session on the one token that sel selects. It fails
// with ErrTokenNotPresent when none matches and ErrAmbiguousToken when
// several do.
func (m *Module) OpenToken(ctx context.Context, sel Selector) (*Token, error) {
	infos, err := m.Tokens(ctx)
	if err != nil {
		return nil, err
	}
	info, err := sel.choose(infos)
	if err != nil {
		return nil, err
	}
	var sh p11.SessionHandle
	err = m.with(func(c *p11.Ctx) error {
		const ro = p11.CKF_SERIAL_SESSION
		// Read-write, so that SO login (InitPIN) and C_SetPIN work; a
		// write-protected token gets a read-only session.
		sh, err = c.OpenSession(info.Slot, ro|p11.CKF_RW_SESSION)
		if isCode(err, p11.CKR_TOKEN_WRITE_PROTECTED) {
			sh, err = c.OpenSession(info.Slot, ro)
		}
		if err != nil {
			return &Error{Op: "open session", Kind: classify(err, false), Err: err}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	t := newToken(m, info, sh)
	m.track(t)
	return t, nil
}

// isCode reports whether err is the PKCS#11 return value code.
func isCode(err error, code uint) bool {
	var rv p11.Error
	return errors.As(err, &rv) && uint(rv) == code
}

// classify maps a PKCS#11 return value to one of the error kinds.
// inSession tells whether the call used a session we held: then a vanished
// token or session means the card was removed (ErrTokenRemoved); before we
// hold one, it means there is no card (ErrTokenNotPresent).
func classify(err error, inSession bool) error {
	var rv p11.Error
	if !errors.As(err, &rv) {
		if errors.Is(err, ErrClosed) {
			return ErrClosed
		}
		return ErrTokenFailure
	}
	gone := ErrTokenNotPresent
	if inSession {
		gone = ErrTokenRemoved
	}
	switch uint(rv) {
	case p11.CKR_PIN_INCORRECT:
		return ErrPINIncorrect
	case p11.CKR_PIN_LOCKED:
		return ErrPINLocked
	case p11.CKR_PIN_INVALID, p11.CKR_PIN_LEN_RANGE, p11.CKR_PIN_TOO_WEAK:
		return ErrPINInvalid
	case p11.CKR_PIN_EXPIRED:
		return ErrPINExpired
	case p11.CKR_USER_PIN_NOT_INITIALIZED:
		return ErrPINNotInitialized
	case p11.CKR_USER_NOT_LOGGED_IN:
		return ErrNotLoggedIn
	case p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT,
		p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED:
		return gone
	case p11.CKR_SLOT_ID_INVALID, p11.CKR_TOKEN_NOT_RECOGNIZED:
		return ErrTokenNotPresent
	case p11.CKR_KEY_HANDLE_INVALID, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_FUNCTION_NOT_PERMITTED:
		return ErrNoKey
	case p11.CKR_MECHANISM_INVALID, p11.CKR_MECHANISM_PARAM_INVALID,
		p11.CKR_KEY_TYPE_INCONSISTENT, p11.CKR_KEY_SIZE_RANGE,
		p11.CKR_FUNCTION_NOT_SUPPORTED, p11.CKR_DATA_LEN_RANGE:
		return ErrUnsupported
	case p11.CKR_CRYPTOKI_NOT_INITIALIZED:
		return ErrClosed
	default:
		return ErrTokenFailure
	}
}
