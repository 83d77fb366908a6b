package cardagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// The local API: HTTP on a Unix socket (mode 0600) for applications of
// the workstation's user.
//
//	GET  /v1/sessions                   the cards present and their sessions (with the token)
//	GET  /v1/events?after=N&timeout=30s events numbered above N, waiting up to timeout for one
//	PUT  /v1/sessions/role              {"reader": "...", "role_profile_id": "..."}
//	GET  /metrics, GET /healthz
//
// Refusals are {"error": code, "message": text}.

// ListenUnix listens on a Unix socket at path that only this user can
// use. A socket left by an agent that is gone is replaced; one that
// answers is not.
func ListenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("socket %s: another agent is listening", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("socket %s: removing a stale socket: %w", path, err)
		}
	}
	old := syscall.Umask(0o177) // the socket is made 0600 from the start
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// LocalAPI serves the local API for an agent.
type LocalAPI struct {
	agent *Agent
	log   *slog.Logger
}

// NewLocalAPI makes the handler.
func NewLocalAPI(a *Agent) *LocalAPI { return &LocalAPI{agent: a, log: a.log} }

// Handler returns the HTTP handler.
func (l *LocalAPI) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/sessions", l.sessions)
	mux.HandleFunc("GET /v1/events", l.events)
	mux.HandleFunc("PUT /v1/sessions/role", l.role)
	mux.Handle("GET /metrics", promhttp.HandlerFor(l.agent.metrics.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	return mux
}

// Serve serves on l until ctx ends.
func (l *LocalAPI) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: l.Handler(), ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(l.log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

type sessionsAnswer struct {
	Cards []CardStatus `json:"cards"`
	Seq   uint64       `json:"seq"`
}

func (l *LocalAPI) sessions(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	cards, seq := l.agent.Board.Snapshot()
	writeJSON(w, http.StatusOK, sessionsAnswer{Cards: cards, Seq: seq})
}

type eventsAnswer struct {
	Events []AgentEvent `json:"events"`
	Gap    bool         `json:"gap,omitempty"` // events were dropped: read /v1/sessions again
	Seq    uint64       `json:"seq"`
}

// eventsQuery is a parsed /v1/events query.
type eventsQuery struct {
	after   uint64
	timeout time.Duration
}

const maxWait = 5 * time.Minute

// parseEventsQuery reads after (default 0) and timeout (default 30s, at
// most 5m).
func parseEventsQuery(q url.Values) (eventsQuery, error) {
	out := eventsQuery{timeout: 30 * time.Second}
	for k, v := range q {
		if len(v) != 1 {
			return out, fmt.Errorf("%s: give it once", k)
		}
		switch k {
		case "after":
			n, err := strconv.ParseUint(v[0], 10, 64)
			if err != nil {
				return out, errors.New("after: not a number")
			}
			out.after = n
		case "timeout":
			d, err := time.ParseDuration(v[0])
			if err != nil || d < 0 || d > maxWait {
				return out, fmt.Errorf("timeout: not a duration between 0 and %s", maxWait)
			}
			out.timeout = d
		default:
			return out, fmt.Errorf("unknown parameter %q", k)
		}
	}
	return out, nil
}

func (l *LocalAPI) events(w http.ResponseWriter, r *http.Request) {
	q, err := parseEventsQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), q.timeout)
	defer cancel()
	evs, gap, err := l.agent.Board.EventsAfter(ctx, q.after)
	if err != nil && r.Context().Err() != nil {
		return // the client went away
	}
	seq := q.after
	if len(evs) > 0 {
		seq = evs[len(evs)-1].Seq
	}
	if evs == nil {
		evs = []AgentEvent{}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, eventsAnswer{Events: evs, Gap: gap, Seq: seq})
}

// roleRequest is PUT /v1/sessions/role's body.
type roleRequest struct {
	Reader        string `json:"reader"`
	RoleProfileID string `json:"role_profile_id"`
}

const maxRequest = 4 << 10

// parseRoleRequest decodes a role request strictly: one JSON object, no
// unknown fields, a reader name and a 12-digit role profile ID.
func parseRoleRequest(body []byte) (roleRequest, error) {
	var rr roleRequest
	if len(body) > maxRequest {
		return rr, fmt.Errorf("body longer than %d bytes", maxRequest)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rr); err != nil {
		return roleRequest{}, fmt.Errorf("body: %v", err)
	}
	if dec.More() {
		return roleRequest{}, errors.New("body: more than one JSON value")
	}
	if rr.Reader == "" || len(rr.Reader) > 256 {
		return roleRequest{}, errors.New("reader: required, at most 256 bytes")
	}
	if len(rr.RoleProfileID) != 12 {
		return roleRequest{}, errors.New("role_profile_id: must be 12 digits")
	}
	for _, c := range rr.RoleProfileID {
		if c < '0' || c > '9' {
			return roleRequest{}, errors.New("role_profile_id: must be 12 digits")
		}
	}
	return rr, nil
}

func (l *LocalAPI) role(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequest+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "reading the body failed")
		return
	}
	rr, err := parseRoleRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	}
	st, err := l.agent.SelectRole(r.Context(), rr.Reader, rr.RoleProfileID)
	var ae *APIError
	switch {
	case errors.Is(err, errNoSession):
		writeError(w, http.StatusNotFound, "no_session", "no session is held for that reader")
	case errors.As(err, &ae):
		writeError(w, ae.Status, ae.Code, ae.Message)
	case err != nil:
		writeError(w, http.StatusBadGateway, "authd_unreachable", "authd cannot be reached")
	default:
		writeJSON(w, http.StatusOK, st)
	}
}

var errNoSession = errors.New("no session for this reader")

// SelectRole selects a role profile for the session held for reader.
func (a *Agent) SelectRole(ctx context.Context, reader, id string) (CardStatus, error) {
	tok, ok := a.Board.token(reader)
	if !ok {
		return CardStatus{}, errNoSession
	}
	v, err := a.client.SelectRole(ctx, tok.Encode(), id)
	if err != nil {
		return CardStatus{}, err
	}
	h := &held{token: tok, view: *v}
	a.Board.refreshed(reader, h, StateActive, "")
	a.log.Info("role profile selected through the local API", "reader", reader, "session", v.SessionID, "role_profile", id)
	return statusOf(reader, h, a.now()), nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}
