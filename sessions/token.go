package sessions

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
)

// TokenSize is the length of a session token in bytes.
const TokenSize = 32

// encodedTokenLen is the length of a token's wire form: 32 bytes in unpadded
// base64url.
const encodedTokenLen = 43

const redactedToken = "session-token(REDACTED)"

// ErrMalformedToken is returned by ParseToken for anything that is not the
// exact wire form of a token.
var ErrMalformedToken = errors.New("sessions: malformed session token")

var tokenEncoding = base64.RawURLEncoding.Strict()

// Token is a session bearer token: 32 random bytes. Only its SHA-256 (Hash)
// is ever stored. Every way of printing or marshalling a Token yields a
// redacted placeholder; Encode is the only way to get the secret out.
type Token [TokenSize]byte

// NewToken returns a fresh random token.
func NewToken() (Token, error) {
	var t Token
	if _, err := io.ReadFull(rand.Reader, t[:]); err != nil {
		return Token{}, fmt.Errorf("sessions: reading random token: %w", err)
	}
	return t, nil
}

// ParseToken parses a token's wire form: exactly 43 characters of unpadded
// base64url, whose unused trailing bits are zero (so every token has exactly
// one accepted spelling). Errors wrap ErrMalformedToken and never quote the
// input.
func ParseToken(s string) (Token, error) {
	if len(s) != encodedTokenLen {
		return Token{}, fmt.Errorf("%w: length %d, want %d", ErrMalformedToken, len(s), encodedTokenLen)
	}
	var t Token
	n, err := tokenEncoding.Decode(t[:], []byte(s))
	if err != nil || n != TokenSize {
		// The base64 error names the offending byte offset, not the byte.
		return Token{}, fmt.Errorf("%w: not base64url", ErrMalformedToken)
	}
	return t, nil
}

// Encode returns the token's wire form (unpadded base64url, 43 characters).
// It is the only way to get the secret out of a Token: call it only to hand
// the token to its holder.
func (t Token) Encode() string {
	return tokenEncoding.EncodeToString(t[:])
}

// String returns a redacted placeholder, never the token.
func (t Token) String() string { return redactedToken }

// GoString returns a redacted placeholder, never the token (for %#v).
func (t Token) GoString() string { return redactedToken }

// Format prints a redacted placeholder for every verb, so that %x, %v, %d or
// %s cannot print the bytes.
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedToken) }

// LogValue implements slog.LogValuer with a redacted placeholder.
func (t Token) LogValue() slog.Value { return slog.StringValue(redactedToken) }

// MarshalText implements encoding.TextMarshaler with a redacted placeholder,
// so that a Token inside a JSON document or log record is never written out.
// There is deliberately no UnmarshalText: decode with ParseToken.
func (t Token) MarshalText() ([]byte, error) { return []byte(redactedToken), nil }

// Equal reports whether t and u are the same token, in constant time.
func (t Token) Equal(u Token) bool {
	return subtle.ConstantTimeCompare(t[:], u[:]) == 1
}

// IsZero reports whether t is the zero token (never a valid session).
func (t Token) IsZero() bool { return t.Equal(Token{}) }

// Hash returns the token's SHA-256, the key under which stores keep the
// session.
func (t Token) Hash() [sha256.Size]byte { return sha256.Sum256(t[:]) }

// sessionID returns the public identifier of the session that a token hash
// names: the first 8 bytes of the hash in hex.
func sessionID(h [sha256.Size]byte) string { return hex.EncodeToString(h[:8]) }

// NewChallengeID returns a random challenge identifier (16 bytes, unpadded
// base64url: 22 characters).
func NewChallengeID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(rand.Reader, b[:]); err != nil {
		return "", fmt.Errorf("sessions: reading random challenge id: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}
