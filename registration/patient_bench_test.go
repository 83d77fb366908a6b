package registration_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// BenchmarkPatientFacts measures the PDP's per-decision read on a seeded
// SQLite file: DemoPatientLocked (one relationship, consent, one seal) and
// DemoPatientDissent (one relationship, consent with a dissent code).
func BenchmarkPatientFacts(b *testing.B) {
	s, err := registration.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "reg.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	if err := registration.SeedDemo(context.Background(), s, time.Now(), nil); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background()) // as an HTTP request's context
	defer cancel()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			f, err := s.PatientFacts(ctx, registration.DemoPatientLocked)
			if err != nil || len(f.Relationships) != 1 || len(f.Seals) != 1 || f.Consent == nil {
				b.Fatalf("PatientFacts = %+v, %v", f, err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.PatientFacts(ctx, registration.DemoPatientDissent); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
