package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/sessions/redistest"
)

// BenchmarkGet measures Get (validate and slide) from parallel goroutines,
// each on its own sessions, and reports the 99th percentile latency.
func BenchmarkGet(b *testing.B) {
	b.Run("Memory", func(b *testing.B) {
		m := sessions.NewMemory(sessions.Config{})
		defer m.Close()
		benchGet(b, m)
	})
	b.Run("Redis", func(b *testing.B) {
		c := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
		b.Cleanup(func() { _ = c.Close() }) // after Prefix's cleanup
		benchGet(b, sessions.NewRedis(c, sessions.Config{}, redistest.Prefix(b, c)))
	})
}

// benchSessions creates n sessions, each of its own user and card.
func benchSessions(b *testing.B, s sessions.Store, n int) []sessions.Token {
	toks := make([]sessions.Token, n)
	for i := range toks {
		tok, _, err := s.Create(context.Background(), sessions.Session{
			UserID: fmt.Sprintf("5550%08d", i), CardID: fmt.Sprintf("card-%d", i), CertSerial: "01",
		})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = tok
	}
	return toks
}

func benchGet(b *testing.B, s sessions.Store) {
	ctx := context.Background()
	const n = 1024
	toks := benchSessions(b, s, n)
	var (
		mu   sync.Mutex
		all  []time.Duration
		next atomic.Int64
	)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(next.Add(1)) * 97
		lat := make([]time.Duration, 0, 1<<16)
		for pb.Next() {
			start := time.Now()
			if _, err := s.Get(ctx, toks[i%n]); err != nil {
				b.Error(err)
				return
			}
			lat = append(lat, time.Since(start))
			i++
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	b.StopTimer()
	if len(all) > 0 {
		slices.Sort(all)
		b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
		b.ReportMetric(float64(all[len(all)/2].Nanoseconds()), "p50-ns")
	}
}

// BenchmarkRedisTenSessions measures looking up the ten sessions of a PDP
// batch on Redis: GetMany (one pipeline) beside its peer, ten Gets one
// after another. ns/op is per ten sessions.
func BenchmarkRedisTenSessions(b *testing.B) {
	c := redis.NewClient(&redis.Options{Addr: redistest.Addr(b)})
	b.Cleanup(func() { _ = c.Close() }) // after Prefix's cleanup
	s := sessions.NewRedis(c, sessions.Config{}, redistest.Prefix(b, c))
	ctx := context.Background()
	toks := benchSessions(b, s, 10)
	b.Run("GetMany", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, errs := s.GetMany(ctx, toks); errors.Join(errs...) != nil {
				b.Fatal(errors.Join(errs...))
			}
		}
	})
	b.Run("Get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, tok := range toks {
				if _, err := s.Get(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
