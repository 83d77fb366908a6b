package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// testDecisionFacts checks the PDP's batch read against the separate
// reads it stands for, for lists of every length from 1 to 9 (crossing the
// statement's size classes), with repeats, unknown keys and either list
// empty, and at MaxDecisionFacts.
func testDecisionFacts(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ok(t, registration.SeedDemo(ctx, s, now, nil))

	profiles := []string{registration.DemoAlicePracticeProfile, registration.DemoBobTrustProfile,
		registration.DemoBobEndedProfile, "555999999999", registration.DemoCarolAgentProfile,
		registration.DemoDanPendingProfile, registration.DemoAliceTrustProfile, registration.DemoLeeUnlockProfile,
		registration.DemoSamSponsorProfile}
	patients := []string{registration.DemoPatientRegistered, registration.DemoPatientDissent,
		registration.DemoPatientSealed, registration.DemoPatientLocked, "9990000018",
		registration.DemoPatientExpired, registration.DemoPatientSelfClaimed, registration.DemoPatientReferral,
		registration.DemoPatientNoRelationship}

	// check compares df with the separate reads of every key.
	check := func(t *testing.T, df *registration.DecisionFacts, pids, nhss []string) {
		t.Helper()
		wantProfiles := map[string]*registration.RoleProfile{}
		for _, id := range pids {
			rp, err := s.RoleProfile(ctx, id)
			if err == nil {
				wantProfiles[id] = rp
				continue
			}
			wantKind(t, err, registration.ErrNotFound)
		}
		same(t, df.Profiles, wantProfiles)
		wantPatients := map[string]*registration.PatientFacts{}
		for _, nhs := range nhss {
			rels, err := s.RelationshipsFor(ctx, nhs, time.Time{})
			ok(t, err)
			consent, err := s.Consent(ctx, nhs)
			if err != nil {
				wantKind(t, err, registration.ErrNotFound)
				consent = nil
			}
			seals, err := s.Seals(ctx, nhs)
			ok(t, err)
			wantPatients[nhs] = &registration.PatientFacts{NHSNumber: nhs, Relationships: rels, Consent: consent, Seals: seals}
		}
		same(t, df.Patients, wantPatients)
	}

	for n := 0; n <= len(profiles); n++ {
		for _, m := range []int{0, 1, 2, 3, 5, 9} {
			if n+m == 0 {
				continue
			}
			pids, nhss := profiles[:n], patients[:m]
			t.Run(fmt.Sprintf("profiles=%d,patients=%d", n, m), func(t *testing.T) {
				df, err := s.DecisionFacts(ctx, pids, nhss)
				ok(t, err)
				check(t, df, pids, nhss)
			})
		}
	}
	t.Run("Empty", func(t *testing.T) {
		df, err := s.DecisionFacts(ctx, nil, nil)
		ok(t, err)
		same(t, df, &registration.DecisionFacts{Profiles: map[string]*registration.RoleProfile{},
			Patients: map[string]*registration.PatientFacts{}})
	})
	t.Run("Repeats", func(t *testing.T) {
		pids := []string{profiles[1], profiles[0], profiles[1], profiles[3], profiles[0]}
		nhss := []string{patients[2], patients[2], patients[0], patients[2]}
		df, err := s.DecisionFacts(ctx, pids, nhss)
		ok(t, err)
		check(t, df, pids, nhss)
	})
	t.Run("Max", func(t *testing.T) {
		pids := make([]string, registration.MaxDecisionFacts)
		nhss := make([]string, registration.MaxDecisionFacts)
		for i := range pids {
			pids[i], nhss[i] = profiles[i%len(profiles)], patients[i%len(patients)]
		}
		df, err := s.DecisionFacts(ctx, pids, nhss)
		ok(t, err)
		check(t, df, pids, nhss)
		_, err = s.DecisionFacts(ctx, append(pids, profiles[0]), nil)
		wantKind(t, err, registration.ErrInvalid)
		_, err = s.DecisionFacts(ctx, nil, append(nhss, patients[0]))
		wantKind(t, err, registration.ErrInvalid)
	})
	t.Run("Invalid", func(t *testing.T) {
		for _, bad := range badNHSNumbers {
			_, err := s.DecisionFacts(ctx, []string{profiles[0]}, []string{patients[0], bad.nhs})
			wantKind(t, err, registration.ErrInvalid)
		}
		for _, bad := range []string{"", "55500000110", "5550000011011", "55500000110x", "555000001101 "} {
			_, err := s.DecisionFacts(ctx, []string{profiles[0], bad}, []string{patients[0]})
			wantKind(t, err, registration.ErrInvalid)
		}
	})
}
