package cardagent

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/carespine/spineauth/pkcs11"
)

// LoginOptions say which token to use and what to tell authd.
type LoginOptions struct {
	Module        string // PKCS#11 module path
	Token         string // token label; "" with Slot < 0: the only token present
	Slot          int    // slot number, or -1
	Workstation   string // workstation id sent to authd
	RoleProfileID string // role profile to select at login, or ""
}

// loginFlags are the flags of `cardagent login`.
type loginFlags struct {
	LoginOptions
	authd, pinFile, pinEnv, caFile string
	json                           bool
}

func loginCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cardagent login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loginFlags
	host, _ := os.Hostname()
	fs.StringVar(&o.authd, "authd", os.Getenv("CARDAGENT_AUTHD"), "authd base `URL` (or $CARDAGENT_AUTHD)")
	fs.StringVar(&o.Module, "module", envOr("CARDAGENT_MODULE", "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"), "PKCS#11 module `path` (or $CARDAGENT_MODULE)")
	fs.StringVar(&o.Token, "token", "", "token `label` (default: the only token present)")
	fs.IntVar(&o.Slot, "slot", -1, "slot `number` instead of a label")
	fs.StringVar(&o.pinFile, "pin-file", "", "read the PIN from this `file` (for scripts)")
	fs.StringVar(&o.pinEnv, "pin-env", "", "read the PIN from this environment `variable` (for scripts)")
	fs.StringVar(&o.Workstation, "workstation", host, "workstation `id` sent to authd")
	fs.StringVar(&o.RoleProfileID, "role-profile", "", "role profile `id` to select at login")
	fs.StringVar(&o.caFile, "ca", "", "PEM `file` of the CA that issued authd's TLS certificate")
	fs.BoolVar(&o.json, "json", false, "print the session as JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 0 || o.authd == "" {
		fs.Usage()
		return usagef("cardagent login needs --authd URL and no arguments")
	}
	hc, err := httpClient(o.caFile)
	if err != nil {
		return err
	}
	resp, err := Login(ctx, &Client{BaseURL: o.authd, HTTP: hc}, o.LoginOptions, func() (pkcs11.PIN, error) {
		return readPIN(o, stdin, stderr)
	})
	if err != nil {
		return err
	}
	return printSession(stdout, resp, o.json)
}

// Login does one card login: open the token, read its certificate, log in
// to it with the PIN, sign authd's challenge and present it.
func Login(ctx context.Context, c *Client, o LoginOptions, pin func() (pkcs11.PIN, error)) (*LoginResponse, error) {
	mod, err := pkcs11.Open(o.Module)
	if err != nil {
		return nil, fmt.Errorf("PKCS#11 module %s: %w", o.Module, err)
	}
	defer mod.Close()
	sel := pkcs11.Selector{Label: o.Token}
	if o.Slot >= 0 {
		s := uint(o.Slot)
		sel.Slot = &s
	}
	tok, err := mod.OpenToken(ctx, sel)
	if err != nil {
		return nil, cardError(err)
	}
	defer tok.Close()
	cert, err := tok.AuthCertificate(ctx)
	if err != nil {
		return nil, cardError(err)
	}
	p, err := pin()
	if err != nil {
		return nil, err
	}
	if err := tok.Login(ctx, p); err != nil {
		return nil, cardError(err)
	}
	signer, err := tok.Signer(ctx)
	if err != nil {
		return nil, cardError(err)
	}
	ch, err := c.Challenge(ctx)
	if err != nil {
		return nil, err
	}
	sig, err := signChallenge(signer, ch.ToSign)
	if err != nil {
		return nil, cardError(err)
	}
	return c.Login(ctx, &LoginRequest{
		ChallengeID:   ch.ChallengeID,
		Certificate:   cert.Raw,
		Signature:     sig,
		WorkstationID: o.Workstation,
		RoleProfileID: o.RoleProfileID,
	})
}

// signChallenge signs the SHA-256 digest of toSign (PKCS#1 v1.5 for RSA,
// ASN.1 ECDSA for EC), as authd expects.
func signChallenge(s crypto.Signer, toSign []byte) ([]byte, error) {
	d := sha256.Sum256(toSign)
	return s.Sign(rand.Reader, d[:], crypto.SHA256)
}

// CardError is a card problem told in the user's terms; Err is the cause
// (match it with errors.Is against the pkcs11 error kinds).
type CardError struct {
	Message string
	Err     error
}

func (e *CardError) Error() string { return e.Message }
func (e *CardError) Unwrap() error { return e.Err }

// cardError says what went wrong with the card in the user's terms.
func cardError(err error) error {
	var pe *pkcs11.PINError
	msg := "card: " + err.Error()
	switch {
	case errors.Is(err, pkcs11.ErrPINLocked):
		msg = "the card is locked after too many wrong PINs; see your registration authority to unlock it"
	case errors.As(err, &pe) && pe.RetriesLeft == 1:
		msg = "wrong PIN: 1 try left before the card locks"
	case errors.As(err, &pe) && pe.RetriesLeft > 1:
		msg = fmt.Sprintf("wrong PIN: %d tries left before the card locks", pe.RetriesLeft)
	case errors.Is(err, pkcs11.ErrPINIncorrect):
		msg = "wrong PIN"
	case errors.Is(err, pkcs11.ErrTokenNotPresent), errors.Is(err, pkcs11.ErrTokenRemoved):
		msg = "no card found (or it was removed); insert your smartcard and try again"
	case errors.Is(err, pkcs11.ErrNoCertificate), errors.Is(err, pkcs11.ErrNoKey):
		msg = "the card has no login certificate and key"
	}
	return &CardError{Message: msg, Err: err}
}

// readPIN takes the PIN from a file, an environment variable or, failing
// both, the terminal without echo.
func readPIN(o loginFlags, stdin io.Reader, stderr io.Writer) (pkcs11.PIN, error) {
	var raw string
	switch {
	case o.pinFile != "":
		b, err := os.ReadFile(o.pinFile)
		if err != nil {
			return pkcs11.PIN{}, usagef("--pin-file: %v", err)
		}
		raw = strings.TrimRight(string(b), "\r\n")
	case o.pinEnv != "":
		v, ok := os.LookupEnv(o.pinEnv)
		if !ok {
			return pkcs11.PIN{}, usagef("--pin-env: %s is not set", o.pinEnv)
		}
		raw = v
	default:
		f, ok := stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return pkcs11.PIN{}, usagef("no terminal to ask for the PIN; use --pin-file or --pin-env")
		}
		fmt.Fprint(stderr, "Smartcard PIN: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return pkcs11.PIN{}, err
		}
		raw = string(b)
	}
	p, err := pkcs11.NewPIN(raw)
	if err != nil {
		return pkcs11.PIN{}, fmt.Errorf("PIN: %w", err)
	}
	return p, nil
}

func printSession(w io.Writer, r *LoginResponse, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "session_token: %s\nexpires_at: %s\nuser: %s %s\n", r.SessionToken,
		r.ExpiresAt.Format(time.RFC3339), r.User.UID, r.User.Name)
	fmt.Fprintln(w, "role_profiles:")
	for _, p := range r.RoleProfiles {
		mark := " "
		if p.ID == r.SelectedRoleProfileID {
			mark = "*"
		}
		fmt.Fprintf(w, "  %s %s %s %s at %s\n", mark, p.ID, p.JobRole, p.JobRoleName, p.Org)
	}
	if r.SelectedRoleProfileID == "" && len(r.RoleProfiles) > 1 {
		fmt.Fprintln(w, "no role profile selected: choose one with PUT /v1/session/role")
	}
	return nil
}

func httpClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{Timeout: 15 * time.Second}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, usagef("--ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("--ca: no certificate in %s", caFile)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: 15 * time.Second, Transport: tr}, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
