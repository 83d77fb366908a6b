package testkeys

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestOpenSSLOCSPResponder runs the commands pki/README.md documents: a real
// `openssl ocsp` responder over the committed index, queried by the openssl
// client for a good, a revoked and an expired card and for the responder's
// own certificate.
func TestOpenSSLOCSPResponder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts an openssl process")
	}
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed (scripts/setup.sh installs it)")
	}
	dir := Dir()
	file := func(name string) string { return filepath.Join(dir, name) }
	queries := []struct{ cert, want string }{
		{Users[0].CardRSA(), "good"},
		{Users[1].CardEC(), "good"},
		{"card-revoked", "revoked"},
		{"card-revoked-ec", "revoked"},
		{"card-expired", "good"}, // OCSP answers revocation, not validity
		{"ocsp", "good"},
	}

	port := freePort(t)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	// -port takes only a number in OpenSSL 3.0 and listens on every
	// interface; -nrequest makes it exit once it has answered us.
	responder := exec.CommandContext(ctx, openssl, "ocsp",
		"-index", file("ocsp/index.txt"), "-port", strconv.Itoa(port),
		"-rsigner", file("ocsp.pem"), "-rkey", file("ocsp.key"), "-CA", file("subca.pem"),
		"-nmin", "60", "-nrequest", strconv.Itoa(len(queries)))
	log := &outputLog{ready: make(chan struct{}), marker: "ACCEPT "}
	responder.Stdout, responder.Stderr = log, log
	if err := responder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = responder.Process.Kill() // no-op once it has exited by itself
		_ = responder.Wait()
		if t.Failed() {
			t.Logf("responder output:\n%s", log.String())
		}
	})
	// Wait for openssl to say it is listening. Probing the port instead
	// would hurt: OpenSSL 3.0's responder spins on a connection that closes
	// without sending a request.
	select {
	case <-log.ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("openssl ocsp did not start listening:\n%s", log.String())
	}

	for _, q := range queries {
		out, err := exec.CommandContext(ctx, openssl, "ocsp",
			"-issuer", file("subca.pem"), "-cert", file(q.cert+".pem"),
			"-url", fmt.Sprintf("http://127.0.0.1:%d", port), "-CAfile", file("root.pem"),
		).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", q.cert, err, out)
			continue
		}
		s := string(out)
		if !strings.Contains(s, "Response verify OK") {
			t.Errorf("%s: response did not verify:\n%s", q.cert, s)
		}
		if want := q.cert + ".pem: " + q.want + "\n"; !strings.Contains(s, want) {
			t.Errorf("%s: want %q in:\n%s", q.cert, want, s)
		}
		if q.want == "revoked" && !strings.Contains(s, "Reason: keyCompromise") {
			t.Errorf("%s: no keyCompromise reason:\n%s", q.cert, s)
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// outputLog collects a process's output and closes ready once marker
// has appeared in it.
type outputLog struct {
	mu     sync.Mutex
	buf    strings.Builder // guarded by mu
	marker string
	ready  chan struct{}
	seen   bool // guarded by mu
}

func (l *outputLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	if !l.seen && strings.Contains(l.buf.String(), l.marker) {
		l.seen = true
		close(l.ready)
	}
	return len(p), nil
}

func (l *outputLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
