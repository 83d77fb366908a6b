package vcard

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
)

// DefaultVPCD is where Debian's vpcd driver listens for reader 0.
const DefaultVPCD = "127.0.0.1:35963"

// vpcd control codes: a frame of one byte.
const (
	vpcdPowerOff = 0
	vpcdPowerOn  = 1
	vpcdReset    = 2
	vpcdGetATR   = 4
)

// ErrFrame is a malformed vpcd frame.
var ErrFrame = errors.New("vcard: malformed vpcd frame")

// ReadFrame reads one vpcd frame: a 2-byte big-endian length, then that
// many bytes. A zero length is malformed.
func ReadFrame(r io.Reader) ([]byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint16(hdr[:])
	if n == 0 {
		return nil, fmt.Errorf("%w: empty frame", ErrFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%w: %w", ErrFrame, err)
	}
	return b, nil
}

// WriteFrame writes b as one vpcd frame.
func WriteFrame(w io.Writer, b []byte) error {
	if len(b) == 0 || len(b) > 0xFFFF {
		return fmt.Errorf("%w: %d bytes", ErrFrame, len(b))
	}
	_, err := w.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...))
	return err
}

// Serve answers vpcd frames from rw until it fails or ends: control codes
// (power off, power on, reset clear the card's volatile state; get ATR is
// answered with the ATR) and APDUs (answered with Transmit). An unknown
// control code or a malformed frame ends the session with an error.
func (c *Card) Serve(rw io.ReadWriter) error {
	for {
		quickAck(rw)
		msg, err := ReadFrame(rw)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		if len(msg) == 1 {
			switch msg[0] {
			case vpcdPowerOff, vpcdPowerOn, vpcdReset:
				c.Reset()
			case vpcdGetATR:
				if err := WriteFrame(rw, c.ATR()); err != nil {
					return err
				}
			default:
				return fmt.Errorf("%w: control code %d", ErrFrame, msg[0])
			}
			continue
		}
		if err := WriteFrame(rw, c.Transmit(msg)); err != nil {
			return err
		}
	}
}

// connState is the card's presence in a reader.
type connState struct {
	mu   sync.Mutex
	conn net.Conn      // guarded by mu; nil when removed
	done chan struct{} // guarded by mu; closed when Serve of conn returns
	err  error         // guarded by mu; how the last session ended
}

// Insert connects the card to the vpcd reader at addr (host:port), which
// pcscd sees as a card insertion, and serves it in the background until
// Remove, the reader closing the connection, or a protocol error.
func (c *Card) Insert(ctx context.Context, addr string) error {
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	if c.conn.conn != nil {
		select {
		case <-c.conn.done:
		default:
			return errors.New("vcard: already inserted")
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("vcard: insert into %s: %w", addr, err)
	}
	c.Reset()
	done := make(chan struct{})
	c.conn.conn, c.conn.done, c.conn.err = conn, done, nil
	go func() {
		err := c.Serve(conn)
		conn.Close()
		c.Reset()
		c.conn.mu.Lock()
		c.conn.err = err
		c.conn.mu.Unlock()
		if err != nil {
			c.log.Warn("vcard: reader session ended", "err", err)
		}
		close(done)
	}()
	return nil
}

// Remove disconnects the card from its reader (pcscd sees a removal) and
// waits until the session has ended. Removing a card that is not inserted
// does nothing.
func (c *Card) Remove() error {
	c.conn.mu.Lock()
	conn, done := c.conn.conn, c.conn.done
	c.conn.conn = nil
	c.conn.mu.Unlock()
	if conn == nil {
		return nil
	}
	err := conn.Close()
	<-done
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Inserted reports whether the card is in a reader; Done is closed when
// the current reader session ends (nil when not inserted).
func (c *Card) Inserted() (bool, <-chan struct{}) {
	c.conn.mu.Lock()
	defer c.conn.mu.Unlock()
	if c.conn.conn == nil {
		return false, nil
	}
	select {
	case <-c.conn.done:
		return false, nil
	default:
		return true, c.conn.done
	}
}

// quickAck asks Linux to acknowledge the next segment at once. The vpcd
// driver writes a frame's length and body in two sends; with Nagle's
// algorithm on its side and a delayed ACK on ours every APDU would wait
// about 40 ms. Linux clears the flag after each receive, so it is set
// before every read. Elsewhere (or on a non-TCP connection) it does nothing.
func quickAck(rw io.ReadWriter) {
	tc, ok := rw.(*net.TCPConn)
	if !ok || runtime.GOOS != "linux" {
		return
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) {
		_ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, tcpQuickAck, 1)
	})
}

// tcpQuickAck is TCP_QUICKACK from linux/tcp.h.
const tcpQuickAck = 12
