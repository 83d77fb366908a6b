package pkcs11

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/carespine/spineauth/pkcs11/internal/pin"
)

// PIN is a card passcode. String, GoString, Format (every verb) and
// LogValue print a placeholder, never the digits; Equal compares in
// constant time; == does not compile. Only the card layer can read the
// digits back.
type PIN = pin.PIN

// NewPIN validates s as a PIN: 4 to 16 printable ASCII characters other
// than space (cards here use 6-8 digits; the card has the last word). The
// error matches ErrPINFormat and never contains s.
func NewPIN(s string) (PIN, error) { return pin.New(s) }

// TokenInfo describes a slot and the token in it.
type TokenInfo struct {
	Slot            uint
	SlotDescription string // the reader's name for PC/SC-backed modules
	Present         bool   // a token is in the slot; the token fields below are empty otherwise
	Removable       bool   // the slot is a reader whose card can be removed

	Label, Manufacturer, Model, Serial string

	Initialized        bool // CKF_TOKEN_INITIALIZED
	LoginRequired      bool // CKF_LOGIN_REQUIRED
	UserPINInitialized bool // CKF_USER_PIN_INITIALIZED
	ProtectedAuthPath  bool // PIN pad reader (not supported by Login yet)

	PINCountLow    bool // a wrong user PIN was entered since the last good one
	PINFinalTry    bool // one more wrong user PIN locks the card
	PINLocked      bool // the user PIN is locked
	PINToBeChanged bool // the user PIN must be changed

	SOPINCountLow, SOPINFinalTry, SOPINLocked bool // the same for the SO PIN
}

// RetriesLeft is how many wrong user PINs the card still accepts as far as
// its flags tell (see PINError.RetriesLeft); -1 when they don't.
func (i TokenInfo) RetriesLeft() int {
	return retriesFromFlags(i.PINLocked, i.PINFinalTry, i.PINCountLow)
}

// Selector picks one token. Set fields must all match; an empty Selector
// picks the only initialised token present.
type Selector struct {
	Label  string
	Slot   *uint
	Serial string
}

// InSlot is the Selector for the token in slot.
func InSlot(slot uint) Selector { return Selector{Slot: &slot} }

func (s Selector) String() string {
	var parts []string
	if s.Slot != nil {
		parts = append(parts, fmt.Sprintf("slot %d", *s.Slot))
	}
	if s.Label != "" {
		parts = append(parts, fmt.Sprintf("label %q", s.Label))
	}
	if s.Serial != "" {
		parts = append(parts, fmt.Sprintf("serial %q", s.Serial))
	}
	if len(parts) == 0 {
		return "any token"
	}
	return strings.Join(parts, ", ")
}

func (s Selector) matches(i TokenInfo) bool {
	switch {
	case !i.Present:
		return false
	case s.Slot != nil && i.Slot != *s.Slot:
		return false
	case s.Slot == nil && !i.Initialized:
		return false // e.g. SoftHSM's spare slot; only chosen by slot
	case s.Label != "" && i.Label != s.Label:
		return false
	case s.Serial != "" && i.Serial != s.Serial:
		return false
	}
	return true
}

func (s Selector) choose(infos []TokenInfo) (TokenInfo, error) {
	var found []TokenInfo
	for _, i := range infos {
		if s.matches(i) {
			found = append(found, i)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return TokenInfo{}, &Error{Op: "open token", Kind: ErrTokenNotPresent, Err: fmt.Errorf("no token with %v", s)}
	default:
		var names []string
		for _, i := range found {
			names = append(names, fmt.Sprintf("slot %d %q", i.Slot, i.Label))
		}
		return TokenInfo{}, &Error{Op: "open token", Kind: ErrAmbiguousToken,
			Err: fmt.Errorf("%v matches %s", s, strings.Join(names, ", "))}
	}
}

// Token is one token with an open session. It is safe for concurrent use:
// operations run one at a time, because a PKCS#11 session is not.
//
// The login state of a token is shared by every session the process holds
// on it: two Tokens opened on the same slot log in and out together.
type Token struct {
	m    *Module
	slot uint

	// sem holds the session: an operation sends to take it and receives to
	// give it back, so that waiting for it can honour a context.
	sem      chan struct{}
	session  uint // guarded by sem
	closed   bool // guarded by sem
	gone     bool // guarded by sem; the session died with the card
	loggedIn bool // guarded by sem; as far as this Token knows

	infoMu sync.Mutex
	info   TokenInfo // guarded by infoMu
}

func (t *Token) lock(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	if t.closed {
		<-t.sem
		return ErrClosed
	}
	return nil
}

func (t *Token) unlock() { <-t.sem }

// Info returns what was last read from the token: at OpenToken, Refresh
// and after every Login, InitPIN or ChangePIN.
func (t *Token) Info() TokenInfo {
	t.infoMu.Lock()
	defer t.infoMu.Unlock()
	return t.info
}

func (t *Token) setInfo(i TokenInfo) {
	t.infoMu.Lock()
	defer t.infoMu.Unlock()
	t.info = i
}

// Refresh reads the token's state again (PIN flags, presence).
func (t *Token) Refresh(ctx context.Context) (TokenInfo, error) {
	if err := t.lock(ctx); err != nil {
		return TokenInfo{}, err
	}
	defer t.unlock()
	return t.refresh()
}

// refresh re-reads the token info; the caller holds sem.
func (t *Token) refresh() (TokenInfo, error) {
	i, err := t.readInfo()
	if err != nil {
		return TokenInfo{}, err
	}
	t.setInfo(i)
	return i, nil
}

// Login logs the user in with pin. A wrong PIN is a *PINError (matching
// ErrPINIncorrect) whose RetriesLeft comes from the token's flags read
// after the failure; a locked card is ErrPINLocked; a removed card
// ErrTokenRemoved. Logging in when already logged in succeeds.
func (t *Token) Login(ctx context.Context, p PIN) error {
	if p.IsZero() {
		return &Error{Op: "login", Kind: ErrPINFormat, Err: errors.New("no PIN given")}
	}
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.unlock()
	err := t.login(userNormal, pin.Reveal(p))
	if err == nil {
		t.loggedIn = true
		_, _ = t.refresh() // the info is a convenience; the login stands
		return nil
	}
	if e := pinRefused(err); e != nil {
		info, ierr := t.refresh()
		e.RetriesLeft = -1
		if ierr == nil {
			e.RetriesLeft = info.RetriesLeft()
		}
		return e
	}
	_, _ = t.refresh()
	return err
}

// pinRefused turns a refused-PIN error from the card into a *PINError
// (RetriesLeft to be filled in), or returns nil for any other error. A PIN
// the card finds malformed at login (CKR_PIN_LEN_RANGE, CKR_PIN_INVALID) is
// also an incorrect PIN to the user.
func pinRefused(err error) *PINError {
	var e *Error
	if !errors.As(err, &e) || (e.Kind != ErrPINIncorrect && e.Kind != ErrPINInvalid) {
		return nil
	}
	return &PINError{Err: &Error{Op: e.Op, Kind: ErrPINIncorrect, Err: e.Err}}
}

// Logout ends the user's login. Logging out when not logged in succeeds.
func (t *Token) Logout(ctx context.Context) error {
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.unlock()
	t.loggedIn = false
	return t.logout()
}

// Close logs out if this Token logged in and closes the session. It waits
// for a running operation. Close is idempotent; closing a Token whose card
// was removed, or whose Module is closed, succeeds.
func (t *Token) Close() error {
	t.sem <- struct{}{}
	defer t.unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	t.m.untrack(t)
	var errs []error
	if t.loggedIn && !t.gone {
		t.loggedIn = false
		errs = append(errs, t.logout())
	}
	if !t.gone {
		errs = append(errs, t.closeSession())
	}
	err := errors.Join(errs...)
	if errors.Is(err, ErrTokenRemoved) || errors.Is(err, ErrClosed) {
		return nil // nothing is left to close
	}
	return err
}

// InitPIN sets a new user PIN with the security officer's PIN: the RA's
// unlock and PIN reset. It ends any user login on the token first. A wrong
// SO PIN is a *PINError with SO set; a locked SO PIN is ErrPINLocked; a new
// PIN the card refuses is ErrPINInvalid.
func (t *Token) InitPIN(ctx context.Context, soPIN, newPIN PIN) error {
	if soPIN.IsZero() || newPIN.IsZero() {
		return &Error{Op: "init PIN", Kind: ErrPINFormat, Err: errors.New("no PIN given")}
	}
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.unlock()
	if err := t.logout(); err != nil {
		return err
	}
	t.loggedIn = false
	err := t.login(userSO, pin.Reveal(soPIN))
	if e := pinRefused(err); e != nil {
		e.SO = true
		e.RetriesLeft = -1
		if info, ierr := t.refresh(); ierr == nil {
			e.RetriesLeft = retriesFromFlags(info.SOPINLocked, info.SOPINFinalTry, info.SOPINCountLow)
		}
		return e
	}
	if err != nil {
		return err
	}
	err = t.initPIN(pin.Reveal(newPIN))
	if lerr := t.logout(); lerr != nil && err == nil {
		err = lerr // the PIN is set, but the SO session lingers
	}
	_, _ = t.refresh()
	return err
}

// ChangePIN replaces the user PIN old with new. A wrong old PIN is a
// *PINError; a new PIN the card refuses is ErrPINInvalid.
func (t *Token) ChangePIN(ctx context.Context, old, new PIN) error {
	if old.IsZero() || new.IsZero() {
		return &Error{Op: "change PIN", Kind: ErrPINFormat, Err: errors.New("no PIN given")}
	}
	if err := t.lock(ctx); err != nil {
		return err
	}
	defer t.unlock()
	err := t.setPIN(pin.Reveal(old), pin.Reveal(new))
	var e *Error
	if errors.As(err, &e) && e.Kind == ErrPINIncorrect {
		pe := &PINError{RetriesLeft: -1, Err: e}
		if info, ierr := t.refresh(); ierr == nil {
			pe.RetriesLeft = info.RetriesLeft()
		}
		return pe
	}
	_, _ = t.refresh()
	return err
}

// AuthCertificate returns the token's authentication certificate: among
// the X.509 certificates that share their CKA_ID with a private key, one
// with the digitalSignature key usage, preferring keys that do not need the
// PIN at every use, then certificates without nonRepudiation; ties go to
// the order the token lists them in. Before login, when the token hides its
// private keys, a public key with the same CKA_ID stands in for the private
// key. ErrNoCertificate when there is none.
func (t *Token) AuthCertificate(ctx context.Context) (*x509.Certificate, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.unlock()
	c, err := t.findAuth()
	if err != nil {
		return nil, err
	}
	return c.cert, nil
}

// Signer returns a crypto.Signer (a *Signer) for the private key of the
// authentication certificate; Public returns the certificate's key. It may
// be made before Login; signing needs it.
func (t *Token) Signer(ctx context.Context) (crypto.Signer, error) {
	if err := t.lock(ctx); err != nil {
		return nil, err
	}
	defer t.unlock()
	c, err := t.findAuth()
	if err != nil {
		return nil, err
	}
	s := &Signer{t: t, cert: c.cert, pub: c.cert.PublicKey, id: c.id}
	if c.key != nil {
		if err := checkKey(c.cert.PublicKey, *c.key); err != nil {
			return nil, err
		}
		s.key, s.haveKey = c.key.handle, true
	}
	return s, nil
}

// findAuth reads the token's certificates and keys and picks the
// authentication certificate; the caller holds sem.
func (t *Token) findAuth() (authChoice, error) {
	certs, err := t.certObjects()
	if err != nil {
		return authChoice{}, err
	}
	privs, err := t.keyObjects(true)
	if err != nil {
		return authChoice{}, err
	}
	var pubs []keyObject
	if len(privs) == 0 {
		if pubs, err = t.keyObjects(false); err != nil {
			return authChoice{}, err
		}
	}
	return chooseAuth(certs, privs, pubs)
}
