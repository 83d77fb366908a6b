package login_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/authd/login"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/testkeys"
)

// The tests drive the login API through its HTTP handlers with real
// parts: the certverify.Verifier over the committed test PKI, the
// in-memory session and challenge store, the default RBAC catalogue. The
// registration data is a hand-written map-backed Directory, so that each
// case can shape the world it needs.

const (
	audience    = "https://authd.test"
	aliceUID    = "555000000011"
	bobUID      = "555000000012"
	danUID      = "555000000014"
	aliceRSA    = "card-555000000011-rsa"
	aliceEC     = "card-555000000011-ec"
	bobRSA      = "card-555000000012-rsa"
	danRSA      = "card-555000000014-rsa"
	workstation = "ws-0042.ward7"
	// Alice's role profiles: two current, three that are not.
	rpClinician = "100000000001" // Y12345 R8000, open-ended
	rpNurse     = "100000000002" // Y23456 R8001, ends in 30 days
	rpEnded     = "100000000003" // status ended
	rpFuture    = "100000000004" // starts tomorrow
	rpLapsed    = "100000000005" // ended yesterday
	// Bob's only current role profile (and a pending one).
	rpBob        = "200000000001"
	rpBobPending = "200000000002"
)

// start is the fixed time every test begins at: inside the validity of
// the test PKI's good cards and CRLs (2025-2044).
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// clock is a settable time source shared by the service, the verifier and
// the session store.
type clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeDirectory is a map-backed login.Directory. When err is set every
// call fails with it.
type fakeDirectory struct {
	mu       sync.Mutex
	cards    map[[32]byte]registration.Card        // guarded by mu
	people   map[string]registration.Person        // guarded by mu
	profiles map[string][]registration.RoleProfile // guarded by mu
	err      error                                 // guarded by mu
}

var _ login.Directory = (*fakeDirectory)(nil)

func (d *fakeDirectory) CardByFingerprint(_ context.Context, fp [32]byte) (*registration.Card, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	c, ok := d.cards[fp]
	if !ok {
		return nil, registration.ErrNotFound
	}
	return &c, nil
}

func (d *fakeDirectory) Person(_ context.Context, uid string) (*registration.Person, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	p, ok := d.people[uid]
	if !ok {
		return nil, registration.ErrNotFound
	}
	return &p, nil
}

func (d *fakeDirectory) RoleProfilesOf(_ context.Context, uid string) ([]registration.RoleProfile, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	return slices.Clone(d.profiles[uid]), nil
}

// edit changes the directory under its lock.
func (d *fakeDirectory) edit(f func(d *fakeDirectory)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d)
}

func fingerprint(tb testing.TB, fixture string) [32]byte {
	return sha256.Sum256(testkeys.Cert(tb, fixture).Raw)
}

// addCard registers the card fixture to uid with status st.
func (d *fakeDirectory) addCard(tb testing.TB, fixture, uid string, st registration.CardStatus) {
	c := testkeys.Cert(tb, fixture)
	d.edit(func(d *fakeDirectory) {
		d.cards[sha256.Sum256(c.Raw)] = registration.Card{
			ID: strings.ToUpper(strings.TrimPrefix(fixture, "card-")), UID: uid,
			CertSerial: c.SerialNumber.Text(16), CertFingerprint: sha256.Sum256(c.Raw),
			CertNotAfter: c.NotAfter, Status: st, IssuedAt: start.AddDate(0, -1, 0),
		}
	})
}

func profile(id, uid, ods, jobRole string, acts []string, from, to time.Time, st registration.RoleProfileStatus) registration.RoleProfile {
	approver := "555000000099"
	if st == registration.RoleProfilePending {
		approver = ""
	}
	return registration.RoleProfile{ID: id, UID: uid, ODS: ods, JobRole: jobRole, Activities: acts,
		Workgroups: []string{"wg-" + ods}, Start: from, End: to, Status: st, ApprovedBy: approver, CreatedAt: from}
}

// newDirectory is the default world: Alice (two current role profiles,
// three that are not) and Bob (one current profile), both active, with
// their RSA and EC cards active.
func newDirectory(tb testing.TB) *fakeDirectory {
	d := &fakeDirectory{cards: map[[32]byte]registration.Card{}, people: map[string]registration.Person{},
		profiles: map[string][]registration.RoleProfile{}}
	month := start.AddDate(0, -1, 0)
	for _, u := range testkeys.Users[:2] {
		d.people[u.UID] = registration.Person{UID: u.UID, Name: u.Name, Status: registration.PersonActive,
			Version: 1, CreatedAt: month, UpdatedAt: month}
		d.addCard(tb, u.CardRSA(), u.UID, registration.CardActive)
		d.addCard(tb, u.CardEC(), u.UID, registration.CardActive)
	}
	active, never := registration.RoleProfileActive, time.Time{}
	d.profiles[aliceUID] = []registration.RoleProfile{
		profile(rpClinician, aliceUID, "Y12345", "S8000:G8000:R8000", []string{"B0825", "B8028"}, month, never, active),
		profile(rpNurse, aliceUID, "Y23456", "S8000:G8000:R8001", []string{"B0264"}, month, start.AddDate(0, 0, 30), active),
		profile(rpEnded, aliceUID, "Y12345", "S8000:G8000:R8003", []string{"B0370"}, month, never, registration.RoleProfileEnded),
		profile(rpFuture, aliceUID, "Y34567", "S8000:G8000:R8000", []string{"B0370"}, start.AddDate(0, 0, 1), never, active),
		profile(rpLapsed, aliceUID, "Y45678", "S8000:G8000:R8000", []string{"B0370"}, month, start.AddDate(0, 0, -1), active),
	}
	d.profiles[bobUID] = []registration.RoleProfile{
		profile(rpBob, bobUID, "Y12345", "S8000:G8000:R8001", []string{"B0370"}, month, never, active),
		profile(rpBobPending, bobUID, "Y12345", "S8000:G8000:R8000", []string{"B0370"}, month, never, registration.RoleProfilePending),
	}
	return d
}

var errStoreDown = errors.New("store down (test)")

// faultyStore is the real in-memory store, except that the operations
// named in fail answer errStoreDown.
type faultyStore struct {
	*sessions.Memory
	mu   sync.Mutex
	fail map[string]bool // guarded by mu
}

var (
	_ sessions.Store          = (*faultyStore)(nil)
	_ sessions.ChallengeStore = (*faultyStore)(nil)
)

func (s *faultyStore) failOn(ops ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, op := range ops {
		s.fail[op] = true
	}
}

func (s *faultyStore) failing(op string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail[op]
}

func (s *faultyStore) Put(ctx context.Context, c sessions.Challenge) error {
	if s.failing("Put") {
		return errStoreDown
	}
	return s.Memory.Put(ctx, c)
}

func (s *faultyStore) Take(ctx context.Context, id string) (*sessions.Challenge, error) {
	if s.failing("Take") {
		return nil, errStoreDown
	}
	return s.Memory.Take(ctx, id)
}

func (s *faultyStore) Create(ctx context.Context, v sessions.Session) (sessions.Token, *sessions.Session, error) {
	if s.failing("Create") {
		return sessions.Token{}, nil, errStoreDown
	}
	return s.Memory.Create(ctx, v)
}

func (s *faultyStore) Get(ctx context.Context, tok sessions.Token) (*sessions.Session, error) {
	if s.failing("Get") {
		return nil, errStoreDown
	}
	return s.Memory.Get(ctx, tok)
}

func (s *faultyStore) Delete(ctx context.Context, tok sessions.Token) error {
	if s.failing("Delete") {
		return errStoreDown
	}
	return s.Memory.Delete(ctx, tok)
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// settings are what an env can vary.
type settings struct {
	audience    string
	ttl         time.Duration
	crls        []string
	challenges  sessions.ChallengeStore // nil: the env's own store
	frozenStore bool                    // the challenge store's clock stays at start
	discardLogs bool
	metrics     *login.Metrics
	audit       login.Auditor
}

type option func(*settings)

func withAudience(a string) option                    { return func(s *settings) { s.audience = a } }
func withCRLs(names ...string) option                 { return func(s *settings) { s.crls = names } }
func withChallenges(c sessions.ChallengeStore) option { return func(s *settings) { s.challenges = c } }
func withMetrics(m *login.Metrics) option             { return func(s *settings) { s.metrics = m } }
func withAudit(a login.Auditor) option                { return func(s *settings) { s.audit = a } }
func discardLogs(s *settings)                         { s.discardLogs = true }
func frozenChallengeStore(s *settings)                { s.frozenStore = true }

// env is one login service on a mux, with everything it talks to.
type env struct {
	clk   *clock
	dir   *fakeDirectory
	store *faultyStore
	svc   *login.Service
	mux   *http.ServeMux
	logs  *syncBuffer

	mu      sync.Mutex
	secrets []string // guarded by mu; must never reach the log
}

func newEnv(tb testing.TB, opts ...option) *env {
	tb.Helper()
	st := settings{audience: audience, crls: []string{"root", "auth"}}
	for _, o := range opts {
		o(&st)
	}
	e := &env{clk: &clock{t: start}, dir: newDirectory(tb), logs: &syncBuffer{}, mux: http.NewServeMux()}
	var w io.Writer = e.logs
	if st.discardLogs {
		w = io.Discard
	}
	logger := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var crls []*x509.RevocationList
	for _, n := range st.crls {
		crls = append(crls, testkeys.CRL(tb, n))
	}
	eku, _ := x509.ParseOID("1.3.6.1.5.5.7.3.2")
	pol, _ := x509.ParseOID("1.3.6.1.4.1.58888.1.1.1")
	v, err := certverify.New(certverify.Config{
		Roots:         []*x509.Certificate{testkeys.Cert(tb, "root")},
		Intermediates: []*x509.Certificate{testkeys.Cert(tb, "subca")},
		CRLs:          crls,
		Revocation:    certverify.RevocationConfig{Check: true},
		Login: certverify.LoginPolicy{KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.OID{eku}, RequiredPolicies: []x509.OID{pol}},
		Now:    e.clk.Now,
		Logger: logger,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.store = &faultyStore{Memory: sessions.NewMemory(sessions.Config{Now: e.clk.Now, Logger: logger}), fail: map[string]bool{}}
	tb.Cleanup(func() { e.store.Close(); v.Close() })
	var challenges sessions.ChallengeStore = e.store
	if st.challenges != nil {
		challenges = st.challenges
	}
	if st.frozenStore {
		m := sessions.NewMemory(sessions.Config{Now: func() time.Time { return start }})
		tb.Cleanup(func() { m.Close() })
		challenges = m
	}
	e.svc, err = login.New(login.Config{Audience: st.audience, ChallengeTTL: st.ttl}, login.Deps{
		Verifier: v, Directory: e.dir, Catalogue: registration.DefaultCatalogue(),
		Sessions: e.store, Challenges: challenges, Now: e.clk.Now, Logger: logger, Metrics: st.metrics,
		Audit: st.audit,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.svc.Register(e.mux)
	if !st.discardLogs {
		tb.Cleanup(func() { e.checkLogs(tb) })
	}
	return e
}

// secret records a value that no log line may contain (too short a
// value could appear by chance and is not recorded).
func (e *env) secret(s string) {
	if len(s) < 12 {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, s)
}

// checkLogs fails if a log line holds a session token, a signature sent
// (in the base64 the client sent) or PEM.
func (e *env) checkLogs(tb testing.TB) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, line := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(line, "BEGIN") {
			tb.Errorf("log line %d holds PEM: %s", i+1, line)
		}
		for _, s := range e.secrets {
			if strings.Contains(line, s) {
				tb.Errorf("log line %d holds a secret (%.8s...): %s", i+1, s, line)
			}
		}
	}
}

// do serves one request; header is "Name: value" pairs.
func (e *env) do(method, path string, body []byte, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ": ")
		r.Header.Set(name, value)
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}

func (e *env) challenge(tb testing.TB) *login.Challenge {
	tb.Helper()
	w := e.do("POST", "/v1/login/challenge", nil)
	if w.Code != http.StatusOK {
		tb.Fatalf("challenge: %d %s", w.Code, w.Body)
	}
	var c login.Challenge
	if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
		tb.Fatal(err)
	}
	return &c
}

// signer signs a challenge's to_sign with a card key.
type signer func(tb testing.TB, key crypto.Signer, toSign []byte) []byte

func signPKCS1(tb testing.TB, key crypto.Signer, toSign []byte) []byte {
	sig, err := login.SignChallenge(key, toSign)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func signPSS(saltLength int) signer {
	return func(tb testing.TB, key crypto.Signer, toSign []byte) []byte {
		d := sha256.Sum256(toSign)
		sig, err := rsa.SignPSS(rand.Reader, key.(*rsa.PrivateKey), crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: saltLength})
		if err != nil {
			tb.Fatal(err)
		}
		return sig
	}
}

// request answers ch with the certificate and key of fixture, offering
// the sub-CA as chain.
func (e *env) request(tb testing.TB, ch *login.Challenge, fixture string, sign signer) *login.Request {
	tb.Helper()
	return &login.Request{
		ChallengeID:   ch.ChallengeID,
		Certificate:   testkeys.Cert(tb, fixture).Raw,
		Chain:         [][]byte{testkeys.Cert(tb, "subca").Raw},
		Signature:     sign(tb, testkeys.Key(tb, fixture), ch.ToSign),
		WorkstationID: workstation,
	}
}

func (e *env) post(tb testing.TB, req *login.Request) *httptest.ResponseRecorder {
	tb.Helper()
	e.secret(base64.StdEncoding.EncodeToString(req.Signature))
	body, err := json.Marshal(req)
	if err != nil {
		tb.Fatal(err)
	}
	w := e.do("POST", "/v1/login", body)
	if w.Code == http.StatusOK {
		var r login.Response
		if err := json.Unmarshal(w.Body.Bytes(), &r); err == nil && r.SessionToken != "" {
			e.secret(r.SessionToken)
		}
	}
	return w
}

// login logs in with fixture and returns the response.
func (e *env) login(tb testing.TB, fixture, role string) *login.Response {
	tb.Helper()
	req := e.request(tb, e.challenge(tb), fixture, signPKCS1)
	req.RoleProfileID = role
	w := e.post(tb, req)
	if w.Code != http.StatusOK {
		tb.Fatalf("login %s: %d %s", fixture, w.Code, w.Body)
	}
	var r login.Response
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		tb.Fatal(err)
	}
	return &r
}

// apiError is the body of every refusal.
type apiError struct {
	Error   login.Code `json:"error"`
	Message string     `json:"message"`
}

// wantError checks that w is a JSON refusal with status and code.
func wantError(tb testing.TB, w *httptest.ResponseRecorder, status int, code login.Code) apiError {
	tb.Helper()
	var got apiError
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		tb.Fatalf("status %d: body is not an error document: %v", w.Code, err)
	}
	if w.Code != status || got.Error != code {
		tb.Fatalf("got %d %s (%q), want %d %s", w.Code, got.Error, got.Message, status, code)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type %q", ct)
	}
	if got.Message == "" {
		tb.Error("refusal without a message")
	}
	return got
}

func TestNewRefusesBadConfig(t *testing.T) {
	e := newEnv(t)
	good := login.Deps{Verifier: &certverify.Verifier{}, Directory: e.dir, Catalogue: registration.DefaultCatalogue(),
		Sessions: e.store, Challenges: e.store}
	tests := []struct {
		name string
		cfg  login.Config
		deps login.Deps
		want string // "" means accepted
	}{
		{"defaults", login.Config{Audience: audience}, good, ""},
		{"ttl at the maximum", login.Config{Audience: audience, ChallengeTTL: time.Minute}, good, ""},
		{"no audience", login.Config{Audience: "  "}, good, "audience is required"},
		{"ttl too long", login.Config{Audience: audience, ChallengeTTL: 61 * time.Second}, good, "challenge TTL"},
		{"ttl negative", login.Config{Audience: audience, ChallengeTTL: -time.Second}, good, "challenge TTL"},
		{"no dependencies", login.Config{Audience: audience}, login.Deps{}, "are required"},
		{"every problem at once", login.Config{ChallengeTTL: time.Hour}, login.Deps{}, "audience is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := login.New(tt.cfg, tt.deps)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestMetricsCountOutcomes(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, withMetrics(login.NewMetrics(reg)))
	e.login(t, aliceRSA, "")
	req := e.request(t, e.challenge(t), aliceRSA, signPKCS1)
	req.Signature[0] ^= 0xff
	wantError(t, e.post(t, req), http.StatusUnauthorized, login.CodeBadSignature)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "authd_logins_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if want := map[string]float64{"ok": 1, "bad_signature": 1}; !maps.Equal(got, want) {
		t.Errorf("authd_logins_total by outcome: %v, want %v", got, want)
	}
}

// TestLogsNeverHoldSecrets runs the usual flows and then looks at the log
// (every env also checks its log when its test ends).
func TestLogsNeverHoldSecrets(t *testing.T) {
	e := newEnv(t)
	r := e.login(t, aliceRSA, "")
	auth := "Authorization: Bearer " + r.SessionToken
	e.do("GET", "/v1/session", nil, auth)
	e.do("PUT", "/v1/session/role", []byte(`{"role_profile_id":"`+rpNurse+`"}`), auth)
	bad := e.request(t, e.challenge(t), aliceEC, signPKCS1)
	bad.Signature[5] ^= 1
	e.post(t, bad)
	revoked := e.request(t, e.challenge(t), "card-revoked", signPKCS1)
	e.post(t, revoked)
	e.do("DELETE", "/v1/session", nil, auth)
	e.do("GET", "/v1/session", nil, auth)
	logs := e.logs.String()
	for _, want := range []string{`"msg":"login"`, `"msg":"role selected"`, `"code":"bad_signature"`,
		`"code":"cert_revoked"`, `"code":"session_invalid"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
	e.checkLogs(t)
}
