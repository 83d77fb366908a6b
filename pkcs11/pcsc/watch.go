package pcsc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Kind is what happened.
type Kind int

const (
	// ReaderAdded: a reader appeared (also for every reader found when the
	// watch starts or pcscd comes back).
	ReaderAdded Kind = iota + 1
	// ReaderRemoved: a reader was unplugged (also for every reader when
	// pcscd goes away). A card in it is reported removed first.
	ReaderRemoved
	// CardInserted: a card is now in the reader (also for cards already
	// in a reader when the watch starts). ATR is set.
	CardInserted
	// CardRemoved: the card left the reader (or was removed and inserted
	// again between two looks: then CardInserted follows).
	CardRemoved
	// ServiceDown: pcscd cannot be reached; every reader and card has been
	// reported removed. Watch keeps trying to reconnect.
	ServiceDown
	// ServiceUp: connected to pcscd (at the start and after ServiceDown).
	ServiceUp
)

func (k Kind) String() string {
	switch k {
	case ReaderAdded:
		return "reader_added"
	case ReaderRemoved:
		return "reader_removed"
	case CardInserted:
		return "card_inserted"
	case CardRemoved:
		return "card_removed"
	case ServiceDown:
		return "service_down"
	case ServiceUp:
		return "service_up"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Event is one change. Reader is empty for ServiceDown and ServiceUp.
type Event struct {
	Kind   Kind
	Reader string
	ATR    []byte // CardInserted only
	Time   time.Time
	Err    error // ServiceDown only: why
}

func (e Event) String() string {
	if e.Reader == "" {
		return e.Kind.String()
	}
	return fmt.Sprintf("%s %q", e.Kind, e.Reader)
}

// Options tune Watch. The zero value works.
type Options struct {
	Logger     *slog.Logger     // default: discard
	Now        func() time.Time // default: time.Now
	MinBackoff time.Duration    // first wait before reconnecting to pcscd; default 100ms
	MaxBackoff time.Duration    // longest wait; default 5s

	establish func() (conn, error) // tests
}

// ErrBusy: another Watch is running in this process (the PC/SC binding
// allows only one status wait at a time).
var ErrBusy = errors.New("pcsc: another reader watch is running in this process")

// watchMu is held by the running Watch: see scardConn.GetStatusChange.
var watchMu sync.Mutex

// Readers lists the readers pcscd knows now.
func Readers(ctx context.Context) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c, err := establish()
	if err != nil {
		return nil, fmt.Errorf("pcsc: connecting to pcscd: %w", err)
	}
	defer c.Release()
	names, err := c.ListReaders()
	if err != nil {
		return nil, fmt.Errorf("pcsc: listing readers: %w", err)
	}
	return names, nil
}

// Watch reports reader and card changes until ctx ends, then closes the
// channel. The events of a reader come in order; the channel is
// unbuffered, so a slow reader of it delays the next wait in pcscd but
// loses nothing (pcscd's event counter tells a quick remove-and-insert).
// Only one Watch runs per process: a second fails with ErrBusy.
func Watch(ctx context.Context, o Options) (<-chan Event, error) {
	if !watchMu.TryLock() {
		return nil, ErrBusy
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = 100 * time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(5*time.Second, o.MinBackoff)
	}
	if o.establish == nil {
		o.establish = establish
	}
	ch := make(chan Event)
	w := &watcher{o: o, out: ch, known: map[string]*reader{}}
	go func() {
		defer close(ch)        // second: once it is closed,
		defer watchMu.Unlock() // a new Watch may start
		w.run(ctx)
	}()
	return ch, nil
}

type reader struct {
	present bool
	state   uint32 // last EventState without the changed bit
}

type watcher struct {
	o     Options
	out   chan<- Event
	known map[string]*reader // readers reported added
	down  bool               // ServiceDown reported and not yet ServiceUp
}

func (w *watcher) emit(ctx context.Context, e Event) bool {
	e.Time = w.o.Now()
	select {
	case w.out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

// run connects, watches and reconnects until ctx ends.
func (w *watcher) run(ctx context.Context) {
	backoff := w.o.MinBackoff
	first := true
	for ctx.Err() == nil {
		c, err := w.o.establish()
		if err != nil {
			if first || !w.down {
				w.o.Logger.Debug("pcscd unreachable", "err", err)
				w.down = true
				if !w.emit(ctx, Event{Kind: ServiceDown, Err: err}) {
					return
				}
			}
			first = false
			if !sleep(ctx.Done(), jitter(backoff)) {
				return
			}
			backoff = min(2*backoff, w.o.MaxBackoff)
			continue
		}
		first = false
		w.down = false
		w.o.Logger.Debug("connected to pcscd")
		if !w.emit(ctx, Event{Kind: ServiceUp}) {
			c.Release()
			return
		}
		err = w.watch(ctx, c, &backoff)
		c.Release()
		if ctx.Err() != nil {
			return
		}
		w.o.Logger.Debug("lost pcscd", "err", err)
		if !w.dropAll(ctx) {
			return
		}
		w.down = true
		if !w.emit(ctx, Event{Kind: ServiceDown, Err: err}) {
			return
		}
		if !sleep(ctx.Done(), jitter(backoff)) {
			return
		}
		backoff = min(2*backoff, w.o.MaxBackoff)
	}
}

// jitter spreads d over [d/2, d).
func jitter(d time.Duration) time.Duration {
	return d/2 + rand.N(d/2+1)
}

// dropAll reports every known card and reader removed.
func (w *watcher) dropAll(ctx context.Context) bool {
	names := make([]string, 0, len(w.known))
	for n := range w.known {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !w.removeReader(ctx, n) {
			return false
		}
	}
	return true
}

func (w *watcher) removeReader(ctx context.Context, name string) bool {
	r := w.known[name]
	delete(w.known, name)
	if r != nil && r.present {
		if !w.emit(ctx, Event{Kind: CardRemoved, Reader: name}) {
			return false
		}
	}
	return w.emit(ctx, Event{Kind: ReaderRemoved, Reader: name})
}

// watch follows one pcscd connection until it fails or ctx ends. While it
// runs, the end of ctx cancels the wait in pcscd (SCardCancel); the cancel
// is repeated until watch returns, in case it landed between two waits.
func (w *watcher) watch(ctx context.Context, c conn, backoff *time.Duration) error {
	done := make(chan struct{})
	var cancelling sync.WaitGroup
	defer func() {
		close(done)
		cancelling.Wait() // no Cancel may run once the caller releases c
	}()
	cancelling.Add(1)
	go func() {
		defer cancelling.Done()
		select {
		case <-done:
			return
		case <-ctx.Done():
		}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			_ = c.Cancel()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()

	pnp := readerState{Reader: pnpReader, CurrentState: stateUnaware}
	var states []readerState
	relist := true
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if relist {
			names, err := c.ListReaders()
			if err != nil {
				return fmt.Errorf("listing readers: %w", err)
			}
			if !w.sync(ctx, names) {
				return ctx.Err()
			}
			states = states[:0]
			states = append(states, pnp)
			for _, n := range names {
				states = append(states, readerState{Reader: n, CurrentState: w.known[n].state})
			}
			relist = false
		}
		err := c.GetStatusChange(states)
		switch {
		case err == nil:
		case isTimeout(err):
			continue
		case isCancelled(err):
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		case isUnknownReader(err):
			relist = true
			continue
		default:
			return fmt.Errorf("waiting for reader changes: %w", err)
		}
		*backoff = w.o.MinBackoff // a working wait: start again from short waits
		var events []Event
		relist, events = w.apply(states)
		pnp = states[0]
		for _, e := range events {
			if !w.emit(ctx, e) {
				return ctx.Err()
			}
		}
	}
}

// sync makes the known readers those in names, reporting the difference.
func (w *watcher) sync(ctx context.Context, names []string) bool {
	var gone []string
	for n := range w.known {
		if !slices.Contains(names, n) {
			gone = append(gone, n)
		}
	}
	slices.Sort(gone)
	for _, n := range gone {
		if !w.removeReader(ctx, n) {
			return false
		}
	}
	for _, n := range names {
		if _, ok := w.known[n]; ok {
			continue
		}
		w.known[n] = &reader{state: stateUnaware}
		if !w.emit(ctx, Event{Kind: ReaderAdded, Reader: n}) {
			return false
		}
	}
	return true
}

// apply reads the answer of one wait: states[0] is the PnP pseudo-reader,
// the rest the known readers. It updates CurrentState for the next wait
// and returns the card events and whether the reader list must be read
// again.
func (w *watcher) apply(states []readerState) (relist bool, events []Event) {
	for i := range states {
		st := &states[i]
		ev := st.EventState
		if ev&stateChanged == 0 {
			continue
		}
		st.CurrentState = ev &^ stateChanged
		if i == 0 {
			relist = true // a reader was added or removed
			continue
		}
		r := w.known[st.Reader]
		if ev&(stateUnknown|stateIgnore|stateUnavailable) != 0 {
			// The reader is going away or cannot tell: its card counts as
			// removed, and the list is read again. Its state is kept so
			// that the next wait blocks until something changes.
			relist = true
			if r != nil {
				if r.present {
					events = append(events, Event{Kind: CardRemoved, Reader: st.Reader})
					r.present = false
				}
				r.state = st.CurrentState
			}
			continue
		}
		if r == nil {
			continue
		}
		present := ev&statePresent != 0
		counter := ev >> 16
		replaced := present && r.present && counter != r.state>>16
		if r.present && (!present || replaced) {
			events = append(events, Event{Kind: CardRemoved, Reader: st.Reader})
		}
		if present && (!r.present || replaced) {
			events = append(events, Event{Kind: CardInserted, Reader: st.Reader, ATR: slices.Clone(st.ATR)})
		}
		r.present = present
		r.state = st.CurrentState
	}
	return relist, events
}
