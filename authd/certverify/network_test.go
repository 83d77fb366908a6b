package certverify

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carespine/spineauth/testkeys"
)

// The fixtures' distribution points and OCSP URLs name 127.0.0.1:8089.
// These tests stand up real peers on free loopback ports (an HTTP server
// for CRLs, OpenSSL's OCSP responder) and route the fixtures' URLs to them.

// fixtureCRLServer serves the fixtures' CRLs as DER at /crl/<name>.crl and counts
// requests.
type fixtureCRLServer struct {
	*httptest.Server
	hits atomic.Int64
}

func newFixtureCRLServer(t *testing.T) *fixtureCRLServer {
	t.Helper()
	s := &fixtureCRLServer{}
	crls := map[string][]byte{
		"/crl/root.crl": testkeys.CRL(t, "root").Raw,
		"/crl/auth.crl": testkeys.CRL(t, "auth").Raw,
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		body, ok := crls[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/pkix-crl")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

// startOpenSSLOCSP runs `openssl ocsp` as the sub-CA's responder on a free
// loopback port and returns its address.
func startOpenSSLOCSP(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl is required (scripts/setup.sh installs it): %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := addr[strings.LastIndex(addr, ":")+1:]
	l.Close()
	dir := testkeys.Dir()
	cmd := exec.Command("openssl", "ocsp",
		"-index", filepath.Join(dir, "ocsp", "index.txt"),
		"-port", port,
		"-rsigner", filepath.Join(dir, "ocsp.pem"),
		"-rkey", filepath.Join(dir, "ocsp.key"),
		"-CA", filepath.Join(dir, "subca.pem"),
		"-nmin", "60")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("openssl ocsp output:\n%s", out.String())
		}
	})
	// Wait for its banner rather than probing the port: the responder
	// serves one connection at a time and hangs on one that sends nothing.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "waiting for OCSP client connections") {
		if time.Now().After(deadline) {
			t.Fatalf("openssl ocsp did not start:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "127.0.0.1:" + port
}

// routedClient sends requests for the fixtures' 127.0.0.1:8089 URLs to the
// given addresses by path prefix: /crl/ to crlAddr, /ocsp to ocspAddr.
func routedClient(crlAddr, ocspAddr string) *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		u := *r.URL
		switch {
		case strings.HasPrefix(u.Path, "/crl/"):
			u.Host = crlAddr
		case strings.HasPrefix(u.Path, "/ocsp"):
			u.Host = ocspAddr
			u.Path = "/"
		}
		r.URL, r.Host = &u, u.Host
		return base.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// syncBuffer is a log sink safe for concurrent writes.
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

func TestRevocationOverNetwork(t *testing.T) {
	crls := newFixtureCRLServer(t)
	ocspAddr := startOpenSSLOCSP(t)
	crlAddr := strings.TrimPrefix(crls.URL, "http://")
	down := closedAddr(t)

	tests := []struct {
		name     string
		leaf     string
		crlAddr  string
		ocspAddr string
		soft     bool
		want     Reason
		how      []string
		logged   string
	}{
		{name: "good card: OCSP for the card, CRL for the sub-CA", leaf: "card-555000000011-rsa", crlAddr: crlAddr, ocspAddr: ocspAddr, how: []string{"ocsp", "crl"}},
		{name: "good EC card", leaf: "card-555000000012-ec", crlAddr: crlAddr, ocspAddr: ocspAddr, how: []string{"ocsp", "crl"}},
		{name: "revoked card refused by OCSP", leaf: "card-revoked", crlAddr: crlAddr, ocspAddr: ocspAddr, want: ReasonRevoked},
		{name: "revoked EC card refused by OCSP", leaf: "card-revoked-ec", crlAddr: crlAddr, ocspAddr: ocspAddr, want: ReasonRevoked},
		{name: "OCSP down: CRL answers good", leaf: "card-555000000011-ec", crlAddr: crlAddr, ocspAddr: down, how: []string{"crl", "crl"}},
		{name: "OCSP down: CRL answers revoked", leaf: "card-revoked", crlAddr: crlAddr, ocspAddr: down, want: ReasonRevoked},
		{name: "revoked intermediate via its distribution point", leaf: "card-via-revokedsubca", crlAddr: crlAddr, ocspAddr: ocspAddr, want: ReasonRevoked},
		{name: "everything down: hard-fail refuses", leaf: "card-555000000011-rsa", crlAddr: down, ocspAddr: down, want: ReasonRevocationUnavailable},
		{name: "everything down: soft-fail accepts and logs", leaf: "card-555000000011-rsa", crlAddr: down, ocspAddr: down, soft: true, how: []string{"unknown", "unknown"}, logged: "soft-fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			v, err := New(Config{
				Roots:         []*x509.Certificate{testkeys.Cert(t, "root")},
				Intermediates: []*x509.Certificate{testkeys.Cert(t, "subca"), testkeys.Cert(t, "revoked-subca")},
				Revocation:    RevocationConfig{Check: true, Network: true, SoftFail: tt.soft, OCSPNonce: true, Timeout: 2 * time.Second},
				Login:         cardLoginPolicy(),
				HTTPClient:    routedClient(tt.crlAddr, tt.ocspAddr),
				Logger:        slog.New(slog.NewTextHandler(&logs, nil)),
				Now:           time.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			res, err := v.Verify(context.Background(), testkeys.Cert(t, tt.leaf), nil)
			if tt.want != "" {
				if got := ReasonOf(err); got != tt.want {
					t.Fatalf("got %v, want %s", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("want valid, got %v", err)
			}
			if fmt.Sprint(res.Revocation) != fmt.Sprint(tt.how) {
				t.Errorf("revocation sources %v, want %v\n%s", res.Revocation, tt.how, logs.String())
			}
			if tt.logged != "" && !strings.Contains(logs.String(), tt.logged) {
				t.Errorf("log does not mention %q:\n%s", tt.logged, logs.String())
			}
		})
	}
}

// TestCRLsAreCached shows that a second verification does not download the
// distribution points' CRLs again.
func TestCRLsAreCached(t *testing.T) {
	crls := newFixtureCRLServer(t)
	crlAddr := strings.TrimPrefix(crls.URL, "http://")
	v, err := New(Config{
		Roots:         []*x509.Certificate{testkeys.Cert(t, "root")},
		Intermediates: []*x509.Certificate{testkeys.Cert(t, "subca")},
		Revocation:    RevocationConfig{Check: true, Network: true, Timeout: 2 * time.Second},
		HTTPClient:    routedClient(crlAddr, closedAddr(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	leaf := testkeys.Cert(t, "card-555000000013-rsa")
	for i := range 3 {
		if _, err := v.Verify(context.Background(), leaf, nil); err != nil {
			t.Fatalf("verification %d: %v", i, err)
		}
	}
	if got := crls.hits.Load(); got != 2 {
		t.Errorf("%d CRL downloads for three verifications, want 2 (root.crl and auth.crl once each)", got)
	}
}
