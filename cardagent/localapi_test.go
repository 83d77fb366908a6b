package cardagent

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/sessions"
)

func unixClient(sock string) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
}

// TestListenUnix: the socket is 0600 from the start; a stale socket is
// replaced, a live one or another file is not.
func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "agent.sock")
	l, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", fi.Mode().Perm())
	}
	if _, err := ListenUnix(sock); err == nil || !strings.Contains(err.Error(), "another agent is listening") {
		t.Errorf("second listener: %v", err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // leaves a stale socket file
	l2, err := ListenUnix(sock)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	l2.Close()
	plain := filepath.Join(dir, "file")
	os.WriteFile(plain, nil, 0o600)
	if _, err := ListenUnix(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("over a plain file: %v", err)
	}
}

// TestLocalAPI: the sessions list (with the token only while held),
// waiting for events, and refusals of bad requests.
func TestLocalAPI(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := ListenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAgent(Options{}, Deps{Client: &Client{BaseURL: "http://127.0.0.1:1"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewLocalAPI(a).Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	c := unixClient(sock)

	get := func(path string, out any) int {
		t.Helper()
		resp, err := c.Get("http://agent" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if out != nil {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode
	}
	var snap sessionsAnswer
	if st := get("/v1/sessions", &snap); st != 200 || len(snap.Cards) != 0 {
		t.Fatalf("empty agent: %d %+v", st, snap)
	}

	// A long poll is woken by a session starting.
	got := make(chan eventsAnswer, 1)
	go func() {
		var ev eventsAnswer
		get("/v1/events?after=0&timeout=10s", &ev)
		got <- ev
	}()
	time.Sleep(50 * time.Millisecond)
	tok, _ := sessions.NewToken()
	h := &held{token: tok, view: SessionView{SessionID: "abc", ExpiresAt: time.Now().Add(time.Hour), User: User{UID: "555000000011", Name: "Alice"}}}
	a.Board.started("Reader 0", h)
	select {
	case ev := <-got:
		if len(ev.Events) != 1 || ev.Events[0].Type != EventSessionStarted || ev.Events[0].SessionID != "abc" || ev.Seq != 1 {
			t.Fatalf("events %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll was not woken")
	}
	if get("/v1/sessions", &snap); len(snap.Cards) != 1 || snap.Cards[0].SessionToken != tok.Encode() || snap.Cards[0].State != StateActive {
		t.Fatalf("sessions %+v", snap)
	}
	a.Board.ended("Reader 0", h, ReasonCardRemoved, "", "", true)
	var ev eventsAnswer
	get("/v1/events?after=1&timeout=0s", &ev)
	if len(ev.Events) != 1 || ev.Events[0].Type != EventSessionEnded || ev.Events[0].Reason != ReasonCardRemoved {
		t.Fatalf("events after the end %+v", ev)
	}
	if get("/v1/sessions", &snap); len(snap.Cards) != 0 {
		t.Fatalf("the ended session is still listed: %+v", snap)
	}
	// A poll with nothing new times out empty.
	start := time.Now()
	get("/v1/events?after=2&timeout=200ms", &ev)
	if len(ev.Events) != 0 || time.Since(start) < 150*time.Millisecond {
		t.Fatalf("empty poll: %+v after %v", ev, time.Since(start))
	}

	refusals := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"unknown parameter", "GET", "/v1/events?wait=1", "", 400, "bad_request"},
		{"timeout too long", "GET", "/v1/events?timeout=1h", "", 400, "bad_request"},
		{"role: unknown field", "PUT", "/v1/sessions/role", `{"reader":"Reader 0","role_profile_id":"555000001101","x":1}`, 400, "bad_request"},
		{"role: bad id", "PUT", "/v1/sessions/role", `{"reader":"Reader 0","role_profile_id":"55500000110A"}`, 400, "bad_request"},
		{"role: no session", "PUT", "/v1/sessions/role", `{"reader":"Reader 0","role_profile_id":"555000001101"}`, 404, "no_session"},
		{"role: huge body", "PUT", "/v1/sessions/role", `{"reader":"` + strings.Repeat("a", 5000) + `"}`, 400, "bad_request"},
		{"wrong method", "POST", "/v1/sessions", "", 405, ""},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://agent"+tt.path, strings.NewReader(tt.body))
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if tt.code != "" {
				var e struct{ Error string }
				json.Unmarshal(body, &e)
				if e.Error != tt.code {
					t.Errorf("code %q, want %q", e.Error, tt.code)
				}
			}
		})
	}
}

// TestBoardGap: a client that fell behind the kept events is told so.
func TestBoardGap(t *testing.T) {
	b := NewBoard(time.Now)
	for range keptEvents + 10 {
		b.setState("r", StateReading, "")
	}
	evs, gap, err := b.EventsAfter(context.Background(), 1)
	if err != nil || !gap || len(evs) != keptEvents {
		t.Fatalf("%d events, gap %v, %v", len(evs), gap, err)
	}
	evs, gap, _ = b.EventsAfter(context.Background(), uint64(keptEvents+5))
	if gap || len(evs) != 5 {
		t.Fatalf("%d events, gap %v", len(evs), gap)
	}
}

func TestBackoffBounds(t *testing.T) {
	b := &backoff{min: 100 * time.Millisecond, max: time.Second}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i, w := range want {
		w *= time.Millisecond
		d := b.next()
		if d < w/2 || d > w {
			t.Errorf("try %d: %v outside [%v, %v]", i, d, w/2, w)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset %v", d)
	}
}
