package registration_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/carespine/spineauth/registration"
)

func TestValidators(t *testing.T) {
	t.Parallel()
	type validator func(string) error
	cases := []struct {
		name  string
		check validator
		good  []string
		bad   []string
	}{
		{"UserID", registration.ValidateUserID,
			[]string{"555000000011", "000000000000", "999999999999"},
			[]string{"", "55500000001", "5550000000111", "55500000001a", " 55500000001", "５５５０００００００１１", "555000000011\x00"}},
		{"RoleProfileID", registration.ValidateRoleProfileID,
			[]string{"555000001101"},
			[]string{"", "55500000110", "55500000110x"}},
		{"ODSCode", registration.ValidateODSCode,
			[]string{"Y12345", "RBA", "A81001", "RZZ", "8HK", "ABCDEF"},
			[]string{"", "RB", "ABCDEFG", "y12345", "Y1234-", "Y 123", "Ÿ1234"}},
		{"JobRole", registration.ValidateJobRole,
			[]string{"S8000:G8000:R8000", "S0080:G0450:R5080", "S8002:G8002:R0001"},
			[]string{"", "S8000:G8000:R800", "S8000:G8000:R80000", "s8000:g8000:r8000", "S8000;G8000;R8000",
				"G8000:S8000:R8000", "S8000:G8000:RX000", "S8000:G8000:R8000 ", "R8000"}},
		{"ActivityCode", registration.ValidateActivityCode,
			[]string{"B0825", "B0000", "B9999"},
			[]string{"", "B825", "B08250", "b0825", "C0825", "B08a5", "0825"}},
		{"WorkgroupID", registration.ValidateWorkgroupID,
			[]string{"a", "northgate-ward-7", "wg_1", strings.Repeat("w", 64)},
			[]string{"", "wg 1", "wg/1", "wg.1", strings.Repeat("w", 65), "wg\n"}},
		{"CardID", registration.ValidateCardID,
			[]string{"C0A1B2C3D4E5F", "1", "card-1", strings.Repeat("C", 32)},
			[]string{"", "C_1", "C 1", strings.Repeat("C", 33), "C1\x00"}},
		{"CertSerial", registration.ValidateCertSerial,
			[]string{"00", "0a1b", strings.Repeat("f", 64)},
			[]string{"", "0A1B", "0x1b", "g0", strings.Repeat("f", 65), "-1"}},
		{"Name", registration.ValidateName,
			[]string{"Alice Carter", "Zoë Ó Súilleabháin", "O'Brien-Smith", "李小龍", strings.Repeat("é", 200)},
			[]string{"", " Alice", "Alice ", "Alice\tCarter", "Alice\u202eCarter", "Alice\u2066", "\xffAlice",
				"A\u0085B", strings.Repeat("é", 201), "Alice\uFFFD"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.good {
				if err := tc.check(s); err != nil {
					t.Errorf("%q: %v", s, err)
				}
			}
			for _, s := range tc.bad {
				err := tc.check(s)
				if !errors.Is(err, registration.ErrInvalid) {
					t.Errorf("%q: %v, want ErrInvalid", s, err)
					continue
				}
				var ie *registration.InvalidError
				if !errors.As(err, &ie) || ie.Field == "" || ie.Reason == "" {
					t.Errorf("%q: %v is not a complete *InvalidError", s, err)
				}
				if len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Errorf("%q: message %q repeats the untrusted input", s, err)
				}
			}
		})
	}
}

func TestValidNHSNumber(t *testing.T) {
	t.Parallel()
	// Check digits worked by hand: 9990001235 has weighted sum
	// 9*10+9*9+9*8+0*7+0*6+0*5+1*4+2*3+3*2 = 259; 259 mod 11 = 6; 11-6 = 5.
	cases := []struct {
		in   string
		want bool
	}{
		{"9990001235", true},
		{"9990000018", true},  // sum 245, mod 11 = 3, check 8
		{"9990000026", true},  // sum 247, mod 11 = 5, check 6
		{"9990000042", true},  // sum 251, mod 11 = 9, check 2
		{"9991002006", true},  // sum 258, mod 11 = 5, check 6
		{"9990000050", true},  // sum 253, mod 11 = 0, check 11 means 0
		{"9990000051", false}, // ... and not 1
		{"9999999999", true},  // sum 486, mod 11 = 2, check 9
		{"9990001234", false}, // wrong check digit (DESIGN.md's example)
		{"9990000000", false}, // first nine give check 10: no valid number
		{"9991234560", false}, // likewise
		{"999000123", false},  // nine digits
		{"99900012350", false},
		{"999000123a", false},
		{"999 000 1235", false}, // spaces are not stripped here
		{"９９９０００１２３５", false},
		{"", false},
	}
	for _, tc := range cases {
		if got := registration.ValidNHSNumber(tc.in); got != tc.want {
			t.Errorf("ValidNHSNumber(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSerialHexAndCardID(t *testing.T) {
	t.Parallel()
	n, _ := new(big.Int).SetString("0a1b2c3d4e5f60718293a4b5c6d7e8f9", 16)
	s, err := registration.SerialHex(n)
	if err != nil || s != "0a1b2c3d4e5f60718293a4b5c6d7e8f9" {
		t.Fatalf("SerialHex = %q, %v", s, err)
	}
	if id := registration.CardIDFromSerial(s); id != "C0A1B2C3D4E5F" {
		t.Errorf("CardIDFromSerial = %q", id)
	}
	if s, err := registration.SerialHex(big.NewInt(0)); s != "00" || err != nil {
		t.Errorf("SerialHex(0) = %q, %v", s, err)
	}
	if _, err := registration.SerialHex(big.NewInt(-5)); !errors.Is(err, registration.ErrInvalid) {
		t.Errorf("SerialHex(-5): %v, want ErrInvalid", err)
	}
	if _, err := registration.SerialHex(nil); !errors.Is(err, registration.ErrInvalid) {
		t.Errorf("SerialHex(nil): %v, want ErrInvalid", err)
	}
}

func TestBooleanValidators(t *testing.T) {
	t.Parallel()
	pairs := []struct {
		valid    func(string) bool
		validate func(string) error
	}{
		{registration.ValidUserID, registration.ValidateUserID},
		{registration.ValidRoleProfileID, registration.ValidateRoleProfileID},
		{registration.ValidODSCode, registration.ValidateODSCode},
		{registration.ValidJobRole, registration.ValidateJobRole},
		{registration.ValidActivityCode, registration.ValidateActivityCode},
	}
	inputs := []string{"", "555000000011", "Y12345", "S8000:G8000:R8000", "B0825", "x"}
	for i, p := range pairs {
		for _, s := range inputs {
			if p.valid(s) != (p.validate(s) == nil) {
				t.Errorf("pair %d disagrees on %q", i, s)
			}
		}
	}
}
