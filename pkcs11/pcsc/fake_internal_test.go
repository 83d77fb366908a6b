package pcsc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeConn is a hand-written PC/SC context: each GetStatusChange takes the
// next scripted answer (a map reader → EventState, and the reader list
// from then on), or blocks until Cancel.
type fakeConn struct {
	mu      sync.Mutex
	readers []string
	steps   []fakeStep
	cancel  chan struct{}
}

type fakeStep struct {
	readers []string          // the reader list after this step (nil: unchanged)
	events  map[string]uint32 // EventState by reader; stateChanged is added
	err     error
}

func (f *fakeConn) ListReaders() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.readers), nil
}

func (f *fakeConn) GetStatusChange(states []readerState) error {
	f.mu.Lock()
	if len(f.steps) == 0 {
		f.mu.Unlock()
		<-f.cancel
		return errCancelledFake
	}
	s := f.steps[0]
	f.steps = f.steps[1:]
	if s.readers != nil {
		f.readers = s.readers
	}
	f.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	for i := range states {
		states[i].EventState = states[i].CurrentState &^ stateChanged
		if ev, ok := s.events[states[i].Reader]; ok {
			states[i].EventState = ev | stateChanged
		}
	}
	return nil
}

var errCancelledFake = errors.New("cancelled")

func (f *fakeConn) Cancel() error {
	select {
	case f.cancel <- struct{}{}:
	default:
	}
	return nil
}
func (f *fakeConn) Release() error { return nil }

// TestApplyPnP: the PnP pseudo-reader announces a new reader, a card goes
// in and out, a quick remove-and-insert between two waits is told by the
// event counter, and the reader is unplugged with the card in it.
func TestApplyPnP(t *testing.T) {
	const r = "USB Reader 00 00"
	f := &fakeConn{cancel: make(chan struct{}, 1), steps: []fakeStep{
		{readers: []string{r}, events: map[string]uint32{pnpReader: 1 << 16}},
		{events: map[string]uint32{r: statePresent | 1<<16}},
		{events: map[string]uint32{r: statePresent | 3<<16}}, // out and in again
		{events: map[string]uint32{r: 0x10 | 4<<16}},         // empty
		{events: map[string]uint32{r: statePresent | 5<<16}},
		{readers: []string{}, events: map[string]uint32{r: stateUnknown, pnpReader: 0}},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, Options{establish: func() (conn, error) { return f, nil }})
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{Kind: ServiceUp},
		{Kind: ReaderAdded, Reader: r},
		{Kind: CardInserted, Reader: r},
		{Kind: CardRemoved, Reader: r},
		{Kind: CardInserted, Reader: r},
		{Kind: CardRemoved, Reader: r},
		{Kind: CardInserted, Reader: r},
		{Kind: CardRemoved, Reader: r},
		{Kind: ReaderRemoved, Reader: r},
	}
	for i, w := range want {
		select {
		case e := <-ch:
			if e.Kind != w.Kind || e.Reader != w.Reader {
				t.Fatalf("event %d: %v, want %v", i, e, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d: none, want %v", i, w)
		}
	}
	cancel()
	for e := range ch {
		t.Errorf("unexpected %v after cancel", e)
	}
}

// TestUnavailableReader: a reader whose state pcscd cannot tell counts as
// empty (its card removed), and the watch then waits for a change instead
// of asking again at once.
func TestUnavailableReader(t *testing.T) {
	const r = "Flaky Reader 00 00"
	f := &fakeConn{cancel: make(chan struct{}, 1), readers: []string{r}, steps: []fakeStep{
		{events: map[string]uint32{r: statePresent | 1<<16}},
		{events: map[string]uint32{r: stateUnavailable | 1<<16}},
		{events: map[string]uint32{r: statePresent | 2<<16}},
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, Options{establish: func() (conn, error) { return f, nil }})
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{{Kind: ServiceUp}, {Kind: ReaderAdded, Reader: r}, {Kind: CardInserted, Reader: r},
		{Kind: CardRemoved, Reader: r}, {Kind: CardInserted, Reader: r}}
	for i, w := range want {
		select {
		case e := <-ch:
			if e.Kind != w.Kind || e.Reader != w.Reader {
				t.Fatalf("event %d: %v, want %v", i, e, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("event %d: none, want %v", i, w)
		}
	}
	f.mu.Lock()
	left := len(f.steps)
	f.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d steps left", left)
	}
	cancel()
	for e := range ch {
		t.Errorf("unexpected %v", e)
	}
}
