package registration

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"unicode"
	"unicode/utf8"
)

// Validators for the patient facts (legitimate relationships, consent,
// sealed envelopes, alerts). Like those in ids.go they parse untrusted
// input by hand, accept ASCII only where a code is expected, and return nil
// or an *InvalidError that names the field and never echoes the input.

// Limits on the free text and lists of the patient facts.
const (
	// MaxReasonLen is the most characters a reason (for a self-claimed or
	// emergency relationship, or an alert) may have.
	MaxReasonLen = 500
	// MaxReviewNoteLen is the most characters a privacy officer's review
	// note on an alert may have.
	MaxReviewNoteLen = 1000
	// MaxDissentCodes is the most Read codes one consent record may carry.
	MaxDissentCodes = 16
	// MaxSectionLen is the longest record section token.
	MaxSectionLen = 64
)

// ValidateNHSNumber checks an NHS number: 10 ASCII digits with a valid
// modulus 11 check digit (see ValidNHSNumber).
func ValidateNHSNumber(s string) error { return checkNHS("nhs_number", s) }

// ValidateReadCode checks the shape of a Read code as recorded against a
// patient (for SCR dissent, e.g. 93C3 or 9Ndo): 4 or 5 of [A-Za-z0-9.].
// Read codes are case-sensitive, so 9Ndo and 9NDO are different codes.
func ValidateReadCode(s string) error { return checkReadCode("read_code", s) }

// ValidateSection checks a record section token such as scr, clinical or
// clinical/mental-health: 1 to MaxSectionLen bytes, one or more segments of
// lower-case ASCII letters, digits, '_' or '-', separated by single '/'.
// Upper case is refused so that one section cannot be spelled two ways
// (a seal on "clinical" must not be missed by asking for "Clinical").
func ValidateSection(s string) error { return checkSection("section", s) }

// ValidateReason checks the reason a user gives for a self-claimed or
// emergency relationship, for breaking a seal or for an alert: valid
// UTF-8, 1 to MaxReasonLen characters, no leading or trailing white space,
// no control characters (line breaks included) and no bidirectional
// controls.
func ValidateReason(s string) error { return checkText("reason", s, MaxReasonLen) }

// ValidateRecordID checks the ID of a relationship or an alert: 16 to 32
// lower-case hex digits (64 to 128 bits). NewRecordID makes 32.
func ValidateRecordID(s string) error { return checkRecordID("id", s) }

// NewRecordID returns a fresh random ID for a relationship or an alert:
// 128 bits from crypto/rand as 32 lower-case hex digits. Callers make the ID
// (rather than the store) so that they know it before the record is
// written: the PDP puts an alert's ID in its answer.
func NewRecordID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+: it crashes the program instead)
	return hex.EncodeToString(b[:])
}

// ValidReadCode reports whether ValidateReadCode accepts s.
func ValidReadCode(s string) bool { return ValidateReadCode(s) == nil }

// ValidSection reports whether ValidateSection accepts s.
func ValidSection(s string) bool { return ValidateSection(s) == nil }

func checkNHS(field, s string) error {
	if !ValidNHSNumber(s) {
		return invalid(field, "must be 10 digits with a valid modulus 11 check digit")
	}
	return nil
}

func checkRecordID(field, s string) error {
	const reason = "must be 16 to 32 lower-case hex digits"
	if len(s) < 16 || len(s) > 32 {
		return invalid(field, reason)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return invalid(field, reason)
		}
	}
	return nil
}

func checkReadCode(field, s string) error {
	if len(s) < 4 || len(s) > 5 {
		return invalid(field, "must be 4 or 5 letters, digits or '.'")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '.') {
			return invalid(field, "must be 4 or 5 letters, digits or '.'")
		}
	}
	return nil
}

func checkSection(field, s string) error {
	const reason = "must be segments of lower-case letters, digits, '_' or '-' separated by '/', at most 64 bytes"
	if len(s) == 0 || len(s) > MaxSectionLen {
		return invalid(field, reason)
	}
	segment := 0 // length of the current segment
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || c == '_' || c == '-':
			segment++
		case c == '/' && segment > 0:
			segment = 0
		default:
			return invalid(field, reason)
		}
	}
	if segment == 0 { // trailing '/'
		return invalid(field, reason)
	}
	return nil
}

// checkText applies the rules for free text a user types (a reason, a
// review note): those of a name (checkName), with its own length limit.
func checkText(field, s string, max int) error {
	if s == "" {
		return invalid(field, "must not be empty")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > max {
		return invalid(field, "must be at most "+strconv.Itoa(max)+" characters")
	}
	first, _ := utf8.DecodeRuneInString(s)
	last, _ := utf8.DecodeLastRuneInString(s)
	if unicode.IsSpace(first) || unicode.IsSpace(last) {
		return invalid(field, "must not start or end with white space")
	}
	for _, r := range s {
		if unicode.IsControl(r) || isBidiControl(r) || r == utf8.RuneError {
			return invalid(field, "must not contain control characters")
		}
	}
	return nil
}
