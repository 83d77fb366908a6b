package pcsc

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A private pcscd for the tests: its own socket (handed over by socket
// activation, so the system's /run/pcscd is not used), its own reader
// configuration with the vpcd driver on free ports, and a minimal vpcd
// card (connect = insert, close = remove; it answers the ATR request).
// libpcsclite reads PCSCLITE_CSOCK_NAME once per process, so every test
// in this package shares one socket path (set in TestMain).

var sockPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pcsc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sockPath = filepath.Join(dir, "pcscd.comm")
	os.Setenv("PCSCLITE_CSOCK_NAME", sockPath)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const vpcdDriver = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"

type pcscd struct {
	t       *testing.T
	confDir string
	cmd     *exec.Cmd
	out     *bytes.Buffer
	done    chan struct{}
}

// freePortPair finds a port p with p and p+1 free on all addresses (vpcd
// listens on both for its two readers).
func freePortPair(t *testing.T) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", ":"+strconv.Itoa(p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// startPCSCD starts pcscd with no readers configured.
func startPCSCD(t *testing.T) *pcscd {
	t.Helper()
	if _, err := os.Stat(vpcdDriver); err != nil {
		t.Fatalf("vpcd driver missing (run scripts/setup.sh): %v", err)
	}
	d := &pcscd{t: t, confDir: t.TempDir()}
	d.start()
	t.Cleanup(d.stop)
	return d
}

// addVPCD configures a vpcd device (two readers) on a free port pair for
// the next start of pcscd (only one per pcscd: the driver shares its
// state between devices); it returns the first port.
func (d *pcscd) addVPCD(name string) int {
	d.t.Helper()
	port := freePortPair(d.t)
	conf := fmt.Sprintf("FRIENDLYNAME %q\nDEVICENAME /dev/null:0x%X\nLIBPATH %s\nCHANNELID 0x%X\n", name, port, vpcdDriver, port)
	if err := os.WriteFile(filepath.Join(d.confDir, name), []byte(conf), 0o644); err != nil {
		d.t.Fatal(err)
	}
	return port
}

func (d *pcscd) start() {
	d.t.Helper()
	os.Remove(sockPath)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sockPath, Net: "unix"})
	if err != nil {
		d.t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	l.Close()
	if err != nil {
		d.t.Fatal(err)
	}
	defer f.Close()
	d.out = &bytes.Buffer{}
	// LISTEN_PID must be pcscd's own pid: the shell execs pcscd keeping it.
	d.cmd = exec.Command("sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec pcscd --foreground --error -c "$0"`, d.confDir)
	d.cmd.ExtraFiles = []*os.File{f}
	d.cmd.Stdout, d.cmd.Stderr = d.out, d.out
	if err := d.cmd.Start(); err != nil {
		d.t.Fatalf("pcscd (run scripts/setup.sh): %v", err)
	}
	d.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { cmd.Wait(); close(done) }(d.cmd, d.done)
}

func (d *pcscd) stop() {
	if d.cmd == nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
	}
	if d.t.Failed() {
		d.t.Logf("pcscd output:\n%s", d.out.String())
	}
	d.cmd = nil
}

// card is a minimal vpcd card: it is inserted while connected.
type card struct {
	conn net.Conn
	wg   sync.WaitGroup
}

var testATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// insert connects a card to the vpcd reader listening on port, retrying
// while pcscd's driver is not listening yet.
func insert(t *testing.T, port int) *card {
	t.Helper()
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		conn, err = net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("connecting a card to vpcd port %d: %v", port, err)
	}
	c := &card{conn: conn}
	c.wg.Add(1)
	go c.serve()
	t.Cleanup(c.remove)
	return c
}

func (c *card) serve() {
	defer c.wg.Done()
	var hdr [2]byte
	for {
		if _, err := io.ReadFull(c.conn, hdr[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
		if _, err := io.ReadFull(c.conn, msg); err != nil {
			return
		}
		var resp []byte
		switch {
		case len(msg) == 1 && msg[0] == 4: // get ATR
			resp = testATR
		case len(msg) == 1: // power off, power on, reset: no answer
			continue
		default:
			resp = []byte{0x6D, 0x00} // instruction not supported
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := c.conn.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

func (c *card) remove() {
	c.conn.Close()
	c.wg.Wait()
}
