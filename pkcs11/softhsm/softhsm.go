package softhsm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/internal/pin"
)

// ErrNotInstalled: SoftHSM2 or OpenSC's pkcs11-tool is missing.
var ErrNotInstalled = errors.New("softhsm: SoftHSM2 or OpenSC is not installed: run scripts/setup.sh")

// ObjectLabel is the CKA_LABEL CreateToken gives the key and certificate.
const ObjectLabel = "Authentication"

// ModulePath returns the path of libsofthsm2.so, or ErrNotInstalled.
func ModulePath() (string, error) {
	// Where Debian, Ubuntu, Fedora and Homebrew put it.
	modulePaths := []string{
		"/usr/lib/softhsm/libsofthsm2.so",
		"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
		"/usr/lib64/pkcs11/libsofthsm2.so",
		"/usr/lib/pkcs11/libsofthsm2.so",
		"/usr/local/lib/softhsm/libsofthsm2.so",
		"/opt/homebrew/lib/softhsm/libsofthsm2.so",
	}
	for _, p := range modulePaths {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (libsofthsm2.so not found in %s)", ErrNotInstalled, strings.Join(modulePaths, ", "))
}

// Env is a SoftHSM2 configuration with its own token directory. SoftHSM
// reads the configuration named by SOFTHSM2_CONF when the library is
// initialised: in-process callers set it (os.Setenv) before pkcs11.Open;
// child processes get it from Environ.
type Env struct {
	Dir      string // holds softhsm2.conf and tokens/
	ConfPath string // Dir/softhsm2.conf
}

// NewEnv writes Dir/softhsm2.conf with its token directory Dir/tokens
// (file object store, errors-only logging), making the folders it needs.
func NewEnv(dir string) (*Env, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	tokens := filepath.Join(dir, "tokens")
	if err := os.MkdirAll(tokens, 0o700); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	conf := fmt.Sprintf("# written by github.com/carespine/spineauth/pkcs11/softhsm\n"+
		"directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens)
	e := &Env{Dir: dir, ConfPath: filepath.Join(dir, "softhsm2.conf")}
	if err := os.WriteFile(e.ConfPath, []byte(conf), 0o600); err != nil {
		return nil, fmt.Errorf("softhsm: %w", err)
	}
	return e, nil
}

// Environ is the environment to add for a child process that should see
// this Env's tokens.
func (e *Env) Environ() []string { return []string{"SOFTHSM2_CONF=" + e.ConfPath} }

// CreateToken initialises a new token labelled label with the user PIN pin
// and the SO PIN soPIN, and imports the private key (keyPEM: PKCS#8, PKCS#1
// or SEC 1 PEM) and its certificate (certPEM) under one CKA_ID: the
// certificate's subject key identifier, or the first 20 bytes of the
// SHA-256 of its public key when it has none. Token labels should be
// unique within the Env; CreateToken does not check.
//
// The PINs are passed to softhsm2-util on its command line, the only way
// it takes them: use this for development and test tokens only.
func (e *Env) CreateToken(ctx context.Context, label string, pin, soPIN pkcs11.PIN, keyPEM, certPEM []byte) error {
	cert, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return err
	}
	pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !pub.Equal(cert.PublicKey) {
		return errors.New("softhsm: the private key does not belong to the certificate")
	}
	if err := e.InitToken(ctx, label, pin, soPIN); err != nil {
		return err
	}
	id := KeyID(cert)
	if err := e.ImportKey(ctx, label, pin, id, ObjectLabel, keyPEM); err != nil {
		return err
	}
	return e.ImportCertificate(ctx, label, id, ObjectLabel, certPEM)
}

// KeyID is the CKA_ID CreateToken gives a certificate and its key.
func KeyID(cert *x509.Certificate) []byte {
	if len(cert.SubjectKeyId) > 0 {
		return cert.SubjectKeyId
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return sum[:20]
}

// InitToken initialises the first free slot as a token labelled label.
func (e *Env) InitToken(ctx context.Context, label string, userPIN, soPIN pkcs11.PIN) error {
	if label == "" || len(label) > 32 {
		return fmt.Errorf("softhsm: token label %q must be 1 to 32 bytes", label)
	}
	if userPIN.IsZero() || soPIN.IsZero() {
		return errors.New("softhsm: init token: a user PIN and an SO PIN are needed")
	}
	return e.run(ctx, "init token "+label, "softhsm2-util", "--init-token", "--free", "--label", label,
		"--so-pin", pin.Reveal(soPIN), "--pin", pin.Reveal(userPIN))
}

// ImportKey imports the private key in keyPEM (with its public key) into
// the token labelled token, with CKA_ID id and CKA_LABEL objLabel. The key
// goes through a PKCS#8 file readable by the owner only, removed
// afterwards.
func (e *Env) ImportKey(ctx context.Context, token string, userPIN pkcs11.PIN, id []byte, objLabel string, keyPEM []byte) error {
	if userPIN.IsZero() {
		return errors.New("softhsm: import key: a user PIN is needed")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("softhsm: import key: %w", err)
	}
	return withTempFile("key.p8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), func(path string) error {
		return e.run(ctx, "import key into "+token, "softhsm2-util", "--import", path, "--token", token,
			"--pin", pin.Reveal(userPIN), "--id", hex.EncodeToString(id), "--label", objLabel)
	})
}

// ImportCertificate stores the certificate in certPEM as a public object of
// the token labelled token, with CKA_ID id and CKA_LABEL objLabel.
func (e *Env) ImportCertificate(ctx context.Context, token string, id []byte, objLabel string, certPEM []byte) error {
	cert, err := parseCert(certPEM)
	if err != nil {
		return err
	}
	module, err := ModulePath()
	if err != nil {
		return err
	}
	return withTempFile("cert.der", cert.Raw, func(path string) error {
		return e.run(ctx, "import certificate into "+token, "pkcs11-tool", "--module", module,
			"--token-label", token, "--write-object", path, "--type", "cert",
			"--id", hex.EncodeToString(id), "--label", objLabel)
	})
}

// run runs a tool with this Env's configuration. Its arguments may hold
// PINs, so errors name the action, not the command line.
func (e *Env) run(ctx context.Context, action, tool string, args ...string) error {
	path, err := exec.LookPath(tool)
	if err != nil {
		return fmt.Errorf("%w (%s: %v)", ErrNotInstalled, tool, err)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(withoutConf(os.Environ()), e.Environ()...)
	cmd.Stdin = nil // no terminal: a tool that wants to prompt fails at once
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("softhsm: %s: %s: %w: %s", action, tool, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func withoutConf(env []string) []string {
	kept := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, "SOFTHSM2_CONF=") {
			kept = append(kept, kv)
		}
	}
	return kept
}

// withTempFile writes data to a file readable by the owner only in a fresh
// private directory, calls fn with its path and removes both.
func withTempFile(name string, data []byte, fn func(path string) error) (err error) {
	dir, err := os.MkdirTemp("", "softhsm-import-")
	if err != nil {
		return fmt.Errorf("softhsm: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = fmt.Errorf("softhsm: removing %s: %w", dir, rerr)
		}
	}()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("softhsm: %w", err)
	}
	return fn(path)
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("softhsm: certificate: want a PEM CERTIFICATE block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("softhsm: certificate: %w", err)
	}
	return cert, nil
}

// parseKey reads a PKCS#8, PKCS#1 or SEC 1 private key. Its errors never
// quote the key.
func parseKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("softhsm: private key: no PEM block")
	}
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("softhsm: private key: unexpected PEM block %q", block.Type)
	}
	if err != nil {
		return nil, errors.New("softhsm: private key: cannot parse it")
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("softhsm: private key: %T cannot sign", key)
	}
	return s, nil
}
