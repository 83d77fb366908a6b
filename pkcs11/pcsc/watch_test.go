package pcsc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// next waits for the next event that is not ServiceUp/ServiceDown (unless
// want asks for one).
func next(t *testing.T, ch <-chan Event, want Kind, reader string) Event {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("watch ended waiting for %v %q", want, reader)
			}
			if e.Kind == want && (reader == "" || e.Reader == reader) {
				return e
			}
			if want != ServiceUp && want != ServiceDown && (e.Kind == ServiceUp || e.Kind == ServiceDown) {
				continue
			}
			t.Fatalf("got %v, want %v %q", e, want, reader)
		case <-timeout:
			t.Fatalf("no %v %q within 10s", want, reader)
		}
	}
}

// TestWatchRealPCSCD: pcscd with vpcd readers; cards inserted and removed
// (removal seen within a second); pcscd stopped (all removed) and started
// again (found again); cancellation ends the watch. (pcscd reads vpcd's
// reader.conf entry only at start, so a reader plugged into a running
// pcscd is shown with the fake connection in TestApplyPnP.)
func TestWatchRealPCSCD(t *testing.T) {
	d := startPCSCD(t)
	r0, r1 := d.Readers[0], d.Readers[1]

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Watch(ctx, Options{}); !errors.Is(err, ErrBusy) {
		t.Fatalf("second Watch: %v, want ErrBusy", err)
	}
	next(t, ch, ReaderAdded, r0.Name)
	next(t, ch, ReaderAdded, r1.Name)
	if names, err := Readers(ctx); err != nil || len(names) != 2 || names[0] != r0.Name || names[1] != r1.Name {
		t.Errorf("Readers: %q, %v", names, err)
	}

	t.Run("insert and remove", func(t *testing.T) {
		c := insert(t, r0.Addr)
		e := next(t, ch, CardInserted, r0.Name)
		if !bytes.Equal(e.ATR, testATR) {
			t.Errorf("ATR % X, want % X", e.ATR, testATR)
		}
		start := time.Now()
		c.remove()
		next(t, ch, CardRemoved, r0.Name)
		if d := time.Since(start); d > time.Second {
			t.Errorf("removal seen after %v", d)
		}
		t.Logf("removal reported %v after the card left", time.Since(start))
	})
	t.Run("second reader", func(t *testing.T) {
		c := insert(t, r1.Addr)
		next(t, ch, CardInserted, r1.Name)
		c.remove()
		next(t, ch, CardRemoved, r1.Name)
	})
	t.Run("pcscd restart", func(t *testing.T) {
		c := insert(t, r0.Addr)
		next(t, ch, CardInserted, r0.Name)
		d.Close()
		// Everything is reported gone, the card first.
		got := map[string]bool{}
		deadline := time.After(10 * time.Second)
		for !got["down"] {
			select {
			case e := <-ch:
				switch e.Kind {
				case CardRemoved:
					got["card:"+e.Reader] = true
				case ReaderRemoved:
					if !got["card:"+e.Reader] && e.Reader == r0.Name {
						t.Errorf("reader removed before its card")
					}
					got["reader:"+e.Reader] = true
				case ServiceDown:
					got["down"] = true
					if e.Err == nil {
						t.Error("ServiceDown without a cause")
					}
				default:
					t.Fatalf("unexpected %v while pcscd stops", e)
				}
			case <-deadline:
				t.Fatalf("pcscd stop not reported; got %v", got)
			}
		}
		for _, k := range []string{"card:" + r0.Name, "reader:" + r0.Name, "reader:" + r1.Name} {
			if !got[k] {
				t.Errorf("missing %s", k)
			}
		}
		c.remove()
		d = startPCSCD(t) // same socket, new vpcd ports
		r0 = d.Readers[0]
		next(t, ch, ServiceUp, "")
		got = map[string]bool{}
		for range 2 {
			e := next(t, ch, ReaderAdded, "")
			got[e.Reader] = true
		}
		if !got[r0.Name] || !got[r1.Name] {
			t.Errorf("readers after restart: %v", got)
		}
		c = insert(t, r0.Addr)
		next(t, ch, CardInserted, r0.Name)
		c.remove()
		next(t, ch, CardRemoved, r0.Name)
	})
	t.Run("cancel", func(t *testing.T) {
		start := time.Now()
		cancel()
		for range ch {
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("watch took %v to end after cancel", d)
		}
		// The watch lock is free again.
		ctx2, cancel2 := context.WithCancel(context.Background())
		ch2, err := Watch(ctx2, Options{})
		if err != nil {
			t.Fatal(err)
		}
		cancel2()
		for range ch2 {
		}
	})
}

// TestWatchBeforePCSCD: the watch starts while pcscd is not there, says
// so, and finds readers once it starts.
func TestWatchBeforePCSCD(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch, err := Watch(ctx, Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := next(t, ch, ServiceDown, "")
	if e.Err == nil || !strings.Contains(strings.ToLower(e.Err.Error()), "service") {
		t.Logf("ServiceDown cause: %v", e.Err)
	}
	d := startPCSCD(t)
	next(t, ch, ServiceUp, "")
	next(t, ch, ReaderAdded, d.Readers[0].Name)
	cancel()
	for range ch {
	}
}
