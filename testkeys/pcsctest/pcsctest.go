package pcsctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// FriendlyName is the reader name prefix given to the vpcd driver; pcscd
// appends " 00 00" and " 00 01" for the driver's two slots.
const FriendlyName = "Virtual PCD"

// vpcdDriver is where Debian's vsmartcard-vpcd package installs the driver.
const vpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"

// Reader is one vpcd slot of the private pcscd.
type Reader struct {
	Name string // PC/SC reader name, e.g. "Virtual PCD 00 00"
	Addr string // vpcd address a virtual card connects to, e.g. "127.0.0.1:41234"
}

// Daemon is a running private pcscd.
type Daemon struct {
	Dir        string    // private directory: socket, reader.conf.d, log
	Socket     string    // PCSCLITE_CSOCK_NAME for clients
	OpenSCConf string    // OPENSC_CONF for OpenSC clients: file caching off
	Readers    [2]Reader // reader 0 and reader 1

	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has been reaped
	once    sync.Once
	waitErr error
}

// Start starts a private pcscd for the test and stops it when the test
// ends. It fails the test if pcscd cannot be started.
func Start(tb testing.TB) *Daemon {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Not tb.TempDir(): with a long test name the socket path could pass
	// the 108 bytes a Unix socket address holds.
	dir, err := os.MkdirTemp("", "pcsc")
	if err != nil {
		tb.Fatalf("pcsctest: %v", err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	d, err := New(ctx, dir)
	if err != nil {
		tb.Fatalf("pcsctest: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("pcscd log (%s):\n%s", d.logPath, tail(d.Log(), 60))
		}
		if err := d.Close(); err != nil {
			tb.Errorf("pcsctest: %v", err)
		}
	})
	return d
}

// New starts a private pcscd whose files live in dir (created if needed; a
// new temporary directory when dir is ""). The caller must Close it. It
// returns once pcscd serves its socket and both vpcd readers listen.
func New(ctx context.Context, dir string) (*Daemon, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "pcsctest-"); err != nil {
			return nil, fmt.Errorf("temporary directory: %w", err)
		}
	}
	var last error
	for attempt := 0; attempt < 6; attempt++ {
		d, err := start(ctx, dir, attempt)
		if err == nil {
			return d, nil
		}
		last = err
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

// Available reports why a private pcscd cannot be started here, or nil.
func Available() error {
	for _, bin := range []string{"pcscd", "unshare", "mount"} {
		if _, err := exec.LookPath(bin); err != nil {
			return fmt.Errorf("%s not found (install the Debian packages in scripts/setup.sh): %w", bin, err)
		}
	}
	if _, err := os.Stat(vpcdDriver); err != nil {
		return fmt.Errorf("vpcd driver missing (Debian package vsmartcard-vpcd): %w", err)
	}
	return nil
}

var errPortTaken = errors.New("vpcd port taken by another process")

// maxSocketPath is the size of sun_path in struct sockaddr_un on Linux.
const maxSocketPath = 108

func start(ctx context.Context, dir string, attempt int) (*Daemon, error) {
	run := filepath.Join(dir, "run")
	if n := len(filepath.Join(run, "pcscd.comm")); n >= maxSocketPath {
		return nil, fmt.Errorf("socket path in %s is %d bytes, over the %d a Unix socket address holds: use a shorter directory", dir, n, maxSocketPath-1)
	}
	conf := filepath.Join(dir, "reader.conf.d")
	for _, p := range []string{run, conf} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return nil, err
		}
	}
	// pcscd's socket must be reachable for clients running as other users
	// (pcscd itself sets the socket mode); the directory only needs search.
	if err := os.Chmod(run, 0o711); err != nil {
		return nil, err
	}
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	entry := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n",
		FriendlyName, port, vpcdDriver, port)
	if err := os.WriteFile(filepath.Join(conf, "vpcd"), []byte(entry), 0o600); err != nil {
		return nil, err
	}
	openscConf := filepath.Join(dir, "opensc.conf")
	if err := os.WriteFile(openscConf, []byte(openSCConf), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, fmt.Sprintf("pcscd.%d.log", attempt))
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()

	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append([]string{"--user", "--map-root-user"}, args...)
	}
	// unshare and sh exec in turn, so the process we start is pcscd itself.
	script := `mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd --foreground --debug --config "$2"`
	args = append(args, "--", "/bin/sh", "-c", script, "sh", run, conf)
	cmd := exec.Command("unshare", args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pcscd: %w", err)
	}
	d := &Daemon{
		Dir:        dir,
		Socket:     filepath.Join(run, "pcscd.comm"),
		OpenSCConf: openscConf,
		Readers: [2]Reader{
			{Name: FriendlyName + " 00 00", Addr: fmt.Sprintf("127.0.0.1:%d", port)},
			{Name: FriendlyName + " 00 01", Addr: fmt.Sprintf("127.0.0.1:%d", port+1)},
		},
		cmd:     cmd,
		logPath: logPath,
		done:    make(chan struct{}),
	}
	go func() { d.waitErr = cmd.Wait(); close(d.done) }()

	if err := d.waitReady(ctx, port); err != nil {
		_ = d.Close()
		return nil, err
	}
	return d, nil
}

// waitReady waits for "daemon ready" in the log with both vpcd slots up.
func (d *Daemon) waitReady(ctx context.Context, port int) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		log := d.Log()
		switch {
		case strings.Contains(log, "Could not initialize connection to virtual ICC"),
			strings.Contains(log, "Address already in use"):
			return fmt.Errorf("%w: ports %d-%d", errPortTaken, port, port+1)
		case strings.Contains(log, "daemon ready"):
			for _, p := range []int{port, port + 1} {
				if !strings.Contains(log, fmt.Sprintf("Waiting for virtual ICC on port %d", p)) {
					return fmt.Errorf("pcscd is up but vpcd reader on port %d is not:\n%s", p, tail(log, 20))
				}
			}
			// The socket may appear a moment after the log line.
			if _, err := os.Stat(d.Socket); err == nil {
				return nil
			}
		}
		select {
		case <-d.done:
			return fmt.Errorf("pcscd exited during start (%v):\n%s", d.waitErr, tail(d.Log(), 20))
		case <-ctx.Done():
			return fmt.Errorf("pcscd not ready: %w\n%s", ctx.Err(), tail(log, 20))
		case <-tick.C:
		}
	}
}

// Env returns os.Environ() with PCSCLITE_CSOCK_NAME and OPENSC_CONF set for
// this pcscd, for child processes such as pcsc_scan or pkcs11-tool.
func (d *Daemon) Env() []string {
	env := make([]string, 0, len(os.Environ())+2)
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PCSCLITE_CSOCK_NAME=") || strings.HasPrefix(kv, "OPENSC_CONF=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PCSCLITE_CSOCK_NAME="+d.Socket, "OPENSC_CONF="+d.OpenSCConf)
}

// Log returns pcscd's log so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// Close stops pcscd (SIGTERM, then SIGKILL after 3 s) and waits for it.
// Calling it again is harmless.
func (d *Daemon) Close() error {
	var err error
	d.once.Do(func() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(3 * time.Second):
			_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
			<-d.done
			err = errors.New("pcscd did not stop on SIGTERM; killed")
		}
	})
	return err
}

// freePortPair returns a port p such that p and p+1 are free on every
// interface right now.
func freePortPair() (int, error) {
	for i := 0; i < 50; i++ {
		l1, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			return 0, err
		}
		p := l1.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp4", fmt.Sprintf("0.0.0.0:%d", p+1))
		l1.Close()
		if err != nil || p+1 > 65535 {
			continue
		}
		l2.Close()
		return p, nil
	}
	return 0, errors.New("no free pair of TCP ports")
}

func tail(s string, n int) string {
	lines := bytes.Split([]byte(strings.TrimRight(s, "\n")), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// openSCConf turns off OpenSC's file cache (it keys cached certificates by
// card serial in $HOME, which would let one test see another's card).
const openSCConf = `app default {
	framework pkcs15 {
		use_file_caching = no;
	}
}
`
