package storetest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

func testPatientFacts(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("Unknown", func(t *testing.T) {
		s := open(t)
		got, err := s.PatientFacts(ctx, patientA)
		ok(t, err)
		if got.Relationships == nil || got.Seals == nil {
			t.Fatalf("got %#v: want empty non-nil slices", got)
		}
		same(t, *got, registration.PatientFacts{NHSNumber: patientA, Relationships: []registration.Relationship{},
			Seals: []registration.Seal{}})
	})
	t.Run("MatchesSeparateReads", func(t *testing.T) {
		s := open(t)
		world(t, s)
		// Facts for two patients; neither's may leak into the other's.
		for i, nhs := range []string{patientA, patientB} {
			for j := range 3 {
				r := validRelationship()
				r.ID = "00000000000000" + strconv.Itoa(i) + strconv.Itoa(j)
				r.NHSNumber, r.CreatedAt = nhs, t0.Add(time.Duration(3-j)*time.Hour)
				if j == 1 {
					r.TargetType, r.Target, r.ExpiresAt = registration.TargetWorkgroup, "wg_a", t0.AddDate(0, 0, 1)
				}
				ok(t, s.CreateRelationship(ctx, r))
			}
			ok(t, s.EndRelationship(ctx, "00000000000000"+strconv.Itoa(i)+"2", t0.AddDate(0, 1, 0)))
			c := validConsent()
			c.NHSNumber = nhs
			ok(t, s.SetConsent(ctx, c))
			sl := validSeal()
			sl.NHSNumber = nhs
			ok(t, s.CreateSeal(ctx, sl))
			ok(t, s.CreateSeal(ctx, registration.Seal{NHSNumber: nhs, Section: "clinical", State: registration.Sealed,
				CreatedBy: holderUID, CreatedAt: t0}))
		}
		for _, nhs := range []string{patientA, patientB} {
			got, err := s.PatientFacts(ctx, nhs)
			ok(t, err)
			rels, err := s.RelationshipsFor(ctx, nhs, time.Time{})
			ok(t, err)
			consent, err := s.Consent(ctx, nhs)
			ok(t, err)
			seals, err := s.Seals(ctx, nhs)
			ok(t, err)
			same(t, *got, registration.PatientFacts{NHSNumber: nhs, Relationships: rels, Consent: consent, Seals: seals})
			same(t, len(got.Relationships), 3)
			same(t, got.Consent.DissentCodes, []string{"93C3", "9Ndo"})
			same(t, len(got.Seals), 2)
			for _, r := range got.Relationships {
				if r.NHSNumber != nhs {
					t.Fatalf("facts of %s hold %+v", nhs, r)
				}
			}
		}
	})
	t.Run("ConsentWithoutCodes", func(t *testing.T) {
		s := open(t)
		world(t, s)
		c := validConsent()
		c.SCR, c.DissentCodes = registration.ConsentYes, nil
		ok(t, s.SetConsent(ctx, c))
		got, err := s.PatientFacts(ctx, patientA)
		ok(t, err)
		same(t, *got.Consent, registration.Consent{NHSNumber: patientA, SCR: registration.ConsentYes,
			DissentCodes: []string{}, UpdatedBy: holderUID, UpdatedAt: us(t0), Version: 1})
	})
	t.Run("Helpers", func(t *testing.T) {
		s := open(t)
		world(t, s)
		r := validRelationship()
		ok(t, s.CreateRelationship(ctx, r))
		r.ID, r.CreatedAt, r.ExpiresAt = "0123456789abcde1", t0.Add(-48*time.Hour), t0.Add(-24*time.Hour)
		ok(t, s.CreateRelationship(ctx, r))
		ok(t, s.CreateSeal(ctx, validSeal()))
		f, err := s.PatientFacts(ctx, patientA)
		ok(t, err)
		cur := f.CurrentRelationships(t0)
		if len(cur) != 1 || cur[0].ID != validRelationship().ID {
			t.Fatalf("current at t0: %+v", cur)
		}
		same(t, len(f.CurrentRelationships(t0.Add(-36*time.Hour))), 1)
		same(t, len(f.CurrentRelationships(t0.Add(-72*time.Hour))), 0)
		if sl, found := f.Seal("clinical/mental-health"); !found || sl.OwnerWorkgroup != "wg_a" {
			t.Fatalf("Seal(clinical/mental-health) = %+v, %v", sl, found)
		}
		if _, found := f.Seal("clinical"); found {
			t.Fatal("Seal(clinical) found a seal on another section")
		}
	})
	t.Run("InvalidNHSNumber", func(t *testing.T) {
		s := open(t)
		for _, bad := range badNHSNumbers {
			_, err := s.PatientFacts(ctx, bad.nhs)
			wantKind(t, err, registration.ErrInvalid)
		}
	})
	t.Run("OneSnapshot", func(t *testing.T) { testPatientFactsSnapshot(t, open) })
}

// testPatientFactsSnapshot reads facts while a writer changes them. Each
// SetConsent writes the flag and the codes together (no with both codes
// at odd versions, yes with none at even ones), so a read that mixed two
// snapshots would show a flag with the other version's codes; and each
// reader's counts must never go backwards.
func testPatientFactsSnapshot(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	const writes = 40
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(done)
		for v := range writes {
			c := validConsent()
			c.Version = v
			if v%2 == 1 {
				c.SCR, c.DissentCodes = registration.ConsentYes, nil
			}
			if err := s.SetConsent(ctx, c); err != nil {
				t.Errorf("SetConsent version %d: %v", v, err)
				return
			}
			r := validRelationship()
			r.ID = "00000000000000" + strconv.Itoa(10+v)
			if err := s.CreateRelationship(ctx, r); err != nil {
				t.Errorf("CreateRelationship: %v", err)
				return
			}
		}
	})
	for range 4 {
		wg.Go(func() {
			lastVersion, lastRels := 0, 0
			for {
				select {
				case <-done:
					return
				default:
				}
				f, err := s.PatientFacts(ctx, patientA)
				if err != nil {
					t.Errorf("PatientFacts: %v", err)
					return
				}
				if f.Consent == nil {
					if lastVersion > 0 {
						t.Errorf("consent vanished after version %d", lastVersion)
						return
					}
					continue
				}
				c := f.Consent
				wantNo := c.Version%2 == 1
				if wantNo != (c.SCR == registration.ConsentNo) ||
					wantNo != slices.Equal(c.DissentCodes, []string{"93C3", "9Ndo"}) ||
					!wantNo && len(c.DissentCodes) != 0 {
					t.Errorf("version %d: scr %s with codes %v: not one snapshot", c.Version, c.SCR, c.DissentCodes)
					return
				}
				if c.Version < lastVersion || len(f.Relationships) < lastRels {
					t.Errorf("went backwards: version %d after %d, %d relationships after %d",
						c.Version, lastVersion, len(f.Relationships), lastRels)
					return
				}
				lastVersion, lastRels = c.Version, len(f.Relationships)
			}
		})
	}
	wg.Wait()
	f, err := s.PatientFacts(ctx, patientA)
	ok(t, err)
	same(t, []int{f.Consent.Version, len(f.Relationships)}, []int{writes, writes})
}

// testSeedDemoPatients checks that each demo patient shows what its
// constant says it does.
func testSeedDemoPatients(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ok(t, registration.SeedDemo(ctx, s, now, nil))
	const alice, bob, dan = "555000000011", "555000000012", "555000000014"

	all := []string{registration.DemoPatientRegistered, registration.DemoPatientReferral,
		registration.DemoPatientDissent, registration.DemoPatientSealed, registration.DemoPatientLocked,
		registration.DemoPatientExpired, registration.DemoPatientSelfClaimed, registration.DemoPatientNoRelationship}
	facts := map[string]*registration.PatientFacts{}
	for _, nhs := range all {
		if !registration.ValidNHSNumber(nhs) || nhs[:3] != "999" || facts[nhs] != nil {
			t.Fatalf("%s: not a distinct valid test NHS number", nhs)
		}
		f, err := s.PatientFacts(ctx, nhs)
		ok(t, err)
		facts[nhs] = f
	}
	// only returns the single current relationship of nhs, as target type,
	// target and kind.
	only := func(nhs string) []string {
		t.Helper()
		cur := facts[nhs].CurrentRelationships(now)
		if len(cur) != 1 {
			t.Fatalf("%s: %d current relationships, want 1", nhs, len(cur))
		}
		return []string{string(cur[0].TargetType), cur[0].Target, string(cur[0].Kind)}
	}
	registered := []string{"organisation", registration.DemoPracticeODS, "registered"}
	same(t, only(registration.DemoPatientRegistered), registered)
	same(t, facts[registration.DemoPatientRegistered].Consent.SCR, registration.ConsentYes)
	same(t, only(registration.DemoPatientReferral), []string{"workgroup", "northgate-ward-7", "referral"})
	bobs, err := s.RoleProfile(ctx, registration.DemoBobTrustProfile)
	ok(t, err)
	if !slices.Contains(bobs.Workgroups, "northgate-ward-7") {
		t.Errorf("Bob's profile lacks the referral's workgroup: %v", bobs.Workgroups)
	}

	same(t, only(registration.DemoPatientDissent), registered)
	dissent := facts[registration.DemoPatientDissent].Consent
	same(t, []any{dissent.SCR, dissent.DissentCodes}, []any{registration.ConsentNo, []string{"93C3"}})

	same(t, only(registration.DemoPatientSealed), registered)
	sl, found := facts[registration.DemoPatientSealed].Seal("clinical")
	if !found || sl.State != registration.Sealed {
		t.Errorf("sealed patient: seal %+v, %v", sl, found)
	}
	same(t, only(registration.DemoPatientLocked), registered)
	sl, found = facts[registration.DemoPatientLocked].Seal("clinical/mental-health")
	if !found || sl.State != registration.SealedLocked || sl.OwnerWorkgroup != "riverside-clinicians" {
		t.Errorf("locked patient: seal %+v, %v", sl, found)
	}
	alices, err := s.RoleProfile(ctx, registration.DemoAlicePracticeProfile)
	ok(t, err)
	if !slices.Contains(alices.Workgroups, sl.OwnerWorkgroup) || !alices.Current(now) {
		t.Errorf("Alice's current practice profile lacks the owner workgroup: %+v", alices)
	}

	expired := facts[registration.DemoPatientExpired]
	if len(expired.Relationships) != 1 || len(expired.CurrentRelationships(now)) != 0 ||
		!expired.Relationships[0].Current(now.AddDate(0, 0, -50)) {
		t.Errorf("expired patient: %+v", expired.Relationships)
	}

	same(t, only(registration.DemoPatientSelfClaimed), []string{"user", bob, "self_claimed"})
	if facts[registration.DemoPatientSelfClaimed].Relationships[0].Reason == "" {
		t.Error("self-claimed relationship has no reason")
	}
	queue, err := s.Alerts(ctx, registration.AlertFilter{ODS: registration.DemoTrustODS, Status: registration.AlertOpen})
	ok(t, err)
	if len(queue) != 1 || queue[0].ID != registration.DemoAlertSelfClaimed || queue[0].UID != bob ||
		queue[0].Type != registration.AlertSelfClaimedRelationship || queue[0].NHSNumber != registration.DemoPatientSelfClaimed {
		t.Fatalf("RZZ's open alerts: %+v", queue)
	}
	// Dan, RZZ's privacy officer, closes it.
	ok(t, s.ReviewAlert(ctx, registration.DemoAlertSelfClaimed, dan, registration.AlertClosed, "Confirmed with ward 7."))

	same(t, len(facts[registration.DemoPatientNoRelationship].Relationships), 0)
	for nhs, f := range facts {
		if nhs != registration.DemoPatientDissent && (f.Consent == nil || f.Consent.SCR != registration.ConsentYes) {
			t.Errorf("%s: consent %+v, want yes", nhs, f.Consent)
		}
		for _, r := range f.Relationships {
			if r.CreatedBy != alice && r.Kind != registration.RelationshipSelfClaimed {
				t.Errorf("%s: relationship %s not recorded by Alice", nhs, r.ID)
			}
		}
	}
}
