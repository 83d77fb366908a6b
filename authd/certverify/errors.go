package certverify

import (
	"errors"
	"fmt"
)

// Reason is a stable, machine-readable refusal code. The values match the
// login API error codes in DESIGN.md where one exists.
type Reason string

const (
	// ReasonUntrusted: no valid path to a trust anchor (bad signature on a
	// certificate, unknown issuer, basic constraints, name constraints,
	// certificate policies, unknown critical extension, ...).
	ReasonUntrusted Reason = "cert_untrusted"
	// ReasonExpired: a certificate in the path is outside its validity
	// period (expired or not yet valid).
	ReasonExpired Reason = "cert_expired"
	// ReasonRevoked: a certificate in the path is revoked.
	ReasonRevoked Reason = "cert_revoked"
	// ReasonUsage: the path is valid but the leaf may not be used for login
	// (key usage, extended key usage or a required policy is missing).
	ReasonUsage Reason = "cert_usage"
	// ReasonRevocationUnavailable: the revocation status of a certificate
	// in the path could not be established and hard-fail is in force.
	ReasonRevocationUnavailable Reason = "revocation_unavailable"
	// ReasonMalformed: the input could not be parsed as a certificate.
	ReasonMalformed Reason = "cert_malformed"
)

// Error is a refusal. Reason and Message are safe to show to the caller;
// Err carries the underlying cause for the log.
type Error struct {
	Reason  Reason
	Message string // safe, human-readable, names no secrets
	// Depth is the position in the path of the certificate at fault:
	// 0 is the leaf; -1 when no single certificate is at fault.
	Depth int
	Err   error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Reason, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Reason, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of err if it is (or wraps) an *Error, and
// ReasonUntrusted for any other non-nil error: a failure of unknown kind is
// never mistaken for success.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonUntrusted
}

func newError(r Reason, depth int, cause error, format string, args ...any) *Error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...), Depth: depth, Err: cause}
}
