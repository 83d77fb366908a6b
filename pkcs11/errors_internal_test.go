package pkcs11

import (
	"errors"
	"fmt"
	"testing"

	p11 "github.com/miekg/pkcs11"
)

// SoftHSM never locks a PIN nor loses a token, so the mapping of those
// return values is tested here directly.
func TestClassify(t *testing.T) {
	tests := []struct {
		code      uint
		inSession bool
		want      error
	}{
		{p11.CKR_PIN_INCORRECT, true, ErrPINIncorrect},
		{p11.CKR_PIN_LOCKED, true, ErrPINLocked},
		{p11.CKR_PIN_LEN_RANGE, true, ErrPINInvalid},
		{p11.CKR_PIN_INVALID, true, ErrPINInvalid},
		{p11.CKR_PIN_TOO_WEAK, true, ErrPINInvalid},
		{p11.CKR_PIN_EXPIRED, true, ErrPINExpired},
		{p11.CKR_USER_PIN_NOT_INITIALIZED, true, ErrPINNotInitialized},
		{p11.CKR_USER_NOT_LOGGED_IN, true, ErrNotLoggedIn},
		{p11.CKR_DEVICE_REMOVED, true, ErrTokenRemoved},
		{p11.CKR_TOKEN_NOT_PRESENT, true, ErrTokenRemoved},
		{p11.CKR_SESSION_HANDLE_INVALID, true, ErrTokenRemoved},
		{p11.CKR_SESSION_CLOSED, true, ErrTokenRemoved},
		{p11.CKR_DEVICE_REMOVED, false, ErrTokenNotPresent},
		{p11.CKR_TOKEN_NOT_PRESENT, false, ErrTokenNotPresent},
		{p11.CKR_SLOT_ID_INVALID, false, ErrTokenNotPresent},
		{p11.CKR_TOKEN_NOT_RECOGNIZED, false, ErrTokenNotPresent},
		{p11.CKR_KEY_HANDLE_INVALID, true, ErrNoKey},
		{p11.CKR_OBJECT_HANDLE_INVALID, true, ErrNoKey},
		{p11.CKR_MECHANISM_INVALID, true, ErrUnsupported},
		{p11.CKR_MECHANISM_PARAM_INVALID, true, ErrUnsupported},
		{p11.CKR_CRYPTOKI_NOT_INITIALIZED, true, ErrClosed},
		{p11.CKR_DEVICE_ERROR, true, ErrTokenFailure},
		{p11.CKR_GENERAL_ERROR, false, ErrTokenFailure},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%v/session=%v", p11.Error(tc.code), tc.inSession), func(t *testing.T) {
			cause := fmt.Errorf("wrapped: %w", p11.Error(tc.code))
			if got := classify(cause, tc.inSession); got != tc.want {
				t.Fatalf("classify = %v, want %v", got, tc.want)
			}
			// As the Token methods return it: matches its kind, and the
			// code is there for errors.As.
			err := &Error{Op: "op", Kind: classify(cause, tc.inSession), Err: cause}
			var rv p11.Error
			if !errors.Is(err, tc.want) || !errors.As(err, &rv) || uint(rv) != tc.code {
				t.Fatalf("%v: errors.Is(%v) or errors.As code failed", err, tc.want)
			}
		})
	}
	if got := classify(errors.New("not PKCS#11"), true); got != ErrTokenFailure {
		t.Errorf("a foreign error classifies as %v", got)
	}
	if got := classify(ErrClosed, true); got != ErrClosed {
		t.Errorf("ErrClosed classifies as %v", got)
	}
}

func TestPINErrorRetries(t *testing.T) {
	tests := []struct {
		name                       string
		locked, finalTry, countLow bool
		want                       int
	}{
		{"no flags", false, false, false, -1},
		{"count low", false, false, true, 2},
		{"final try", false, true, true, 1},
		{"locked", true, false, false, 0},
		{"locked and final try", true, true, true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := retriesFromFlags(tc.locked, tc.finalTry, tc.countLow); got != tc.want {
				t.Errorf("retriesFromFlags = %d, want %d", got, tc.want)
			}
		})
	}
}

// A refused PIN from the card becomes a *PINError; one that left no tries
// is also ErrPINLocked; a CKR_PIN_LOCKED at login stays ErrPINLocked.
func TestPinRefused(t *testing.T) {
	incorrect := &Error{Op: "login", Kind: ErrPINIncorrect, Err: p11.Error(p11.CKR_PIN_INCORRECT)}
	pe := pinRefused(incorrect)
	if pe == nil {
		t.Fatal("CKR_PIN_INCORRECT is not a refused PIN")
	}
	for retries, want := range map[int]string{
		-1: "pkcs11: login: incorrect PIN: pkcs11: 0xA0: CKR_PIN_INCORRECT",
		2:  "pkcs11: login: incorrect PIN (2 tries left before the card locks): pkcs11: 0xA0: CKR_PIN_INCORRECT",
		1:  "pkcs11: login: incorrect PIN (1 try left before the card locks): pkcs11: 0xA0: CKR_PIN_INCORRECT",
		0:  "pkcs11: login: incorrect PIN; the PIN is now locked: pkcs11: 0xA0: CKR_PIN_INCORRECT",
	} {
		pe.RetriesLeft = retries
		if got := pe.Error(); got != want {
			t.Errorf("retries %d: %q, want %q", retries, got, want)
		}
		if !errors.Is(pe, ErrPINIncorrect) || errors.Is(pe, ErrPINLocked) != (retries == 0) {
			t.Errorf("retries %d: errors.Is ErrPINIncorrect %v, ErrPINLocked %v", retries,
				errors.Is(pe, ErrPINIncorrect), errors.Is(pe, ErrPINLocked))
		}
	}
	lenRange := &Error{Op: "login", Kind: ErrPINInvalid, Err: p11.Error(p11.CKR_PIN_LEN_RANGE)}
	if pe := pinRefused(lenRange); pe == nil || !errors.Is(pe, ErrPINIncorrect) {
		t.Errorf("CKR_PIN_LEN_RANGE at login: %v, want an incorrect PIN", pe)
	}
	locked := &Error{Op: "login", Kind: ErrPINLocked, Err: p11.Error(p11.CKR_PIN_LOCKED)}
	if pe := pinRefused(locked); pe != nil {
		t.Errorf("CKR_PIN_LOCKED became a *PINError: %v", pe)
	}
	if !errors.Is(locked, ErrPINLocked) || errors.Is(locked, ErrPINIncorrect) {
		t.Errorf("CKR_PIN_LOCKED: %v", locked)
	}
	if pe := pinRefused(errors.New("other")); pe != nil {
		t.Errorf("a foreign error became a *PINError")
	}
}
