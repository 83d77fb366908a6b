package server_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
// through its own CRL when OCSP cannot be reached.

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
	responder := `""`
	if ocspBroken {
		responder = "http://" + freeAddr(t) + "/v1/pki/ocsp"
	}
	pki := testkeys.Dir()
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
  public_url: %[8]s
`, dir, pki, responder, hsmModule, caToken, hex.EncodeToString(softhsm.KeyID(testkeys.Cert(t, "subca"))), pinFile, url)
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
			viaOCSP := r.metric(t, `authd_ocsp_responses_total{status="good"} 1`)
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
