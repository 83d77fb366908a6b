package cli

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/authd/server"
	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/registration"
)

// Demo credentials of `authd dev`. They protect throwaway SoftHSM tokens
// holding the committed test keys, and are printed on purpose.
const (
	devPIN   = "123456"
	devSOPIN = "87654321"
)

// devBlankCards are SoftHSM tokens with no key yet: cards for the
// registration authority to issue in the demo.
var devBlankCards = []string{"blank-1", "blank-2"}

// devUsers are the demo users whose cards become SoftHSM tokens.
var devUsers = []struct{ uid, label string }{
	{"555000000011", "alice"},
	{"555000000012", "bob"},
	{"555000000013", "carol"},
	{"555000000014", "dan"},
}

// dev implements `authd dev`: the embedded default (SQLite, in-memory
// sessions, the committed test PKI) with demo people, roles and SoftHSM
// tokens made on first run, and a printed walkthrough.
func dev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("authd dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", ".authd-dev", "data `folder` (database, SoftHSM tokens, generated config)")
	pkiDir := fs.String("pki", "testkeys/pki", "test PKI `folder`")
	listen := fs.String("listen", "127.0.0.1:8089", "listen `address` (loopback)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 0 {
		return usagef("authd dev takes no arguments")
	}
	pki, err := filepath.Abs(*pkiDir)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(pki, "root.pem")); err != nil {
		return usagef("test PKI not found in %s (run from the project root or pass --pki): %v", pki, err)
	}
	data, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	tlsFiles, err := makeDevTLS(filepath.Join(data, "tls"))
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(data, "authd.yaml")
	if err := os.WriteFile(cfgPath, devConfig(*listen, pki, tlsFiles), 0o600); err != nil {
		return err
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	logger := server.NewLogger(stderr, cfg.Log)
	hsm, err := devTokens(ctx, data, pki)
	if err != nil {
		return fmt.Errorf("SoftHSM tokens: %w", err)
	}
	return runServer(ctx, cfg, server.Options{Logger: logger}, func(srv *server.Server, addr net.Addr) error {
		if err := devSeed(ctx, srv.Store(), pki); err != nil {
			return fmt.Errorf("demo data: %w", err)
		}
		printWalkthrough(stdout, addr.String(), cfgPath, hsm, tlsFiles)
		return nil
	})
}

func devConfig(listen, pki string, t *devTLS) []byte {
	return fmt.Appendf(nil, `# Written by authd dev; an example of a complete configuration.
listen: %[1]s
audience: https://%[1]s
tls:
  cert_file: %[3]s
  key_file: %[4]s
pdp:
  # policy_dir: rego          # serve policies from disk, reloaded on change
  run_policy_tests: true
  decision_log: decisions.db
  client_cas: [%[5]s]
store:
  driver: sqlite
  path: authd.db
sessions:
  backend: memory
  lifetime: 10h
  idle_timeout: 30m
log:
  level: info
  format: text
pki:
  roots: [%[2]s/root.pem]
  intermediates: [%[2]s/subca.pem]
  crls: [%[2]s/root.crl, %[2]s/auth.crl]
  revocation:
    mode: hard-fail
    network: false
  login:
    key_usage: [digitalSignature]
    ext_key_usage: [1.3.6.1.5.5.7.3.2]
    required_policies: [1.3.6.1.4.1.58888.1.1.1]
# The card CA: the test PKI's authentication sub-CA, its key in a file
# (production keeps it on an HSM: ca.pkcs11). Its CRL and OCSP answers are
# served under /v1/pki. In this demo logins check the test PKI's CRLs
# without network; a cancelled card is refused by its card status.
ca:
  cert_file: %[2]s/subca.pem
  key_file: %[2]s/subca.key
`, listen, pki, t.serverCert, t.serverKey, t.ca)
}

// devSeed loads the demo world into an empty store.
func devSeed(ctx context.Context, store registration.Store, pki string) error {
	if _, err := store.Person(ctx, devUsers[0].uid); err == nil {
		return nil // seeded on an earlier run
	} else if !errors.Is(err, registration.ErrNotFound) {
		return err
	}
	cards, err := cardCerts(pki)
	if err != nil {
		return err
	}
	return registration.SeedDemo(ctx, store, time.Now(), cards)
}

// cardCerts reads the card certificates of the test PKI, grouped by the
// user id in their subject.
func cardCerts(pki string) (map[string][]*x509.Certificate, error) {
	files, err := filepath.Glob(filepath.Join(pki, "card-*.pem"))
	if err != nil {
		return nil, err
	}
	out := map[string][]*x509.Certificate{}
	for _, f := range files {
		if strings.HasSuffix(f, "card-tampered.pem") {
			continue // a forgery of Alice's card, kept for negative tests only
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		certs, _, err := certverify.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			continue
		}
		uid, _, ok := strings.Cut(certs[0].Subject.CommonName, "_")
		if ok && registration.ValidateUserID(uid) == nil {
			out[uid] = append(out[uid], certs[0])
		}
	}
	return out, nil
}

// devHSM describes the demo tokens.
type devHSM struct {
	conf   string
	module string
	labels []string
}

// devTokens makes one SoftHSM token per demo card (RSA and EC) on first
// run, under data/softhsm.
func devTokens(ctx context.Context, data, pki string) (*devHSM, error) {
	module, err := softhsm.ModulePath()
	if err != nil {
		return nil, err
	}
	env, err := softhsm.NewEnv(filepath.Join(data, "softhsm"))
	if err != nil {
		return nil, err
	}
	hsm := &devHSM{conf: env.ConfPath, module: module}
	marker := filepath.Join(data, "softhsm", ".made")
	made := fileExists(marker)
	pin, _ := pkcs11.NewPIN(devPIN)
	so, _ := pkcs11.NewPIN(devSOPIN)
	for _, u := range devUsers {
		for _, kind := range []string{"rsa", "ec"} {
			label := u.label + "-" + kind
			hsm.labels = append(hsm.labels, label)
			if made {
				continue
			}
			base := filepath.Join(pki, "card-"+u.uid+"-"+kind)
			key, err := os.ReadFile(base + ".key")
			if err != nil {
				return nil, err
			}
			cert, err := os.ReadFile(base + ".pem")
			if err != nil {
				return nil, err
			}
			if err := env.CreateToken(ctx, label, pin, so, key, cert); err != nil {
				return nil, fmt.Errorf("token %s: %w", label, err)
			}
		}
	}
	// Blank cards for the registration authority to issue (their own
	// marker: data folders from before they existed get them too).
	blankMarker := filepath.Join(data, "softhsm", ".blank-made")
	blanksMade := fileExists(blankMarker)
	for _, label := range devBlankCards {
		hsm.labels = append(hsm.labels, label)
		if blanksMade {
			continue
		}
		if err := env.InitToken(ctx, label, pin, so); err != nil {
			return nil, fmt.Errorf("token %s: %w", label, err)
		}
	}
	sort.Strings(hsm.labels)
	for m, done := range map[string]bool{marker: made, blankMarker: blanksMade} {
		if done {
			continue
		}
		if err := os.WriteFile(m, nil, 0o600); err != nil {
			return nil, err
		}
	}
	return hsm, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func printWalkthrough(w io.Writer, addr, cfgPath string, hsm *devHSM, t *devTLS) {
	fmt.Fprintf(w, `authd dev is running on https://%[1]s (config: %[2]s)

Demo users (smartcards are SoftHSM tokens; PIN %[3]s, SO PIN %[4]s):
  alice-rsa, alice-ec  555000000011 Alice Carter  clinician, two role profiles
  bob-rsa, bob-ec      555000000012 Bob Singh     nurse
  carol-rsa, carol-ec  555000000013 Carol Jones   RA agent and sponsor
  dan-rsa, dan-ec      555000000014 Dan Okafor    privacy officer
  blank-1, blank-2     no key yet: cards for the registration authority to issue

Try a card login (in another terminal, from the project root):
  export SOFTHSM2_CONF=%[5]s
  printf %[3]s > /tmp/pin && chmod 600 /tmp/pin
  go run ./cmd/cardagent login --authd https://%[1]s --ca %[7]s --module %[6]s \
      --token alice-rsa --pin-file /tmp/pin --workstation ws-01 --role-profile 555000001101

It prints the session. Then, with the token it printed (TOKEN=...):
  curl -s --cacert %[7]s -H "Authorization: Bearer $TOKEN" https://%[1]s/v1/session
  curl -s --cacert %[7]s -X PUT -H "Authorization: Bearer $TOKEN" -d '{"role_profile_id":"555000001102"}' https://%[1]s/v1/session/role

Ask the policy decision point, as the demo spine service (mutual TLS):
  curl -s --cacert %[7]s --cert %[8]s --key %[9]s https://%[1]s/access/v1/evaluation -d '{
    "subject": {"type": "session", "id": "'$TOKEN'"}, "action": {"name": "view"},
    "resource": {"type": "patient_record", "id": "9990001235", "properties": {"section": "scr"}},
    "context": {"purpose": "direct_care"}}'
  Demo patients: 9990001235 registered at Alice's practice (allowed), 9990001316 no relationship
  (denied; allowed with "purpose": "emergency" and a "reason", raising an alert), 9990001251 dissents.

End the session:
  curl -s --cacert %[7]s -X DELETE -H "Authorization: Bearer $TOKEN" https://%[1]s/v1/session

Act as the registration authority (Carol, RA agent; Dan, sponsor) with ractl:
  go run ./cmd/cardagent login --authd https://%[1]s --ca %[7]s --module %[6]s \
      --token carol-rsa --pin-file /tmp/pin --role-profile 555000001301 | sed -n 's/^session_token: //p' > /tmp/carol.tok
  go run ./cmd/ractl --authd https://%[1]s --cacert %[7]s --token-file /tmp/carol.tok person register \
      --name 'Nia Roberts' --org RZZ --doc-type passport --doc-ref P12345678 --reason 'new starter'
  go run ./cmd/ractl --authd https://%[1]s --cacert %[7]s --token-file /tmp/carol.tok role request UID \
      --org RZZ --job-role S8000:G8000:R8001 --reason 'ward 7'
  Then log in as Dan (dan-rsa, --role-profile 555000001404) and: ractl ... role pending; ractl ... role approve ID
  Issue the new person a card on the blank token blank-1 (the key is made on the token), log in with it, cancel it:
  go run ./cmd/ractl --authd https://%[1]s --cacert %[7]s --token-file /tmp/carol.tok card issue UID \
      --module %[6]s --token blank-1 --pin-file /tmp/pin
  go run ./cmd/cardagent login --authd https://%[1]s --ca %[7]s --module %[6]s --token blank-1 --pin-file /tmp/pin
  go run ./cmd/ractl --authd https://%[1]s --cacert %[7]s --token-file /tmp/carol.tok card cancel CARD --reason 'left the trust'
  The CA's CRL and OCSP responder: https://%[1]s/v1/pki/crl  /v1/pki/ocsp

Check a certificate the way login does:
  go run ./cmd/authd cert verify --roots testkeys/pki/root.pem --intermediates testkeys/pki/subca.pem \
      --crl testkeys/pki/root.crl --crl testkeys/pki/auth.crl --no-network testkeys/pki/card-revoked.pem

Health and metrics: http://%[1]s/healthz  /readyz  /metrics
Stop with Ctrl-C.
`, addr, cfgPath, devPIN, devSOPIN, hsm.conf, hsm.module, t.ca, t.serviceCert, t.serviceKey)
}
