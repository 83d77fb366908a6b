package pcsc

import (
	"errors"
	"time"

	"github.com/ebfe/scard"
)

// pnpReader is the pseudo-reader whose state changes when a reader is
// added or removed.
const pnpReader = `\\?PnP?\Notification`

// conn is what the watcher needs from a PC/SC context. *scardConn is the
// real one.
type conn interface {
	ListReaders() ([]string, error)
	// GetStatusChange blocks until a state in states differs from its
	// CurrentState (or Cancel is called) and fills in EventState and ATR.
	GetStatusChange(states []readerState) error
	Cancel() error
	Release() error
}

// readerState mirrors scard.ReaderState with our flag type.
type readerState struct {
	Reader       string
	CurrentState uint32
	EventState   uint32
	ATR          []byte
}

// State flags of SCardGetStatusChange (winscard.h); the upper 16 bits of
// EventState count card events for a reader, and readers for the PnP
// pseudo-reader.
const (
	stateUnaware     = uint32(scard.StateUnaware)
	stateIgnore      = uint32(scard.StateIgnore)
	stateChanged     = uint32(scard.StateChanged)
	stateUnknown     = uint32(scard.StateUnknown)
	stateUnavailable = uint32(scard.StateUnavailable)
	statePresent     = uint32(scard.StatePresent)
)

type scardConn struct{ c *scard.Context }

func establish() (conn, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, err
	}
	return &scardConn{c}, nil
}

func (s *scardConn) ListReaders() ([]string, error) {
	names, err := s.c.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	return names, err
}

// GetStatusChange waits without a time-out. The binding writes reader
// names into a package map without a lock, so only one call may run in the
// process at a time: Watch ensures it with watchMu.
func (s *scardConn) GetStatusChange(states []readerState) error {
	rs := make([]scard.ReaderState, len(states))
	for i, st := range states {
		rs[i] = scard.ReaderState{Reader: st.Reader, CurrentState: scard.StateFlag(st.CurrentState), Atr: st.ATR}
	}
	if err := s.c.GetStatusChange(rs, -1); err != nil {
		return err
	}
	for i := range rs {
		states[i].EventState = uint32(rs[i].EventState)
		states[i].ATR = rs[i].Atr
	}
	return nil
}

func (s *scardConn) Cancel() error  { return s.c.Cancel() }
func (s *scardConn) Release() error { return s.c.Release() }

// Error classes of PC/SC return codes.
func isCancelled(err error) bool { return errors.Is(err, scard.ErrCancelled) }

// isUnknownReader: a reader in the list went away before the call.
func isUnknownReader(err error) bool {
	return errors.Is(err, scard.ErrUnknownReader) || errors.Is(err, scard.ErrReaderUnavailable)
}

// isTimeout: nothing changed within the time-out (not used with an
// infinite one, but pcsc-lite may still say so).
func isTimeout(err error) bool { return errors.Is(err, scard.ErrTimeout) }

// sleep waits d unless done closes first; it reports whether d passed.
func sleep(done <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-done:
		return false
	}
}
