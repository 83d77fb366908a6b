package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/carespine/spineauth/authd/pdp"
	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
	policies "github.com/carespine/spineauth/rego"
	"github.com/carespine/spineauth/sessions"
)

// The wrapper policy (opa/authzen.rego) is only a fair stand-in for
// authd's PDP if, for the same request and facts, it builds the same
// policy input and gives the same answer. These tests put authd's real
// PDP (package pdp, with the real policy engine over the embedded policy
// and in-memory fakes of its stores) beside the wrapper evaluated with
// the OPA library, over facts converted by the same code setup uses.

var testNow = time.Date(2026, 11, 22, 10, 0, 0, 123456789, time.UTC)

// fakeSessions is the PDP's session store.
type fakeSessions map[sessions.Token]*sessions.Session

func (f fakeSessions) Get(_ context.Context, tok sessions.Token) (*sessions.Session, error) {
	s, ok := f[tok]
	if !ok {
		return nil, sessions.ErrNotFound
	}
	c := *s
	return &c, nil
}

func (f fakeSessions) GetMany(ctx context.Context, toks []sessions.Token) ([]*sessions.Session, []error) {
	out, errs := make([]*sessions.Session, len(toks)), make([]error, len(toks))
	for i, tok := range toks {
		out[i], errs[i] = f.Get(ctx, tok)
	}
	return out, errs
}

// fakeFacts is the PDP's registration store.
type fakeFacts struct {
	profiles map[string]*registration.RoleProfile
	patients map[string]*registration.PatientFacts
	mu       sync.Mutex
	alerts   []registration.Alert
}

func (f *fakeFacts) RoleProfile(_ context.Context, id string) (*registration.RoleProfile, error) {
	rp, ok := f.profiles[id]
	if !ok {
		return nil, registration.ErrNotFound
	}
	c := *rp
	return &c, nil
}

func (f *fakeFacts) PatientFacts(_ context.Context, nhs string) (*registration.PatientFacts, error) {
	if p, ok := f.patients[nhs]; ok {
		return p, nil
	}
	return &registration.PatientFacts{NHSNumber: nhs, Relationships: []registration.Relationship{}, Seals: []registration.Seal{}}, nil
}

func (f *fakeFacts) DecisionFacts(ctx context.Context, profileIDs, nhsNumbers []string) (*registration.DecisionFacts, error) {
	df := &registration.DecisionFacts{Profiles: map[string]*registration.RoleProfile{},
		Patients: map[string]*registration.PatientFacts{}}
	for _, id := range profileIDs {
		if rp, err := f.RoleProfile(ctx, id); err == nil {
			df.Profiles[id] = rp
		}
	}
	for _, nhs := range nhsNumbers {
		df.Patients[nhs], _ = f.PatientFacts(ctx, nhs)
	}
	return df, nil
}

func (f *fakeFacts) CreateAlerts(_ context.Context, alerts []registration.Alert) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = append(f.alerts, alerts...)
	return nil
}

// capturing records the policy inputs authd's PDP builds.
type capturing struct {
	inner  pdp.Evaluator
	mu     sync.Mutex
	inputs []any
}

func (c *capturing) Eval(ctx context.Context, query string, input any) (*policy.Result, error) {
	c.mu.Lock()
	c.inputs = append(c.inputs, input)
	c.mu.Unlock()
	return c.inner.Eval(ctx, query, input)
}

func (c *capturing) take() []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.inputs
	c.inputs = nil
	return out
}

type nopLog struct{}

func (nopLog) Record(context.Context, policy.Decision, bool) error { return nil }
func (nopLog) RecordAll(_ context.Context, ds []policy.Decision, _ []bool) []error {
	return make([]error, len(ds))
}
func (nopLog) Close() error { return nil }

// fixture is one world seen by both.
type fixture struct {
	authd   http.Handler
	capture *capturing
	facts   *fakeFacts
	opa     rego.PreparedEvalQuery
	opaIn   rego.PreparedEvalQuery // the wrapper's policy input
	opaBat  rego.PreparedEvalQuery
	tokens  map[string]string // session name → token
}

const (
	pRegistered = "9990001235" // org LR to Y12345
	pLapsed     = "9990001243" // expired and ended LRs to northgate-ward-7, a future-expiring one to team-0007
	pCurrentWG  = "9990001251" // LR to northgate-ward-7 that expires next year
	pDissent    = "9990001278" // org LR to Y12345, consent no + 93C3
	pLocked     = "9990001286" // org LR to Y12345, clinical sealed_locked by team-x
	pSealed     = "9990001294" // org LR to Y12345, clinical sealed
	pNobody     = "9990001308" // no facts at all
	pCodeOnly   = "9990001316" // org LR to Y12345, consent yes + 9Ndo
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	cat := registration.DefaultCatalogue()
	yearAgo := testNow.AddDate(-1, 0, 0)
	clinical := []string{"B0020", "B0082", "B0168", "B0264", "B0370", "B0825", "B8028"}
	profiles := map[string]*registration.RoleProfile{
		"555000001101": {ID: "555000001101", UID: uidAlice, ODS: "Y12345", JobRole: "S8000:G8000:R8000",
			Activities: clinical, Workgroups: []string{"riverside-clinicians"}, Start: yearAgo, Status: registration.RoleProfileActive},
		"555000001201": {ID: "555000001201", UID: uidBob, ODS: "RZZ", JobRole: "S8000:G8000:R8001",
			Activities: []string{"B0082", "B0168", "B0264", "B0370"}, Workgroups: []string{"northgate-ward-7"}, Start: yearAgo,
			Status: registration.RoleProfileActive},
		"555000001302": {ID: "555000001302", UID: "555000000013", ODS: "RZZ", JobRole: "S8001:G8001:R8008",
			Activities: []string{"B0825", "B1300"}, Workgroups: []string{}, Start: yearAgo, Status: registration.RoleProfileActive},
		"555000001202": {ID: "555000001202", UID: uidBob, ODS: "Y12345", JobRole: "S8000:G8000:R8001",
			Activities: []string{"B0370"}, Workgroups: []string{"riverside-clinicians"}, Start: yearAgo.AddDate(-1, 0, 0),
			End: testNow.AddDate(0, 0, -30), Status: registration.RoleProfileActive},
	}
	rel := func(id, tt, target string, created time.Time, mod func(*registration.Relationship)) registration.Relationship {
		r := registration.Relationship{ID: id, TargetType: registration.TargetType(tt), Target: target,
			Kind: registration.RelationshipRegistered, CreatedBy: uidAlice, CreatedAt: created}
		if mod != nil {
			mod(&r)
		}
		return r
	}
	orgLR := func(id string) registration.Relationship {
		return rel(id, "organisation", "Y12345", yearAgo, nil)
	}
	yes := &registration.Consent{SCR: registration.ConsentYes, DissentCodes: []string{}}
	patients := map[string]*registration.PatientFacts{
		pRegistered: {Relationships: []registration.Relationship{orgLR("a000000000000001")}, Consent: yes},
		pLapsed: {Relationships: []registration.Relationship{
			rel("a000000000000002", "workgroup", "northgate-ward-7", yearAgo, func(r *registration.Relationship) {
				r.Kind, r.ExpiresAt = registration.RelationshipReferral, testNow.AddDate(0, 0, -10)
			}),
			rel("a000000000000003", "workgroup", "northgate-ward-7", yearAgo, func(r *registration.Relationship) {
				r.Kind, r.EndedAt = registration.RelationshipReferral, testNow.AddDate(0, 0, -5)
			}),
			rel("a000000000000004", "workgroup", "team-0007", yearAgo, func(r *registration.Relationship) {
				r.ExpiresAt = testNow.AddDate(0, 1, 0)
			}),
		}},
		pCurrentWG: {Relationships: []registration.Relationship{
			rel("a000000000000005", "workgroup", "northgate-ward-7", yearAgo, func(r *registration.Relationship) {
				r.Kind, r.ExpiresAt = registration.RelationshipReferral, testNow.AddDate(1, 0, 0)
			}),
		}, Consent: &registration.Consent{SCR: registration.ConsentAsk, DissentCodes: []string{}}},
		pDissent: {Relationships: []registration.Relationship{orgLR("a000000000000006")},
			Consent: &registration.Consent{SCR: registration.ConsentNo, DissentCodes: []string{"93C3"}}},
		pLocked: {Relationships: []registration.Relationship{orgLR("a000000000000007")}, Consent: yes,
			Seals: []registration.Seal{{Section: "clinical", State: registration.SealedLocked, OwnerWorkgroup: "team-x"}}},
		pSealed: {Relationships: []registration.Relationship{orgLR("a000000000000008")}, Consent: yes,
			Seals: []registration.Seal{{Section: "clinical", State: registration.Sealed}}},
		pCodeOnly: {Relationships: []registration.Relationship{orgLR("a000000000000009")},
			Consent: &registration.Consent{SCR: registration.ConsentYes, DissentCodes: []string{"9Ndo"}}},
	}
	for nhs, p := range patients {
		p.NHSNumber = nhs
		for i := range p.Relationships {
			p.Relationships[i].NHSNumber = nhs
		}
		if p.Seals == nil {
			p.Seals = []registration.Seal{}
		}
		if p.Consent != nil {
			c := *p.Consent
			c.NHSNumber = nhs
			p.Consent = &c
		}
	}

	sess := fakeSessions{}
	tokens := map[string]string{}
	facts := opaFacts{Sessions: map[string]opaSession{}, RoleProfiles: map[string]opaProfile{}, Patients: map[string]opaPatient{}}
	for _, s := range []struct{ name, uid, profile string }{
		{"alice", uidAlice, "555000001101"},
		{"bob", uidBob, "555000001201"},
		{"carol", "555000000013", "555000001302"},
		{"bob-ended", uidBob, "555000001202"},
		{"no-role", uidAlice, ""},
		{"wrong-owner", uidBob, "555000001101"}, // a profile that is not the session user's
	} {
		tok, err := sessions.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		sess[tok] = &sessions.Session{ID: s.name, UserID: s.uid, RoleProfileID: s.profile}
		tokens[s.name] = tok.Encode()
		facts.Sessions[tok.Encode()] = opaSession{UID: s.uid, RoleProfileID: s.profile}
	}
	for id, rp := range profiles {
		facts.RoleProfiles[id] = opaProfileOf(rp, cat)
	}
	for nhs, p := range patients {
		facts.Patients[nhs] = opaPatientOf(p)
	}

	engine, err := policy.New(ctx, policy.Config{
		Source:  policy.FSSource(policies.FS),
		Queries: map[string]string{pdp.AccessQuery: "data.spine.access.decision"},
		Now:     func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	capture := &capturing{inner: engine}
	ff := &fakeFacts{profiles: profiles, patients: patients}
	svc, err := pdp.New(pdp.Deps{Sessions: sess, Facts: ff, Catalogue: cat, Policy: capture, Log: nopLog{},
		Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)

	// OPA side: the wrapper, the policy and the data opa run would load.
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var data map[string]any
	dec := json.NewDecoder(strings.NewReader(read(filepath.Join("..", "..", "rego", "access", "config.json"))))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		t.Fatal(err)
	}
	fb, err := json.Marshal(facts)
	if err != nil {
		t.Fatal(err)
	}
	var factsDoc map[string]any
	dec = json.NewDecoder(bytes.NewReader(fb))
	dec.UseNumber()
	if err := dec.Decode(&factsDoc); err != nil {
		t.Fatal(err)
	}
	data["pdpbench"] = factsDoc
	store := inmem.NewFromObject(data)
	prepare := func(query string) rego.PreparedEvalQuery {
		pq, err := rego.New(
			rego.Query(query),
			rego.Module("authzen.rego", read(filepath.Join("opa", "authzen.rego"))),
			rego.Module("access.rego", read(filepath.Join("..", "..", "rego", "access", "access.rego"))),
			rego.Store(store),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return pq
	}
	return &fixture{
		authd: mux, capture: capture, facts: ff, tokens: tokens,
		opa:    prepare("data.spine.authzen.decision"),
		opaIn:  prepare("x := data.spine.authzen.policy_input(input)"),
		opaBat: prepare("data.spine.authzen.evaluations"),
	}
}

// callAuthd posts body as an authenticated spine service.
func (f *fixture) callAuthd(t *testing.T, path string, body []byte) []byte {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	r.TLS = &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{Subject: pkix.Name{CommonName: "pdpbench-test"}}}}}
	w := httptest.NewRecorder()
	f.authd.ServeHTTP(w, r)
	return w.Body.Bytes()
}

func (f *fixture) evalOPA(t *testing.T, pq rego.PreparedEvalQuery, input any) any {
	t.Helper()
	rs, err := pq.Eval(context.Background(), rego.EvalInput(input), rego.EvalTime(testNow))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Fatalf("wrapper: %d results", len(rs))
	}
	if v, ok := rs[0].Bindings["x"]; ok {
		return v
	}
	return rs[0].Expressions[0].Value
}

// normal makes a JSON-shaped value (or a policy engine value, as authd's
// PDP passes its input) comparable.
func normal(t *testing.T, v any) any {
	t.Helper()
	if av, ok := v.(ast.Value); ok {
		var err error
		if v, err = ast.JSON(av); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type tcase struct {
	name    string
	req     string // JSON; $alice etc. are replaced by session tokens
	want    string // verdict key: "allow <alerts>" or "deny <codes>"
	reaches bool   // authd's PDP gets as far as the policy
}

func cases() []tcase {
	ctx := `"context":{"purpose":"direct_care"}`
	req := func(sess, action, nhs, section, context string) string {
		return `{"subject":{"type":"session","id":"` + sess + `"},"action":{"name":"` + action + `"},` +
			`"resource":{"type":"patient_record","id":"` + nhs + `","properties":{"section":"` + section + `"}},` + context + `}`
	}
	return []tcase{
		{"registered with the practice", req("$alice", "view", pRegistered, "scr", ctx), "allow ", true},
		{"another organisation", req("$bob", "view", pRegistered, "scr", ctx), "deny no_legitimate_relationship", true},
		{"expired and ended relationships", req("$bob", "view", pLapsed, "clinical", ctx), "deny legitimate_relationship_expired", true},
		{"current workgroup relationship, consent ask", req("$bob", "view", pCurrentWG, "scr", ctx), "allow ", true},
		{"dissent", req("$alice", "view", pDissent, "scr", ctx), "deny patient_dissent", true},
		{"dissent by Read code alone", req("$alice", "view", pCodeOnly, "scr", ctx), "deny patient_dissent", true},
		{"dissent does not cover demographics", req("$alice", "view", pDissent, "demographics", ctx), "allow ", true},
		{"sealed and locked by another team", req("$alice", "view", pLocked, "clinical", ctx), "deny not_found", true},
		{"sealed, reason, no break-seal activity", req("$alice", "view", pSealed, "clinical",
			`"context":{"purpose":"direct_care","reason":"reviewing"}`), "deny activity_not_permitted", true},
		{"sealed without reason", req("$alice", "view", pSealed, "clinical", ctx), "deny activity_not_permitted,seal_reason_required", true},
		{"patient nobody knows", req("$alice", "view", pNobody, "scr", ctx), "deny no_legitimate_relationship", true},
		{"emergency access", req("$alice", "view", pNobody, "scr",
			`"context":{"purpose":"emergency","reason":"unconscious in A&E"}`), "allow alert:emergency_access", true},
		{"RA staff", req("$carol", "view", pRegistered, "scr", ctx), "deny activity_not_permitted,no_legitimate_relationship", true},
		{"amend needs B8028", req("$bob", "amend", pCurrentWG, "scr", ctx), "deny activity_not_permitted", true},
		{"unknown section", req("$alice", "view", pRegistered, "genomics", ctx), "deny unknown_section", true},
		{"purpose trimmed", req("$alice", "view", pRegistered, "scr", `"context":{"purpose":" direct_care "}`), "allow ", true},
		{"no context", req("$alice", "view", pRegistered, "scr", `"context":null`), "allow ", true},
		{"unknown session", req(unknownToken(), "view", pRegistered, "scr", ctx), "deny session_unknown", false},
		{"not a token", req("abc", "view", pRegistered, "scr", ctx), "deny session_unknown", false},
		{"token with non-zero trailing bits", req(strings.Repeat("A", 42)+"B", "view", pRegistered, "scr", ctx), "deny session_unknown", false},
		{"bad check digit", req("$alice", "view", "9990001236", "scr", ctx), "deny nhs_number_invalid", false},
		{"bad NHS number beats bad token", req("abc", "view", "12", "scr", ctx), "deny session_unknown", false},
		{"no role selected", req("$no-role", "view", pRegistered, "scr", ctx), "deny no_role_selected", false},
		{"ended role profile", req("$bob-ended", "view", pRegistered, "scr", ctx), "deny role_profile_not_current", false},
		{"someone else's role profile", req("$wrong-owner", "view", pRegistered, "scr", ctx), "deny role_profile_not_current", false},
		{"purpose not a string", req("$alice", "view", pRegistered, "scr", `"context":{"purpose":5}`), "deny malformed_request", false},
		{"no subject", `{"action":{"name":"view"},"resource":{"type":"patient_record","id":"` + pRegistered + `"}}`, "deny malformed_request", false},
		{"wrong resource type", strings.Replace(req("$alice", "view", pRegistered, "scr", ctx), "patient_record", "document", 1), "deny malformed_request", false},
		{"empty action", req("$alice", "", pRegistered, "scr", ctx), "deny malformed_request", false},
	}
}

func (f *fixture) body(tc tcase) string {
	s := tc.req
	for name, tok := range f.tokens {
		s = strings.ReplaceAll(s, `"$`+name+`"`, `"`+tok+`"`)
	}
	return s
}

func TestWrapperMatchesAuthdPDP(t *testing.T) {
	f := newFixture(t)
	for _, tc := range cases() {
		t.Run(tc.name, func(t *testing.T) {
			body := f.body(tc)
			a, err := parseAuthZEN(f.callAuthd(t, authzenSinglePath, []byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			inputs := f.capture.take()
			var input any
			if err := json.Unmarshal([]byte(body), &input); err != nil {
				t.Fatal(err)
			}
			ob, _ := json.Marshal(map[string]any{"result": f.evalOPA(t, f.opa, input)})
			o, err := parseOPA(ob)
			if err != nil {
				t.Fatal(err)
			}
			if a.key() != tc.want {
				t.Errorf("authd: %s, want %s", a.key(), tc.want)
			}
			if o.key() != a.key() {
				t.Errorf("wrapper: %s, authd: %s", o.key(), a.key())
			}
			if reached := len(inputs) == 1; reached != tc.reaches {
				t.Fatalf("authd evaluated the policy %d times, want reaches=%v", len(inputs), tc.reaches)
			}
			if !tc.reaches {
				return
			}
			want := normal(t, inputs[0])
			got := normal(t, f.evalOPA(t, f.opaIn, input))
			if !reflect.DeepEqual(got, want) {
				gb, _ := json.MarshalIndent(got, "", " ")
				wb, _ := json.MarshalIndent(want, "", " ")
				t.Fatalf("policy input differs\nwrapper: %s\nauthd:   %s", gb, wb)
			}
		})
	}
	if len(f.facts.alerts) != 1 || f.facts.alerts[0].Type != registration.AlertEmergencyAccess {
		t.Errorf("authd stored alerts %+v, want the one emergency access", f.facts.alerts)
	}
}

func TestWrapperBatchMatchesAuthdPDP(t *testing.T) {
	f := newFixture(t)
	var items []string
	for _, tc := range cases() {
		items = append(items, f.body(tc))
	}
	// Top-level defaults: evaluations that leave out a part take it.
	defaults := `"subject":{"type":"session","id":"` + f.tokens["bob"] + `"},"action":{"name":"view"},"context":{"purpose":"direct_care"}`
	items = append(items,
		`{"resource":{"type":"patient_record","id":"`+pCurrentWG+`","properties":{"section":"scr"}}}`,
		`{"subject":null,"resource":{"type":"patient_record","id":"`+pRegistered+`","properties":{"section":"scr"}}}`,
		`{"subject":{"type":"session","id":"`+f.tokens["alice"]+`"},"resource":{"type":"patient_record","id":"`+pRegistered+`","properties":{"section":"scr"}}}`,
	)
	for _, n := range []int{1, 10, len(items)} {
		for start := 0; start+n <= len(items); start += n {
			batch := `{` + defaults + `,"evaluations":[` + strings.Join(items[start:start+n], ",") + `]}`
			authd := batchVerdicts(t, f.callAuthd(t, authzenBatchPath, []byte(batch)), parseAuthZEN, "evaluations")
			var input any
			if err := json.Unmarshal([]byte(batch), &input); err != nil {
				t.Fatal(err)
			}
			ob, _ := json.Marshal(map[string]any{"result": f.evalOPA(t, f.opaBat, input)})
			opa := batchVerdicts(t, ob, parseOPAItem, "result")
			if len(authd) != n || !slices.EqualFunc(authd, opa, verdict.equal) {
				t.Fatalf("batch [%d:%d]:\nauthd %v\nopa   %v", start, start+n, authd, opa)
			}
		}
	}
	f.capture.take()
	for _, bad := range []string{`{"evaluations":[]}`, `{"evaluations":[` + strings.Repeat(`{},`, 100) + `{}]}`} {
		authd := batchVerdicts(t, f.callAuthd(t, authzenBatchPath, []byte(bad)), parseAuthZEN, "evaluations")
		var input any
		_ = json.Unmarshal([]byte(bad), &input)
		ob, _ := json.Marshal(map[string]any{"result": f.evalOPA(t, f.opaBat, input)})
		opa := batchVerdicts(t, ob, parseOPAItem, "result")
		if !slices.EqualFunc(authd, opa, verdict.equal) || len(opa) != 1 || opa[0].key() != "deny malformed_request" {
			t.Fatalf("bad batch: authd %v, opa %v", authd, opa)
		}
	}
}

func parseOPAItem(b []byte) (verdict, error) { return parseOPA([]byte(`{"result":` + string(b) + `}`)) }

func batchVerdicts(t *testing.T, body []byte, parse func([]byte) (verdict, error), key string) []verdict {
	t.Helper()
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	var items []json.RawMessage
	if err := json.Unmarshal(env[key], &items); err != nil {
		t.Fatalf("%v: %s (keys %v)", err, body, slices.Collect(maps.Keys(env)))
	}
	out := make([]verdict, len(items))
	for i, it := range items {
		v, err := parse(it)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = v
	}
	return out
}
