package pkcs11_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/testkeys"
)

// The tests run against a real SoftHSM2. TestMain makes one private SoftHSM
// configuration for the test process (the library reads SOFTHSM2_CONF once,
// at C_Initialize), fills it with tokens from the committed test PKI, and
// opens the library once for all tests: a PKCS#11 library is initialised
// once per process.

const (
	userPIN = "123456"
	soPIN   = "87654321"
)

// testToken is a token TestMain makes: label, the fixture whose key and
// certificate it holds (none for special tokens), and what a test expects.
type testToken struct {
	label   string
	fixture string
	blank   bool // initialised with PINs only, nothing on it
}

// Tokens shared by tests. A test that changes a token's PIN state has a
// token of its own, and tests that log in do not run in parallel on one
// token (login state is per token, not per session).
var testTokens = []testToken{
	{label: "alice-rsa", fixture: "card-555000000011-rsa"},
	{label: "alice-ec", fixture: "card-555000000011-ec"},
	{label: "bob-wrongpin", fixture: "card-555000000012-rsa"},
	{label: "carol-initpin", fixture: "card-555000000013-ec"},
	{label: "dan-changepin", fixture: "card-555000000014-ec"},
	{label: "close", fixture: "card-555000000012-ec"},
	{label: "removed", fixture: "card-555000000013-rsa"},
	{label: "mixed"},    // root CA cert without key, card-wrongku and Bob's EC card
	{label: "rootonly"}, // only a CA certificate, no key
	{label: "provision-rsa", blank: true},
	{label: "provision-ec", blank: true},
	{label: "provision-renew", blank: true},
}

// module is the SoftHSM library, opened once by TestMain.
var module *pkcs11.Module

func TestMain(m *testing.M) { os.Exit(runTests(m)) }

func runTests(m *testing.M) int {
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "pkcs11 tests need SoftHSM2 and OpenSC (%s not found): run scripts/setup.sh\n", tool)
			return 1
		}
	}
	modPath, err := softhsm.ModulePath()
	if err != nil {
		fmt.Fprintf(os.Stderr, "pkcs11 tests: %v\n", err)
		return 1
	}
	dir, err := os.MkdirTemp("", "pkcs11-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	env, err := softhsm.NewEnv(dir)
	if err == nil {
		err = os.Setenv("SOFTHSM2_CONF", env.ConfPath)
	}
	if err == nil {
		err = makeTokens(context.Background(), env)
	}
	if err == nil {
		module, err = pkcs11.Open(modPath)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pkcs11 tests: setting up SoftHSM: %v\n", err)
		return 1
	}
	code := m.Run()
	if err := module.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "pkcs11 tests: closing the module: %v\n", err)
		return 1
	}
	return code
}

func mustPIN(s string) pkcs11.PIN {
	p, err := pkcs11.NewPIN(s)
	if err != nil {
		panic(err)
	}
	return p
}

// fixture reads testkeys/pki/<name>.pem or .key from disk: TestMain has no
// testing.TB for the testkeys loaders.
func fixture(name string) []byte {
	b, err := os.ReadFile(filepath.Join(testkeys.Dir(), name))
	if err != nil {
		panic(err)
	}
	return b
}

func makeTokens(ctx context.Context, env *softhsm.Env) error {
	pin, so := mustPIN(userPIN), mustPIN(soPIN)
	for _, tt := range testTokens {
		if tt.fixture != "" {
			if err := env.CreateToken(ctx, tt.label, pin, so, fixture(tt.fixture+".key"), fixture(tt.fixture+".pem")); err != nil {
				return err
			}
			continue
		}
		if err := env.InitToken(ctx, tt.label, pin, so); err != nil {
			return err
		}
		if tt.blank {
			continue
		}
		// A CA certificate with no key: never the authentication one.
		if err := env.ImportCertificate(ctx, tt.label, []byte{0x01}, "Root", fixture("root.pem")); err != nil {
			return err
		}
		if tt.label != "mixed" {
			continue
		}
		// keyEncipherment only, listed before Bob's card: AuthCertificate
		// must still prefer Bob's digitalSignature certificate.
		for _, c := range []struct {
			id      byte
			fixture string
		}{{0x02, "card-wrongku"}, {0x03, "card-555000000012-ec"}} {
			if err := env.ImportCertificate(ctx, tt.label, []byte{c.id}, c.fixture, fixture(c.fixture+".pem")); err != nil {
				return err
			}
			if err := env.ImportKey(ctx, tt.label, pin, []byte{c.id}, c.fixture, fixture(c.fixture+".key")); err != nil {
				return err
			}
		}
	}
	return nil
}

// openToken opens the token labelled label and closes it when the test
// ends.
func openToken(t *testing.T, label string) *pkcs11.Token {
	t.Helper()
	tok, err := module.OpenToken(t.Context(), pkcs11.Selector{Label: label})
	if err != nil {
		t.Fatalf("OpenToken(%q): %v", label, err)
	}
	t.Cleanup(func() {
		if err := tok.Close(); err != nil {
			t.Errorf("Close(%q): %v", label, err)
		}
	})
	return tok
}

// loggedIn opens the token labelled label and logs in with userPIN.
func loggedIn(t *testing.T, label string) *pkcs11.Token {
	t.Helper()
	tok := openToken(t, label)
	if err := tok.Login(t.Context(), mustPIN(userPIN)); err != nil {
		t.Fatalf("Login(%q): %v", label, err)
	}
	return tok
}

func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error %v does not match %v", err, kind)
	}
}

func sameCert(t *testing.T, got, want *x509.Certificate) {
	t.Helper()
	if got == nil || !got.Equal(want) {
		t.Fatalf("certificate is %v, want %v", subject(got), subject(want))
	}
}

func subject(c *x509.Certificate) string {
	if c == nil {
		return "<nil>"
	}
	return c.Subject.String()
}
