package pin

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
)

// Length limits of a PIN. Cards in this deployment use 6-8 digits; the
// limits are wider so that the card, not this package, decides what it
// accepts (PUKs, SoftHSM SO PINs, vendor cards).
const (
	MinLen = 4
	MaxLen = 16
)

// ErrFormat reports a string that cannot be a PIN. Errors wrapping it never
// contain the offending text.
var ErrFormat = errors.New("pkcs11: PIN has the wrong format")

const (
	redacted = "PIN([redacted])"
	empty    = "PIN(empty)"
)

// PIN is a card passcode. String, GoString, Format and LogValue never show
// it; Equal compares in constant time. The zero PIN is "no PIN".
//
// PIN is not comparable with ==, so that comparisons go through Equal.
type PIN struct {
	_ [0]func() // makes PIN not comparable
	s string
}

// New validates s and returns it as a PIN: MinLen to MaxLen printable ASCII
// characters other than space. The error never contains s.
func New(s string) (PIN, error) {
	if n := len(s); n < MinLen || n > MaxLen {
		return PIN{}, fmt.Errorf("%w: it must be %d to %d characters", ErrFormat, MinLen, MaxLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c > '~' {
			return PIN{}, fmt.Errorf("%w: only printable ASCII characters other than space are allowed", ErrFormat)
		}
	}
	return PIN{s: s}, nil
}

// Reveal returns the PIN's characters, to hand to a card or a provisioning
// tool. The result must never be logged, stored or returned in an error.
func Reveal(p PIN) string { return p.s }

// IsZero reports whether p is the zero PIN.
func (p PIN) IsZero() bool { return p.s == "" }

// Equal reports whether p and q are the same PIN, in time that depends on
// their lengths only.
func (p PIN) Equal(q PIN) bool {
	return subtle.ConstantTimeCompare([]byte(p.s), []byte(q.s)) == 1
}

func (p PIN) label() string {
	if p.IsZero() {
		return empty
	}
	return redacted
}

// String returns a placeholder, never the PIN.
func (p PIN) String() string { return p.label() }

// GoString returns a placeholder, never the PIN (for %#v).
func (p PIN) GoString() string { return p.label() }

// Format writes a placeholder for every verb (%v, %s, %q, %x, %d, ...).
func (p PIN) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(p.label())) }

// LogValue makes slog record a placeholder, never the PIN.
func (p PIN) LogValue() slog.Value { return slog.StringValue(p.label()) }

var (
	_ fmt.Stringer   = PIN{}
	_ fmt.GoStringer = PIN{}
	_ fmt.Formatter  = PIN{}
	_ slog.LogValuer = PIN{}
)
