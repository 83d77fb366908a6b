package sessionstest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/sessions"
)

// NewChallengeStoreFunc builds an empty challenge store for one subtest,
// taking time from now. It registers its own cleanup.
type NewChallengeStoreFunc func(t *testing.T, now func() time.Time) sessions.ChallengeStore

// RunChallengeTests runs the ChallengeStore conformance tests against the
// backend that newStore builds.
func RunChallengeTests(t *testing.T, newStore NewChallengeStoreFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, s sessions.ChallengeStore, clk *Clock)
	}{
		{"PutTake", testPutTake},
		{"UnknownID", testUnknownChallenge},
		{"SingleUseConcurrent", testSingleUse},
		{"Expiry", testChallengeExpiry},
		{"TTLOver60sRejected", testChallengeTTL},
		{"InvalidChallenge", testInvalidChallenge},
		{"DuplicateID", testDuplicateChallenge},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewClock(start())
			tc.run(t, newStore(t, clk.Now), clk)
		})
	}
}

func newChallenge(t *testing.T, clk *Clock, ttl time.Duration) sessions.Challenge {
	t.Helper()
	id, err := sessions.NewChallengeID()
	if err != nil {
		t.Fatal(err)
	}
	return sessions.Challenge{
		ID:        id,
		ToSign:    []byte("spineauth login\x00audience=https://authd.example\x00nonce=" + id),
		Audience:  "https://authd.example",
		ExpiresAt: clk.Now().Add(ttl),
	}
}

func mustPut(t *testing.T, s sessions.ChallengeStore, c sessions.Challenge) {
	t.Helper()
	if err := s.Put(context.Background(), c); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func testPutTake(t *testing.T, s sessions.ChallengeStore, clk *Clock) {
	ctx := context.Background()
	c := newChallenge(t, clk, 30*time.Second)
	mustPut(t, s, c)
	got, err := s.Take(ctx, c.ID)
	if err != nil {
		t.Fatalf("Take: %v", err)
	}
	if got.ID != c.ID || !bytes.Equal(got.ToSign, c.ToSign) || got.Audience != c.Audience || !got.ExpiresAt.Equal(c.ExpiresAt) {
		t.Fatalf("Take returned %+v, want %+v", got, c)
	}
	_, err = s.Take(ctx, c.ID)
	wantErr(t, "second Take", err, sessions.ErrChallengeUnknown)
}

func testUnknownChallenge(t *testing.T, s sessions.ChallengeStore, clk *Clock) {
	for _, id := range []string{newChallenge(t, clk, time.Second).ID, "", "x{y}z"} {
		_, err := s.Take(context.Background(), id)
		wantErr(t, "Take of "+id, err, sessions.ErrChallengeUnknown)
	}
}

func testSingleUse(t *testing.T, s sessions.ChallengeStore, clk *Clock) {
	const takers = 20
	c := newChallenge(t, clk, 30*time.Second)
	mustPut(t, s, c)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		won     int
		other   []error
		barrier = make(chan struct{})
	)
	for i := 0; i < takers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-barrier
			_, err := s.Take(context.Background(), c.ID)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case !errors.Is(err, sessions.ErrChallengeUnknown):
				other = append(other, err)
			}
		}()
	}
	close(barrier)
	wg.Wait()
	if won != 1 || len(other) > 0 {
		t.Fatalf("%d of %d concurrent Takes won (want exactly 1); other errors: %v", won, takers, other)
	}
}

func testChallengeExpiry(t *testing.T, s sessions.ChallengeStore, clk *Clock) {
	ctx := context.Background()
	early := newChallenge(t, clk, 30*time.Second)
	late := newChallenge(t, clk, 30*time.Second)
	mustPut(t, s, early)
	mustPut(t, s, late)
	clk.Set(early.ExpiresAt.Add(-time.Millisecond))
	if _, err := s.Take(ctx, early.ID); err != nil {
		t.Fatalf("Take just before expiry: %v", err)
	}
	clk.Set(late.ExpiresAt)
	_, err := s.Take(ctx, late.ID)
	wantErr(t, "Take at ExpiresAt", err, sessions.ErrChallengeUnknown)
}

func testChallengeTTL(t *testing.T, s sessions.ChallengeStore, clk *Clock) {
	c := newChallenge(t, clk, 0)
	c.ExpiresAt = clk.Now().Add(sessions.MaxChallengeTTL + time.Millisecond)
	wantErr(t, "Put with TTL over 60s", s.Put(context.Background(), c), sessions.ErrInvalid)
	c.ExpiresAt = clk.Now().Add(10 * time.Minute)
	wantErr(t, "Put with TTL of 10m", s.Put(context.Background(), c), sessions.ErrInvalid)
	if _, err := s.Take(context.Background(), c.ID); !errors.Is(err, sessions.ErrChallengeUnknown) {
		t.Fatalf("a refused challenge was stored: Take = %v", err)
	}
	c.ExpiresAt = clk.Now().Add(sessions.MaxChallengeTTL)
	mustPut(t, s, c)
}

func testInvalidChallenge(t *testing.T, s sessions.ChallengeStore, clk *Clock) {
	tests := []struct {
		name  string
		tweak func(*sessions.Challenge)
	}{
		{"empty id", func(c *sessions.Challenge) { c.ID = "" }},
		{"id with space", func(c *sessions.Challenge) { c.ID = "a b" }},
		{"nothing to sign", func(c *sessions.Challenge) { c.ToSign = nil }},
		{"no audience", func(c *sessions.Challenge) { c.Audience = "" }},
		{"already expired", func(c *sessions.Challenge) { c.ExpiresAt = clk.Now() }},
		{"no expiry", func(c *sessions.Challenge) { c.ExpiresAt = time.Time{} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newChallenge(t, clk, 30*time.Second)
			tc.tweak(&c)
			wantErr(t, "Put", s.Put(context.Background(), c), sessions.ErrInvalid)
		})
	}
}

func testDuplicateChallenge(t *testing.T, s sessions.ChallengeStore, clk *Clock) {
	c := newChallenge(t, clk, 30*time.Second)
	mustPut(t, s, c)
	replay := c
	replay.ToSign = []byte("other bytes")
	wantErr(t, "second Put of the same ID", s.Put(context.Background(), replay), sessions.ErrInvalid)
	got, err := s.Take(context.Background(), c.ID)
	if err != nil || !bytes.Equal(got.ToSign, c.ToSign) {
		t.Fatalf("Take after a refused duplicate: %v, %v", got, err)
	}
}
