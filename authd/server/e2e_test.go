package server_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/cardagent"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions/redistest"
	"github.com/carespine/spineauth/testkeys"
)

// TestCardLoginEndToEnd: a SoftHSM token made from the test PKI, the
// cardagent binary logging in to an authd process, the session working,
// a role switch, logout, and the ended session refused. RSA and ECDSA.
func TestCardLoginEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "authd.db")
	seedDB(t, db, time.Now())
	addr := freeAddr(t)
	url := startAuthd(t, writeConfig(t, dir, addr, db, ""), addr)

	for _, token := range []string{"alice-rsa", "alice-ec"} {
		t.Run(token, func(t *testing.T) {
			resp, stderr, err := cardagentLogin(t, url, token, testPIN)
			if err != nil {
				t.Fatalf("cardagent login: %v\n%s", err, stderr)
			}
			user := resp["user"].(map[string]any)
			if user["uid"] != "555000000011" || user["name"] != "Alice Carter" {
				t.Fatalf("user %v", user)
			}
			if n := len(resp["role_profiles"].([]any)); n != 2 {
				t.Fatalf("%d role profiles, want Alice's 2", n)
			}
			if sel, ok := resp["selected_role_profile_id"]; ok {
				t.Fatalf("a role profile %v was selected although Alice has two", sel)
			}
			tok := resp["session_token"].(string)

			var view cardagent.SessionView
			if st, code := call(t, "GET", url+"/v1/session", tok, nil, &view); st != 200 {
				t.Fatalf("GET /v1/session: %d %s", st, code)
			}
			if view.User.UID != "555000000011" || view.WorkstationID != "ws-e2e" {
				t.Fatalf("session view %+v", view)
			}
			body := map[string]string{"role_profile_id": registration.DemoAliceTrustProfile}
			if st, code := call(t, "PUT", url+"/v1/session/role", tok, body, &view); st != 200 {
				t.Fatalf("PUT /v1/session/role: %d %s", st, code)
			}
			if view.SelectedRoleProfileID != registration.DemoAliceTrustProfile {
				t.Fatalf("selected %q", view.SelectedRoleProfileID)
			}
			if st, _ := call(t, "GET", url+"/v1/session", tok, nil, &view); st != 200 || view.SelectedRoleProfileID != registration.DemoAliceTrustProfile {
				t.Fatalf("role not kept: %d %q", st, view.SelectedRoleProfileID)
			}
			if st, code := call(t, "DELETE", url+"/v1/session", tok, nil, nil); st != http.StatusNoContent {
				t.Fatalf("DELETE /v1/session: %d %s", st, code)
			}
			if st, code := call(t, "GET", url+"/v1/session", tok, nil, nil); st != 401 || code != "session_invalid" {
				t.Fatalf("ended session: %d %s, want 401 session_invalid", st, code)
			}
		})
	}

	t.Run("wrong PIN", func(t *testing.T) {
		_, stderr, err := cardagentLogin(t, url, "bob-ec", "000000")
		if err == nil {
			t.Fatal("login with a wrong PIN succeeded")
		}
		if !strings.Contains(stderr, "wrong PIN") {
			t.Errorf("stderr %q does not say wrong PIN", stderr)
		}
		if strings.Contains(stderr, "000000") {
			t.Errorf("stderr repeats the PIN: %q", stderr)
		}
	})
	t.Run("revoked certificate", func(t *testing.T) {
		_, stderr, err := cardagentLogin(t, url, "revoked", testPIN)
		if err == nil || !strings.Contains(stderr, "cert_revoked") {
			t.Fatalf("want cert_revoked, got %v: %s", err, stderr)
		}
	})
}

// signedLogin builds a login request for a test PKI card, signing the
// challenge with key (normally the card's own).
func signedLogin(t *testing.T, c *cardagent.Client, cert *x509.Certificate, key crypto.Signer, role string) *cardagent.LoginRequest {
	t.Helper()
	ch, err := c.Challenge(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	d := sha256.Sum256(ch.ToSign)
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return &cardagent.LoginRequest{ChallengeID: ch.ChallengeID, Certificate: cert.Raw, Signature: sig,
		WorkstationID: "ws-test", RoleProfileID: role}
}

func apiCode(err error) string {
	var e *cardagent.APIError
	if errors.As(err, &e) {
		return e.Code
	}
	return fmt.Sprint(err)
}

// TestLoginRefusals: each way a login must fail, with its code.
func TestLoginRefusals(t *testing.T) {
	r := newRig(t)
	c := &cardagent.Client{BaseURL: r.url}
	ctx := context.Background()
	alice, aliceKey := testkeys.Cert(t, "card-555000000011-rsa"), testkeys.Key(t, "card-555000000011-rsa")
	bob, bobKey := testkeys.Cert(t, "card-555000000012-ec"), testkeys.Key(t, "card-555000000012-ec")

	t.Run("replayed challenge", func(t *testing.T) {
		req := signedLogin(t, c, alice, aliceKey, "")
		if _, err := c.Login(ctx, req); err != nil {
			t.Fatalf("first use: %v", err)
		}
		if _, err := c.Login(ctx, req); apiCode(err) != "challenge_unknown" {
			t.Fatalf("replay: %v, want challenge_unknown", err)
		}
	})
	t.Run("expired challenge", func(t *testing.T) {
		req := signedLogin(t, c, alice, aliceKey, "")
		r.clock.Advance(61 * time.Second)
		if _, err := c.Login(ctx, req); apiCode(err) != "challenge_unknown" {
			t.Fatalf("%v, want challenge_unknown", err)
		}
	})
	t.Run("signature by another key", func(t *testing.T) {
		if _, err := c.Login(ctx, signedLogin(t, c, alice, bobKey, "")); apiCode(err) != "bad_signature" {
			t.Fatalf("%v, want bad_signature", err)
		}
	})
	t.Run("signature over other bytes", func(t *testing.T) {
		req := signedLogin(t, c, alice, aliceKey, "")
		other := signedLogin(t, c, alice, aliceKey, "")
		req.Signature = other.Signature
		if _, err := c.Login(ctx, req); apiCode(err) != "bad_signature" {
			t.Fatalf("%v, want bad_signature", err)
		}
	})
	t.Run("certificate of another user", func(t *testing.T) {
		// A genuine card certificate naming Carol, registered as Bob's card.
		subca := testkeys.Cert(t, "subca")
		tmpl := *testkeys.Cert(t, "card-555000000013-ec")
		tmpl.SerialNumber = tmpl.SerialNumber.Add(tmpl.SerialNumber, tmpl.SerialNumber)
		der, err := x509.CreateCertificate(rand.Reader, &tmpl, subca, bobKey.Public(), testkeys.Key(t, "subca"))
		if err != nil {
			t.Fatal(err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		card, err := registration.NewCard(cert, "555000000012", r.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := r.srv.Store().CreateCard(ctx, card); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, signedLogin(t, c, cert, bobKey, "")); apiCode(err) != "user_unknown" {
			t.Fatalf("%v, want user_unknown", err)
		}
	})
	t.Run("revoked certificate", func(t *testing.T) {
		req := signedLogin(t, c, testkeys.Cert(t, "card-revoked-ec"), testkeys.Key(t, "card-revoked-ec"), "")
		if _, err := c.Login(ctx, req); apiCode(err) != "cert_revoked" {
			t.Fatalf("%v, want cert_revoked", err)
		}
	})
	t.Run("expired certificate", func(t *testing.T) {
		req := signedLogin(t, c, testkeys.Cert(t, "card-expired"), testkeys.Key(t, "card-expired"), "")
		if _, err := c.Login(ctx, req); apiCode(err) != "cert_expired" {
			t.Fatalf("%v, want cert_expired", err)
		}
	})
	t.Run("certificate from a foreign root", func(t *testing.T) {
		req := signedLogin(t, c, testkeys.Cert(t, "card-foreign"), testkeys.Key(t, "card-foreign"), "")
		if _, err := c.Login(ctx, req); apiCode(err) != "cert_untrusted" {
			t.Fatalf("%v, want cert_untrusted", err)
		}
	})
	t.Run("certificate without the login EKU", func(t *testing.T) {
		req := signedLogin(t, c, testkeys.Cert(t, "card-wrongeku"), testkeys.Key(t, "card-wrongeku"), "")
		if _, err := c.Login(ctx, req); apiCode(err) != "cert_usage" {
			t.Fatalf("%v, want cert_usage", err)
		}
	})
	t.Run("role profile of someone else", func(t *testing.T) {
		req := signedLogin(t, c, alice, aliceKey, registration.DemoBobTrustProfile)
		if _, err := c.Login(ctx, req); apiCode(err) != "role_profile_invalid" {
			t.Fatalf("%v, want role_profile_invalid", err)
		}
	})
	t.Run("ended role profile", func(t *testing.T) {
		req := signedLogin(t, c, bob, bobKey, registration.DemoBobEndedProfile)
		if _, err := c.Login(ctx, req); apiCode(err) != "role_profile_invalid" {
			t.Fatalf("%v, want role_profile_invalid", err)
		}
	})
	t.Run("switch to a role profile of someone else", func(t *testing.T) {
		resp, err := c.Login(ctx, signedLogin(t, c, alice, aliceKey, ""))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.SelectRole(ctx, resp.SessionToken, registration.DemoBobTrustProfile)
		var e *cardagent.APIError
		if !errors.As(err, &e) || e.Code != "role_profile_invalid" || e.Status != http.StatusForbidden {
			t.Fatalf("%v, want 403 role_profile_invalid", err)
		}
	})
	t.Run("cancelled card", func(t *testing.T) {
		card, err := r.srv.Store().CardByFingerprint(ctx, sha256.Sum256(bob.Raw))
		if err != nil {
			t.Fatal(err)
		}
		if err := r.srv.Store().SetCardStatus(ctx, card.ID, registration.CardCancelled); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Login(ctx, signedLogin(t, c, bob, bobKey, "")); apiCode(err) != "card_not_active" {
			t.Fatalf("%v, want card_not_active", err)
		}
	})
	t.Run("malformed request", func(t *testing.T) {
		st, code := call(t, "POST", r.url+"/v1/login", "", map[string]any{"challenge_id": "nothex", "surprise": 1}, nil)
		if st != 400 || code != "bad_request" {
			t.Fatalf("%d %s, want 400 bad_request", st, code)
		}
		big := map[string]string{"challenge_id": strings.Repeat("a", 300<<10)}
		if st, code := call(t, "POST", r.url+"/v1/login", "", big, nil); st != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d %s, want 413", st, code)
		}
	})
	t.Run("bad bearer token", func(t *testing.T) {
		for _, tok := range []string{"", "short", strings.Repeat("A", 43)} {
			if st, code := call(t, "GET", r.url+"/v1/session", tok, nil, nil); st != 401 || code != "session_invalid" {
				t.Fatalf("token %q: %d %s, want 401 session_invalid", tok, st, code)
			}
		}
	})
	if strings.Contains(r.logs.String(), "-----BEGIN") {
		t.Error("a key or certificate reached the log")
	}
}

// TestSessionExpiry: idle time-out and the absolute lifetime, with time
// moved by the injected clock.
func TestSessionExpiry(t *testing.T) {
	r := newRig(t)
	c := &cardagent.Client{BaseURL: r.url}
	ctx := context.Background()
	alice, aliceKey := testkeys.Cert(t, "card-555000000011-ec"), testkeys.Key(t, "card-555000000011-ec")

	t.Run("idle", func(t *testing.T) {
		resp, err := c.Login(ctx, signedLogin(t, c, alice, aliceKey, ""))
		if err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(29 * time.Minute)
		if _, err := c.Session(ctx, resp.SessionToken); err != nil {
			t.Fatalf("after 29 idle minutes: %v", err)
		}
		r.clock.Advance(31 * time.Minute)
		if _, err := c.Session(ctx, resp.SessionToken); apiCode(err) != "session_expired" {
			t.Fatalf("after 31 idle minutes: %v, want session_expired", err)
		}
	})
	t.Run("absolute", func(t *testing.T) {
		resp, err := c.Login(ctx, signedLogin(t, c, alice, aliceKey, ""))
		if err != nil {
			t.Fatal(err)
		}
		// Busy all day: never idle for long, still ended at 10 hours.
		for elapsed := time.Duration(0); elapsed < 10*time.Hour-20*time.Minute; elapsed += 20 * time.Minute {
			r.clock.Advance(20 * time.Minute)
			if _, err := c.Session(ctx, resp.SessionToken); err != nil {
				t.Fatalf("after %s: %v", elapsed+20*time.Minute, err)
			}
		}
		r.clock.Advance(21 * time.Minute)
		if _, err := c.Session(ctx, resp.SessionToken); apiCode(err) != "session_expired" {
			t.Fatalf("after 10h: %v, want session_expired", err)
		}
	})
}

// TestTwoNodesShareRedis: two authd processes with one Redis accept each
// other's sessions, refuse a challenge used on the other, and see each
// other's logouts.
func TestTwoNodesShareRedis(t *testing.T) {
	redisAddr := redistest.Addr(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "authd.db")
	seedDB(t, db, time.Now())
	prefix := fmt.Sprintf("spineauth-e2e-%d:", time.Now().UnixNano())
	sess := fmt.Sprintf("sessions:\n  backend: redis\n  redis:\n    addrs: [%s]\n    key_prefix: %q\n", redisAddr, prefix)
	var urls []string
	for i := range 2 {
		nodeDir := filepath.Join(dir, fmt.Sprint("node", i))
		if err := mkdir(nodeDir); err != nil {
			t.Fatal(err)
		}
		addr := freeAddr(t)
		urls = append(urls, startAuthd(t, writeConfig(t, nodeDir, addr, db, sess), addr))
	}
	a, b := &cardagent.Client{BaseURL: urls[0]}, &cardagent.Client{BaseURL: urls[1]}
	ctx := context.Background()
	alice, aliceKey := testkeys.Cert(t, "card-555000000011-rsa"), testkeys.Key(t, "card-555000000011-rsa")

	// A challenge from node A answered at node B, then replayed at A.
	req := signedLogin(t, a, alice, aliceKey, registration.DemoAlicePracticeProfile)
	resp, err := b.Login(ctx, req)
	if err != nil {
		t.Fatalf("login at B with A's challenge: %v", err)
	}
	if _, err := a.Login(ctx, req); apiCode(err) != "challenge_unknown" {
		t.Fatalf("challenge reused at A: %v, want challenge_unknown", err)
	}
	// The session made at B works at A.
	v, err := a.Session(ctx, resp.SessionToken)
	if err != nil {
		t.Fatalf("session from B at A: %v", err)
	}
	if v.SelectedRoleProfileID != registration.DemoAlicePracticeProfile {
		t.Fatalf("selected %q", v.SelectedRoleProfileID)
	}
	// Logout at A ends it at B.
	if err := a.Logout(ctx, resp.SessionToken); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Session(ctx, resp.SessionToken); apiCode(err) != "session_invalid" {
		t.Fatalf("after logout at A, B says %v, want session_invalid", err)
	}
	// A card login through the agent at B, checked at A.
	out, stderr, err := cardagentLogin(t, urls[1], "alice-ec", testPIN)
	if err != nil {
		t.Fatalf("cardagent at B: %v\n%s", err, stderr)
	}
	if _, err := a.Session(ctx, out["session_token"].(string)); err != nil {
		t.Fatalf("agent's session at A: %v", err)
	}
}
