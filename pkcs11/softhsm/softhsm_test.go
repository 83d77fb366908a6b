package softhsm_test

import (
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/testkeys"
)

func needTools(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"softhsm2-util", "pkcs11-tool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run scripts/setup.sh", tool)
		}
	}
	if _, err := softhsm.ModulePath(); err != nil {
		t.Fatal(err)
	}
}

func pin(t *testing.T, s string) pkcs11.PIN {
	t.Helper()
	p, err := pkcs11.NewPIN(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestNewEnv(t *testing.T) {
	dir := t.TempDir()
	env, err := softhsm.NewEnv(dir)
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(env.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"directories.tokendir = " + filepath.Join(dir, "tokens"),
		"objectstore.backend = file",
		"log.level = ERROR",
	} {
		if !strings.Contains(string(conf), line+"\n") {
			t.Errorf("softhsm2.conf lacks %q:\n%s", line, conf)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "tokens"))
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("tokens directory: %v %v", fi, err)
	}
	if got := env.Environ(); len(got) != 1 || got[0] != "SOFTHSM2_CONF="+env.ConfPath {
		t.Errorf("Environ = %q", got)
	}
	// A missing folder is made, as authd dev relies on.
	nested, err := softhsm.NewEnv(filepath.Join(dir, "missing", "deeper"))
	if err != nil {
		t.Fatalf("NewEnv of a missing directory: %v", err)
	}
	if _, err := os.Stat(nested.ConfPath); err != nil {
		t.Errorf("config not written in the new folder: %v", err)
	}
}

func TestCreateToken(t *testing.T) {
	needTools(t)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // to see that no key file is left behind
	env, err := softhsm.NewEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	name := testkeys.Users[0].CardEC()
	cert := testkeys.Cert(t, name)
	err = env.CreateToken(t.Context(), "alice", pin(t, "123456"), pin(t, "12345678"),
		testkeys.PEM(t, name+".key"), testkeys.PEM(t, name))
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}

	module, _ := softhsm.ModulePath()
	cmd := exec.CommandContext(t.Context(), "pkcs11-tool", "--module", module, "--token-label", "alice",
		"--login", "--pin", "123456", "--list-objects")
	cmd.Env = append(os.Environ(), env.Environ()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("pkcs11-tool: %v\n%s", err, out)
	}
	id := hex.EncodeToString(softhsm.KeyID(cert))
	for _, want := range []string{"Private Key Object; EC", "Certificate Object", "555000000011_Alice Carter", "ID:         " + id} {
		if !strings.Contains(string(out), want) {
			t.Errorf("token objects lack %q:\n%s", want, out)
		}
	}
	if got := strings.Count(string(out), "ID:         "+id); got != 3 {
		t.Errorf("%d objects with ID %s, want 3 (private key, public key, certificate):\n%s", got, id, out)
	}
}

func TestCreateTokenRefusesMismatch(t *testing.T) {
	env, err := softhsm.NewEnv(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	p := pin(t, "123456")
	tests := map[string]struct{ key, cert []byte }{
		"key of another card": {testkeys.PEM(t, "card-555000000012-ec.key"), testkeys.PEM(t, "card-555000000011-ec")},
		"not a key":           {testkeys.PEM(t, "card-555000000011-ec"), testkeys.PEM(t, "card-555000000011-ec")},
		"not a certificate":   {testkeys.PEM(t, "card-555000000011-ec.key"), testkeys.PEM(t, "card-555000000011-ec.key")},
		"garbage key":         {[]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), testkeys.PEM(t, "card-555000000011-ec")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			err := env.CreateToken(t.Context(), "x", p, p, tc.key, tc.cert)
			if err == nil {
				t.Fatal("CreateToken succeeded")
			}
			if strings.Contains(err.Error(), "PRIVATE KEY") || strings.Contains(err.Error(), "123456") {
				t.Errorf("the error quotes secrets: %v", err)
			}
		})
	}
	if err := env.InitToken(t.Context(), "x", pkcs11.PIN{}, p); err == nil {
		t.Error("InitToken without a user PIN succeeded")
	}
	if err := env.InitToken(t.Context(), strings.Repeat("x", 33), p, p); err == nil {
		t.Error("InitToken with a 33-byte label succeeded")
	}
}

func TestModulePath(t *testing.T) {
	path, err := softhsm.ModulePath()
	if err != nil {
		if !errors.Is(err, softhsm.ErrNotInstalled) {
			t.Errorf("error %v does not match ErrNotInstalled", err)
		}
		t.Fatalf("%v", err)
	}
	if !filepath.IsAbs(path) || filepath.Base(path) != "libsofthsm2.so" {
		t.Errorf("ModulePath = %q", path)
	}
}
