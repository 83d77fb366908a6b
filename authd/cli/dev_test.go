package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
)

// TestDev runs `authd dev` (what `make run` starts) twice on one data
// folder: it serves HTTPS with its throwaway CA, prints the walkthrough,
// has made the demo cards and the blank cards the RA issues onto, and
// serves the card CA's CRL; the second start reuses everything.
func TestDev(t *testing.T) {
	if _, err := softhsm.ModulePath(); err != nil {
		t.Skip(err) // make test installs SoftHSM; a bare go test may not have it
	}
	data := t.TempDir()
	t.Setenv("SOFTHSM2_CONF", filepath.Join(data, "softhsm", "softhsm2.conf"))
	for run := range 2 {
		addr, out := startDev(t, data)
		if !strings.Contains(out, "blank-1") || !strings.Contains(out, "card issue") {
			t.Errorf("run %d: the walkthrough does not show card issuance:\n%s", run, out)
		}
		client := devClient(t, filepath.Join(data, "tls"))
		for path, want := range map[string]string{"/healthz": "", "/v1/pki/crl": "application/pkix-crl"} {
			resp, err := client.Get("https://" + addr + path)
			if err != nil {
				t.Fatalf("run %d: %s: %v", run, path, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || (want != "" && resp.Header.Get("Content-Type") != want) {
				t.Fatalf("run %d: %s: %d %s %q", run, path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			if path == "/v1/pki/crl" {
				if _, err := x509.ParseRevocationList(body); err != nil {
					t.Errorf("run %d: CRL: %v", run, err)
				}
			}
		}
	}
	module, _ := softhsm.ModulePath()
	m, err := pkcs11.Open(module)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	infos, err := m.Tokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var labels []string
	for _, i := range infos {
		labels = append(labels, i.Label)
	}
	for _, want := range []string{"alice-rsa", "dan-ec", "blank-1", "blank-2"} {
		if n := countOf(labels, want); n != 1 {
			t.Errorf("token %s: %d of them after two starts (tokens %v)", want, n, labels)
		}
	}
}

func countOf(ss []string, s string) (n int) {
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

// startDev starts `authd dev` on a free port and returns its address and
// what it printed once it is ready; the server stops when the test ends.
func startDev(t *testing.T, data string) (string, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- dev(ctx, []string{"--data", data, "--pki", "../../testkeys/pki", "--listen", "127.0.0.1:0"}, out, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("authd dev: %v", err)
		}
	})
	running := regexp.MustCompile(`authd dev is running on https://(\S+) `)
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := running.FindStringSubmatch(out.String()); m != nil {
			return m[1], out.String()
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("authd dev stopped: %v\n%s", err, out.String())
		default:
		}
	}
	t.Fatalf("authd dev did not start:\n%s", out.String())
	return "", ""
}

func devClient(t *testing.T, tlsDir string) *http.Client {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(tlsDir, "*ca*.pem"))
	pool := x509.NewCertPool()
	for _, f := range matches {
		pem, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pool.AppendCertsFromPEM(pem)
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

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
