package registration_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/carespine/spineauth/registration"
)

var sectionRE = regexp.MustCompile(`\A[a-z0-9_-]+(/[a-z0-9_-]+)*\z`)

// patientRefs are reference definitions of the patient-fact validators.
var patientRefs = []struct {
	name  string
	check func(string) error
	ref   func(string) bool
}{
	{"read_code", registration.ValidateReadCode, regexp.MustCompile(`\A[A-Za-z0-9.]{4,5}\z`).MatchString},
	{"section", registration.ValidateSection, func(s string) bool {
		return len(s) <= registration.MaxSectionLen && sectionRE.MatchString(s)
	}},
	{"reason", registration.ValidateReason, func(s string) bool { return refText(s, registration.MaxReasonLen) }},
	{"id", registration.ValidateRecordID, regexp.MustCompile(`\A[0-9a-f]{16,32}\z`).MatchString},
	{"nhs_number", registration.ValidateNHSNumber, refNHS},
}

// FuzzPatientInput checks the validators of patient facts (Read codes,
// section tokens, reasons, record IDs, NHS numbers) against the slow,
// obvious definitions, and that every refusal is a safe *InvalidError.
func FuzzPatientInput(f *testing.F) {
	for _, s := range []string{"93C3", "9Ndo", "9N...", "scr", "clinical/mental-health", "clinical/", "a//b",
		"Clinical", "Unconscious in A&E", " x", "x\n", "\u202e", strings.Repeat("é", 501), "0123456789abcdef",
		"0123456789ABCDEF", "9990001235", "9990001260", "", "９３Ｃ３"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range patientRefs {
			err := r.check(s)
			if want := r.ref(s); (err == nil) != want {
				t.Fatalf("%s(%q): err = %v, reference says valid = %v", r.name, s, err, want)
			}
			checkRefusal(t, r.name, s, err)
		}
	})
}

// refText is the free-text rule written out: valid UTF-8, 1 to max
// characters, no surrounding white space, no control, bidi or
// replacement characters.
func refText(s string, max int) bool {
	if !utf8.ValidString(s) || s == "" || utf8.RuneCountInString(s) > max || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == utf8.RuneError || (0x202A <= r && r <= 0x202E) || (0x2066 <= r && r <= 0x2069) {
			return false
		}
	}
	return true
}
