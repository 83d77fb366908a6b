// Package httpjson reads and writes the JSON bodies of authd's HTTP API:
// bounded, strict decoding (unknown fields and trailing data are errors)
// and uncached JSON answers. It must not echo any of a request's content
// in the errors it returns: a body may hold a signature or a token.
package httpjson

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
)

// DecodeError says why a body was refused, in words safe to show.
type DecodeError struct {
	TooLarge bool   // the body exceeded the limit
	Reason   string // what was wrong, naming no request content
}

func (e *DecodeError) Error() string { return e.Reason }

// Decode reads r's body, at most limit bytes, strictly into v. Its error,
// if any, is a *DecodeError.
func Decode(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &DecodeError{TooLarge: true, Reason: "request body is too large"}
		}
		return &DecodeError{Reason: "request body is not valid JSON for this endpoint: " + describe(err)}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &DecodeError{Reason: "request body has trailing data"}
	}
	return nil
}

// describe names what was wrong with a body from the decoder's error
// class and, for a type error, the field path of the endpoint's own type.
func describe(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &syn):
		return "syntax error"
	case errors.As(err, &typ) && typ.Field != "":
		return "field " + typ.Field + " has the wrong type"
	case errors.As(err, &typ):
		return "the body has the wrong type"
	case errors.As(err, &b64):
		return "a certificate or signature field is not valid base64"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "body is empty or truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown field"
	default:
		return "not the expected object"
	}
}

// Write answers with v as JSON and forbids caching.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
