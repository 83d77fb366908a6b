package registration

import "errors"

// Error kinds. Every error a Store or validator returns for a reason the
// caller can act on matches exactly one of these under errors.Is; anything
// else (I/O, a cancelled context, a corrupt database) matches none of them
// and must be treated as an internal failure.
var (
	// ErrNotFound: the identifier is well-formed but names nothing.
	ErrNotFound = errors.New("registration: not found")
	// ErrExists: a record with the same identity (or the same unique
	// attribute, such as a card certificate fingerprint) already exists.
	ErrExists = errors.New("registration: already exists")
	// ErrConflict: the record exists but is not in a state that allows the
	// change (a status transition that is not allowed, a stale version).
	ErrConflict = errors.New("registration: conflict")
	// ErrInvalid: the input breaks a rule of the domain (a malformed
	// identifier, a name with control characters) or refers to a record
	// that does not exist (a role profile at an unknown organisation).
	ErrInvalid = errors.New("registration: invalid input")
)

// InvalidError says which field of an input was refused and why. It
// matches ErrInvalid under errors.Is. Its message names the field and the
// rule, never the offending value, so it is safe to show to the caller and
// to log: untrusted input does not reach either.
type InvalidError struct {
	Field  string // e.g. "uid", "ods", "activities[2]"
	Reason string // the rule broken, e.g. "must be 12 digits"
}

func (e *InvalidError) Error() string {
	return "registration: invalid " + e.Field + ": " + e.Reason
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error {
	return &InvalidError{Field: field, Reason: reason}
}
