package pcsc

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/testkeys/pcsctest"
)

// The tests run a private pcscd with two vpcd readers (testkeys/pcsctest)
// and a minimal vpcd card (connect = insert, close = remove; it answers
// the ATR request). libpcsclite reads PCSCLITE_CSOCK_NAME once per
// process, so every pcscd of this test binary lives in one directory and
// so serves one socket path (set in TestMain); a restart is a new pcscd in
// the same directory.

var pcscDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pcsc-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	pcscDir = dir
	os.Setenv("PCSCLITE_CSOCK_NAME", filepath.Join(dir, "run", "pcscd.comm"))
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startPCSCD starts a pcscd on the shared socket; stopped at test end.
func startPCSCD(t *testing.T) *pcsctest.Daemon {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := pcsctest.New(ctx, pcscDir)
	if err != nil {
		t.Fatalf("pcscd: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pcscd log:\n%s", d.Log())
		}
		d.Close()
	})
	return d
}

// card is a minimal vpcd card: it is inserted while connected.
type card struct {
	conn net.Conn
	wg   sync.WaitGroup
}

var testATR = []byte{0x3B, 0x80, 0x80, 0x01, 0x01}

// insert connects a card to the vpcd reader at addr.
func insert(t *testing.T, addr string) *card {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("connecting a card to vpcd at %s: %v", addr, err)
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
