package server_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/authd/server"
	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/testkeys"
)

// The end-to-end tests use real parts: SoftHSM2 tokens made from the
// committed test PKI, the cardagent and authd binaries as separate
// processes, SQLite files, and Redis on loopback. In-process servers with
// an injected clock cover what needs time to pass.

const (
	testPIN   = "246810"
	testSOPIN = "13579135"
)

// tokens made in TestMain: label → test PKI card fixture.
var tokenFixtures = map[string]string{
	"alice-rsa": "card-555000000011-rsa",
	"alice-ec":  "card-555000000011-ec",
	"bob-ec":    "card-555000000012-ec",
	"carol-rsa": "card-555000000013-rsa",
	"revoked":   "card-revoked",
	"expired":   "card-expired",
}

var (
	hsmConf    string // SOFTHSM2_CONF of the test tokens
	hsmModule  string // libsofthsm2.so
	binDir     string // built authd and cardagent
	moduleRoot string
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "authd-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if err := setUpTokens(filepath.Join(tmp, "softhsm")); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: SoftHSM tokens (run scripts/setup.sh):", err)
		return 1
	}
	binDir = filepath.Join(tmp, "bin")
	if err := buildBinaries(binDir); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building binaries:", err)
		return 1
	}
	return m.Run()
}

func setUpTokens(dir string) error {
	env, err := softhsm.NewEnv(dir)
	if err != nil {
		return err
	}
	if hsmModule, err = softhsm.ModulePath(); err != nil {
		return err
	}
	hsmConf = env.ConfPath
	// The library reads this when this process first opens it.
	os.Setenv("SOFTHSM2_CONF", hsmConf)
	pin, _ := pkcs11.NewPIN(testPIN)
	so, _ := pkcs11.NewPIN(testSOPIN)
	pki := testkeys.Dir()
	for label, fixture := range tokenFixtures {
		key, err := os.ReadFile(filepath.Join(pki, fixture+".key"))
		if err != nil {
			return err
		}
		cert, err := os.ReadFile(filepath.Join(pki, fixture+".pem"))
		if err != nil {
			return err
		}
		if err := env.CreateToken(context.Background(), label, pin, so, key, cert); err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
	}
	return nil
}

func buildBinaries(dir string) error {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return err
	}
	moduleRoot = filepath.Dir(strings.TrimSpace(string(out)))
	cmd := exec.Command("go", "build", "-o", dir+"/", "./cmd/authd", "./cmd/cardagent", "./cmd/ractl")
	cmd.Dir = moduleRoot
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
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

// demoCards groups the test PKI's card certificates by user id, as authd
// dev does (the forged card-tampered is left out).
func demoCards(t testing.TB) map[string][]*x509.Certificate {
	t.Helper()
	out := map[string][]*x509.Certificate{}
	files, err := filepath.Glob(filepath.Join(testkeys.Dir(), "card-*.pem"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".pem")
		if name == "card-tampered" {
			continue
		}
		c := testkeys.Cert(t, name)
		uid, _, _ := strings.Cut(c.Subject.CommonName, "_")
		out[uid] = append(out[uid], c)
	}
	return out
}

// writeConfig writes an authd configuration for the test PKI and returns
// its path. extra is appended (for example a sessions section).
func writeConfig(t testing.TB, dir, listen, dbPath, sessionsYAML string) string {
	t.Helper()
	return writeConfigStore(t, dir, listen, "path: "+dbPath, sessionsYAML)
}

// writeConfigStore is writeConfig with the store section's body (one
// level of indentation is added) given in full.
func writeConfigStore(t testing.TB, dir, listen, storeYAML, sessionsYAML string) string {
	t.Helper()
	pki := testkeys.Dir()
	if !strings.Contains(sessionsYAML, "sessions:") {
		sessionsYAML = "sessions:\n  backend: memory\n" + sessionsYAML
	}
	y := fmt.Sprintf(`listen: %s
audience: https://authd.test
store:
  %s
%s
log:
  level: debug
  format: text
pki:
  roots: [%[4]s/root.pem]
  intermediates: [%[4]s/subca.pem]
  crls: [%[4]s/root.crl, %[4]s/auth.crl]
  revocation:
    mode: hard-fail
    network: false
  login:
    key_usage: [digitalSignature]
    ext_key_usage: [1.3.6.1.5.5.7.3.2]
    required_policies: [1.3.6.1.4.1.58888.1.1.1]
`, listen, strings.ReplaceAll(strings.TrimSpace(storeYAML), "\n", "\n  "), sessionsYAML, pki)
	path := filepath.Join(dir, "authd.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// seedDB makes a registration database with the demo world.
func seedDB(t testing.TB, path string, now time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := registration.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := registration.SeedDemo(ctx, st, now, demoCards(t)); err != nil {
		t.Fatal(err)
	}
}

// rig is an in-process authd on a real loopback listener with a settable
// clock.
type rig struct {
	srv    *server.Server
	url    string
	clock  *clock
	logs   *bytes.Buffer
	logMu  *sync.Mutex  // guards logs
	client *http.Client // trusts the rig's TLS certificate, without a client certificate
}

// rigConfig adjusts a rig's configuration.
type rigConfig struct {
	sessions string // sessions section (default memory)
	store    string // store section's body (default: SQLite in the test's directory)
	extra    string // appended YAML (tls, pdp)
	scheme   string // http (default) or https
	client   *http.Client
}

func newRig(t testing.TB, opts ...func(*rigConfig)) *rig {
	t.Helper()
	rc := rigConfig{scheme: "http", client: http.DefaultClient}
	for _, o := range opts {
		o(&rc)
	}
	dir := t.TempDir()
	clk := &clock{t: time.Now().Truncate(time.Second)}
	db := filepath.Join(dir, "authd.db")
	store := rc.store
	if store == "" {
		store = "path: " + db
	}
	cfg, err := config.Load(writeConfigStore(t, dir, "127.0.0.1:0", store, rc.sessions+rc.extra))
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, server.Options{Logger: logger, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := registration.SeedDemo(ctx, srv.Store(), clk.Now(), demoCards(t)); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
		if t.Failed() {
			mu.Lock()
			t.Logf("authd log:\n%s", logs.String())
			mu.Unlock()
		}
	})
	return &rig{srv: srv, url: rc.scheme + "://" + l.Addr().String(), clock: clk, logs: logs, logMu: &mu, client: rc.client}
}

// logText is what authd has logged so far.
func (r *rig) logText() string {
	r.logMu.Lock()
	defer r.logMu.Unlock()
	return r.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// call makes one API request and decodes a JSON answer into out (when
// not nil). It returns the status and, for refusals, the error code.
func call(t testing.TB, method, url, token string, body, out any) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		return resp.StatusCode, e.Error
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("decoding %s %s: %v: %s", method, url, err, data)
		}
	}
	return resp.StatusCode, ""
}

// freeAddr returns a loopback address nothing listens on yet.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startAuthd runs `authd serve --config path` as a process and waits for
// /readyz.
func startAuthd(t *testing.T, cfgPath, addr string) string {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "authd"), "serve", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if t.Failed() {
			t.Logf("authd %s output:\n%s", addr, out.String())
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("authd on %s not ready: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cardagentLogin runs `cardagent login --json` against url with a token.
func cardagentLogin(t *testing.T, url, token, pin string, extra ...string) (map[string]any, string, error) {
	t.Helper()
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(pin+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"login", "--json", "--authd", url, "--module", hsmModule,
		"--token", token, "--pin-file", pinFile, "--workstation", "ws-e2e"}, extra...)
	cmd := exec.Command(filepath.Join(binDir, "cardagent"), args...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+hsmConf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return nil, stderr.String(), err
	}
	var resp map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &resp); err != nil {
		t.Fatalf("cardagent output: %v: %s", err, stdout.String())
	}
	return resp, stderr.String(), nil
}

func mkdir(p string) error { return os.MkdirAll(p, 0o700) }

func jsonDecode(r io.Reader, out any) error { return json.NewDecoder(r).Decode(out) }
