package ractl

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailed  = 1
	ExitUsage   = 2
	maxResponse = 8 << 20
)

const usage = `usage: ractl [--authd URL] [--token-file FILE] [--cacert FILE] [--json] <command> ...

The session token is read from --token-file or RACTL_TOKEN; authd's URL
from --authd or RACTL_AUTHD.

commands:
  person register --name N --org ODS --doc-type T --doc-ref R [--uid U] [--reason R]
  person find --name TEXT [--limit N]
  person show UID
  person update UID --version N [--name N] [--status active|suspended|closed] --reason R
  person history UID
  role request UID --org ODS --job-role CODE [--activities B0370,B0820] [--workgroups W,...] --reason R
  role approve ID [--reason R]
  role end ID --reason R
  role pending
  card issue UID --module LIB --token LABEL --pin-file FILE [--key-type ecp256|rsa2048]
  card renew CARD --module LIB --token LABEL --pin-file FILE [--key-type ...]
  card cancel CARD --reason R [--revocation-reason keyCompromise|...]
  card unlock CARD --reason R --module LIB --token LABEL --so-pin-file FILE --new-pin-file FILE
  audit verify
`

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// RefusedError is an answer of authd that refused the request.
type RefusedError struct {
	Status      int
	Code        string   `json:"error"`
	Message     string   `json:"message"`
	ReasonCodes []string `json:"reason_codes"`
	DecisionID  string   `json:"decision_id"`
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("refused: %s: %s", e.Code, e.Message)
	if e.DecisionID != "" {
		s += " (decision " + e.DecisionID + ")"
	}
	return s
}

// Main runs ractl and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := Run(ctx, args, stdout, stderr)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "ractl: %v\n", err)
	var u usageError
	if errors.As(err, &u) {
		return ExitUsage
	}
	return ExitFailed
}

// client talks to authd's RA API.
type client struct {
	base  string
	token string
	http  *http.Client
	json  bool
	out   io.Writer
}

// Run runs one ractl command.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ractl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	authd := fs.String("authd", os.Getenv("RACTL_AUTHD"), "authd's base `URL`")
	tokenFile := fs.String("token-file", "", "read the session token from this `file`")
	caFile := fs.String("cacert", "", "trust this CA `file` (PEM) for authd's TLS certificate")
	asJSON := fs.Bool("json", false, "print authd's JSON answers")
	if err := fs.Parse(args); err != nil {
		fmt.Fprint(stderr, usage)
		return usagef("%v", err)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	if rest[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cmd, ok := commands[rest[0]]
	if !ok {
		fmt.Fprint(stderr, usage)
		return usagef("unknown command %q", rest[0])
	}
	if *authd == "" {
		return usagef("authd's URL is required: --authd or RACTL_AUTHD")
	}
	u, err := url.Parse(*authd)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--authd must be an http(s) URL")
	}
	tok, err := readToken(*tokenFile)
	if err != nil {
		return err
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return usagef("--cacert: %v", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return usagef("--cacert: no PEM certificate in %s", *caFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	c := &client{base: strings.TrimRight(*authd, "/"), token: tok, http: hc, json: *asJSON, out: stdout}
	return cmd(ctx, c, rest[1:])
}

// readToken reads the session token from a file or RACTL_TOKEN.
func readToken(file string) (string, error) {
	var tok string
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", usagef("--token-file: %v", err)
		}
		tok = strings.TrimSpace(string(b))
	default:
		tok = strings.TrimSpace(os.Getenv("RACTL_TOKEN"))
	}
	if tok == "" {
		return "", usagef("a session token is required: --token-file or RACTL_TOKEN")
	}
	if strings.ContainsAny(tok, " \t\r\n") || len(tok) > 512 {
		return "", usagef("the session token is malformed")
	}
	return tok, nil
}

var commands = map[string]func(ctx context.Context, c *client, args []string) error{
	"person": personCmd,
	"role":   roleCmd,
	"card":   cardCmd,
	"audit":  auditCmd,
}

// do sends one request and decodes a 2xx answer into out (if not nil). A
// refusal is a *RefusedError.
func (c *client) do(ctx context.Context, method, path string, body, out any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authd: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("authd: %w", err)
	}
	if resp.StatusCode >= 300 {
		e := &RefusedError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Code == "" {
			e.Code, e.Message = "http_"+fmt.Sprint(resp.StatusCode), "authd answered "+resp.Status
		}
		return nil, e
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("authd's answer does not decode: %w", err)
		}
	}
	return raw, nil
}

// show prints the raw answer with --json, or the text form.
func (c *client) show(raw []byte, text func(w io.Writer)) {
	if c.json {
		var buf bytes.Buffer
		if json.Indent(&buf, raw, "", "  ") == nil {
			buf.WriteByte('\n')
			c.out.Write(buf.Bytes())
			return
		}
	}
	text(c.out)
}

// parse parses a subcommand's flags, allowing positional arguments
// before and after them, and returns the positionals.
func parse(fs *flag.FlagSet, args []string, positional int) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", fs.Name(), err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != positional {
		return nil, usagef("%s: want %d argument(s), got %d", fs.Name(), positional, len(pos))
	}
	return pos, nil
}

func required(name, v string) error {
	if strings.TrimSpace(v) == "" {
		return usagef("--%s is required", name)
	}
	return nil
}

func pathArg(s string) string { return url.PathEscape(s) }
