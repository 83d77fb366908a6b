package certverify

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fetchClock is a settable clock for fetcher tests.
type fetchClock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

func newFetchClock(t time.Time) *fetchClock { return &fetchClock{t: t} }

func (c *fetchClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fetchClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// crlServer is an httptest server publishing one CRL that tests can swap;
// it counts requests.
type crlServer struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	body     []byte // guarded by mu
	status   int    // guarded by mu; 0 means 200
}

func newCRLServer(t *testing.T, body []byte) *crlServer {
	t.Helper()
	s := &crlServer{body: body}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		body, status := s.body, s.status
		s.mu.Unlock()
		if status != 0 {
			http.Error(w, "nope", status)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *crlServer) set(body []byte, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body, s.status = body, status
}

// newTestFetcher returns a fetcher on the given clock, closed at cleanup.
func newTestFetcher(t *testing.T, clock *fetchClock, mod func(*fetchConfig)) *crlFetcher {
	t.Helper()
	cfg := fetchConfig{Now: clock.Now, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	f := newCRLFetcher(cfg)
	t.Cleanup(f.Close)
	return f
}

// waitFor polls cond until it holds or a few seconds have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fetchTestCA(t *testing.T) *testCA {
	t.Helper()
	return issue(t, nil, caTemplate("Fetch Test CA"), nil)
}

func TestFetchCachesUntilNextUpdate(t *testing.T) {
	ca := fetchTestCA(t)
	crl := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(7)})
	srv := newCRLServer(t, crl.Raw)
	f := newTestFetcher(t, newFetchClock(testEpoch), nil)

	for i := range 3 {
		got, err := f.fetch(context.Background(), srv.URL+"/ca.crl")
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		if got.Number.Int64() != 7 {
			t.Fatalf("fetch %d: CRL number %v, want 7", i, got.Number)
		}
	}
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("server saw %d requests, want 1 (later fetches from cache)", n)
	}
}

func TestFetchConcurrentShareOneDownload(t *testing.T) {
	ca := fetchTestCA(t)
	crl := newCRL(t, ca, &x509.RevocationList{})
	release := make(chan struct{})
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		<-release
		_, _ = w.Write(crl.Raw)
	}))
	defer srv.Close()
	f := newTestFetcher(t, newFetchClock(testEpoch), nil)
	url := srv.URL + "/ca.crl"

	const n = 20
	results := make(chan *x509.RevocationList, n)
	errs := make(chan error, n)
	for range n {
		go func() {
			got, err := f.fetch(context.Background(), url)
			results <- got
			errs <- err
		}()
	}
	waitFor(t, "all callers to join the download", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		fl := f.inflight[url]
		return fl != nil && fl.waiters == n
	})
	close(release)
	var first *x509.RevocationList
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		got := <-results
		if first == nil {
			first = got
		}
		if got != first {
			t.Fatal("callers got different CRL values from one download")
		}
	}
	if got := requests.Load(); got != 1 {
		t.Fatalf("server saw %d requests, want 1", got)
	}
}

func TestFetchStaleIsRefetchedAndFailsWhenServerDown(t *testing.T) {
	ca := fetchTestCA(t)
	t0 := testEpoch
	crl1 := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: t0, NextUpdate: t0.Add(time.Hour)})
	crl2 := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(2), ThisUpdate: t0.Add(time.Hour), NextUpdate: t0.Add(2 * time.Hour)})
	srv := newCRLServer(t, crl1.Raw)
	clock := newFetchClock(t0)
	f := newTestFetcher(t, clock, nil)
	url := srv.URL + "/ca.crl"
	ctx := context.Background()

	if got, err := f.fetch(ctx, url); err != nil || got.Number.Int64() != 1 {
		t.Fatalf("first fetch: number %v, err %v", got, err)
	}
	// Past crl1's nextUpdate: the cache must not answer.
	srv.set(crl2.Raw, 0)
	clock.Set(t0.Add(time.Hour + time.Second))
	if got, err := f.fetch(ctx, url); err != nil || got.Number.Int64() != 2 {
		t.Fatalf("fetch after nextUpdate: got %v, err %v; want CRL 2", got, err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("server saw %d requests, want 2", n)
	}
	// Past crl2's nextUpdate with the server gone: an error, not crl2.
	srv.Close()
	clock.Set(t0.Add(2*time.Hour + time.Second))
	got, err := f.fetch(ctx, url)
	if err == nil {
		t.Fatalf("fetch of stale CRL with server down: got CRL %v, want error", got.Number)
	}
	if got != nil {
		t.Fatal("stale CRL returned alongside the error")
	}
}

func TestFetchRefusesStaleDownload(t *testing.T) {
	ca := fetchTestCA(t)
	crl := newCRL(t, ca, &x509.RevocationList{ThisUpdate: testEpoch.Add(-2 * time.Hour), NextUpdate: testEpoch.Add(-time.Hour)})
	srv := newCRLServer(t, crl.Raw)
	f := newTestFetcher(t, newFetchClock(testEpoch), nil)
	_, err := f.fetch(context.Background(), srv.URL)
	if !errors.Is(err, errFetchStale) {
		t.Fatalf("err = %v, want errFetchStale", err)
	}
}

func TestFetchErrors(t *testing.T) {
	ca := fetchTestCA(t)
	crl := newCRL(t, ca, &x509.RevocationList{})
	filler := make([]byte, 4096)

	tests := []struct {
		name    string
		handler http.HandlerFunc
		url     string // overrides the server URL when set
		max     int64
		want    error
	}{
		{name: "ldap URL", url: "ldap://ldap.example/cn=CA?certificateRevocationList", want: errFetchScheme},
		{name: "file URL", url: "file:///etc/passwd", want: errFetchScheme},
		{name: "relative URL", url: "/ca.crl", want: errFetchScheme},
		{name: "HTTP 404", handler: func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, want: errFetchHTTPStatus},
		{name: "not a CRL", handler: func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("hello")) }, want: errFetchParse},
		{name: "PEM certificate not CRL", handler: func(w http.ResponseWriter, r *http.Request) {
			_ = pem.Encode(w, &pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw})
		}, want: errFetchParse},
		{name: "over size cap with Content-Length", max: 1024, handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(filler)
		}, want: errFetchTooLarge},
		{name: "over size cap chunked", max: 1024, handler: func(w http.ResponseWriter, r *http.Request) {
			for range 8 {
				_, _ = w.Write(filler[:512])
				w.(http.Flusher).Flush()
			}
		}, want: errFetchTooLarge},
		{name: "CRL exactly at size cap", max: int64(len(crl.Raw)), handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(crl.Raw)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int64
			url := tc.url
			if tc.handler != nil {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					requests.Add(1)
					tc.handler(w, r)
				}))
				defer srv.Close()
				url = srv.URL + "/ca.crl"
			}
			f := newTestFetcher(t, newFetchClock(testEpoch), func(c *fetchConfig) { c.MaxBytes = tc.max })
			got, err := f.fetch(context.Background(), url)
			if tc.want == nil {
				if err != nil || got == nil {
					t.Fatalf("fetch: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.handler == nil && requests.Load() != 0 {
				t.Fatal("a refused URL was requested")
			}
		})
	}
}

func TestFetchPEMBody(t *testing.T) {
	ca := fetchTestCA(t)
	crl := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(42)})
	body := "\r\n" + string(pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: crl.Raw}))
	srv := newCRLServer(t, []byte(body))
	f := newTestFetcher(t, newFetchClock(testEpoch), nil)
	got, err := f.fetch(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got.Number.Int64() != 42 {
		t.Fatalf("CRL number %v, want 42", got.Number)
	}
}

func TestFetchTimeout(t *testing.T) {
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the client gives up or the test ends
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer srv.Close()
	defer close(done)
	f := newTestFetcher(t, newFetchClock(testEpoch), func(c *fetchConfig) { c.Timeout = 100 * time.Millisecond })

	start := time.Now()
	_, err := f.fetch(context.Background(), srv.URL)
	if err == nil {
		t.Fatal("fetch from a hanging server succeeded")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("fetch took %v with a 100ms timeout", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestFetchCallerContextCancelled(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	f := newTestFetcher(t, newFetchClock(testEpoch), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := f.fetch(ctx, srv.URL); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's deadline", err)
	}
}

func TestFetchBackgroundRefresh(t *testing.T) {
	ca := fetchTestCA(t)
	t0 := testEpoch
	crl1 := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: t0, NextUpdate: t0.Add(10 * time.Hour)})
	crl2 := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(2), ThisUpdate: t0.Add(9 * time.Hour), NextUpdate: t0.Add(19 * time.Hour)})
	srv := newCRLServer(t, crl1.Raw)
	clock := newFetchClock(t0)
	f := newTestFetcher(t, clock, func(c *fetchConfig) { c.RefreshTick = 5 * time.Millisecond })
	url := srv.URL + "/ca.crl"
	ctx := context.Background()

	if _, err := f.fetch(ctx, url); err != nil {
		t.Fatal(err)
	}
	// Before 90% of the interval (9h): nothing happens.
	clock.Set(t0.Add(8 * time.Hour))
	time.Sleep(50 * time.Millisecond)
	if n := srv.requests.Load(); n != 1 {
		t.Fatalf("refreshed too early: %d requests", n)
	}
	// Past 90%: the refresher downloads crl2 without any caller waiting.
	srv.set(crl2.Raw, 0)
	clock.Set(t0.Add(9*time.Hour + time.Minute))
	waitFor(t, "background refresh", func() bool { return srv.requests.Load() == 2 })
	waitFor(t, "refreshed CRL in cache", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		e := f.cache[url]
		return e != nil && e.crl.Number.Int64() == 2
	})
	got, err := f.fetch(ctx, url)
	if err != nil || got.Number.Int64() != 2 {
		t.Fatalf("fetch after refresh: %v, %v; want CRL 2 from cache", got, err)
	}
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("fetch after refresh made a request: %d requests", n)
	}
}

func TestFetchBackgroundRefreshSkipsUnusedAndRetriesFailures(t *testing.T) {
	ca := fetchTestCA(t)
	t0 := testEpoch
	crl1 := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: t0, NextUpdate: t0.Add(10 * time.Hour)})
	srv := newCRLServer(t, crl1.Raw)
	clock := newFetchClock(t0)
	f := newTestFetcher(t, clock, func(c *fetchConfig) {
		c.RefreshTick = 5 * time.Millisecond
		c.RefreshFloor = 10 * time.Minute
	})
	url := srv.URL + "/ca.crl"
	if _, err := f.fetch(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	// Due for refresh but the server fails: the cached CRL stays in service
	// and the refresher retries after RefreshFloor, not on every tick.
	srv.set(nil, http.StatusServiceUnavailable)
	clock.Set(t0.Add(9*time.Hour + time.Minute))
	waitFor(t, "refresh attempt", func() bool { return srv.requests.Load() == 2 })
	time.Sleep(50 * time.Millisecond)
	if n := srv.requests.Load(); n != 2 {
		t.Fatalf("failed refresh retried before RefreshFloor: %d requests", n)
	}
	got, err := f.fetch(context.Background(), url)
	if err != nil || got.Number.Int64() != 1 {
		t.Fatalf("cached CRL not served after a failed refresh: %v, %v", got, err)
	}
	clock.Set(t0.Add(9*time.Hour + 12*time.Minute))
	waitFor(t, "refresh retry", func() bool { return srv.requests.Load() == 3 })

	// An entry refreshed in the background that nobody asks for is not
	// refreshed again: it lapses at nextUpdate.
	crl2 := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(2), ThisUpdate: t0.Add(9 * time.Hour), NextUpdate: t0.Add(19 * time.Hour)})
	srv.set(crl2.Raw, 0)
	clock.Set(t0.Add(9*time.Hour + 30*time.Minute))
	waitFor(t, "successful refresh", func() bool { return srv.requests.Load() == 4 })
	clock.Set(t0.Add(18*time.Hour + 30*time.Minute)) // past crl2's 90%
	time.Sleep(50 * time.Millisecond)
	if n := srv.requests.Load(); n != 4 {
		t.Fatalf("unused CRL refreshed: %d requests", n)
	}
	clock.Set(t0.Add(20 * time.Hour))
	waitFor(t, "stale entry evicted", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.cache) == 0
	})
}

func TestFetchKeepsNewerCachedCRL(t *testing.T) {
	ca := fetchTestCA(t)
	t0 := testEpoch
	newer := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(5), ThisUpdate: t0, NextUpdate: t0.Add(10 * time.Hour)})
	older := newCRL(t, ca, &x509.RevocationList{Number: big.NewInt(4), ThisUpdate: t0.Add(-time.Hour), NextUpdate: t0.Add(10 * time.Hour)})
	srv := newCRLServer(t, newer.Raw)
	clock := newFetchClock(t0)
	f := newTestFetcher(t, clock, func(c *fetchConfig) { c.RefreshTick = 5 * time.Millisecond })
	url := srv.URL
	if _, err := f.fetch(context.Background(), url); err != nil {
		t.Fatal(err)
	}
	srv.set(older.Raw, 0) // a lagging mirror
	clock.Set(t0.Add(9*time.Hour + time.Minute))
	waitFor(t, "refresh", func() bool { return srv.requests.Load() == 2 })
	time.Sleep(20 * time.Millisecond)
	got, err := f.fetch(context.Background(), url)
	if err != nil || got.Number.Int64() != 5 {
		t.Fatalf("got %v, %v; want the newer CRL 5 kept", got, err)
	}
}

func TestFetchClose(t *testing.T) {
	f := newCRLFetcher(fetchConfig{})
	f.Close()
	f.Close() // safe twice
	if _, err := f.fetch(context.Background(), "http://127.0.0.1:1/ca.crl"); !errors.Is(err, errFetchClosed) {
		t.Fatalf("fetch after Close: err = %v, want errFetchClosed", err)
	}
}
