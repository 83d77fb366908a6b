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
	Dir        string    // private directory: socket, reader.conf.d, logs
	Socket     string    // PCSCLITE_CSOCK_NAME for clients
	OpenSCConf string    // OPENSC_CONF for OpenSC clients: file caching off
	Readers    [2]Reader // reader 0 and reader 1

	port int

	mu      sync.Mutex
	proc    *proc // guarded by mu; the current pcscd process
	starts  int   // guarded by mu; processes started, names the log files
	stopped bool  // guarded by mu; Close was called
}

// proc is one pcscd process.
type proc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has been reaped
	waitErr error         // set before done is closed
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
			tb.Logf("pcscd log (%s):\n%s", d.Dir, tail(d.Log(), 60))
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
	d := &Daemon{Dir: dir}
	if err := d.prepare(); err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < 6; attempt++ {
		port, err := freePortPair()
		if err != nil {
			return nil, err
		}
		if err := d.configure(port); err != nil {
			return nil, err
		}
		if last = d.startProc(ctx); last == nil {
			return d, nil
		}
		if !errors.Is(last, errPortTaken) || ctx.Err() != nil {
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

// prepare makes the directories and the OpenSC configuration.
func (d *Daemon) prepare() error {
	run := filepath.Join(d.Dir, "run")
	d.Socket = filepath.Join(run, "pcscd.comm")
	if n := len(d.Socket); n >= maxSocketPath {
		return fmt.Errorf("socket path in %s is %d bytes, over the %d a Unix socket address holds: use a shorter directory", d.Dir, n, maxSocketPath-1)
	}
	for _, p := range []string{run, filepath.Join(d.Dir, "reader.conf.d")} {
		if err := os.MkdirAll(p, 0o700); err != nil {
			return err
		}
	}
	// pcscd's socket must be reachable for clients running as other users
	// (pcscd itself sets the socket mode); the directory only needs search.
	if err := os.Chmod(run, 0o711); err != nil {
		return err
	}
	d.OpenSCConf = filepath.Join(d.Dir, "opensc.conf")
	return os.WriteFile(d.OpenSCConf, []byte(openSCConf), 0o644)
}

// configure writes the vpcd entry for readers on port and port+1.
func (d *Daemon) configure(port int) error {
	entry := fmt.Sprintf("FRIENDLYNAME \"%s\"\nDEVICENAME   /dev/null:0x%X\nLIBPATH      %s\nCHANNELID    0x%X\n",
		FriendlyName, port, vpcdDriver, port)
	d.port = port
	d.Readers = [2]Reader{
		{Name: FriendlyName + " 00 00", Addr: fmt.Sprintf("127.0.0.1:%d", port)},
		{Name: FriendlyName + " 00 01", Addr: fmt.Sprintf("127.0.0.1:%d", port+1)},
	}
	return os.WriteFile(filepath.Join(d.Dir, "reader.conf.d", "vpcd"), []byte(entry), 0o600)
}

// startProc starts pcscd and waits until it is ready.
func (d *Daemon) startProc(ctx context.Context) error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return errors.New("pcscd was closed")
	}
	d.starts++
	logPath := filepath.Join(d.Dir, fmt.Sprintf("pcscd.%d.log", d.starts))
	d.mu.Unlock()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()

	args := []string{"--mount", "--propagation", "private"}
	if os.Geteuid() != 0 {
		args = append([]string{"--user", "--map-root-user"}, args...)
	}
	// unshare and sh exec in turn, so the process we start is pcscd itself.
	script := `mkdir -p /run/pcscd && mount --bind "$1" /run/pcscd && exec pcscd --foreground --debug --config "$2"`
	args = append(args, "--", "/bin/sh", "-c", script, "sh", filepath.Join(d.Dir, "run"), filepath.Join(d.Dir, "reader.conf.d"))
	cmd := exec.Command("unshare", args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = os.Environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start pcscd: %w", err)
	}
	p := &proc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	d.mu.Lock()
	d.proc = p
	d.mu.Unlock()
	if err := p.waitReady(ctx, d.port, d.Socket); err != nil {
		_ = p.stop()
		return err
	}
	return nil
}

// waitReady waits for "daemon ready" in the log with both vpcd slots up.
func (p *proc) waitReady(ctx context.Context, port int, socket string) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		log := p.log()
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
			if _, err := os.Stat(socket); err == nil {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("pcscd exited during start (%v):\n%s", p.waitErr, tail(p.log(), 20))
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

// Setenv points this process's PC/SC and OpenSC clients (cgo libraries
// such as github.com/ebfe/scard, or miekg/pkcs11 with opensc-pkcs11.so) at
// this pcscd. Call it before the process's first PC/SC call: libpcsclite
// reads PCSCLITE_CSOCK_NAME once.
func (d *Daemon) Setenv() error {
	if err := os.Setenv("PCSCLITE_CSOCK_NAME", d.Socket); err != nil {
		return err
	}
	return os.Setenv("OPENSC_CONF", d.OpenSCConf)
}

// Log returns the current pcscd's log so far.
func (d *Daemon) Log() string {
	d.mu.Lock()
	p := d.proc
	d.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.log()
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// Restart stops pcscd and starts it again with the same socket and reader
// ports, as when a workstation's pcscd is restarted: clients lose their
// contexts and cards their connections.
func (d *Daemon) Restart(ctx context.Context) error {
	d.mu.Lock()
	p := d.proc
	d.mu.Unlock()
	if err := p.stop(); err != nil {
		return err
	}
	return d.startProc(ctx)
}

// Close stops pcscd (SIGTERM, then SIGKILL after 3 s) and waits for it.
// Calling it again is harmless.
func (d *Daemon) Close() error {
	d.mu.Lock()
	d.stopped = true
	p := d.proc
	d.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.stop()
}

func (p *proc) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		return errors.New("pcscd did not stop on SIGTERM; killed")
	}
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
