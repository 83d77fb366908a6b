package pcsctest_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/testkeys/pcsctest"
)

// listReaders runs `opensc-tool --list-readers` against d.
func listReaders(t *testing.T, d *pcsctest.Daemon) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "opensc-tool", "--list-readers")
	cmd.Env = d.Env()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("opensc-tool --list-readers: %v\n%s", err, out)
	}
	return string(out)
}

// TestTwoPrivateDaemons starts two pcscd side by side: each has its own
// socket and ports, both show their two vpcd readers, and closing them
// leaves no process behind.
func TestTwoPrivateDaemons(t *testing.T) {
	t.Parallel()
	a, b := pcsctest.Start(t), pcsctest.Start(t)
	if a.Socket == b.Socket || a.Readers[0].Addr == b.Readers[0].Addr {
		t.Fatalf("daemons share a socket or port: %+v %+v", a, b)
	}
	for _, d := range []*pcsctest.Daemon{a, b} {
		out := listReaders(t, d)
		for _, r := range d.Readers {
			if !strings.Contains(out, r.Name) {
				t.Errorf("reader %q not listed:\n%s", r.Name, out)
			}
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// After Close the socket answers no more.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "opensc-tool", "--list-readers")
	cmd.Env = a.Env()
	out, _ := cmd.CombinedOutput()
	if strings.Contains(string(out), a.Readers[0].Name) {
		t.Fatalf("closed daemon still lists readers:\n%s", out)
	}
	// b is unaffected.
	if out := listReaders(t, b); !strings.Contains(out, b.Readers[1].Name) {
		t.Fatalf("second daemon lost its readers after the first closed:\n%s", out)
	}
}

// TestVPCDFraming plugs a minimal hand-written card into reader 1: pcscd
// must ask for its ATR over the vpcd framing (control code 4) and then show
// a card present in that reader and none in reader 0.
func TestVPCDFraming(t *testing.T) {
	t.Parallel()
	d := pcsctest.Start(t)
	conn, err := net.Dial("tcp", d.Readers[1].Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	atr := []byte{0x3B, 0x80, 0x80, 0x01, 0x01} // minimal T=1 ATR
	seen := make(chan []byte, 16)
	go func() {
		defer close(seen)
		for {
			var hdr [2]byte
			if _, err := io.ReadFull(conn, hdr[:]); err != nil {
				return
			}
			msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
			if _, err := io.ReadFull(conn, msg); err != nil {
				return
			}
			seen <- msg
			var reply []byte
			switch {
			case len(msg) == 1 && msg[0] == 4:
				reply = atr
			case len(msg) == 1:
				continue // power on/off/reset: no answer
			default:
				reply = []byte{0x6D, 0x00} // no instruction understood
			}
			out := binary.BigEndian.AppendUint16(nil, uint16(len(reply)))
			if _, err := conn.Write(append(out, reply...)); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		out := listReaders(t, d)
		if cardIn(out, d.Readers[1].Name) {
			if cardIn(out, d.Readers[0].Name) {
				t.Fatalf("reader 0 shows a card it does not have:\n%s", out)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("card in reader 1 not seen:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	gotATRRequest := false
	for len(seen) > 0 {
		if m := <-seen; len(m) == 1 && m[0] == 4 {
			gotATRRequest = true
		}
	}
	if !gotATRRequest {
		t.Fatal("pcscd never asked for the ATR (control code 4)")
	}
}

// cardIn reports whether opensc-tool's reader list shows a card in reader.
// Its lines look like "1    Yes   Virtual PCD 00 01".
func cardIn(list, reader string) bool {
	for _, line := range strings.Split(list, "\n") {
		if strings.HasSuffix(strings.TrimSpace(line), reader) {
			f := strings.Fields(line)
			return len(f) > 1 && f[1] == "Yes"
		}
	}
	return false
}

// TestRestart: after Restart the same socket and ports serve again, and
// the old process is gone.
func TestRestart(t *testing.T) {
	t.Parallel()
	d := pcsctest.Start(t)
	socket, addr := d.Socket, d.Readers[0].Addr
	old := pcscdPIDs(t, d.Dir)
	if len(old) != 1 {
		t.Fatalf("want one pcscd for %s, found %v", d.Dir, old)
	}
	if err := d.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d.Socket != socket || d.Readers[0].Addr != addr {
		t.Fatalf("restart moved the daemon: %s %s", d.Socket, d.Readers[0].Addr)
	}
	now := pcscdPIDs(t, d.Dir)
	if len(now) != 1 || now[0] == old[0] {
		t.Fatalf("pcscd processes before %v, after %v", old, now)
	}
	if out := listReaders(t, d); !strings.Contains(out, d.Readers[1].Name) {
		t.Fatalf("readers after restart:\n%s", out)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if left := pcscdPIDs(t, d.Dir); len(left) != 0 {
		t.Fatalf("pcscd left behind: %v", left)
	}
}

// pcscdPIDs lists the live processes whose command line names dir.
func pcscdPIDs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(dir)) || !bytes.HasPrefix(cmdline, []byte("pcscd")) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err == nil && bytes.Contains(stat, []byte(") Z ")) { // a zombie is not alive
			continue
		}
		pids = append(pids, e.Name())
	}
	return pids
}
