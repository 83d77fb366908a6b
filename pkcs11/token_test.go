package pkcs11_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/testkeys"
	p11 "github.com/miekg/pkcs11"
)

func TestAuthCertificate(t *testing.T) {
	tests := []struct {
		label, want string
	}{
		{"alice-rsa", "card-555000000011-rsa"},
		{"alice-ec", "card-555000000011-ec"},
		{"mixed", "card-555000000012-ec"}, // not the root (no key), not card-wrongku (no digitalSignature)
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			want := testkeys.Cert(t, tc.want)
			tok := openToken(t, tc.label)
			// Before login SoftHSM hides private keys: the public key stands in.
			got, err := tok.AuthCertificate(t.Context())
			if err != nil {
				t.Fatalf("AuthCertificate before login: %v", err)
			}
			sameCert(t, got, want)
			if err := tok.Login(t.Context(), mustPIN(userPIN)); err != nil {
				t.Fatal(err)
			}
			got, err = tok.AuthCertificate(t.Context())
			if err != nil {
				t.Fatalf("AuthCertificate after login: %v", err)
			}
			sameCert(t, got, want)
		})
	}
}

func TestAuthCertificateNone(t *testing.T) {
	tok := loggedIn(t, "rootonly")
	_, err := tok.AuthCertificate(t.Context())
	wantKind(t, err, pkcs11.ErrNoCertificate)
	_, err = tok.Signer(t.Context())
	wantKind(t, err, pkcs11.ErrNoCertificate)
}

func TestLogin(t *testing.T) {
	tok := openToken(t, "alice-ec")
	pin := mustPIN(userPIN)
	if err := tok.Login(t.Context(), pin); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if err := tok.Login(t.Context(), pin); err != nil {
		t.Errorf("Login when logged in (CKR_USER_ALREADY_LOGGED_IN): %v", err)
	}
	if err := tok.Logout(t.Context()); err != nil {
		t.Errorf("Logout: %v", err)
	}
	if err := tok.Logout(t.Context()); err != nil {
		t.Errorf("Logout when logged out: %v", err)
	}
	if err := tok.Login(t.Context(), pkcs11.PIN{}); !errors.Is(err, pkcs11.ErrPINFormat) {
		t.Errorf("Login with no PIN: %v, want ErrPINFormat", err)
	}
}

// SoftHSM 2.6 never locks a PIN: every wrong PIN is CKR_PIN_INCORRECT and
// sets CKF_USER_PIN_COUNT_LOW until the next good one (Token::loginUser in
// its source). So a wrong PIN is always "2 tries left" here; the lock
// mapping is tested with PKCS#11 return values in errors_internal_test.go.
func TestLoginWrongPIN(t *testing.T) {
	const secret = "Wr0ng!pin" // distinctive, to look for in the output
	wrong := mustPIN(secret)
	tok := openToken(t, "bob-wrongpin")

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	text := slog.New(slog.NewTextHandler(&logs, nil))
	for try := 1; try <= 10; try++ {
		err := tok.Login(t.Context(), wrong)
		var pe *pkcs11.PINError
		if !errors.As(err, &pe) {
			t.Fatalf("try %d: %v (%T), want a *PINError", try, err, err)
		}
		wantKind(t, err, pkcs11.ErrPINIncorrect)
		if errors.Is(err, pkcs11.ErrPINLocked) {
			t.Fatalf("try %d: SoftHSM locked the PIN: %v", try, err)
		}
		if pe.RetriesLeft != 2 || pe.SO {
			t.Errorf("try %d: RetriesLeft %d, SO %v; want 2 (from CKF_USER_PIN_COUNT_LOW), false", try, pe.RetriesLeft, pe.SO)
		}
		var rv p11.Error
		if !errors.As(err, &rv) || rv != p11.CKR_PIN_INCORRECT {
			t.Errorf("try %d: PKCS#11 code %v, want CKR_PIN_INCORRECT", try, rv)
		}
		if info := tok.Info(); !info.PINCountLow || info.PINLocked || info.RetriesLeft() != 2 {
			t.Errorf("try %d: Info %+v", try, info)
		}
		log.Error("login failed", "err", err, "pin", wrong, "try", try)
		text.Error("login failed", "err", err, "pin", wrong, slog.Any("pinany", wrong))
		for _, s := range []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err), logs.String()} {
			if strings.Contains(s, secret) {
				t.Fatalf("try %d: the PIN leaked: %s", try, s)
			}
		}
	}
	if !strings.Contains(logs.String(), "incorrect PIN") {
		t.Errorf("the log does not say what failed: %s", logs.String())
	}
	if err := tok.Login(t.Context(), mustPIN(userPIN)); err != nil {
		t.Fatalf("Login with the right PIN after 10 wrong ones: %v", err)
	}
	if info := tok.Info(); info.PINCountLow || info.RetriesLeft() != -1 {
		t.Errorf("after a good PIN: %+v", info)
	}
}

func TestInitPIN(t *testing.T) {
	tok := loggedIn(t, "carol-initpin")
	newPIN := mustPIN("24681357")

	err := tok.InitPIN(t.Context(), mustPIN("00000000"), newPIN)
	var pe *pkcs11.PINError
	if !errors.As(err, &pe) || !pe.SO || !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Fatalf("InitPIN with a wrong SO PIN: %v, want an SO *PINError", err)
	}
	if pe.RetriesLeft != 2 || !strings.Contains(err.Error(), "security officer PIN") {
		t.Errorf("wrong SO PIN: RetriesLeft %d, %q", pe.RetriesLeft, err)
	}

	if err := tok.InitPIN(t.Context(), mustPIN(soPIN), newPIN); err != nil {
		t.Fatalf("InitPIN: %v", err)
	}
	if err := tok.Login(t.Context(), mustPIN(userPIN)); !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Errorf("Login with the old PIN: %v, want ErrPINIncorrect", err)
	}
	if err := tok.Login(t.Context(), newPIN); err != nil {
		t.Errorf("Login with the new PIN: %v", err)
	}
	s, err := tok.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s, sha256Opts())
	// Put the PIN back, for -count=N.
	if err := tok.InitPIN(t.Context(), mustPIN(soPIN), mustPIN(userPIN)); err != nil {
		t.Fatalf("InitPIN back: %v", err)
	}
}

func TestChangePIN(t *testing.T) {
	tok := openToken(t, "dan-changepin")
	old, new := mustPIN(userPIN), mustPIN("11223344")

	err := tok.ChangePIN(t.Context(), mustPIN("99999999"), new)
	var pe *pkcs11.PINError
	if !errors.As(err, &pe) || pe.SO || pe.RetriesLeft != 2 {
		t.Fatalf("ChangePIN with a wrong old PIN: %v, want a *PINError with 2 tries left", err)
	}
	if err := tok.ChangePIN(t.Context(), old, new); err != nil {
		t.Fatalf("ChangePIN (logged out): %v", err)
	}
	if err := tok.Login(t.Context(), old); !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Errorf("Login with the old PIN: %v, want ErrPINIncorrect", err)
	}
	if err := tok.Login(t.Context(), new); err != nil {
		t.Fatalf("Login with the new PIN: %v", err)
	}
	if err := tok.ChangePIN(t.Context(), new, old); err != nil {
		t.Fatalf("ChangePIN (logged in): %v", err)
	}
	if err := tok.Logout(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := tok.Login(t.Context(), old); err != nil {
		t.Errorf("Login with the PIN changed back: %v", err)
	}
}

// Close logs out (login state is shared by the process's sessions on a
// token, so a second Token sees it), is idempotent, and refuses later use.
func TestClose(t *testing.T) {
	ctx := t.Context()
	first, err := module.OpenToken(ctx, pkcs11.Selector{Label: "close"})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Login(ctx, mustPIN(userPIN)); err != nil {
		t.Fatal(err)
	}
	second := openToken(t, "close")
	s, err := second.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s, sha256Opts()) // logged in through first

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err = s.Sign(nil, make([]byte, 32), sha256Opts())
	wantKind(t, err, pkcs11.ErrNotLoggedIn)

	for name, op := range map[string]func() error{
		"Login":           func() error { return first.Login(ctx, mustPIN(userPIN)) },
		"Logout":          func() error { return first.Logout(ctx) },
		"AuthCertificate": func() error { _, err := first.AuthCertificate(ctx); return err },
		"Signer":          func() error { _, err := first.Signer(ctx); return err },
		"Refresh":         func() error { _, err := first.Refresh(ctx); return err },
		"ChangePIN":       func() error { return first.ChangePIN(ctx, mustPIN(userPIN), mustPIN(userPIN)) },
		"InitPIN":         func() error { return first.InitPIN(ctx, mustPIN(soPIN), mustPIN(userPIN)) },
	} {
		if err := op(); !errors.Is(err, pkcs11.ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
	if first.Info().Label != "close" {
		t.Errorf("Info after Close: %+v", first.Info())
	}
}

func TestRefresh(t *testing.T) {
	tok := openToken(t, "alice-ec")
	info, err := tok.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if info != tok.Info() || info.Label != "alice-ec" {
		t.Errorf("Refresh %+v, Info %+v", info, tok.Info())
	}
}

// When a card is pulled out, the library closes its sessions. SoftHSM's
// tokens cannot be removed, so the test closes every session on the slot
// through a second handle on the library, which is what the Token sees
// after a removal: CKR_SESSION_HANDLE_INVALID, reported as ErrTokenRemoved.
func TestTokenRemoved(t *testing.T) {
	tok := loggedIn(t, "removed")
	s, err := tok.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s, sha256Opts())

	path, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	other := p11.New(path)
	if other == nil {
		t.Fatal("cannot load the library a second time")
	}
	defer other.Destroy() // no Finalize: the library is shared with module
	if err := other.Initialize(); err == nil || err.(p11.Error) != p11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		t.Fatalf("second C_Initialize: %v", err)
	}
	if err := other.CloseAllSessions(tok.Info().Slot); err != nil {
		t.Fatal(err)
	}

	_, err = s.Sign(nil, make([]byte, 32), sha256Opts())
	wantKind(t, err, pkcs11.ErrTokenRemoved)
	var rv p11.Error
	if !errors.As(err, &rv) || rv != p11.CKR_SESSION_HANDLE_INVALID {
		t.Errorf("code %v, want CKR_SESSION_HANDLE_INVALID", rv)
	}
	for name, op := range map[string]func() error{
		"Login":           func() error { return tok.Login(t.Context(), mustPIN(userPIN)) },
		"AuthCertificate": func() error { _, err := tok.AuthCertificate(t.Context()); return err },
		"Refresh":         func() error { _, err := tok.Refresh(t.Context()); return err },
		"Logout":          func() error { return tok.Logout(t.Context()) },
	} {
		if err := op(); !errors.Is(err, pkcs11.ErrTokenRemoved) {
			t.Errorf("%s after removal: %v, want ErrTokenRemoved", name, err)
		}
	}
	// Close succeeds (the cleanup checks); a fresh Token works again.
	again := loggedIn(t, "removed")
	s, err = again.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s, sha256Opts())
}
