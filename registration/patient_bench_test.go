package registration_test

import (
	"context"
	"fmt"
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

// BenchmarkDecisionFacts measures the PDP's read for a batch of questions
// (DecisionFacts) beside its peer, the same facts read one role profile
// and one patient at a time (RoleProfile and PatientFacts, as the PDP read
// them before), on a seeded SQLite file:
//
//   - 1x1: one question (a role profile and a patient);
//   - 5x8: a batch naming five role profiles and eight patients.
func BenchmarkDecisionFacts(b *testing.B) {
	s := seededBenchStore(b)
	profiles := []string{registration.DemoAlicePracticeProfile, registration.DemoAliceTrustProfile,
		registration.DemoBobTrustProfile, registration.DemoBobEndedProfile, registration.DemoDanTrustProfile}
	patients := []string{registration.DemoPatientRegistered, registration.DemoPatientReferral,
		registration.DemoPatientDissent, registration.DemoPatientSealed, registration.DemoPatientLocked,
		registration.DemoPatientExpired, registration.DemoPatientSelfClaimed, registration.DemoPatientNoRelationship}
	ctx, cancel := context.WithCancel(context.Background()) // as an HTTP request's context
	defer cancel()
	for _, size := range []struct{ p, n int }{{1, 1}, {5, 8}} {
		pids, nhss := profiles[:size.p], patients[:size.n]
		b.Run(fmt.Sprintf("%dx%d/batch", size.p, size.n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				df, err := s.DecisionFacts(ctx, pids, nhss)
				if err != nil || len(df.Profiles) != size.p || len(df.Patients) != size.n {
					b.Fatalf("DecisionFacts = %+v, %v", df, err)
				}
			}
		})
		b.Run(fmt.Sprintf("%dx%d/separate", size.p, size.n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, id := range pids {
					if _, err := s.RoleProfile(ctx, id); err != nil {
						b.Fatal(err)
					}
				}
				for _, nhs := range nhss {
					if _, err := s.PatientFacts(ctx, nhs); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
