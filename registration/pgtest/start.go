package pgtest

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binGlob is where Debian's postgresql packages put initdb and postgres.
const binGlob = "/usr/lib/postgresql/*/bin"

// Start creates a throw-away PostgreSQL cluster for t (initdb in a new
// temporary directory, trust authentication for local users only) and
// runs it on a free loopback port with durability off (fsync, full page
// writes); t's cleanup stops it and removes the directory. As root it
// runs initdb and postgres as the "postgres" user, since PostgreSQL
// refuses to run as root. The server is also told to quit if the test
// process dies without cleaning up. t is skipped if no PostgreSQL binaries
// are installed.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := findBin()
	if err != nil {
		t.Skipf("pgtest: no PostgreSQL server: set %s, run one on %s, or install postgresql (%v)", EnvDSN, DefaultAddr, err)
	}
	cred, owner, err := runAs()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if owner != nil {
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync")
	initdb.Dir = dir
	initdb.Env = append(os.Environ(), "LC_ALL=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: initdb: %v: %s", err, lastLines(string(out), 5))
	}
	var last error
	for range 3 {
		port, err := freePort()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		s, err := startServer(t, bin, dir, data, port, cred)
		if err == nil {
			return s
		}
		last = err // most likely someone took the port meanwhile
	}
	t.Fatalf("pgtest: starting postgres: %v", last)
	return nil
}

func startServer(t testing.TB, bin, dir, data string, port int, cred *syscall.Credential) (*Server, error) {
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-k", dir,
		"-c", "fsync=off", "-c", "full_page_writes=off", "-c", "synchronous_commit=off",
		"-c", "max_connections=200", "-c", "shared_buffers=64MB")
	cmd.Dir = dir
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Pdeathsig: if the test binary dies without its cleanups, SIGQUIT
	// (immediate shutdown) reaches the postmaster, which takes its
	// backends with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		// SIGINT is PostgreSQL's fast shutdown: clients are disconnected
		// and the server exits cleanly.
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	dsn := (&url.URL{Scheme: "postgres", User: url.User("postgres"),
		Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Path: "/postgres",
		RawQuery: "sslmode=disable&connect_timeout=3"}).String()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if ping(dsn) == nil {
			t.Cleanup(stop)
			return &Server{dsn: dsn, private: true}, nil
		}
		select {
		case err := <-exited:
			exited <- err
			return nil, fmt.Errorf("postgres exited (%v): %s", err, lastLines(out.String(), 5))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return nil, fmt.Errorf("postgres on port %d did not answer within 30s: %s", port, lastLines(out.String(), 5))
		}
	}
}

// findBin returns the newest Debian PostgreSQL bin directory holding
// initdb and postgres, or the directory of initdb on the PATH.
func findBin() (string, error) {
	dirs, _ := filepath.Glob(binGlob)
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil && isExec(filepath.Join(filepath.Dir(p), "postgres")) {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no initdb and postgres under %s or on the PATH", binGlob)
}

// versionOf is the major version in /usr/lib/postgresql/<v>/bin.
func versionOf(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

type ids struct{ uid, gid int }

// runAs returns the credential to run PostgreSQL with: nil (the current
// user) unless we are root, then the "postgres" user's.
func runAs() (*syscall.Credential, *ids, error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, nil, fmt.Errorf("running as root, PostgreSQL needs another user: %w", err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return nil, nil, fmt.Errorf("user postgres has a non-numeric uid or gid")
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, &ids{uid, gid}, nil
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// syncBuffer is a bytes.Buffer safe for the server's writes and our reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer // guarded by mu
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
