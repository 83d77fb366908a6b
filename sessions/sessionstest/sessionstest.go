package sessionstest

import (
	"context"
	"sync"
	"time"
)

// Clock is a fake clock for tests: it stands still until moved.
type Clock struct {
	mu sync.Mutex
	t  time.Time // guarded by mu
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Dumper is implemented (in a backend's tests) by stores whose stored data
// the suite may inspect: DumpStored returns every stored key and value as
// raw bytes. The "only the hash is stored" test is skipped for a store that
// does not implement it.
type Dumper interface {
	DumpStored(ctx context.Context) ([][]byte, error)
}

// start is where every suite clock starts: the current time, so that Redis
// TTLs (relative to the fake now) stay sensible, to the millisecond.
func start() time.Time { return time.Now().Truncate(time.Millisecond) }
