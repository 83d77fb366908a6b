package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/authd/server"
)

// stringList is a repeatable flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const certVerifyUsage = `usage: authd cert verify --roots F [--roots F ...] [--intermediates F ...] [--crl F ...]
                        [--at RFC3339-time] [--no-network] [--login-policy CONFIG] LEAF

Verifies LEAF (PEM or DER; further certificates in the file are treated as
untrusted intermediates) with RFC 5280 path validation and revocation of
every certificate in the path. Prints "valid" or "invalid: <reason>: ...".
Exit 0 valid, 1 invalid, 2 usage or unreadable input.

flags:
`

// certVerify implements `authd cert verify`.
func certVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("authd cert verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, certVerifyUsage)
		fs.PrintDefaults()
	}
	var (
		roots, inters, crls, policies stringList
		at, loginPolicy, ocspURL      string
		noNetwork, softFail           bool
		explicit, inhibitMap, inhAny  bool
		timeout                       time.Duration
		verbose                       bool
	)
	fs.Var(&roots, "roots", "trust anchor `file` (PEM or DER; repeatable, required)")
	fs.Var(&inters, "intermediates", "untrusted intermediate certificates `file` (repeatable)")
	fs.Var(&crls, "crl", "CRL `file` (repeatable); with it, every certificate's status must be established")
	fs.StringVar(&at, "at", "", "verify as of this RFC 3339 `time` instead of now")
	fs.BoolVar(&noNetwork, "no-network", false, "never fetch CRLs or ask OCSP responders")
	fs.StringVar(&loginPolicy, "login-policy", "", "apply the login requirements (pki.login) of this authd `config` file")
	fs.Var(&policies, "policy", "user-initial-policy-set `OID` (repeatable; default anyPolicy)")
	fs.BoolVar(&explicit, "require-explicit-policy", false, "RFC 5280 initial-explicit-policy")
	fs.BoolVar(&inhibitMap, "inhibit-policy-mapping", false, "RFC 5280 initial-policy-mapping-inhibit")
	fs.BoolVar(&inhAny, "inhibit-any-policy", false, "RFC 5280 initial-any-policy-inhibit")
	fs.BoolVar(&softFail, "soft-fail", false, "accept a certificate whose revocation status cannot be obtained (logged)")
	fs.StringVar(&ocspURL, "ocsp-responder", "", "ask this OCSP `url` instead of the certificates' own")
	fs.DurationVar(&timeout, "timeout", 5*time.Second, "per CRL download or OCSP request")
	fs.BoolVar(&verbose, "v", false, "log revocation steps to stderr")

	leafPath, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(roots) == 0 {
		fs.Usage()
		return usagef("at least one --roots file is required")
	}
	when := time.Now()
	if at != "" {
		if when, err = time.Parse(time.RFC3339, at); err != nil {
			return usagef("--at: %v", err)
		}
	}

	cfg := certverify.Config{
		Revocation: certverify.RevocationConfig{
			Check:         len(crls) > 0 || !noNetwork,
			Network:       !noNetwork,
			SoftFail:      softFail,
			OCSPResponder: ocspURL,
			OCSPNonce:     true,
			Timeout:       timeout,
		},
		Paths: certverify.PathConfig{
			RequireExplicit: explicit,
			InhibitMapping:  inhibitMap,
			InhibitAny:      inhAny,
		},
	}
	for _, p := range policies {
		oid, err := x509.ParseOID(p)
		if err != nil {
			return usagef("--policy %q: %v", p, err)
		}
		cfg.Paths.InitialPolicies = append(cfg.Paths.InitialPolicies, oid)
	}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if loginPolicy != "" {
		c, err := config.Load(loginPolicy)
		if err != nil {
			return usagef("--login-policy: %v", err)
		}
		if cfg.Login, err = server.LoginPolicy(c.PKI.Login); err != nil {
			return usagef("--login-policy: %v", err)
		}
	}
	warn := func(file string, err error) { fmt.Fprintf(stderr, "authd: warning: %s: skipped: %v\n", file, err) }
	// A trust anchor that does not parse is skipped like any unusable
	// certificate; with none left, nothing can be trusted.
	if cfg.Roots, err = readCertFiles(roots, warn); err != nil {
		return err
	}
	if len(cfg.Roots) == 0 {
		fmt.Fprintf(stdout, "invalid: %s: no usable trust anchor in the --roots files\n", certverify.ReasonUntrusted)
		return errInvalid
	}
	if cfg.Intermediates, err = readCertFiles(inters, warn); err != nil {
		return err
	}
	if cfg.CRLs, err = readCRLFiles(crls, warn); err != nil {
		return err
	}
	leaf, extra, err := readLeaf(leafPath)
	if err != nil {
		var me *certverify.Error
		if errors.As(err, &me) {
			fmt.Fprintf(stdout, "invalid: %s: %s\n", me.Reason, me.Message)
			return errInvalid
		}
		return err
	}

	v, err := certverify.New(cfg)
	if err != nil {
		return usagef("%v", err)
	}
	defer v.Close()
	res, err := v.VerifyAt(ctx, leaf, extra, when)
	if err != nil {
		printRefusal(stdout, err)
		return errInvalid
	}
	fmt.Fprintln(stdout, "valid")
	for i, c := range res.Chain {
		status := "trust anchor"
		if i < len(res.Revocation) {
			status = "revocation: " + res.Revocation[i]
		}
		fmt.Fprintf(stdout, "  %d: %s (%s)\n", i, c.Subject, status)
	}
	return nil
}

// parseInterleaved lets the one positional argument stand anywhere among
// the flags, as users type it.
func parseInterleaved(fs *flag.FlagSet, args []string) (string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", usagef("help requested")
			}
			return "", usageError{err}
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != 1 {
		fs.Usage()
		return "", usagef("exactly one LEAF certificate file is required, got %d", len(positional))
	}
	return positional[0], nil
}

func printRefusal(w io.Writer, err error) {
	var e *certverify.Error
	if errors.As(err, &e) {
		msg := e.Message
		if e.Err != nil {
			msg += ": " + e.Err.Error()
		}
		fmt.Fprintf(w, "invalid: %s: %s\n", e.Reason, msg)
		return
	}
	fmt.Fprintf(w, "invalid: %s: %v\n", certverify.ReasonOf(err), err)
}

// readFile reads a bounded input file.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError{err}
	}
	defer f.Close()
	const max = 64 << 20
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, usageError{err}
	}
	if len(data) > max {
		return nil, usagef("%s: larger than %d bytes", path, max)
	}
	return data, nil
}

// readCertFiles reads certificates from files. A file that cannot be read
// or holds no certificate at all is a usage error; a certificate in it that
// does not parse is skipped with a warning (it is merely unusable).
func readCertFiles(paths []string, warn func(string, error)) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, p := range paths {
		data, err := readFile(p)
		if err != nil {
			return nil, err
		}
		certs, bad, err := certverify.ParseCertificates(data)
		if err != nil {
			return nil, usagef("%s: %v", p, err)
		}
		for _, b := range bad {
			warn(p, b)
		}
		out = append(out, certs...)
	}
	return out, nil
}

func readCRLFiles(paths []string, warn func(string, error)) ([]*x509.RevocationList, error) {
	var out []*x509.RevocationList
	for _, p := range paths {
		data, err := readFile(p)
		if err != nil {
			return nil, err
		}
		crls, bad, err := certverify.ParseCRLs(data)
		if err != nil {
			return nil, usagef("%s: %v", p, err)
		}
		for _, b := range bad {
			warn(p, b)
		}
		out = append(out, crls...)
	}
	return out, nil
}

// readLeaf returns the first certificate of the file and the rest. A leaf
// that is present but does not parse is a refusal (cert_malformed), not a
// usage error.
func readLeaf(path string) (*x509.Certificate, []*x509.Certificate, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, nil, err
	}
	certs, bad, err := certverify.ParseCertificates(data)
	if err != nil {
		return nil, nil, usagef("%s: %v", path, err)
	}
	if len(bad) > 0 {
		return nil, nil, &certverify.Error{Reason: certverify.ReasonMalformed, Depth: 0,
			Message: fmt.Sprintf("certificate does not parse: %v", bad[0])}
	}
	return certs[0], certs[1:], nil
}
