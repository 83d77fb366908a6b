package registration_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/carespine/spineauth/registration"
)

// The validators parse untrusted input by hand. The fuzz targets check
// them against straightforward reference definitions (regular
// expressions, a slow NHS number check) and that a refusal is always an
// *InvalidError whose message is built from constants, never the input.

var refs = []struct {
	name  string
	check func(string) error
	re    *regexp.Regexp
}{
	{"uid", registration.ValidateUserID, regexp.MustCompile(`\A[0-9]{12}\z`)},
	{"role_profile_id", registration.ValidateRoleProfileID, regexp.MustCompile(`\A[0-9]{12}\z`)},
	{"ods", registration.ValidateODSCode, regexp.MustCompile(`\A[A-Z0-9]{3,6}\z`)},
	{"job_role", registration.ValidateJobRole, regexp.MustCompile(`\AS[0-9]{4}:G[0-9]{4}:R[0-9]{4}\z`)},
	{"activity", registration.ValidateActivityCode, regexp.MustCompile(`\AB[0-9]{4}\z`)},
	{"workgroup", registration.ValidateWorkgroupID, regexp.MustCompile(`\A[A-Za-z0-9_-]{1,64}\z`)},
	{"card_id", registration.ValidateCardID, regexp.MustCompile(`\A[A-Za-z0-9-]{1,32}\z`)},
	{"cert_serial", registration.ValidateCertSerial, regexp.MustCompile(`\A[0-9a-f]{1,64}\z`)},
}

func FuzzIdentifiers(f *testing.F) {
	for _, s := range []string{"555000000011", "Y12345", "RBA", "A81001", "S8000:G8000:R8000",
		"B0825", "northgate-ward-7", "C0A1B2C3D4E5F", "0a1b", "", "５５５", "S8000:G8000:R800\x00", "B08２5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, r := range refs {
			err := r.check(s)
			if want := r.re.MatchString(s); (err == nil) != want {
				t.Fatalf("%s(%q): err = %v, reference says valid = %v", r.name, s, err, want)
			}
			checkRefusal(t, r.name, s, err)
		}
	})
}

func FuzzName(f *testing.F) {
	for _, s := range []string{"Alice Carter", "", " x", "x\n", "Zoë", "\u202e", "\xff", strings.Repeat("é", 201)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := registration.ValidateName(s)
		want := utf8.ValidString(s) && s != "" && utf8.RuneCountInString(s) <= registration.MaxNameLen &&
			strings.TrimSpace(s) == s
		for _, r := range s {
			if unicode.IsControl(r) || r == utf8.RuneError || (0x202A <= r && r <= 0x202E) || (0x2066 <= r && r <= 0x2069) {
				want = false
			}
		}
		if (err == nil) != want {
			t.Fatalf("ValidateName(%q) = %v, reference says valid = %v", s, err, want)
		}
		checkRefusal(t, "name", s, err)
	})
}

func FuzzNHSNumber(f *testing.F) {
	for _, s := range []string{"9990001235", "9990001234", "9990000050", "999000000", "", "99900012350", "９９９０００１２３５"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := registration.ValidNHSNumber(s), refNHS(s); got != want {
			t.Fatalf("ValidNHSNumber(%q) = %v, reference says %v", s, got, want)
		}
	})
}

var fieldName = regexp.MustCompile(`\A[a-z_]+\z`)

// refNHS is the NHS number check written the slow, obvious way.
func refNHS(s string) bool {
	if !regexp.MustCompile(`\A[0-9]{10}\z`).MatchString(s) {
		return false
	}
	sum := 0
	for i, w := range []int{10, 9, 8, 7, 6, 5, 4, 3, 2} {
		sum += w * int(s[i]-'0')
	}
	check := (11 - sum%11) % 11
	return check != 10 && check == int(s[9]-'0')
}

func checkRefusal(t *testing.T, name, s string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var ie *registration.InvalidError
	if !errors.As(err, &ie) || !errors.Is(err, registration.ErrInvalid) {
		t.Fatalf("%s(%q): %v is not an *InvalidError", name, s, err)
	}
	// The message is built from the field name and a fixed reason only.
	if err.Error() != "registration: invalid "+ie.Field+": "+ie.Reason || !fieldName.MatchString(ie.Field) {
		t.Fatalf("%s(%q): message %q is not built from field and reason", name, s, err)
	}
}
