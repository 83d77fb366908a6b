package login

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/carespine/spineauth/authd/certverify"
)

// Code is a stable error code of the login API (DESIGN.md, "Login").
type Code string

// Codes returned to clients.
const (
	CodeBadRequest            Code = "bad_request"
	CodeBadSignature          Code = "bad_signature"
	CodeChallengeUnknown      Code = "challenge_unknown"
	CodeCertUntrusted         Code = "cert_untrusted"
	CodeCertExpired           Code = "cert_expired"
	CodeCertRevoked           Code = "cert_revoked"
	CodeCertUsage             Code = "cert_usage"
	CodeCertMalformed         Code = "cert_malformed"
	CodeRevocationUnavailable Code = "revocation_unavailable"
	CodeCardNotActive         Code = "card_not_active"
	CodeUserUnknown           Code = "user_unknown"
	CodeUserNotActive         Code = "user_not_active"
	CodeRoleProfileInvalid    Code = "role_profile_invalid"
	CodeSessionInvalid        Code = "session_invalid"
	CodeSessionExpired        Code = "session_expired"
	CodeInternal              Code = "internal_error"
	CodeUnavailable           Code = "unavailable"
)

// Error is a refusal with a safe message for the client and the cause for
// the log.
type Error struct {
	Code    Code
	Message string
	Status  int // HTTP status
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

func refuse(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Status: http.StatusUnauthorized, Message: fmt.Sprintf(format, args...), Err: cause}
}

func badRequest(format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Status: http.StatusBadRequest, Message: fmt.Sprintf(format, args...)}
}

func internal(cause error) *Error {
	return &Error{Code: CodeInternal, Status: http.StatusInternalServerError, Message: "internal error", Err: cause}
}

// unavailable is a dependency (store, session backend) that failed.
func unavailable(what string, cause error) *Error {
	return &Error{Code: CodeUnavailable, Status: http.StatusServiceUnavailable,
		Message: what + " is unavailable; try again shortly", Err: cause}
}

// certCodes maps verifier reasons to login codes.
var certCodes = map[certverify.Reason]Code{
	certverify.ReasonUntrusted:             CodeCertUntrusted,
	certverify.ReasonExpired:               CodeCertExpired,
	certverify.ReasonRevoked:               CodeCertRevoked,
	certverify.ReasonUsage:                 CodeCertUsage,
	certverify.ReasonRevocationUnavailable: CodeRevocationUnavailable,
	certverify.ReasonMalformed:             CodeCertMalformed,
}

// certRefusal turns a verifier error into a login refusal.
func certRefusal(err error) *Error {
	var ve *certverify.Error
	if errors.As(err, &ve) {
		code, ok := certCodes[ve.Reason]
		if !ok {
			code = CodeCertUntrusted
		}
		return refuse(code, err, "%s", ve.Message)
	}
	return refuse(CodeCertUntrusted, err, "certificate could not be verified")
}
