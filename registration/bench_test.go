//go:build unix

// The benchmarks report the process's CPU time per operation besides the
// wall-clock time, because the machines they run on are shared: CPU time
// hardly moves when another job competes for the cores, wall time does.
// getrusage is why the file is for unix only.

package registration_test

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/testkeys"
)

// BenchmarkLoginReads measures the registration reads of one card login,
// as authd's login service makes them: CardByFingerprint, then Person of
// the card's owner, then RoleProfilesOf (Alice: two active profiles with
// seven activities and a workgroup each), on a seeded SQLite file. The
// "cancellable" case passes a context that can end, as an HTTP request's
// does; the driver watches such a context for every statement it runs.
func BenchmarkLoginReads(b *testing.B) {
	for _, bc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
	}{
		{"background", func() (context.Context, context.CancelFunc) { return context.Background(), func() {} }},
		{"cancellable", func() (context.Context, context.CancelFunc) { return context.WithCancel(context.Background()) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := seededBenchStore(b)
			fp := registration.Fingerprint(testkeys.Cert(b, "card-555000000011-rsa").Raw)
			ctx, cancel := bc.ctx()
			defer cancel()
			b.ReportAllocs()
			start := cpuTime(b)
			for b.Loop() {
				card, err := s.CardByFingerprint(ctx, fp)
				if err != nil {
					b.Fatal(err)
				}
				p, err := s.Person(ctx, card.UID)
				if err != nil {
					b.Fatal(err)
				}
				rps, err := s.RoleProfilesOf(ctx, p.UID)
				if err != nil {
					b.Fatal(err)
				}
				if len(rps) != 2 || len(rps[0].Activities) != 7 || len(rps[1].Workgroups) != 1 {
					b.Fatalf("RoleProfilesOf = %+v", rps)
				}
			}
			reportCPU(b, start)
		})
	}
}

// BenchmarkLoginReadsParallel is BenchmarkLoginReads from as many
// goroutines as GOMAXPROCS, sharing the store's read pool.
func BenchmarkLoginReadsParallel(b *testing.B) {
	s := seededBenchStore(b)
	fp := registration.Fingerprint(testkeys.Cert(b, "card-555000000011-rsa").Raw)
	b.ReportAllocs()
	start := cpuTime(b)
	b.RunParallel(func(pb *testing.PB) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		for pb.Next() {
			card, err := s.CardByFingerprint(ctx, fp)
			if err != nil {
				b.Error(err)
				return
			}
			p, err := s.Person(ctx, card.UID)
			if err != nil {
				b.Error(err)
				return
			}
			if _, err := s.RoleProfilesOf(ctx, p.UID); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportCPU(b, start)
}

func seededBenchStore(b *testing.B) *registration.SQLite {
	b.Helper()
	s, err := registration.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "reg.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	cards, _ := fixtureCards(b)
	if err := registration.SeedDemo(context.Background(), s, time.Now(), cards); err != nil {
		b.Fatal(err)
	}
	return s
}

// cpuTime returns the CPU time, user and system, the process has used.
func cpuTime(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time used since start per iteration, as
// cpu-ns/op.
func reportCPU(b *testing.B, start time.Duration) {
	b.Helper()
	b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op")
}
