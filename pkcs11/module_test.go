package pkcs11_test

import (
	"strings"
	"testing"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
)

func tokensByLabel(t *testing.T) map[string]pkcs11.TokenInfo {
	t.Helper()
	infos, err := module.Tokens(t.Context())
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	m := make(map[string]pkcs11.TokenInfo)
	for _, i := range infos {
		if i.Initialized {
			m[i.Label] = i
		}
	}
	return m
}

func TestTokens(t *testing.T) {
	infos, err := module.Tokens(t.Context())
	if err != nil {
		t.Fatalf("Tokens: %v", err)
	}
	byLabel := tokensByLabel(t)
	if len(byLabel) != len(testTokens) {
		t.Errorf("Tokens lists %d initialised tokens, want %d: %+v", len(byLabel), len(testTokens), infos)
	}
	for _, tt := range testTokens {
		i, ok := byLabel[tt.label]
		if !ok {
			t.Errorf("token %q not listed", tt.label)
			continue
		}
		if !i.Present || !i.LoginRequired || !i.UserPINInitialized || i.Serial == "" ||
			i.Manufacturer != "SoftHSM project" || i.Model != "SoftHSM v2" || i.SlotDescription == "" {
			t.Errorf("token %q: %+v", tt.label, i)
		}
	}
	// SoftHSM always offers one more slot with an uninitialised token.
	spare := 0
	for _, i := range infos {
		if !i.Initialized {
			spare++
		}
	}
	if spare != 1 {
		t.Errorf("%d uninitialised tokens, want SoftHSM's one spare", spare)
	}
}

func TestSlots(t *testing.T) {
	slots, err := module.Slots(t.Context())
	if err != nil {
		t.Fatalf("Slots: %v", err)
	}
	bySlot := make(map[uint]pkcs11.TokenInfo)
	for _, s := range slots {
		bySlot[s.Slot] = s
	}
	for label, i := range tokensByLabel(t) {
		if s, ok := bySlot[i.Slot]; !ok || s.Label != label || s.SlotDescription != i.SlotDescription {
			t.Errorf("Slots has %+v for %q, want %+v", s, label, i)
		}
	}
}

func TestOpenToken(t *testing.T) {
	alice := tokensByLabel(t)["alice-rsa"]
	slot := alice.Slot
	other := tokensByLabel(t)["alice-ec"].Slot
	tests := []struct {
		name string
		sel  pkcs11.Selector
		want error // nil: opens alice-rsa
	}{
		{"label", pkcs11.Selector{Label: "alice-rsa"}, nil},
		{"slot", pkcs11.InSlot(slot), nil},
		{"serial", pkcs11.Selector{Serial: alice.Serial}, nil},
		{"all three", pkcs11.Selector{Label: "alice-rsa", Slot: &slot, Serial: alice.Serial}, nil},
		{"unknown label", pkcs11.Selector{Label: "nobody"}, pkcs11.ErrTokenNotPresent},
		{"label and other slot", pkcs11.Selector{Label: "alice-rsa", Slot: &other}, pkcs11.ErrTokenNotPresent},
		{"label and other serial", pkcs11.Selector{Label: "alice-rsa", Serial: "0000"}, pkcs11.ErrTokenNotPresent},
		{"unknown slot", pkcs11.InSlot(0xdead), pkcs11.ErrTokenNotPresent},
		{"reader (slot description)", pkcs11.Selector{Reader: strings.TrimRight(alice.SlotDescription, " ")}, nil},
		{"label and other reader", pkcs11.Selector{Label: "alice-rsa", Reader: "Virtual PCD 00 01"}, pkcs11.ErrTokenNotPresent},
		{"empty", pkcs11.Selector{}, pkcs11.ErrAmbiguousToken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := module.OpenToken(t.Context(), tc.sel)
			if tc.want != nil {
				wantKind(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("OpenToken(%v): %v", tc.sel, err)
			}
			defer tok.Close()
			if got := tok.Info(); got.Label != "alice-rsa" || got.Slot != slot {
				t.Errorf("opened %+v", got)
			}
		})
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"libsofthsm2.so", "/nonexistent/libnothing.so", ""} {
		m, err := pkcs11.Open(path)
		if err == nil {
			m.Close()
			t.Errorf("Open(%q) succeeded", path)
			continue
		}
		wantKind(t, err, pkcs11.ErrModule)
	}
}

// A second Open of a loaded library shares its initialisation: closing it
// leaves the first Module working, and closes its own Tokens.
func TestOpenTwice(t *testing.T) {
	path, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	m2, err := pkcs11.Open(path)
	if err != nil {
		t.Fatalf("second Open: %v", err)
	}
	tok, err := m2.OpenToken(t.Context(), pkcs11.Selector{Label: "alice-ec"})
	if err != nil {
		t.Fatalf("OpenToken on the second Module: %v", err)
	}
	if err := m2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := m2.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	_, err = m2.Tokens(t.Context())
	wantKind(t, err, pkcs11.ErrClosed)
	_, err = m2.OpenToken(t.Context(), pkcs11.Selector{Label: "alice-ec"})
	wantKind(t, err, pkcs11.ErrClosed)
	_, err = tok.AuthCertificate(t.Context())
	wantKind(t, err, pkcs11.ErrClosed)
	if err := tok.Close(); err != nil {
		t.Errorf("Close of a Token of a closed Module: %v", err)
	}
	if _, err := module.Tokens(t.Context()); err != nil {
		t.Errorf("the first Module stopped working: %v", err)
	}
}
