package registration

import (
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Identifier validators. Each parses untrusted input (certificate subject
// names, API requests, catalogue files) by hand, byte by byte, with no
// regular expressions and no allocation, and returns nil or an
// *InvalidError naming the field. They accept ASCII only: a Unicode digit
// or letter that merely looks like one is refused.

// MaxNameLen is the most characters (Unicode code points) a person's or an
// organisation's name may have.
const MaxNameLen = 200

// ValidateUserID checks a user ID: exactly 12 ASCII digits (the number
// printed on the card and the "sub" of tokens).
func ValidateUserID(s string) error { return checkUserID("uid", s) }

// ValidateRoleProfileID checks a role profile ID: exactly 12 ASCII digits.
func ValidateRoleProfileID(s string) error { return checkDigits("role_profile_id", s, 12) }

// ValidateODSCode checks an organisation (ODS) code: 3 to 6 upper-case
// ASCII letters or digits, e.g. Y12345, RBA, A81001.
func ValidateODSCode(s string) error { return checkODS("ods", s) }

// ValidateJobRole checks the shape of a national job role code,
// S<nnnn>:G<nnnn>:R<nnnn>, e.g. S8000:G8000:R8000. It does not check that
// the code is in a catalogue.
func ValidateJobRole(s string) error {
	const field = "job_role"
	if len(s) != 17 {
		return invalid(field, "must have the form S<nnnn>:G<nnnn>:R<nnnn>")
	}
	for i, prefix := range [3]byte{'S', 'G', 'R'} {
		part := s[i*6 : i*6+5]
		if part[0] != prefix || !allDigits(part[1:]) || (i < 2 && s[i*6+5] != ':') {
			return invalid(field, "must have the form S<nnnn>:G<nnnn>:R<nnnn>")
		}
	}
	return nil
}

// ValidateActivityCode checks the shape of an activity code, B<nnnn>,
// e.g. B0825. It does not check that the code is in a catalogue.
func ValidateActivityCode(s string) error { return checkActivity("activity", s) }

// ValidateWorkgroupID checks a workgroup ID: 1 to 64 of [A-Za-z0-9_-].
func ValidateWorkgroupID(s string) error { return checkToken("workgroup", s, 64, true) }

// ValidateCardID checks a card ID: 1 to 32 of [A-Za-z0-9-].
func ValidateCardID(s string) error { return checkToken("card_id", s, 32, false) }

// ValidateCertSerial checks a certificate serial number as stored: 1 to 64
// lower-case hexadecimal digits (see SerialHex).
func ValidateCertSerial(s string) error {
	const field = "cert_serial"
	if len(s) == 0 || len(s) > 64 {
		return invalid(field, "must be 1 to 64 lower-case hex digits")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return invalid(field, "must be 1 to 64 lower-case hex digits")
		}
	}
	return nil
}

// ValidateName checks a display name (of a person or an organisation):
// valid UTF-8, 1 to MaxNameLen characters, no leading or trailing white
// space, no control characters and no bidirectional-override characters
// (which can make a name display as something else).
func ValidateName(s string) error { return checkName("name", s) }

// Boolean forms of the validators, for callers that only branch on the
// answer (a certificate subject that does not hold a user ID, say).

// ValidUserID reports whether ValidateUserID accepts s.
func ValidUserID(s string) bool { return ValidateUserID(s) == nil }

// ValidRoleProfileID reports whether ValidateRoleProfileID accepts s.
func ValidRoleProfileID(s string) bool { return ValidateRoleProfileID(s) == nil }

// ValidODSCode reports whether ValidateODSCode accepts s.
func ValidODSCode(s string) bool { return ValidateODSCode(s) == nil }

// ValidJobRole reports whether ValidateJobRole accepts s.
func ValidJobRole(s string) bool { return ValidateJobRole(s) == nil }

// ValidActivityCode reports whether ValidateActivityCode accepts s.
func ValidActivityCode(s string) bool { return ValidateActivityCode(s) == nil }

// ValidNHSNumber reports whether s is a well-formed NHS number: 10 ASCII
// digits whose last is the modulus 11 check digit of the first nine
// (weights 10 down to 2; check = 11 - sum mod 11, where 11 means 0 and 10
// means the number is invalid). Test numbers start 999.
func ValidNHSNumber(s string) bool {
	if len(s) != 10 || !allDigits(s) {
		return false
	}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += int(s[i]-'0') * (10 - i)
	}
	check := 11 - sum%11
	switch check {
	case 11:
		check = 0
	case 10:
		return false
	}
	return int(s[9]-'0') == check
}

func checkUserID(field, s string) error { return checkDigits(field, s, 12) }

func checkDigits(field, s string, n int) error {
	if len(s) != n || !allDigits(s) {
		return invalid(field, "must be "+strconv.Itoa(n)+" digits")
	}
	return nil
}

func checkODS(field, s string) error {
	if len(s) < 3 || len(s) > 6 {
		return invalid(field, "must be 3 to 6 upper-case letters or digits")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z') {
			return invalid(field, "must be 3 to 6 upper-case letters or digits")
		}
	}
	return nil
}

func checkActivity(field, s string) error {
	if len(s) != 5 || s[0] != 'B' || !allDigits(s[1:]) {
		return invalid(field, "must have the form B<nnnn>")
	}
	return nil
}

// checkToken accepts 1..max of [A-Za-z0-9-], and '_' when underscore is set.
func checkToken(field, s string, max int, underscore bool) error {
	reason := "must be 1 to 32 letters, digits or '-'"
	if underscore {
		reason = "must be 1 to 64 letters, digits, '_' or '-'"
	}
	if len(s) == 0 || len(s) > max {
		return invalid(field, reason)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' ||
			c == '-' || underscore && c == '_'
		if !ok {
			return invalid(field, reason)
		}
	}
	return nil
}

func checkName(field, s string) error {
	if s == "" {
		return invalid(field, "must not be empty")
	}
	if !utf8.ValidString(s) {
		return invalid(field, "must be valid UTF-8")
	}
	if utf8.RuneCountInString(s) > MaxNameLen {
		return invalid(field, "must be at most 200 characters")
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

// isBidiControl reports the explicit directional embedding, override and
// isolate characters (Unicode TR9), which can reorder how a name displays.
func isBidiControl(r rune) bool {
	return 0x202A <= r && r <= 0x202E || 0x2066 <= r && r <= 0x2069
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Times are stored to the microsecond (the precision PostgreSQL keeps) and
// must lie in this range; the zero time.Time is outside it.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

func checkTime(field string, t time.Time) error {
	if t.Before(minTime) || !t.Before(maxTime) {
		return invalid(field, "must be a time between 1970 and 9999")
	}
	return nil
}

// normTime is how every time is stored and returned: UTC, truncated to
// the microsecond, with no monotonic clock reading.
func normTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
