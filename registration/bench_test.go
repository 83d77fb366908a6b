package registration_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/testkeys"
)

// BenchmarkLoginReads measures the registration reads of one card login
// on a seeded SQLite file, as authd's login service makes them:
// CardByFingerprint, then Person of the card's owner, then RoleProfilesOf
// (Alice: two active profiles with seven activities and a workgroup
// each).
//
//   - login: the three reads with a context that cannot end.
//   - login-cancellable: with one that can, as an HTTP request's can; the
//     driver and database/sql watch such a context for every statement.
//   - login-parallel: from GOMAXPROCS goroutines sharing the read pool.
//   - CardByFingerprint, Person, RoleProfilesOf: each read alone.
func BenchmarkLoginReads(b *testing.B) {
	s := seededBenchStore(b)
	fp := registration.Fingerprint(testkeys.Cert(b, "card-555000000011-rsa").Raw)
	const uid = "555000000011"
	login := func(ctx context.Context) error {
		card, err := s.CardByFingerprint(ctx, fp)
		if err != nil {
			return err
		}
		p, err := s.Person(ctx, card.UID)
		if err != nil {
			return err
		}
		rps, err := s.RoleProfilesOf(ctx, p.UID)
		if err != nil {
			return err
		}
		if len(rps) != 2 || len(rps[0].Activities) != 7 || len(rps[1].Workgroups) != 1 {
			return fmt.Errorf("RoleProfilesOf = %+v", rps)
		}
		return nil
	}
	ctx := context.Background()

	b.Run("login", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := login(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("login-cancellable", func(b *testing.B) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		b.ReportAllocs()
		for b.Loop() {
			if err := login(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("login-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := login(ctx); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	for _, read := range []struct {
		name string
		run  func() error
	}{
		{"CardByFingerprint", func() error { _, err := s.CardByFingerprint(ctx, fp); return err }},
		{"Person", func() error { _, err := s.Person(ctx, uid); return err }},
		{"RoleProfilesOf", func() error { _, err := s.RoleProfilesOf(ctx, uid); return err }},
	} {
		b.Run(read.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := read.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
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
