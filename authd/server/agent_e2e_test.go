package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/carespine/spineauth/cardagent"
	"github.com/carespine/spineauth/sessions/redistest"
	"github.com/carespine/spineauth/testkeys"
	"github.com/carespine/spineauth/testkeys/pcsctest"
	"github.com/carespine/spineauth/testkeys/vcard"
)

// The agent end-to-end tests use every real part: a private pcscd with
// the vpcd driver (testkeys/pcsctest), virtual PIV cards (testkeys/vcard)
// holding the test PKI's card keys, OpenSC's PKCS#11 module reading them,
// the cardagent binary as a process (reader events through PC/SC, PINs on
// a file descriptor), and authd.

const (
	openscModule = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
	vcardPIN     = "123456"
	vcardPUK     = "12345678"
)

// newVCard makes a virtual PIV card with the fixture's key and certificate
// in the authentication slot (9A).
func newVCard(t *testing.T, fixture string) *vcard.Card {
	t.Helper()
	st, err := vcard.NewState(nil, vcard.Secret(vcardPIN), vcard.Secret(vcardPUK))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetKeyAndCert(0x9A, testkeys.Key(t, fixture), testkeys.Cert(t, fixture)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "card.json")
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := vcard.Open(path, vcard.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove() })
	return c
}

func insertCard(t *testing.T, c *vcard.Card, r pcsctest.Reader) {
	t.Helper()
	if err := c.Insert(context.Background(), r.Addr); err != nil {
		t.Fatal(err)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// agentProc is a running `cardagent watch`.
type agentProc struct {
	t    *testing.T
	cmd  *exec.Cmd
	pinW *os.File // the agent reads PINs and role choices from it (fd 3)
	out  *syncBuffer
	sock string
	api  *http.Client
	done chan struct{}
}

// startAgent runs the cardagent daemon against authdURL with the private
// pcscd d.
func startAgent(t *testing.T, d *pcsctest.Daemon, authdURL string, extraConfig string) *agentProc {
	t.Helper()
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	if !strings.Contains(extraConfig, "refresh:") {
		extraConfig += "refresh: 2s\n"
	}
	cfg := fmt.Sprintf("authd_url: %s\nmodule: %s\nsocket: %s\nworkstation_id: ws-agent-e2e\nretry_min: 50ms\nretry_max: 500ms\nlog: {level: debug, format: text}\n%s",
		authdURL, openscModule, sock, extraConfig)
	cfgPath := filepath.Join(dir, "cardagent.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	pinR, pinW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	a := &agentProc{t: t, pinW: pinW, out: &syncBuffer{}, sock: sock, done: make(chan struct{})}
	a.cmd = exec.Command(filepath.Join(binDir, "cardagent"), "watch", "--config", cfgPath, "--pin-fd", "3")
	a.cmd.Env = d.Env()
	a.cmd.ExtraFiles = []*os.File{pinR}
	a.cmd.Stdout, a.cmd.Stderr = a.out, a.out
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pinR.Close()
	go func() { a.cmd.Wait(); close(a.done) }()
	a.api = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	t.Cleanup(func() {
		a.stop()
		if t.Failed() {
			t.Logf("cardagent output:\n%s", a.out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := a.api.Get("http://agent/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		select {
		case <-a.done:
			t.Fatalf("cardagent exited: %s", a.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("cardagent local API not up: %v\n%s", err, a.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return a
}

// stop ends the agent with SIGTERM (it ends its sessions first).
func (a *agentProc) stop() {
	select {
	case <-a.done:
		return
	default:
	}
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.done:
		if code := a.cmd.ProcessState.ExitCode(); code != 0 {
			a.t.Errorf("cardagent exited with status %d after SIGTERM", code)
		}
	case <-time.After(15 * time.Second):
		a.cmd.Process.Kill()
		<-a.done
		a.t.Error("cardagent did not stop on SIGTERM")
	}
	a.pinW.Close()
	if strings.Contains(a.out.String(), "DATA RACE") {
		a.t.Error("the race detector found a data race in cardagent")
	}
}

// answer gives the agent lines to read when it asks (PINs, role choices).
func (a *agentProc) answer(lines ...string) {
	a.t.Helper()
	if _, err := io.WriteString(a.pinW, strings.Join(lines, "\n")+"\n"); err != nil {
		a.t.Fatal(err)
	}
}

// cards reads GET /v1/sessions of the local API.
func (a *agentProc) cards() ([]cardagent.CardStatus, uint64) {
	a.t.Helper()
	resp, err := a.api.Get("http://agent/v1/sessions")
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Cards []cardagent.CardStatus
		Seq   uint64
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		a.t.Fatal(err)
	}
	return out.Cards, out.Seq
}

func (a *agentProc) card(reader string) (cardagent.CardStatus, bool, uint64) {
	cards, seq := a.cards()
	for _, c := range cards {
		if c.Reader == reader {
			return c, true, seq
		}
	}
	return cardagent.CardStatus{}, false, seq
}

// events long-polls GET /v1/events.
func (a *agentProc) events(after uint64, timeout time.Duration) []cardagent.AgentEvent {
	a.t.Helper()
	resp, err := a.api.Get(fmt.Sprintf("http://agent/v1/events?after=%d&timeout=%s", after, timeout))
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Events []cardagent.AgentEvent }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		a.t.Fatal(err)
	}
	return out.Events
}

// waitCard waits, through the local API's events, until the card in
// reader satisfies ok.
func (a *agentProc) waitCard(reader string, what string, ok func(cardagent.CardStatus, bool) bool) cardagent.CardStatus {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, present, seq := a.card(reader)
		if ok(c, present) {
			return c
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%s: waited 30s for %s; last %+v (present %v)\n%s", reader, what, c, present, a.out.String())
		}
		a.events(seq, time.Second)
	}
}

func (a *agentProc) waitState(reader, state string) cardagent.CardStatus {
	a.t.Helper()
	return a.waitCard(reader, "state "+state, func(c cardagent.CardStatus, present bool) bool { return present && c.State == state })
}

// waitOutput waits until the agent has written s.
func (a *agentProc) waitOutput(s string) {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(a.out.String(), s) {
		if time.Now().After(deadline) {
			a.t.Fatalf("agent never said %q:\n%s", s, a.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sessionStatus asks authd about a session: the status and error code.
func sessionStatus(t *testing.T, url, token string) (int, string) {
	t.Helper()
	return call(t, "GET", url+"/v1/session", token, nil, nil)
}

// refusedWithin removes the card and measures how long until authd
// refuses the session.
func refusedWithin(t *testing.T, c *vcard.Card, url, token string) time.Duration {
	t.Helper()
	start := time.Now()
	if err := c.Remove(); err != nil {
		t.Fatal(err)
	}
	for {
		st, code := sessionStatus(t, url, token)
		if st == http.StatusUnauthorized {
			if code != "session_invalid" {
				t.Errorf("after removal authd says %s, want session_invalid", code)
			}
			return time.Since(start)
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("session still accepted 5s after the card was removed")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAgentCardEndToEnd: a virtual card inserted into a pcscd reader is
// seen by the agent through PC/SC, its OpenSC token found by the reader's
// name, the PIN taken, the login made at authd, a role chosen; the session
// works at authd; removing the card ends it at authd within one second.
func TestAgentCardEndToEnd(t *testing.T) {
	d := pcsctest.Start(t)
	r := newRig(t)
	agent := startAgent(t, d, r.url, "")
	alice := newVCard(t, testkeys.Users[0].CardEC())
	reader := d.Readers[0].Name

	insertCard(t, alice, d.Readers[0])
	agent.waitState(reader, cardagent.StatePIN)
	// OpenSC's own tools see the card and its certificate in that reader.
	out, err := opensc(t, d.Env(), "pkcs11-tool", "--module", openscModule, "--list-slots")
	if err != nil || !strings.Contains(out, reader) {
		t.Fatalf("pkcs11-tool --list-slots: %v\n%s", err, out)
	}
	out, err = opensc(t, d.Env(), "pkcs11-tool", "--module", openscModule, "--list-objects", "--type", "cert")
	if err != nil || !strings.Contains(out, "CN=555000000011_Alice Carter") {
		t.Fatalf("pkcs11-tool --list-objects: %v\n%s", err, out)
	}
	agent.answer(vcardPIN, "2") // the PIN, then Alice's second role profile
	c := agent.waitCard(reader, "a selected role", func(c cardagent.CardStatus, present bool) bool {
		return present && c.State == cardagent.StateActive && c.SelectedRoleProfileID != ""
	})
	if c.User == nil || c.User.UID != "555000000011" || len(c.RoleProfiles) != 2 {
		t.Fatalf("card status %+v", c)
	}
	if c.SelectedRoleProfileID != c.RoleProfiles[1].ID {
		t.Errorf("selected %s, want the second profile %s", c.SelectedRoleProfileID, c.RoleProfiles[1].ID)
	}
	var view cardagent.SessionView
	if st, code := call(t, "GET", r.url+"/v1/session", c.SessionToken, nil, &view); st != 200 {
		t.Fatalf("the agent's session at authd: %d %s", st, code)
	}
	if view.User.UID != "555000000011" || view.WorkstationID != "ws-agent-e2e" || view.SelectedRoleProfileID != c.SelectedRoleProfileID {
		t.Fatalf("session at authd %+v", view)
	}
	// The agent keeps the session from idling out: with authd's clock 20
	// minutes on, its next check refreshes the idle time-out, so 40
	// minutes after the login (30 is the idle time-out) the session works.
	idle := *c.IdleExpiresAt
	r.clock.Advance(20 * time.Minute)
	agent.waitCard(reader, "a session check", func(c cardagent.CardStatus, _ bool) bool {
		return c.IdleExpiresAt != nil && c.IdleExpiresAt.After(idle.Add(19*time.Minute))
	})
	r.clock.Advance(20 * time.Minute)
	if st, code := sessionStatus(t, r.url, c.SessionToken); st != 200 {
		t.Fatalf("40 minutes after login with the card in: %d %s", st, code)
	}
	_, _, seq := agent.card(reader)

	took := refusedWithin(t, alice, r.url, c.SessionToken)
	t.Logf("card removed → authd refuses the session after %v", took)
	if took > time.Second {
		t.Errorf("authd still accepted the session %v after removal, want under 1s", took)
	}
	// Local applications were told.
	var endedEv *cardagent.AgentEvent
	for endedEv == nil {
		evs := agent.events(seq, 5*time.Second)
		if len(evs) == 0 {
			t.Fatal("no session_ended event")
		}
		for i, e := range evs {
			seq = e.Seq
			if e.Type == cardagent.EventSessionEnded {
				endedEv = &evs[i]
			}
		}
	}
	if endedEv.Reason != cardagent.ReasonCardRemoved || endedEv.SessionID != view.SessionID || endedEv.Reader != reader {
		t.Errorf("ended event %+v", endedEv)
	}
	if cards, _ := agent.cards(); len(cards) != 0 {
		t.Errorf("cards after removal: %+v", cards)
	}
	// The metrics count the removal logout, and hold no secret.
	resp, err := agent.api.Get("http://agent/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"cardagent_removal_logout_seconds_count 1", `cardagent_logins_total{outcome="ok"} 1`,
		`cardagent_sessions_ended_total{reason="card_removed"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(metrics), c.SessionToken) {
		t.Error("the metrics hold the session token")
	}
	// Nothing secret in the agent's output.
	if out := agent.out.String(); strings.Contains(out, c.SessionToken) || strings.Contains(out, vcardPIN) {
		t.Error("the agent's output holds the session token or the PIN")
	}
}

// TestAgentPINLock: three wrong PINs lock the card, the agent says how
// many tries remain and then to see the RA; a locked card inserted again
// is refused without asking; the PUK (RESET RETRY COUNTER through OpenSC)
// sets a new PIN and the card logs in again.
func TestAgentPINLock(t *testing.T) {
	d := pcsctest.Start(t)
	r := newRig(t)
	agent := startAgent(t, d, r.url, "")
	bob := newVCard(t, testkeys.Users[1].CardEC())
	reader := d.Readers[0].Name

	insertCard(t, bob, d.Readers[0])
	agent.waitState(reader, cardagent.StatePIN)
	agent.answer("000000")
	c := agent.waitCard(reader, "a second PIN prompt", func(c cardagent.CardStatus, _ bool) bool {
		return c.State == cardagent.StatePIN && c.Message != ""
	})
	if c.Message != "wrong PIN: 2 tries left before the card locks" {
		t.Errorf("after one wrong PIN: %q", c.Message)
	}
	agent.waitOutput("wrong PIN: 2 tries left before the card locks")
	agent.answer("000001")
	agent.waitOutput("wrong PIN: 1 try left before the card locks")
	agent.answer("000002")
	c = agent.waitState(reader, cardagent.StateLocked)
	if !strings.Contains(c.Message, "registration authority") {
		t.Errorf("locked card message %q does not send the user to the RA", c.Message)
	}
	agent.waitOutput("see your registration authority")
	if c.SessionToken != "" {
		t.Fatal("a locked card has a session")
	}
	for _, wrong := range []string{"000000", "000001", "000002"} {
		if strings.Contains(agent.out.String(), wrong) {
			t.Errorf("the agent's output holds the PIN %s", wrong)
		}
	}

	// Inserted again, still locked: refused at once, no PIN asked.
	if err := bob.Remove(); err != nil {
		t.Fatal(err)
	}
	agent.waitCard(reader, "removal", func(_ cardagent.CardStatus, present bool) bool { return !present })
	insertCard(t, bob, d.Readers[0])
	agent.waitState(reader, cardagent.StateLocked)

	// The PUK resets the retry counter and sets a new PIN: C_SetPIN with
	// the PUK as the old PIN in a session without login, which OpenSC
	// turns into RESET RETRY COUNTER once configured to.
	conf := filepath.Join(t.TempDir(), "opensc-unblock.conf")
	if err := os.WriteFile(conf, []byte(unblockConf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := opensc(t, append(d.Env(), "OPENSC_CONF="+conf), "pkcs11-tool", "--module", openscModule,
		"--unlock-pin", "--puk", vcardPUK, "--new-pin", "654321")
	t.Logf("pkcs11-tool --unlock-pin: %v\n%s", err, out)
	if err != nil {
		t.Fatalf("unlock with the PUK: %v", err)
	}
	if err := bob.Remove(); err != nil {
		t.Fatal(err)
	}
	agent.waitCard(reader, "removal", func(_ cardagent.CardStatus, present bool) bool { return !present })
	insertCard(t, bob, d.Readers[0])
	agent.waitState(reader, cardagent.StatePIN)
	agent.answer("654321")
	c = agent.waitState(reader, cardagent.StateActive)
	if c.User == nil || c.User.UID != "555000000012" {
		t.Fatalf("after unlock: %+v", c)
	}
	if st, code := sessionStatus(t, r.url, c.SessionToken); st != 200 {
		t.Fatalf("session after unlock: %d %s", st, code)
	}
}

// unblockConf lets OpenSC's PKCS#11 module unblock the PIN with the PUK
// (C_SetPIN in a session without login), as an RA workstation would be
// set up; file caching stays off as in pcsctest's configuration.
const unblockConf = `app default {
	framework pkcs15 {
		use_file_caching = no;
	}
}
app opensc-pkcs11 {
	pkcs11 {
		user_pin_unblock_style = set_pin_in_unlogged_session;
	}
}
`

// opensc runs an OpenSC tool with env (the private pcscd's).
func opensc(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestAgentTwoReaders: two cards of two users in two readers at once, each
// with its own session; removing one ends only that user's session.
func TestAgentTwoReaders(t *testing.T) {
	d := pcsctest.Start(t)
	r := newRig(t)
	agent := startAgent(t, d, r.url, "")
	alice := newVCard(t, testkeys.Users[0].CardRSA())
	bob := newVCard(t, testkeys.Users[1].CardEC())
	r0, r1 := d.Readers[0].Name, d.Readers[1].Name

	insertCard(t, alice, d.Readers[0])
	agent.waitState(r0, cardagent.StatePIN)
	agent.answer(vcardPIN, "1")
	a := agent.waitCard(r0, "Alice's session with a role", func(c cardagent.CardStatus, present bool) bool {
		return present && c.State == cardagent.StateActive && c.SelectedRoleProfileID != ""
	})
	insertCard(t, bob, d.Readers[1])
	agent.waitState(r1, cardagent.StatePIN)
	agent.answer(vcardPIN) // Bob has one current role profile: selected by authd
	b := agent.waitState(r1, cardagent.StateActive)
	if a.User.UID != "555000000011" || b.User.UID != "555000000012" || a.SessionToken == b.SessionToken {
		t.Fatalf("sessions: %+v / %+v", a, b)
	}
	if b.SelectedRoleProfileID == "" {
		t.Errorf("Bob's only current role profile is not selected")
	}
	for _, tok := range []string{a.SessionToken, b.SessionToken} {
		if st, code := sessionStatus(t, r.url, tok); st != 200 {
			t.Fatalf("session: %d %s", st, code)
		}
	}
	// An application on the workstation switches Alice to her other role
	// profile through the local API.
	other := a.RoleProfiles[1].ID
	req, _ := http.NewRequest("PUT", "http://agent/v1/sessions/role",
		strings.NewReader(fmt.Sprintf(`{"reader":%q,"role_profile_id":%q}`, r0, other)))
	resp, err := agent.api.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /v1/sessions/role: %d", resp.StatusCode)
	}
	var view cardagent.SessionView
	if st, code := call(t, "GET", r.url+"/v1/session", a.SessionToken, nil, &view); st != 200 || view.SelectedRoleProfileID != other {
		t.Fatalf("role at authd after the switch: %d %s %q", st, code, view.SelectedRoleProfileID)
	}
	if c, _, _ := agent.card(r0); c.SelectedRoleProfileID != other {
		t.Fatalf("the agent shows role %q, want %q", c.SelectedRoleProfileID, other)
	}

	took := refusedWithin(t, alice, r.url, a.SessionToken)
	t.Logf("Alice's card removed → her session refused after %v", took)
	if took > time.Second {
		t.Errorf("Alice's session accepted %v after removal", took)
	}
	// Bob's session is untouched, now and at the agent's next checks.
	time.Sleep(500 * time.Millisecond)
	if st, code := sessionStatus(t, r.url, b.SessionToken); st != 200 {
		t.Fatalf("Bob's session after Alice's removal: %d %s", st, code)
	}
	cards, _ := agent.cards()
	if len(cards) != 1 || cards[0].Reader != r1 || cards[0].State != cardagent.StateActive {
		t.Fatalf("cards after Alice's removal: %+v", cards)
	}
	took = refusedWithin(t, bob, r.url, b.SessionToken)
	t.Logf("Bob's card removed → his session refused after %v", took)
	if took > time.Second {
		t.Errorf("Bob's session accepted %v after removal", took)
	}
}

// TestAgentAuthdDown: authd (a process, sessions in Redis) stops while a
// card is in; the agent keeps the session and retries, and carries on
// with the same session when authd is back. A session then ended at authd
// (by a logout elsewhere) is dropped by the agent and local applications
// are told. A card inserted while authd is down logs in once it is back.
func TestAgentAuthdDown(t *testing.T) {
	redisAddr := redistest.Addr(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "authd.db")
	seedDB(t, db, time.Now())
	prefix := fmt.Sprintf("spineauth-agent-%d:", time.Now().UnixNano())
	sess := fmt.Sprintf("sessions:\n  backend: redis\n  redis:\n    addrs: [%s]\n    key_prefix: %q\n", redisAddr, prefix)
	addr := freeAddr(t)
	cfg := writeConfig(t, dir, addr, db, sess)
	authd := startAuthdProc(t, cfg, addr)
	url := "http://" + addr

	d := pcsctest.Start(t)
	agent := startAgent(t, d, url, "refresh: 1s\n")
	bob := newVCard(t, testkeys.Users[1].CardEC())
	reader := d.Readers[0].Name
	insertCard(t, bob, d.Readers[0])
	agent.waitState(reader, cardagent.StatePIN)
	agent.answer(vcardPIN)
	c := agent.waitState(reader, cardagent.StateActive)

	authd.stop()
	down := agent.waitState(reader, cardagent.StateRetrying)
	if down.SessionToken != c.SessionToken {
		t.Fatal("the agent dropped the session while authd was unreachable")
	}
	time.Sleep(time.Second) // a few failed checks
	authd = startAuthdProc(t, cfg, addr)
	back := agent.waitState(reader, cardagent.StateActive)
	if back.SessionToken != c.SessionToken || back.SessionID != c.SessionID {
		t.Fatal("after authd came back the agent holds another session")
	}
	if !strings.Contains(agent.out.String(), "authd unreachable; keeping the session and retrying") {
		t.Error("the agent did not log its retries")
	}

	// Ended at authd, not by the card: the agent drops it within a check.
	_, _, seq := agent.card(reader)
	if st, code := call(t, "DELETE", url+"/v1/session", c.SessionToken, nil, nil); st != http.StatusNoContent {
		t.Fatalf("DELETE /v1/session: %d %s", st, code)
	}
	ended := agent.waitState(reader, cardagent.StateEnded)
	if ended.SessionToken != "" || !strings.Contains(ended.Message, "session_invalid") {
		t.Fatalf("after authd ended the session: %+v", ended)
	}
	var told bool
	for _, e := range agent.events(seq, time.Second) {
		if e.Type == cardagent.EventSessionEnded && e.Reason == cardagent.ReasonAuthdEnded && e.SessionID == c.SessionID {
			told = true
		}
	}
	if !told {
		t.Error("local applications were not told that authd ended the session")
	}

	// A card inserted while authd is down logs in when it is back.
	if err := bob.Remove(); err != nil {
		t.Fatal(err)
	}
	agent.waitCard(reader, "removal", func(_ cardagent.CardStatus, present bool) bool { return !present })
	authd.stop()
	insertCard(t, bob, d.Readers[0])
	agent.waitState(reader, cardagent.StatePIN)
	agent.answer(vcardPIN)
	agent.waitState(reader, cardagent.StateRetrying)
	authd = startAuthdProc(t, cfg, addr)
	c = agent.waitState(reader, cardagent.StateActive)
	if st, code := sessionStatus(t, url, c.SessionToken); st != 200 {
		t.Fatalf("session made after authd came back: %d %s", st, code)
	}
}

// authdProc is an authd process that a test can stop and start again.
type authdProc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startAuthdProc(t *testing.T, cfgPath, addr string) *authdProc {
	t.Helper()
	out := &syncBuffer{}
	p := &authdProc{cmd: exec.Command(filepath.Join(binDir, "authd"), "serve", "--config", cfgPath), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("authd output:\n%s", out.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("authd on %s not ready: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (p *authdProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// TestAgentPCSCDRestart: pcscd restarts under a running agent with a card
// in. The agent cannot tell what happened to the card meanwhile, so the
// session ends at authd (fail closed); once pcscd is back, the card
// inserted again logs in again through the same agent and PKCS#11 module.
func TestAgentPCSCDRestart(t *testing.T) {
	d := pcsctest.Start(t)
	r := newRig(t)
	agent := startAgent(t, d, r.url, "")
	bob := newVCard(t, testkeys.Users[1].CardEC())
	reader := d.Readers[0].Name
	insertCard(t, bob, d.Readers[0])
	agent.waitState(reader, cardagent.StatePIN)
	agent.answer(vcardPIN)
	c := agent.waitState(reader, cardagent.StateActive)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := d.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if st, _ := sessionStatus(t, r.url, c.SessionToken); st == http.StatusUnauthorized {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the session outlived pcscd's restart by 5s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	agent.waitOutput("pcscd unreachable")
	_ = bob.Remove()
	insertCard(t, bob, d.Readers[0])
	agent.waitState(reader, cardagent.StatePIN)
	agent.answer(vcardPIN)
	c2 := agent.waitState(reader, cardagent.StateActive)
	if c2.SessionToken == c.SessionToken {
		t.Fatal("the old session came back")
	}
	if st, code := sessionStatus(t, r.url, c2.SessionToken); st != 200 {
		t.Fatalf("session after pcscd's restart: %d %s", st, code)
	}
}
