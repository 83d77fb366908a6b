package cardagent

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/pcsc"
	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/testkeys"
)

// These tests drive the Agent's logic fast and under the race detector
// with hand-written fakes: a token that checks a PIN, and an authd whose
// answers a test can turn into outages (503), refusals and malformed
// bodies, which the real authd cannot be made to produce on demand. The
// real thing end to end (pcscd, vcard, OpenSC, authd) is in
// authd/server/agent_e2e_test.go.

type fakeToken struct {
	cert   *x509.Certificate
	key    crypto.Signer
	pin    pkcs11.PIN
	mu     sync.Mutex
	tries  int // guarded by mu
	closed bool
}

func newFakeToken(t *testing.T) *fakeToken {
	fixture := testkeys.Users[0].CardEC()
	p, _ := pkcs11.NewPIN("123456")
	return &fakeToken{cert: testkeys.Cert(t, fixture), key: testkeys.Key(t, fixture), pin: p, tries: 3}
}

func (f *fakeToken) AuthCertificate(context.Context) (*x509.Certificate, error) { return f.cert, nil }
func (f *fakeToken) Signer(context.Context) (crypto.Signer, error)              { return f.key, nil }
func (f *fakeToken) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}
func (f *fakeToken) Info() pkcs11.TokenInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return pkcs11.TokenInfo{PINLocked: f.tries == 0}
}
func (f *fakeToken) Login(_ context.Context, p pkcs11.PIN) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tries == 0 {
		return pkcs11.ErrPINLocked
	}
	if !p.Equal(f.pin) {
		f.tries--
		left := -1 // like OpenSC: only the last try and the lock are told
		if f.tries <= 1 {
			left = f.tries
		}
		return &pkcs11.PINError{RetriesLeft: left, Err: pkcs11.ErrPINIncorrect}
	}
	f.tries = 3
	return nil
}

type fakeTokens struct{ tok *fakeToken }

func (f fakeTokens) OpenReader(context.Context, string) (CardToken, error) { return f.tok, nil }

// fakeAuthd answers the login API from memory; fail makes a path answer
// with a status (and body) instead.
type fakeAuthd struct {
	mu       sync.Mutex
	fail     map[string]failure // guarded by mu; "METHOD /path" →
	sessions map[string]bool    // guarded by mu; token → live
	roles    map[string]string  // guarded by mu; token → selected role
	deletes  []time.Time        // guarded by mu
	calls    map[string]int     // guarded by mu
	profiles []RoleProfile
}

type failure struct {
	status int
	body   string
}

func newFakeAuthd(t *testing.T, profiles int) (*fakeAuthd, string) {
	f := &fakeAuthd{fail: map[string]failure{}, sessions: map[string]bool{}, roles: map[string]string{}, calls: map[string]int{}}
	for i := range profiles {
		f.profiles = append(f.profiles, RoleProfile{ID: fmt.Sprintf("55500000110%d", i+1), Org: "Y12345", JobRole: "S8000:G8000:R8000"})
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *fakeAuthd) setFail(route string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status == 0 {
		delete(f.fail, route)
		return
	}
	f.fail[route] = failure{status, body}
}

func (f *fakeAuthd) count(route string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[route]
}

func (f *fakeAuthd) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	route := r.Method + " " + r.URL.Path
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[route]++
	if fl, ok := f.fail[route]; ok {
		w.WriteHeader(fl.status)
		io.WriteString(w, fl.body)
		return
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	reply := func(v any) { json.NewEncoder(w).Encode(v) }
	view := func() SessionView {
		return SessionView{SessionID: "sess-" + tok[:6], ExpiresAt: time.Now().Add(10 * time.Hour),
			IdleExpiresAt: time.Now().Add(30 * time.Minute), User: User{UID: "555000000011", Name: "Alice Carter"},
			RoleProfiles: f.profiles, SelectedRoleProfileID: f.roles[tok]}
	}
	switch route {
	case "POST /v1/login/challenge":
		reply(ChallengeResponse{ChallengeID: "c1", ToSign: []byte("sign me"), ExpiresAt: time.Now().Add(time.Minute)})
	case "POST /v1/login":
		t, _ := sessions.NewToken()
		f.sessions[t.Encode()] = true
		sel := ""
		if len(f.profiles) == 1 {
			sel = f.profiles[0].ID
		}
		f.roles[t.Encode()] = sel
		reply(LoginResponse{SessionToken: t.Encode(), ExpiresAt: time.Now().Add(10 * time.Hour),
			User: User{UID: "555000000011", Name: "Alice Carter"}, RoleProfiles: f.profiles, SelectedRoleProfileID: sel})
	case "GET /v1/session", "PUT /v1/session/role", "DELETE /v1/session":
		if !f.sessions[tok] {
			w.WriteHeader(http.StatusUnauthorized)
			reply(map[string]string{"error": "session_invalid", "message": "no such session"})
			return
		}
		switch r.Method {
		case "DELETE":
			delete(f.sessions, tok)
			f.deletes = append(f.deletes, time.Now())
			w.WriteHeader(http.StatusNoContent)
		case "PUT":
			var body struct {
				RoleProfileID string `json:"role_profile_id"`
			}
			json.NewDecoder(r.Body).Decode(&body)
			f.roles[tok] = body.RoleProfileID
			reply(view())
		default:
			reply(view())
		}
	default:
		http.NotFound(w, r)
	}
}

// endAll ends every session, as a logout elsewhere would.
func (f *fakeAuthd) endAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.sessions)
}

func (f *fakeAuthd) live() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

type agentRig struct {
	t      *testing.T
	agent  *Agent
	events chan pcsc.Event
	answer *io.PipeWriter
	authd  *fakeAuthd
	tok    *fakeToken
	out    *lockedBuf
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newAgentRig(t *testing.T, profiles int) *agentRig {
	authd, url := newFakeAuthd(t, profiles)
	pr, pw := io.Pipe()
	out := &lockedBuf{}
	tok := newFakeToken(t)
	a := NewAgent(Options{Workstation: "ws", Refresh: 100 * time.Millisecond, RetryMin: 10 * time.Millisecond,
		RetryMax: 50 * time.Millisecond, PINTries: 3, LogoutTimeout: 5 * time.Second},
		Deps{Client: &Client{BaseURL: url}, Tokens: fakeTokens{tok}, Prompter: NewLinePrompter(pr, out)})
	r := &agentRig{t: t, agent: a, events: make(chan pcsc.Event), answer: pw, authd: authd, tok: tok, out: out}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx, r.events); close(done) }()
	t.Cleanup(func() { cancel(); <-done; pw.Close() })
	return r
}

func (r *agentRig) send(kind pcsc.Kind) {
	r.events <- pcsc.Event{Kind: kind, Reader: "R0"}
}

func (r *agentRig) say(line string) {
	r.t.Helper()
	if _, err := io.WriteString(r.answer, line+"\n"); err != nil {
		r.t.Fatal(err)
	}
}

// wait waits until the card in R0 satisfies ok (present false: gone).
func (r *agentRig) wait(what string, ok func(c CardStatus, present bool) bool) CardStatus {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		cards, seq := r.agent.Board.Snapshot()
		var c CardStatus
		present := false
		for _, x := range cards {
			if x.Reader == "R0" {
				c, present = x, true
			}
		}
		if ok(c, present) {
			return c
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("waited for %s; last %+v (present %v)\n%s", what, c, present, r.out.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		r.agent.Board.EventsAfter(ctx, seq)
		cancel()
	}
}

func (r *agentRig) waitState(state string) CardStatus {
	r.t.Helper()
	return r.wait(state, func(c CardStatus, p bool) bool { return p && c.State == state })
}

func (r *agentRig) waitGone() {
	r.t.Helper()
	r.wait("removal", func(_ CardStatus, p bool) bool { return !p })
}

func TestAgentLogic(t *testing.T) {
	t.Run("login, role choice, removal ends the session", func(t *testing.T) {
		r := newAgentRig(t, 2)
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.say("12") // too short to be a PIN: asked again, the card not tried
		c := r.wait("a note", func(c CardStatus, _ bool) bool { return c.State == StatePIN && c.Message != "" })
		if !strings.Contains(c.Message, "not a PIN") {
			t.Errorf("note %q", c.Message)
		}
		r.say("123456")
		r.waitState(StateRole)
		r.say("2")
		c = r.wait("role", func(c CardStatus, _ bool) bool { return c.SelectedRoleProfileID == "555000001102" })
		if c.State != StateActive || c.SessionToken == "" {
			t.Fatalf("%+v", c)
		}
		r.send(pcsc.CardRemoved)
		r.waitGone()
		if r.authd.live() != 0 || len(r.authd.deletes) != 1 {
			t.Fatalf("after removal: %d live sessions, %d deletes", r.authd.live(), len(r.authd.deletes))
		}
	})
	t.Run("wrong PINs then locked; locked card not asked again", func(t *testing.T) {
		r := newAgentRig(t, 1)
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.say("000000")
		c := r.wait("note", func(c CardStatus, _ bool) bool { return c.Message != "" })
		if c.Message != "wrong PIN: 2 tries left before the card locks" {
			t.Errorf("first wrong PIN: %q", c.Message)
		}
		r.say("000000")
		c = r.wait("note", func(c CardStatus, _ bool) bool { return strings.Contains(c.Message, "1 try") })
		r.say("000000")
		c = r.waitState(StateLocked)
		if !strings.Contains(c.Message, "registration authority") {
			t.Errorf("locked: %q", c.Message)
		}
		r.send(pcsc.CardRemoved)
		r.waitGone()
		r.send(pcsc.CardInserted)
		r.waitState(StateLocked)
		if n := r.authd.count("POST /v1/login/challenge"); n != 0 {
			t.Errorf("a locked card reached authd %d times", n)
		}
	})
	t.Run("removed while asking for the PIN", func(t *testing.T) {
		r := newAgentRig(t, 1)
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.send(pcsc.CardRemoved)
		r.waitGone()
		if n := r.authd.count("POST /v1/login/challenge"); n != 0 {
			t.Errorf("login went on after the removal")
		}
	})
	t.Run("authd down at login: retried, then logged in", func(t *testing.T) {
		r := newAgentRig(t, 1)
		r.authd.setFail("POST /v1/login/challenge", http.StatusServiceUnavailable, "")
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.say("123456")
		r.waitState(StateRetrying)
		r.authd.setFail("POST /v1/login/challenge", 0, "")
		c := r.waitState(StateActive)
		if c.SelectedRoleProfileID != "555000001101" {
			t.Errorf("the only profile is not selected: %+v", c)
		}
	})
	t.Run("refused at login: not retried", func(t *testing.T) {
		r := newAgentRig(t, 1)
		r.authd.setFail("POST /v1/login", http.StatusUnauthorized, `{"error":"cert_revoked","message":"revoked"}`)
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.say("123456")
		c := r.waitState(StateRefused)
		if !strings.Contains(c.Message, "cert_revoked") {
			t.Errorf("message %q", c.Message)
		}
		time.Sleep(100 * time.Millisecond)
		if n := r.authd.count("POST /v1/login"); n != 1 {
			t.Errorf("a refused login was tried %d times", n)
		}
	})
	t.Run("malformed token from authd", func(t *testing.T) {
		r := newAgentRig(t, 1)
		r.authd.setFail("POST /v1/login", http.StatusOK, `{"session_token":"short","user":{"uid":"1"}}`)
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.say("123456")
		c := r.waitState(StateRefused)
		if !strings.Contains(c.Message, "malformed") {
			t.Errorf("message %q", c.Message)
		}
	})
	t.Run("authd failing keeps the session; 401 drops it", func(t *testing.T) {
		r := newAgentRig(t, 1)
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.say("123456")
		active := r.waitState(StateActive)
		r.authd.setFail("GET /v1/session", http.StatusInternalServerError, "oops")
		c := r.waitState(StateRetrying)
		if c.SessionToken != active.SessionToken {
			t.Fatal("session dropped on a 500")
		}
		r.authd.setFail("GET /v1/session", 0, "")
		r.waitState(StateActive)
		_, seq := r.agent.Board.Snapshot()
		r.authd.endAll()
		c = r.waitState(StateEnded)
		if c.SessionToken != "" || !strings.Contains(c.Message, "session_invalid") {
			t.Fatalf("after 401: %+v", c)
		}
		evs, _, _ := r.agent.Board.EventsAfter(context.Background(), seq)
		if len(evs) == 0 || evs[len(evs)-1].Type != EventSessionEnded || evs[len(evs)-1].Reason != ReasonAuthdEnded {
			t.Fatalf("events %+v", evs)
		}
		r.send(pcsc.CardRemoved)
		r.waitGone()
		if n := r.authd.count("DELETE /v1/session"); n != 0 {
			t.Errorf("logged out a session authd had ended (%d)", n)
		}
	})
	t.Run("logout retried while authd fails", func(t *testing.T) {
		r := newAgentRig(t, 1)
		r.send(pcsc.CardInserted)
		r.waitState(StatePIN)
		r.say("123456")
		r.waitState(StateActive)
		r.authd.setFail("DELETE /v1/session", http.StatusBadGateway, "")
		r.send(pcsc.CardRemoved)
		deadline := time.Now().Add(5 * time.Second)
		for r.authd.count("DELETE /v1/session") < 3 {
			if time.Now().After(deadline) {
				t.Fatal("logout not retried")
			}
			time.Sleep(10 * time.Millisecond)
		}
		r.authd.setFail("DELETE /v1/session", 0, "")
		r.waitGone()
		if r.authd.live() != 0 {
			t.Fatal("the session outlived the card")
		}
	})
}

// TestInterval: checks come every Refresh, or sooner to beat the idle
// time-out as authd's clock counts it, but never in a tight loop.
func TestInterval(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	a := NewAgent(Options{Refresh: 5 * time.Minute}, Deps{Now: func() time.Time { return now }})
	tests := []struct {
		name   string
		idle   time.Time
		server time.Time
		want   time.Duration
	}{
		{"no idle time-out known", time.Time{}, time.Time{}, 5 * time.Minute},
		{"long idle time-out", now.Add(30 * time.Minute), time.Time{}, 5 * time.Minute},
		{"short idle time-out", now.Add(4 * time.Minute), time.Time{}, 2 * time.Minute},
		{"authd's clock is behind", now.Add(4 * time.Minute), now.Add(-time.Hour), 5 * time.Minute},
		{"workstation clock far ahead of authd", now.Add(-time.Hour), time.Time{}, time.Second},
		{"authd's clock says 4m left", now.Add(-time.Hour), now.Add(-time.Hour - 4*time.Minute), 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &held{view: SessionView{IdleExpiresAt: tt.idle, serverTime: tt.server}}
			if got := a.interval(h); got != tt.want {
				t.Errorf("interval %v, want %v", got, tt.want)
			}
		})
	}
}
