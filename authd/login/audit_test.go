package login_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/carespine/spineauth/registration"
)

// TestLoginsAudited: a login and a refused login each leave an audit entry
// in a real store's chain; a refusal before the challenge is taken (which
// anyone can send) leaves none.
func TestLoginsAudited(t *testing.T) {
	ctx := context.Background()
	st, err := registration.OpenSQLite(ctx, filepath.Join(t.TempDir(), "audit.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnv(t, withAudit(st))

	r := e.login(t, aliceRSA, "")
	e.secret(r.SessionToken)
	revoked := e.request(t, e.challenge(t), "card-revoked", signPKCS1)
	if w := e.post(t, revoked); w.Code != http.StatusUnauthorized {
		t.Fatalf("revoked card: %d %s", w.Code, w.Body)
	}
	// A certificate from another CA names Fred: the claim is kept, but it
	// is not put in Fred's history.
	foreign := e.request(t, e.challenge(t), "card-foreign", signPKCS1)
	if w := e.post(t, foreign); w.Code != http.StatusUnauthorized {
		t.Fatalf("foreign card: %d %s", w.Code, w.Body)
	}
	junk := e.do("POST", "/v1/login", []byte(`{"challenge_id":"nope"}`))
	if junk.Code != http.StatusBadRequest {
		t.Fatalf("malformed login: %d", junk.Code)
	}

	entries, err := st.AuditEntries(ctx, registration.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d audit entries, want 3: %+v", len(entries), entries)
	}
	ok, bad, forged := entries[0], entries[1], entries[2]
	var details map[string]string
	if err := json.Unmarshal([]byte(ok.Details), &details); err != nil {
		t.Fatal(err)
	}
	if ok.Action != "login" || ok.Outcome != registration.AuditDone || ok.ActorUID != aliceUID || ok.SubjectUID != aliceUID ||
		ok.Target == "" || details["session"] == "" || details["workstation"] == "" {
		t.Fatalf("login entry %+v", ok)
	}
	if bad.Action != "login" || bad.Outcome != registration.AuditDenied || bad.Reason != "cert_revoked" || bad.SubjectUID != "555000000092" {
		t.Fatalf("refusal entry %+v", bad)
	}
	if forged.Reason != "cert_untrusted" || forged.SubjectUID != "" || forged.ActorUID != "" ||
		forged.Details != `{"claimed_uid":"555000000094","workstation":"ws-0042.ward7"}` {
		t.Fatalf("untrusted certificate's entry %+v", forged)
	}
	if _, err := st.VerifyAudit(ctx); err != nil {
		t.Fatal(err)
	}
}

// failingAuditor refuses every entry.
type failingAuditor struct{}

func (failingAuditor) AppendAudit(context.Context, registration.AuditEntry) (*registration.AuditEntry, error) {
	return nil, errors.New("disk full")
}

// TestLoginRefusedWhenUnaudited: a login whose audit entry cannot be
// written is refused, and the session it made is ended.
func TestLoginRefusedWhenUnaudited(t *testing.T) {
	e := newEnv(t, withAudit(failingAuditor{}))
	req := e.request(t, e.challenge(t), aliceRSA, signPKCS1)
	w := e.post(t, req)
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("unaudited login: %d %s", w.Code, w.Body)
	}
	if n, err := e.store.DeleteUser(context.Background(), aliceUID); err != nil || n != 0 {
		t.Fatalf("the unaudited login left %d sessions (%v)", n, err)
	}
}
