package sessions_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/sessions/sessionstest"
)

func newMemory(t *testing.T, now func() time.Time) *sessions.Memory {
	m := sessions.NewMemory(sessions.Config{Now: now})
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func TestMemoryStore(t *testing.T) {
	sessionstest.RunStoreTests(t, func(t *testing.T, now func() time.Time) sessions.Store {
		return newMemory(t, now)
	})
}

func TestMemoryChallenges(t *testing.T) {
	sessionstest.RunChallengeTests(t, func(t *testing.T, now func() time.Time) sessions.ChallengeStore {
		return newMemory(t, now)
	})
}

func TestMemorySweep(t *testing.T) {
	ctx := context.Background()
	clk := sessionstest.NewClock(time.Now())
	m := sessions.NewMemory(sessions.Config{Now: clk.Now, SweepInterval: 5 * time.Millisecond})
	defer m.Close()
	tok, _, err := m.Create(ctx, sessions.Session{UserID: "555000000011", CardID: "c1", CertSerial: "01"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Put(ctx, sessions.Challenge{ID: "ch1", ToSign: []byte("x"), Audience: "a", ExpiresAt: clk.Now().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(sessions.DefaultIdleTimeout)
	deadline := time.Now().Add(5 * time.Second)
	for {
		stored, _ := m.DumpStored(ctx)
		if len(stored) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sweeper left %d entries", len(stored))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := m.Get(ctx, tok); err != sessions.ErrNotFound {
		t.Fatalf("Get after the sweep: %v, want ErrNotFound", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	m.Sweep() // still usable after Close
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  sessions.Config
		want []string // substrings of the error, none for valid
	}{
		{"zero is defaults", sessions.Config{}, nil},
		{"explicit", sessions.Config{Lifetime: 8 * time.Hour, IdleTimeout: 15 * time.Minute}, nil},
		{"negative lifetime", sessions.Config{Lifetime: -1}, []string{"Lifetime -1ns is negative"}},
		{"idle over lifetime", sessions.Config{Lifetime: time.Hour, IdleTimeout: 2 * time.Hour}, []string{"longer than Lifetime"}},
		{"idle over default lifetime", sessions.Config{IdleTimeout: 11 * time.Hour}, []string{"longer than Lifetime 10h0m0s"}},
		{"all at once", sessions.Config{Lifetime: -1, IdleTimeout: -1, SweepInterval: -1},
			[]string{"Lifetime", "IdleTimeout", "SweepInterval"}},
		{"sub-second", sessions.Config{Lifetime: time.Millisecond, IdleTimeout: time.Millisecond},
			[]string{"Lifetime 1ms is shorter", "IdleTimeout 1ms is shorter"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestNewMemoryPanicsOnBadConfig(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewMemory accepted a negative lifetime")
		}
	}()
	sessions.NewMemory(sessions.Config{Lifetime: -time.Hour})
}
