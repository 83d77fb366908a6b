package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakePDP answers like authd's endpoints and counts what it was sent.
type fakePDP struct {
	mu     sync.Mutex
	bodies map[string]int
	calls  atomic.Int64
	failN  int64 // every failN-th call answers 500 (0: never)
}

func (f *fakePDP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	n := f.calls.Add(1)
	f.mu.Lock()
	f.bodies[string(b)]++
	f.mu.Unlock()
	if f.failN > 0 && n%f.failN == 0 {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.HasSuffix(r.URL.Path, "evaluations") {
		fmt.Fprintln(w, `{"evaluations":[{"decision":false,"context":{"reason_codes":["x"],"obligations":[]}}]}`)
		return
	}
	fmt.Fprintln(w, `{"decision":true,"context":{"reason_codes":[],"obligations":[]}}`)
}

func newFakePDP(t *testing.T, failN int64) (*fakePDP, string) {
	f := &fakePDP{bodies: map[string]int{}, failN: failN}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func TestLoadRunCountsAndRotates(t *testing.T) {
	f, url := newFakePDP(t, 0)
	reqs := testRequests(9)
	cfg := loadConfig{Mode: modeAuthZEN, Concurrency: 4, Duration: 300 * time.Millisecond, Warmup: 100 * time.Millisecond,
		MaxRequests: 1_000_000, Batch: 3, Timeout: 5 * time.Second, Label: "fake"}
	bodies, err := buildBodies(reqs, cfg.Mode, cfg.Batch)
	if err != nil {
		t.Fatal(err)
	}
	res, err := loadRun(context.Background(), newClient(nil, cfg.Concurrency, cfg.Timeout), url+authzenBatchPath, bodies, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Errors != 0 {
		t.Fatalf("requests %d, errors %d", res.Requests, res.Errors)
	}
	if res.Decisions != 3*res.Requests {
		t.Fatalf("decisions %d, want 3 × %d", res.Decisions, res.Requests)
	}
	if res.Latency.Count != int(res.Requests) {
		t.Fatalf("%d latencies for %d requests: every one must be recorded", res.Latency.Count, res.Requests)
	}
	if res.DurationS < 0.29 || res.DurationS > 0.31 {
		t.Fatalf("window %.3fs, want the 0.3s asked for", res.DurationS)
	}
	if res.ExcludedRequests == 0 {
		t.Fatal("no requests were excluded as warm-up")
	}
	// Probe + warm-up + window: everything the server saw.
	if got, want := f.calls.Load(), 1+res.ExcludedRequests+res.Requests+res.Errors; got != want {
		t.Fatalf("server saw %d requests, result accounts for %d", got, want)
	}
	if len(f.bodies) != len(bodies) {
		t.Fatalf("server saw %d distinct bodies, want all %d", len(f.bodies), len(bodies))
	}
	if p := res.Latency; !(p.P50MS <= p.P90MS && p.P90MS <= p.P99MS && p.P99MS <= p.MaxMS) {
		t.Fatalf("percentiles out of order: %+v", p)
	}
}

func TestLoadRunStopsAtMaxRequests(t *testing.T) {
	f, url := newFakePDP(t, 0)
	cfg := loadConfig{Mode: modeAuthZEN, Concurrency: 3, Duration: 10 * time.Second, Warmup: 0,
		MaxRequests: 40, Timeout: 5 * time.Second}
	bodies, _ := buildBodies(testRequests(4), cfg.Mode, 0)
	start := time.Now()
	res, err := loadRun(context.Background(), newClient(nil, cfg.Concurrency, cfg.Timeout), url+authzenSinglePath, bodies, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("the request cap did not end the run")
	}
	if !res.CappedByCount || res.Requests+res.ExcludedRequests != 40 || f.calls.Load() != 41 {
		t.Fatalf("capped %v, requests %d+%d, server saw %d (want 40 + probe)", res.CappedByCount, res.Requests, res.ExcludedRequests, f.calls.Load())
	}
	if res.RequestsPerS <= 0 {
		t.Fatal("no rate for a capped run")
	}
}

func TestLoadRunCountsErrors(t *testing.T) {
	_, url := newFakePDP(t, 4)
	cfg := loadConfig{Mode: modeAuthZEN, Concurrency: 2, Duration: 200 * time.Millisecond, MaxRequests: 1_000_000, Timeout: 5 * time.Second}
	bodies, _ := buildBodies(testRequests(4), cfg.Mode, 0)
	res, err := loadRun(context.Background(), newClient(nil, cfg.Concurrency, cfg.Timeout), url+authzenSinglePath, bodies, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors == 0 || res.StatusCounts["500"] != res.Errors || res.ErrorSample == "" {
		t.Fatalf("errors %d, status counts %v, sample %q", res.Errors, res.StatusCounts, res.ErrorSample)
	}
	if res.Latency.Count != int(res.Requests) {
		t.Fatal("failed requests must not be in the latencies")
	}
}

func TestLoadRunFailsFastOnWrongEndpoint(t *testing.T) {
	_, url := newFakePDP(t, 0)
	cfg := loadConfig{Mode: modeOPA, Concurrency: 1, Duration: time.Second, MaxRequests: 10, Timeout: time.Second}
	bodies, _ := buildBodies(testRequests(1), cfg.Mode, 0)
	// The fake answers AuthZEN, not OPA's {"result": ...}.
	if _, err := loadRun(context.Background(), newClient(nil, 1, time.Second), url+opaDecisionPath, bodies, cfg); err == nil {
		t.Fatal("an answer without a result was accepted")
	}
}

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"https://127.0.0.1:8443", "http://localhost:1", "https://[::1]:9"} {
		if _, err := checkLoopback(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"https://example.com", "http://10.0.0.1:80", "ftp://127.0.0.1", "https://0.0.0.0:1"} {
		if _, err := checkLoopback(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
