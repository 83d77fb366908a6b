package ra_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/ra"
	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
	"github.com/carespine/spineauth/registration/pgtest"
	policies "github.com/carespine/spineauth/rego"
	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/testkeys"
)

// The RA API in process, over a real SQLite store with the demo world,
// the real policy set (rego/) in the OPA engine, and in-memory sessions.
// Sessions are made directly in the session store for the demo RA staff;
// the end-to-end tests in authd/server log in with cards.

const (
	carol = "555000000013" // RA agent (and sponsor) at RZZ
	dan   = "555000000014" // sponsor at RZZ (and privacy officer)
	alice = "555000000011" // clinician
	bob   = "555000000012" // nurse at RZZ, has a card
)

type rig struct {
	t     testing.TB
	store raStore
	sess  *sessions.Memory
	srv   *httptest.Server
	ca    *cardca.CA
	now   time.Time
}

// raStore is a backend the RA API runs on: the registration store with
// the card CA's records.
type raStore interface {
	registration.Store
	cardca.Store
}

func openSQLite(t testing.TB) raStore {
	st, err := registration.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "reg.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// openPostgres opens a store in a fresh schema of the PostgreSQL server
// on loopback (or a private one pgtest starts).
func openPostgres(t testing.TB) raStore {
	st, err := registration.OpenPostgres(context.Background(), pgtest.New(t).DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newRig(t testing.TB) *rig { return newRigOn(t, openSQLite(t)) }

func newRigOn(t testing.TB, st raStore) *rig {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	if err := registration.SeedDemo(ctx, st, now, nil); err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(ctx, policy.Config{Source: policy.FSSource(policies.FS),
		Queries: map[string]string{ra.Query: "data.spine.ra.decision"}, RunTests: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(eng.Close)
	mem := sessions.NewMemory(sessions.Config{})
	t.Cleanup(func() { mem.Close() })
	ca, err := cardca.New(ctx, cardca.Config{
		Cert:    testkeys.Cert(t, "subca"),
		Signer:  testkeys.Key(t, "subca"),
		CRLURL:  "http://authd.test/v1/pki/crl",
		OCSPURL: "http://authd.test/v1/pki/ocsp",
	}, st)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := ra.New(ra.Deps{Store: st, Sessions: mem, Policy: eng, Catalogue: registration.DefaultCatalogue(), CA: ca})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &rig{t: t, store: st, sess: mem, srv: srv, ca: ca, now: now}
}

// session makes a session for uid with role profile rp selected.
func (r *rig) session(uid, rp, card string) string {
	r.t.Helper()
	tok, _, err := r.sess.Create(context.Background(), sessions.Session{UserID: uid, CardID: card, CertSerial: "01",
		WorkstationID: "ws-ra", RoleProfileID: rp})
	if err != nil {
		r.t.Fatal(err)
	}
	return tok.Encode()
}

type answer struct {
	status int
	body   map[string]any
	raw    []byte
}

func (a answer) code() string { s, _ := a.body["error"].(string); return s }

func (r *rig) call(method, path, token string, body any) answer {
	r.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.srv.URL+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, raw: raw}
	_ = json.Unmarshal(raw, &a.body)
	return a
}

// want checks the status and the error code; for a policy refusal the
// code may be any of its reason codes (all of them are reported).
func (r *rig) want(a answer, status int, code string) {
	r.t.Helper()
	if a.status == status && a.code() == code {
		return
	}
	if rc, ok := a.body["reason_codes"].([]any); ok && a.status == status {
		for _, c := range rc {
			if c == code {
				return
			}
		}
	}
	r.t.Fatalf("got %d %s, want %d %q", a.status, a.raw, status, code)
}

func register(name, org string) map[string]any {
	return map[string]any{"name": name, "org": org, "reason": "new starter",
		"evidence": map[string]any{"document_type": "passport", "document_ref": "P99887766"}}
}

// TestRAWorkflow: register, request, approve by a second person, issue,
// renew refused outside the window, cancel (sessions end), with each step
// audited in the chain.
func TestRAWorkflow(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRAWorkflow(t, newRig(t)) })
	t.Run("PostgreSQL", func(t *testing.T) { testRAWorkflow(t, newRigOn(t, openPostgres(t))) })
}

func testRAWorkflow(t *testing.T, r *rig) {
	agent := r.session(carol, registration.DemoCarolAgentProfile, "CARD-CAROL")
	sponsor := r.session(dan, registration.DemoDanSponsorProfile, "CARD-DAN")

	a := r.call("POST", "/v1/ra/people", agent, register("Nia Roberts", "RZZ"))
	r.want(a, 201, "")
	uid := a.body["uid"].(string)
	checks := a.body["identity_checks"].([]any)
	if len(checks) != 1 || checks[0].(map[string]any)["checked_by"] != carol || checks[0].(map[string]any)["document_type"] != "passport" {
		t.Fatalf("identity evidence not recorded: %s", a.raw)
	}

	found := r.call("GET", "/v1/ra/people?name=nia", agent, nil)
	r.want(found, 200, "")
	if ps := found.body["people"].([]any); len(ps) != 1 || ps[0].(map[string]any)["uid"] != uid {
		t.Fatalf("find: %s", found.raw)
	}

	req := r.call("POST", "/v1/ra/people/"+uid+"/role-profiles", agent,
		map[string]any{"org": "RZZ", "job_role": "S8000:G8000:R8001", "reason": "ward 7 nurse"})
	r.want(req, 201, "")
	rpID := req.body["id"].(string)
	if req.body["status"] != "pending" || req.body["requested_by"] != carol {
		t.Fatalf("request: %s", req.raw)
	}
	pending := r.call("GET", "/v1/ra/role-profiles/pending", sponsor, nil)
	r.want(pending, 200, "")
	listed := false
	for _, rp := range pending.body["role_profiles"].([]any) {
		listed = listed || rp.(map[string]any)["id"] == rpID
	}
	if !listed {
		t.Fatalf("pending: %s", pending.raw)
	}
	// Carol also holds a sponsor profile, but she asked: two people.
	carolSponsor := r.session(carol, registration.DemoCarolSponsorProfile, "CARD-CAROL")
	r.want(r.call("POST", "/v1/ra/role-profiles/"+rpID+"/approve", carolSponsor, map[string]any{}), 403, "approval_by_requester")
	r.want(r.call("POST", "/v1/ra/role-profiles/"+rpID+"/approve", sponsor, map[string]any{"reason": "verified with ward manager"}), 200, "")
	r.want(r.call("POST", "/v1/ra/role-profiles/"+rpID+"/approve", sponsor, map[string]any{}), 409, "conflict")

	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki, _ := x509.MarshalPKIXPublicKey(key.Public())
	issued := r.call("POST", "/v1/ra/people/"+uid+"/cards", agent, map[string]any{"public_key": spki})
	r.want(issued, 201, "")
	cardID := issued.body["card"].(map[string]any)["id"].(string)
	certDER, _ := json.Marshal(issued.body["certificate"])
	var der []byte
	_ = json.Unmarshal(certDER, &der)
	cert, err := x509.ParseCertificate(der)
	if err != nil || cert.Subject.CommonName != uid+"_Nia Roberts" || !cert.PublicKey.(*ecdsa.PublicKey).Equal(key.Public()) {
		t.Fatalf("certificate: %v %+v", err, cert)
	}
	key2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	spki2, _ := x509.MarshalPKIXPublicKey(key2.Public())
	r.want(r.call("POST", "/v1/ra/cards/"+cardID+"/renew", agent, map[string]any{"public_key": spki2}), 409, "renewal_not_open")

	// The new user's session ends when the card is cancelled.
	nia := r.session(uid, rpID, cardID)
	cancel := r.call("POST", "/v1/ra/cards/"+cardID+"/cancel", agent, map[string]any{"reason": "card lost", "revocation_reason": "keyCompromise"})
	r.want(cancel, 200, "")
	if rs, _ := cancel.body["revoked_serials"].([]any); len(rs) != 1 || cancel.body["sessions_ended"] != float64(1) {
		t.Fatalf("cancel: %s", cancel.raw)
	}
	rec, err := r.ca.Lookup(context.Background(), cert.SerialNumber)
	if err != nil || !rec.Revoked() || rec.Reason != registration.ReasonKeyCompromise {
		t.Fatalf("the certificate was not revoked: %+v, %v", rec, err)
	}
	tok, _ := sessions.ParseToken(nia)
	if _, err := r.sess.Get(context.Background(), tok); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("the cancelled card's session survived: %v", err)
	}

	// History: every step, in order, in a chain that verifies.
	hist := r.call("GET", "/v1/ra/people/"+uid+"/history", agent, nil)
	r.want(hist, 200, "")
	var actions []string
	kh := registration.KeyHash(cert)
	for _, e := range hist.body["events"].([]any) {
		m := e.(map[string]any)
		actions = append(actions, m["action"].(string)+"/"+m["outcome"].(string))
		if m["action"] == "issue_card" && !strings.Contains(m["details"].(string), hex.EncodeToString(kh[:])) {
			t.Errorf("the issue entry does not name the certified key: %v", m["details"])
		}
	}
	want := []string{"register_person/done", "request_role_profile/done", "approve_role_profile/denied",
		"approve_role_profile/done", "issue_card/done", "renew_card/denied", "cancel_card/done"}
	if fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Fatalf("history %v, want %v", actions, want)
	}
	if n, err := r.store.VerifyAudit(context.Background()); err != nil || n < int64(len(want)) {
		t.Fatalf("VerifyAudit: %d, %v", n, err)
	}
}

// TestRARulesRefused: each rule, refused through the API with its reason
// code, and audited as denied.
func TestRARulesRefused(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	agent := r.session(carol, registration.DemoCarolAgentProfile, "CARD-CAROL")
	sponsor := r.session(dan, registration.DemoDanSponsorProfile, "CARD-DAN")
	manager := r.session(registration.DemoRAManagerUID, "555000001001", "CARD-PRIYA")
	lee := r.session(registration.DemoSmartcardAdminUID, registration.DemoLeeUnlockProfile, "CARD-LEE")
	clinician := r.session(alice, registration.DemoAliceTrustProfile, "CARD-ALICE")

	// A person at Y12345 (registered by the RA manager there? no: by a
	// store write, as another organisation's RA would have).
	r.want(r.call("POST", "/v1/ra/people", agent, register("Out Side", "Y12345")), 403, "outside_organisation")
	if err := r.store.RegisterPerson(ctx, registration.Person{UID: "555000000777", Name: "Out Side", Status: registration.PersonActive},
		registration.IdentityCheck{UID: "555000000777", ODS: "Y12345", DocumentType: registration.DocPassport, DocumentRef: "X1", CheckedBy: alice},
		registration.AuditEntry{Action: "register_person", ActorUID: alice}); err != nil {
		t.Fatal(err)
	}
	nurse := map[string]any{"org": "RZZ", "job_role": "S8000:G8000:R8001", "reason": "x"}
	raAgent := map[string]any{"org": "RZZ", "job_role": "S8003:G8003:R5090", "reason": "x"}

	cases := []struct {
		name, method, path, token string
		body                      any
		status                    int
		code                      string
	}{
		{"clinician is not RA", "POST", "/v1/ra/people", clinician, register("A B", "RZZ"), 403, "activity_not_permitted"},
		{"sponsor does not register", "POST", "/v1/ra/people", sponsor, register("A B", "RZZ"), 403, "activity_not_permitted"},
		{"agent outside their organisation", "GET", "/v1/ra/people/555000000777", agent, nil, 403, "outside_organisation"},
		{"agent requests outside their organisation", "POST", "/v1/ra/people/" + bob + "/role-profiles", agent,
			map[string]any{"org": "Y12345", "job_role": "S8000:G8000:R8001", "reason": "x"}, 403, "outside_organisation"},
		{"no self grant", "POST", "/v1/ra/people/" + carol + "/role-profiles", agent, nurse, 403, "self_grant_forbidden"},
		{"agent cannot grant RA activities", "POST", "/v1/ra/people/" + bob + "/role-profiles", agent, raAgent, 403, "activity_not_grantable"},
		{"unknown card", "POST", "/v1/ra/cards/CARD-NONE/cancel", agent, map[string]any{"reason": "x"}, 404, "not_found"},
		{"unknown card for the smartcard admin", "POST", "/v1/ra/cards/CARD-NONE/unlock", lee, map[string]any{"reason": "x"}, 404, "not_found"},
		{"agent does not read the audit trail", "GET", "/v1/ra/audit", agent, nil, 403, "activity_not_permitted"},
		{"sponsor does not approve a directly created profile", "POST", "/v1/ra/role-profiles/" + registration.DemoDanPendingProfile + "/approve",
			r.session(carol, registration.DemoCarolSponsorProfile, "CARD-CAROL"), map[string]any{}, 403, "requester_unknown"},
		{"no session", "GET", "/v1/ra/people?name=a", "", nil, 401, "session_invalid"},
		{"bad token", "GET", "/v1/ra/people?name=a", "not-a-token", nil, 401, "session_invalid"},
		{"unknown job role", "POST", "/v1/ra/people/" + bob + "/role-profiles", agent,
			map[string]any{"org": "RZZ", "job_role": "S9999:G9999:R9999", "reason": "x"}, 400, "bad_request"},
		{"unknown field", "POST", "/v1/ra/people", agent, map[string]any{"name": "x", "org": "RZZ", "admin": true}, 400, "bad_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r.t = t
			r.want(r.call(tc.method, tc.path, tc.token, tc.body), tc.status, tc.code)
		})
	}
	r.t = t
	r.want(r.call("GET", "/v1/ra/audit", manager, nil), 200, "")

	// Cards: the agent's own card, and a card outside the organisation.
	for _, c := range []registration.Card{
		{ID: "CARD-CAROL", UID: carol, CertSerial: "c0", CertFingerprint: [32]byte{0xc0}, CertNotAfter: r.now.AddDate(2, 0, 0), Status: registration.CardActive},
		{ID: "CARD-OUT", UID: "555000000777", CertSerial: "c1", CertFingerprint: [32]byte{0xc1}, CertNotAfter: r.now.AddDate(2, 0, 0), Status: registration.CardActive},
		{ID: "CARD-BOB", UID: bob, CertSerial: "c2", CertFingerprint: [32]byte{0xc2}, CertNotAfter: r.now.AddDate(2, 0, 0), Status: registration.CardActive},
	} {
		if err := r.store.CreateCard(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	r.want(r.call("POST", "/v1/ra/cards/CARD-CAROL/cancel", agent, map[string]any{"reason": "x"}), 403, "self_action_forbidden")
	r.want(r.call("POST", "/v1/ra/cards/CARD-OUT/unlock", agent, map[string]any{"reason": "x"}), 403, "outside_organisation")
	r.want(r.call("POST", "/v1/ra/cards/CARD-BOB/cancel", lee, map[string]any{"reason": "x"}), 403, "activity_not_permitted")
	r.want(r.call("POST", "/v1/ra/cards/CARD-BOB/unlock", lee, map[string]any{"reason": "locked after 3 tries"}), 200, "")

	// Ending a profile stops it at once: its holder's sessions end and the
	// actor whose profile ended is refused on the next request.
	bobSession := r.session(bob, registration.DemoBobTrustProfile, "CARD-BOB")
	r.want(r.call("POST", "/v1/ra/role-profiles/"+registration.DemoBobTrustProfile+"/end", agent, map[string]any{"reason": "left the trust"}), 200, "")
	tok, _ := sessions.ParseToken(bobSession)
	if _, err := r.sess.Get(ctx, tok); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("the ended profile's session survived: %v", err)
	}
	if err := r.store.SetRoleProfileStatus(ctx, registration.DemoLeeUnlockProfile, registration.RoleProfileEnded, ""); err != nil {
		t.Fatal(err)
	}
	r.want(r.call("POST", "/v1/ra/cards/CARD-BOB/unlock", lee, map[string]any{"reason": "x"}), 403, "role_not_current")

	denied, err := r.store.AuditEntries(ctx, registration.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range denied {
		if e.Outcome == registration.AuditDenied && e.DecisionID != "" && e.Reason != "" {
			n++
		}
	}
	if n < 12 {
		t.Fatalf("%d refusals audited, want at least 12", n)
	}
}

// TestRAConcurrentEdits: two RA members edit the same person from the same
// read; the second gets 409 version_conflict and nothing of it is stored.
func TestRAConcurrentEdits(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) { testRAConcurrentEdits(t, newRig(t)) })
	t.Run("PostgreSQL", func(t *testing.T) { testRAConcurrentEdits(t, newRigOn(t, openPostgres(t))) })
}

func testRAConcurrentEdits(t *testing.T, r *rig) {
	agent := r.session(carol, registration.DemoCarolAgentProfile, "CARD-CAROL")
	a := r.call("POST", "/v1/ra/people", agent, register("Edit Me", "RZZ"))
	r.want(a, 201, "")
	uid := a.body["uid"].(string)
	var wg sync.WaitGroup
	results := make([]answer, 6)
	for i := range results {
		wg.Go(func() {
			results[i] = r.call("PATCH", "/v1/ra/people/"+uid, agent,
				map[string]any{"version": 1, "name": fmt.Sprintf("Edited %d", i), "reason": "name change"})
		})
	}
	wg.Wait()
	won := 0
	for _, res := range results {
		switch {
		case res.status == 200:
			won++
		case res.status != 409 || res.code() != "version_conflict":
			t.Fatalf("edit: %d %s", res.status, res.raw)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent edits from version 1 succeeded, want 1", won)
	}
	p, err := r.store.Person(context.Background(), uid)
	if err != nil || p.Version != 2 {
		t.Fatalf("person after the race: %+v, %v", p, err)
	}
}

// TestRASuspendEndsSessions: suspending a person ends their sessions at
// once, and the edit is audited with its reason.
func TestRASuspendEndsSessions(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	agent := r.session(carol, registration.DemoCarolAgentProfile, "CARD-CAROL")
	bobSession := r.session(bob, registration.DemoBobTrustProfile, "CARD-BOB")
	p := r.call("GET", "/v1/ra/people/"+bob, agent, nil)
	r.want(p, 200, "")
	version := p.body["version"]
	r.want(r.call("PATCH", "/v1/ra/people/"+bob, agent, map[string]any{"version": version, "status": "suspended", "reason": "under investigation"}), 200, "")
	tok, _ := sessions.ParseToken(bobSession)
	if _, err := r.sess.Get(ctx, tok); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("the suspended person's session survived: %v", err)
	}
	entries, err := r.store.AuditEntries(ctx, registration.AuditFilter{SubjectUID: bob})
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1]
	if last.Action != "update_person" || last.Reason != "under investigation" || !strings.Contains(last.Details, `"status":"suspended"`) {
		t.Fatalf("audit entry %+v", last)
	}
}
