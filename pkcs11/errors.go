package pkcs11

import (
	"fmt"

	"github.com/carespine/spineauth/pkcs11/internal/pin"
)

// kind is the type of the error kinds below. Each kind is one pointer, so
// errors.Is matches it by identity; its text is safe to show to a user.
type kind struct{ msg string }

func (k *kind) Error() string { return "pkcs11: " + k.msg }

// Error kinds. Every error this package returns, other than a context's
// error when the caller's context ends, matches one of them with errors.Is
// (a *PINError matches ErrPINIncorrect, and also ErrPINLocked when the
// failure locked the PIN). Their texts are written for the user at the
// workstation.
var (
	// ErrPINIncorrect: the card refused the PIN. See *PINError for the
	// number of tries left.
	ErrPINIncorrect error = &kind{"incorrect PIN"}
	// ErrPINLocked: too many wrong PINs; the card must be unlocked by a
	// registration authority (InitPIN with the SO PIN).
	ErrPINLocked error = &kind{"the card's PIN is locked: ask your registration authority to unlock the card"}
	// ErrPINFormat: the text cannot be a PIN (length or characters); the
	// card was not asked.
	ErrPINFormat = pin.ErrFormat
	// ErrPINInvalid: the card refused a new PIN (length, characters or
	// strength rules of the card).
	ErrPINInvalid error = &kind{"the card does not accept this new PIN"}
	// ErrPINExpired: the PIN is right but must be changed before use.
	ErrPINExpired error = &kind{"the card's PIN has expired and must be changed"}
	// ErrPINNotInitialized: the card has no user PIN yet.
	ErrPINNotInitialized error = &kind{"the card has no PIN set: ask your registration authority"}
	// ErrNotLoggedIn: the operation needs Login first.
	ErrNotLoggedIn error = &kind{"not logged in to the card"}
	// ErrTokenNotPresent: no card (or no card matching the selector) is
	// present.
	ErrTokenNotPresent error = &kind{"no card found"}
	// ErrAmbiguousToken: the selector matches more than one card.
	ErrAmbiguousToken error = &kind{"more than one card found: choose one"}
	// ErrTokenRemoved: the card this Token was opened on has gone (removed
	// from the reader, or its session closed under us). Open it again.
	ErrTokenRemoved error = &kind{"the card was removed"}
	// ErrNoCertificate: the card holds no authentication certificate.
	ErrNoCertificate error = &kind{"no authentication certificate on the card"}
	// ErrNoKey: the card holds no usable private key for the
	// authentication certificate.
	ErrNoKey error = &kind{"no private key for the authentication certificate on the card"}
	// ErrKeyExists: the token already holds a key or certificate with the
	// CKA_ID given (GenerateKey, WriteCertificate).
	ErrKeyExists error = &kind{"the card already holds a key or certificate with this identifier"}
	// ErrUnsupported: the algorithm, hash or parameters are not supported
	// by this package or by the card.
	ErrUnsupported error = &kind{"operation not supported by the card"}
	// ErrClosed: the Token or Module has been closed.
	ErrClosed error = &kind{"card access is closed"}
	// ErrModule: the PKCS#11 library could not be loaded or initialised.
	ErrModule error = &kind{"cannot load the card library"}
	// ErrTokenFailure: any other failure reported by the card or library.
	ErrTokenFailure error = &kind{"the card reported an error"}
)

// Error is a failed card operation: Kind is one of the Err* kinds above,
// Err the cause (often a p11.Error carrying the CKR_ code, which callers
// may extract with errors.As). Neither ever contains a PIN.
type Error struct {
	Op   string // what was being done: "login", "sign", "open session", ...
	Kind error
	Err  error
}

func (e *Error) Error() string {
	msg := e.Kind.Error()
	if k, ok := e.Kind.(*kind); ok {
		msg = k.msg
	}
	if e.Err == nil {
		return "pkcs11: " + e.Op + ": " + msg
	}
	return "pkcs11: " + e.Op + ": " + msg + ": " + e.Err.Error()
}

// Unwrap exposes both the kind and the cause to errors.Is and errors.As.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// PINError is a refused PIN. It matches ErrPINIncorrect, and ErrPINLocked
// too when RetriesLeft is 0.
type PINError struct {
	// RetriesLeft is how many more wrong PINs the card accepts before it
	// locks, as far as the card tells: 0 locked, 1 final try
	// (CKF_USER_PIN_FINAL_TRY), 2 when the card only says "count low"
	// (CKF_USER_PIN_COUNT_LOW, i.e. some tries have failed; cards here
	// lock after 3), -1 unknown.
	RetriesLeft int
	// SO is set when the refused PIN was the security officer's (the
	// unlock PIN or PUK), not the user's.
	SO  bool
	Err error // an *Error of kind ErrPINIncorrect, with the card's code
}

func (e *PINError) Error() string {
	who := "PIN"
	if e.SO {
		who = "security officer PIN"
	}
	var tail string
	switch {
	case e.RetriesLeft == 0:
		tail = "; the " + who + " is now locked"
	case e.RetriesLeft == 1:
		tail = " (1 try left before the card locks)"
	case e.RetriesLeft > 1:
		tail = fmt.Sprintf(" (%d tries left before the card locks)", e.RetriesLeft)
	}
	msg := "pkcs11: "
	cause := e.Err
	if inner, ok := e.Err.(*Error); ok {
		msg += inner.Op + ": "
		cause = inner.Err
	}
	msg += "incorrect " + who + tail
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return msg
}

// Unwrap makes a PINError match ErrPINIncorrect always, and ErrPINLocked
// when no tries are left.
func (e *PINError) Unwrap() []error {
	errs := []error{ErrPINIncorrect}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.RetriesLeft == 0 {
		errs = append(errs, ErrPINLocked)
	}
	return errs
}

// retriesFromFlags turns the PIN state flags of a token into a retry count
// as documented on PINError.RetriesLeft.
func retriesFromFlags(locked, finalTry, countLow bool) int {
	switch {
	case locked:
		return 0
	case finalTry:
		return 1
	case countLow:
		return 2
	default:
		return -1
	}
}
