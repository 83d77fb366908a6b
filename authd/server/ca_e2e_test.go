package server_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/authd/server"
	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
	"github.com/carespine/spineauth/testkeys"
)

// The card life cycle without the RA API: a fresh SoftHSM token makes a
// key pair, authd's card CA (its key on another SoftHSM token) certifies
// it, the certificate goes onto the token, `cardagent login` works against
// authd, the certificate is renewed on the card, and once revoked the
// login is refused as cert_revoked: through authd's own OCSP responder, and
// through its own CRL when OCSP cannot be reached. The OCSP variant signs
// its answers with the delegated responder of the test PKI.

// caRig is an in-process authd with a card CA, on a loopback listener.
type caRig struct {
	srv   *server.Server
	url   string
	clock *clock
	card  string // label of the blank card token
}

// newCARig makes the CA token and a blank card token (before anything in
// this process initialises SoftHSM, which sees only the tokens present
// then), and starts authd with network revocation checking. ocspBroken
// points the verifier at a responder that does not answer, so that it
// falls back to the CRL.
func newCARig(t *testing.T, name string, ocspBroken bool) *caRig {
	t.Helper()
	ctx := context.Background()
	env := &softhsm.Env{Dir: filepath.Dir(hsmConf), ConfPath: hsmConf}
	pin, _ := pkcs11.NewPIN(testPIN)
	so, _ := pkcs11.NewPIN(testSOPIN)
	caToken, cardToken := "ca-"+name, "card-"+name
	if err := env.CreateToken(ctx, caToken, pin, so, testkeys.PEM(t, "subca.key"), testkeys.PEM(t, "subca.pem")); err != nil {
		t.Fatal(err)
	}
	if err := env.InitToken(ctx, cardToken, pin, so); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	pinFile := filepath.Join(dir, "ca-pin")
	if err := os.WriteFile(pinFile, []byte(testPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	pki := testkeys.Dir()
	responder, delegated := `""`, fmt.Sprintf("\n  ocsp_responder: {cert_file: %[1]s/ocsp.pem, key_file: %[1]s/ocsp.key}", pki)
	if ocspBroken {
		responder, delegated = "http://"+freeAddr(t)+"/v1/pki/ocsp", ""
	}
	y := fmt.Sprintf(`listen: 127.0.0.1:0
audience: https://authd.test
store: {path: %[1]s/authd.db}
pdp: {decision_log: %[1]s/decisions.db}
log: {level: debug, format: text}
pki:
  roots: [%[2]s/root.pem]
  intermediates: [%[2]s/subca.pem]
  crls: [%[2]s/root.crl, %[2]s/auth.crl]
  revocation:
    mode: hard-fail
    network: true
    ocsp_responder: %[3]s
    timeout: 2s
  login:
    key_usage: [digitalSignature]
    ext_key_usage: [1.3.6.1.5.5.7.3.2]
    required_policies: [1.3.6.1.4.1.58888.1.1.1]
ca:
  cert_file: %[2]s/subca.pem
  pkcs11:
    module: %[4]s
    token: %[5]s
    key_id: %[6]s
    pin_file: %[7]s
  public_url: %[8]s%[9]s
`, dir, pki, responder, hsmModule, caToken, hex.EncodeToString(softhsm.KeyID(testkeys.Cert(t, "subca"))), pinFile, url, delegated)
	cfgPath := filepath.Join(dir, "authd.yaml")
	if err := os.WriteFile(cfgPath, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Now().Truncate(time.Second)}
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sctx, cancel := context.WithCancel(ctx)
	srv, err := server.New(sctx, cfg, server.Options{Logger: logger, Now: clk.Now})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := registration.SeedDemo(ctx, srv.Store(), clk.Now(), demoCards(t)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(sctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		if err := srv.Close(); err != nil {
			t.Errorf("closing authd: %v", err)
		}
		if t.Failed() {
			mu.Lock()
			t.Logf("authd log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	if srv.CA() == nil {
		t.Fatal("authd has no CA")
	}
	return &caRig{srv: srv, url: url, clock: clk, card: cardToken}
}

// provision makes a key pair on the card token, has the CA certify it
// (a new card, or a renewal of renewCard) and writes the certificate to
// the token, deleting the objects of oldID if given. It opens the library
// after authd did, so authd's Close finalises it.
func (r *caRig) provision(t *testing.T, typ pkcs11.KeyType, renewCard string, oldID []byte) (*cardca.Issued, []byte) {
	t.Helper()
	ctx := context.Background()
	mod, err := pkcs11.Open(hsmModule)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.Close()
	tok, err := mod.OpenToken(ctx, pkcs11.Selector{Label: r.card})
	if err != nil {
		t.Fatal(err)
	}
	defer tok.Close()
	pin, _ := pkcs11.NewPIN(testPIN)
	if err := tok.Login(ctx, pin); err != nil {
		t.Fatal(err)
	}
	kp, err := tok.GenerateKey(ctx, pkcs11.KeySpec{Type: typ, Label: "Authentication"})
	if err != nil {
		t.Fatal(err)
	}
	var issued *cardca.Issued
	if renewCard == "" {
		issued, err = r.srv.CA().IssueCard(ctx, "555000000011", kp.Public)
	} else {
		issued, err = r.srv.CA().RenewCard(ctx, renewCard, kp.Public)
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := tok.WriteCertificate(ctx, kp.ID, "Authentication", issued.Cert); err != nil {
		t.Fatal(err)
	}
	if oldID != nil {
		if n, err := tok.DeleteObjects(ctx, oldID); err != nil || n != 3 {
			t.Fatalf("deleting the old key pair: %d objects, %v", n, err)
		}
	}
	return issued, kp.ID
}

func (r *caRig) metric(t *testing.T, line string) bool {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Contains(string(b), line)
}

func TestCardLifecycleEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name       string
		typ        pkcs11.KeyType
		ocspBroken bool
	}{
		{"ocsp", pkcs11.ECP256, false},
		{"crl", pkcs11.RSA2048, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newCARig(t, tc.name, tc.ocspBroken)
			ctx := context.Background()
			issued, id := r.provision(t, tc.typ, "", nil)
			if !strings.HasPrefix(issued.Cert.CRLDistributionPoints[0], r.url) || !strings.HasPrefix(issued.Cert.OCSPServer[0], r.url) {
				t.Fatalf("certificate URLs %v %v do not point at authd %s", issued.Cert.CRLDistributionPoints, issued.Cert.OCSPServer, r.url)
			}

			login := func() (map[string]any, string, error) { return cardagentLogin(t, r.url, r.card, testPIN) }
			resp, stderr, err := login()
			if err != nil {
				t.Fatalf("cardagent login with the new card: %v\n%s", err, stderr)
			}
			if user := resp["user"].(map[string]any); user["uid"] != "555000000011" {
				t.Fatalf("user %v", user)
			}
			if st, code := call(t, "GET", r.url+"/v1/session", resp["session_token"].(string), nil, nil); st != 200 {
				t.Fatalf("session: %d %s", st, code)
			}
			if !tc.ocspBroken {
				r.checkDelegatedResponder(t, issued.Cert)
			}
			viaOCSP := r.metric(t, `authd_ocsp_responses_total{status="good"} 2`)
			if viaOCSP == tc.ocspBroken {
				t.Fatalf("OCSP good answers given: %v; want them only when OCSP is reachable", viaOCSP)
			}

			// Renewal inside the window: a new key on the same card.
			r.clock.Advance(cardca.DefaultValidity - cardca.DefaultRenewalWindow + time.Hour)
			renewed, _ := r.provision(t, tc.typ, issued.Card.ID, id)
			if renewed.Card.ID != issued.Card.ID {
				t.Fatalf("renewal made card %s, want %s", renewed.Card.ID, issued.Card.ID)
			}
			if resp, stderr, err = login(); err != nil {
				t.Fatalf("cardagent login after renewal: %v\n%s", err, stderr)
			}

			// Revocation: refused at once, on this node and by the
			// revocation source under test.
			if _, err := r.srv.CA().Revoke(ctx, renewed.Cert.SerialNumber, registration.ReasonKeyCompromise); err != nil {
				t.Fatal(err)
			}
			_, stderr, err = login()
			if err == nil || !strings.Contains(stderr, "cert_revoked") {
				t.Fatalf("login after revocation: %v: %s; want cert_revoked", err, stderr)
			}
			if tc.ocspBroken {
				if r.metric(t, "authd_ocsp_responses_total{") {
					t.Fatal("the CRL path asked authd's OCSP responder")
				}
			} else if !r.metric(t, `authd_ocsp_responses_total{status="revoked"} 1`) {
				t.Fatal("the refusal did not come through an OCSP revoked answer")
			}
			// Cancelling the card afterwards revokes nothing new.
			if more, err := r.srv.CA().CancelCard(ctx, issued.Card.ID, registration.ReasonCessationOfOperation); err != nil || len(more) != 0 {
				t.Fatalf("CancelCard: %v %v", more, err)
			}
		})
	}
}

// checkDelegatedResponder asks authd's responder directly: the answer is
// signed by the configured delegated responder, whose certificate it
// carries.
func (r *caRig) checkDelegatedResponder(t *testing.T, cert *x509.Certificate) {
	t.Helper()
	subca := testkeys.Cert(t, "subca")
	req, err := ocsp.CreateRequest(cert, subca, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(r.url+"/v1/pki/ocsp", "application/ocsp-request", bytes.NewReader(req))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	der, _ := io.ReadAll(resp.Body)
	ans, err := ocsp.ParseResponseForCert(der, cert, subca)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Status != ocsp.Good || ans.Certificate == nil || !ans.Certificate.Equal(testkeys.Cert(t, "ocsp")) {
		t.Fatalf("OCSP answer status %d, signer certificate %v; want good from the delegated responder", ans.Status, ans.Certificate != nil)
	}
}

// TestCAKeySources: the CA key from a PEM file (development) serves a CRL
// and issues; a key that is not the certificate's, and a wrong HSM PIN,
// stop authd at start-up with errors that name the setting and never the
// PIN.
func TestCAKeySources(t *testing.T) {
	pki := testkeys.Dir()
	ctx := context.Background()
	start := func(t *testing.T, caYAML string) (*server.Server, error) {
		dir := t.TempDir()
		cfg, err := config.Load(writeConfig(t, dir, "127.0.0.1:0", filepath.Join(dir, "authd.db"), caYAML))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := server.New(ctx, cfg, server.Options{Logger: slog.New(slog.DiscardHandler)})
		if err == nil {
			t.Cleanup(func() { srv.Close() })
		}
		return srv, err
	}

	t.Run("PEM file", func(t *testing.T) {
		srv, err := start(t, fmt.Sprintf("ca: {cert_file: %[1]s/subca.pem, key_file: %[1]s/subca.key, public_url: 'http://127.0.0.1:8089'}\n", pki))
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/pki/crl", nil))
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/pkix-crl" {
			t.Fatalf("GET /v1/pki/crl: %d %s", rec.Code, rec.Header().Get("Content-Type"))
		}
		crl, err := x509.ParseRevocationList(rec.Body.Bytes())
		if err != nil || crl.CheckSignatureFrom(testkeys.Cert(t, "subca")) != nil {
			t.Fatalf("CRL: %v", err)
		}
		if err := registration.SeedDemo(ctx, srv.Store(), time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		issued, err := srv.CA().IssueCard(ctx, "555000000012", k.Public())
		if err != nil {
			t.Fatal(err)
		}
		if got := issued.Cert.OCSPServer; len(got) != 1 || got[0] != "http://127.0.0.1:8089/v1/pki/ocsp" {
			t.Fatalf("OCSP URL %v", got)
		}
	})
	t.Run("key of another certificate", func(t *testing.T) {
		_, err := start(t, fmt.Sprintf("ca: {cert_file: %[1]s/subca.pem, key_file: %[1]s/root.key}\n", pki))
		if err == nil || !strings.Contains(err.Error(), "ca.key_file") {
			t.Fatalf("start with the root's key for the sub-CA: %v", err)
		}
	})
	t.Run("wrong HSM PIN", func(t *testing.T) {
		env := &softhsm.Env{Dir: filepath.Dir(hsmConf), ConfPath: hsmConf}
		pin, _ := pkcs11.NewPIN(testPIN)
		so, _ := pkcs11.NewPIN(testSOPIN)
		if err := env.CreateToken(ctx, "ca-wrongpin", pin, so, testkeys.PEM(t, "subca.key"), testkeys.PEM(t, "subca.pem")); err != nil {
			t.Fatal(err)
		}
		const wrong = "97531864"
		t.Setenv("CA_TEST_PIN", wrong)
		_, err := start(t, fmt.Sprintf("ca:\n  cert_file: %s/subca.pem\n  pkcs11: {module: %s, token: ca-wrongpin, key_id: %s, pin_env: CA_TEST_PIN}\n",
			pki, hsmModule, hex.EncodeToString(softhsm.KeyID(testkeys.Cert(t, "subca")))))
		if !errors.Is(err, pkcs11.ErrPINIncorrect) || !strings.Contains(err.Error(), "ca.pkcs11") {
			t.Fatalf("start with a wrong HSM PIN: %v, want ErrPINIncorrect naming ca.pkcs11", err)
		}
		if strings.Contains(err.Error(), wrong) {
			t.Fatalf("the error shows the PIN: %v", err)
		}
	})
}
