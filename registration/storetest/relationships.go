package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// Test patients: valid test NHS numbers (999 prefix, modulus 11).
const (
	patientA = "9990001235"
	patientB = "9990001243"
)

// badNHSNumbers are refused by every method that takes an NHS number.
var badNHSNumbers = []struct{ name, nhs string }{
	{"Empty", ""},
	{"NineDigits", "999000123"},
	{"ElevenDigits", "99900012350"},
	{"WrongCheckDigit", "9990001234"},
	{"CheckDigitTen", "9990001260"}, // 999000126 has no valid check digit
	{"Letter", "999000123a"},
	{"FullWidth", "９９９０００１２３５"},
	{"TrailingNewline", "9990001235\n"},
	{"Spaces", "999 000 1235"},
}

func validRelationship() registration.Relationship {
	return registration.Relationship{
		ID:         "0123456789abcdef",
		NHSNumber:  patientA,
		TargetType: registration.TargetOrganisation,
		Target:     practiceODS,
		Kind:       registration.RelationshipRegistered,
		CreatedBy:  holderUID,
		CreatedAt:  t0,
	}
}

// storedRel is what a store returns for r: times truncated.
func storedRel(r registration.Relationship) registration.Relationship {
	r.CreatedAt = us(r.CreatedAt)
	if !r.ExpiresAt.IsZero() {
		r.ExpiresAt = us(r.ExpiresAt)
	}
	if !r.EndedAt.IsZero() {
		r.EndedAt = us(r.EndedAt)
	}
	return r
}

func testRelationship(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	// three relationships of patientA, created in order, one of each target type.
	three := func() []registration.Relationship {
		org := validRelationship()
		wg := validRelationship()
		wg.ID = "0123456789abcdef0123456789abcdef" // 128 bits, as NewRecordID makes
		wg.TargetType, wg.Target, wg.Kind = registration.TargetWorkgroup, "ward_7-north", registration.RelationshipReferral
		wg.CreatedAt, wg.ExpiresAt = t0.Add(time.Hour), t0.AddDate(0, 3, 0)
		user := validRelationship()
		user.ID, user.TargetType, user.Target, user.Kind = "0000000000000001", registration.TargetUser, otherUID, registration.RelationshipSelfClaimed
		user.CreatedBy, user.Reason, user.CreatedAt = otherUID, "Patient on my list today — Zoë asked", t0.Add(2*time.Hour)
		return []registration.Relationship{org, wg, user}
	}
	t.Run("CreateAndList", func(t *testing.T) {
		s := open(t)
		world(t, s)
		want := three()
		for _, r := range []registration.Relationship{want[2], want[0], want[1]} {
			ok(t, s.CreateRelationship(ctx, r))
		}
		got, err := s.RelationshipsFor(ctx, patientA, time.Time{})
		ok(t, err)
		same(t, got, []registration.Relationship{storedRel(want[0]), storedRel(want[1]), storedRel(want[2])})
		none, err := s.RelationshipsFor(ctx, patientB, time.Time{})
		ok(t, err)
		if none == nil || len(none) != 0 {
			t.Fatalf("unknown patient: %#v, want an empty non-nil slice", none)
		}
	})
	t.Run("AsOf", func(t *testing.T) {
		s := open(t)
		world(t, s)
		rs := three()
		for _, r := range rs {
			ok(t, s.CreateRelationship(ctx, r))
		}
		ok(t, s.EndRelationship(ctx, rs[0].ID, t0.Add(30*time.Minute)))
		// At t0+1h the first (ended since) and second (created then) exist;
		// the third does not yet. Ended and expired ones are included.
		got, err := s.RelationshipsFor(ctx, patientA, t0.Add(time.Hour))
		ok(t, err)
		ended := storedRel(rs[0])
		ended.EndedAt = us(t0.Add(30 * time.Minute))
		same(t, got, []registration.Relationship{ended, storedRel(rs[1])})
		got, err = s.RelationshipsFor(ctx, patientA, t0.AddDate(1, 0, 0)) // after rs[1] expired
		ok(t, err)
		same(t, len(got), 3)
		got, err = s.RelationshipsFor(ctx, patientA, t0.Add(-time.Microsecond))
		ok(t, err)
		same(t, len(got), 0)
	})
	t.Run("DefaultCreatedAt", func(t *testing.T) {
		s := open(t)
		world(t, s)
		r := validRelationship()
		r.CreatedAt = time.Time{}
		ok(t, s.CreateRelationship(ctx, r))
		got, err := s.RelationshipsFor(ctx, patientA, time.Time{})
		ok(t, err)
		if len(got) != 1 || got[0].CreatedAt.IsZero() {
			t.Fatalf("got %+v: want CreatedAt set from the clock", got)
		}
	})
	t.Run("Exists", func(t *testing.T) {
		s := open(t)
		world(t, s)
		r := validRelationship()
		ok(t, s.CreateRelationship(ctx, r))
		again := r
		again.NHSNumber = patientB
		wantKind(t, s.CreateRelationship(ctx, again), registration.ErrExists)
		got, err := s.RelationshipsFor(ctx, patientB, time.Time{})
		ok(t, err)
		same(t, len(got), 0)
	})
	refs := []struct {
		name   string
		mutate func(r *registration.Relationship)
	}{
		{"UnknownCreator", func(r *registration.Relationship) { r.CreatedBy = "900000000999" }},
		{"UnknownUserTarget", func(r *registration.Relationship) {
			r.TargetType, r.Target = registration.TargetUser, "900000000999"
		}},
		{"UnknownOrganisationTarget", func(r *registration.Relationship) { r.Target = "Y99999" }},
	}
	for _, tc := range refs {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			world(t, s)
			r := validRelationship()
			tc.mutate(&r)
			wantKind(t, s.CreateRelationship(ctx, r), registration.ErrInvalid)
		})
	}
	t.Run("AnyWorkgroupTarget", func(t *testing.T) {
		s := open(t)
		world(t, s)
		r := validRelationship()
		r.TargetType, r.Target = registration.TargetWorkgroup, "a-workgroup-nobody-holds-yet"
		ok(t, s.CreateRelationship(ctx, r))
	})

	cases := []struct {
		name   string
		mutate func(r *registration.Relationship)
	}{
		{"IDEmpty", func(r *registration.Relationship) { r.ID = "" }},
		{"IDShort", func(r *registration.Relationship) { r.ID = "0123456789abcde" }},
		{"IDLong", func(r *registration.Relationship) { r.ID = strings.Repeat("0", 33) }},
		{"IDUpperCase", func(r *registration.Relationship) { r.ID = "0123456789ABCDEF" }},
		{"TargetTypeUnknown", func(r *registration.Relationship) { r.TargetType = "team" }},
		{"TargetTypeEmpty", func(r *registration.Relationship) { r.TargetType = "" }},
		{"UserTargetODS", func(r *registration.Relationship) { r.TargetType = registration.TargetUser }},
		{"UserTargetShort", func(r *registration.Relationship) {
			r.TargetType, r.Target = registration.TargetUser, "90000000000"
		}},
		{"WorkgroupTargetSpace", func(r *registration.Relationship) {
			r.TargetType, r.Target = registration.TargetWorkgroup, "ward 7"
		}},
		{"WorkgroupTargetEmpty", func(r *registration.Relationship) {
			r.TargetType, r.Target = registration.TargetWorkgroup, ""
		}},
		{"WorkgroupTargetTooLong", func(r *registration.Relationship) {
			r.TargetType, r.Target = registration.TargetWorkgroup, strings.Repeat("w", 65)
		}},
		{"OrganisationTargetLowerCase", func(r *registration.Relationship) { r.Target = "a81001" }},
		{"OrganisationTargetUID", func(r *registration.Relationship) { r.Target = holderUID }},
		{"KindUnknown", func(r *registration.Relationship) { r.Kind = "gp" }},
		{"SelfClaimedNoReason", func(r *registration.Relationship) { r.Kind = registration.RelationshipSelfClaimed }},
		{"EmergencyNoReason", func(r *registration.Relationship) { r.Kind = registration.RelationshipEmergency }},
		{"ReasonNewline", func(r *registration.Relationship) {
			r.Kind, r.Reason = registration.RelationshipEmergency, "collapsed\nin clinic"
		}},
		{"ReasonControl", func(r *registration.Relationship) { r.Reason = "collapsed\x1b[2J" }},
		{"ReasonBidi", func(r *registration.Relationship) { r.Reason = "ok \u202egnorw" }},
		{"ReasonBadUTF8", func(r *registration.Relationship) { r.Reason = "x\xff" }},
		{"ReasonLeadingSpace", func(r *registration.Relationship) { r.Reason = " collapsed" }},
		{"ReasonTooLong", func(r *registration.Relationship) {
			r.Kind, r.Reason = registration.RelationshipEmergency, strings.Repeat("é", 501)
		}},
		{"CreatedByBad", func(r *registration.Relationship) { r.CreatedBy = "alice" }},
		{"ExpiresBeforeCreated", func(r *registration.Relationship) { r.ExpiresAt = r.CreatedAt.Add(-time.Hour) }},
		{"ExpiresAtCreated", func(r *registration.Relationship) { r.ExpiresAt = r.CreatedAt }},
		{"ExpiresYear10000", func(r *registration.Relationship) { r.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"AlreadyEnded", func(r *registration.Relationship) { r.EndedAt = r.CreatedAt.Add(time.Hour) }},
		{"CreatedBefore1970", func(r *registration.Relationship) { r.CreatedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }},
	}
	for _, bad := range badNHSNumbers {
		cases = append(cases, struct {
			name   string
			mutate func(r *registration.Relationship)
		}{"NHS" + bad.name, func(r *registration.Relationship) { r.NHSNumber = bad.nhs }})
	}
	for _, tc := range cases {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			world(t, s)
			r := validRelationship()
			tc.mutate(&r)
			wantKind(t, s.CreateRelationship(ctx, r), registration.ErrInvalid)
			got, err := s.RelationshipsFor(ctx, patientA, time.Time{})
			ok(t, err)
			same(t, len(got), 0)
		})
	}
	t.Run("Invalid/ReasonLimit", func(t *testing.T) {
		s := open(t)
		world(t, s)
		r := validRelationship()
		r.Kind, r.Reason = registration.RelationshipEmergency, strings.Repeat("é", 500)
		ok(t, s.CreateRelationship(ctx, r)) // 500 characters, 1000 bytes
	})
	t.Run("InvalidLookup", func(t *testing.T) {
		s := open(t)
		for _, bad := range badNHSNumbers {
			_, err := s.RelationshipsFor(ctx, bad.nhs, time.Time{})
			wantKind(t, err, registration.ErrInvalid)
		}
		_, err := s.RelationshipsFor(ctx, patientA, time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC))
		wantKind(t, err, registration.ErrInvalid)
	})
}

func testEndRelationship(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	setup := func(t *testing.T) (registration.Store, registration.Relationship) {
		s := open(t)
		world(t, s)
		r := validRelationship()
		ok(t, s.CreateRelationship(ctx, r))
		return s, r
	}
	endedAt := func(t *testing.T, s registration.Store) time.Time {
		t.Helper()
		got, err := s.RelationshipsFor(ctx, patientA, time.Time{})
		ok(t, err)
		same(t, len(got), 1)
		return got[0].EndedAt
	}
	t.Run("End", func(t *testing.T) {
		s, r := setup(t)
		at := t0.Add(36*time.Hour + 999*time.Nanosecond)
		ok(t, s.EndRelationship(ctx, r.ID, at))
		same(t, endedAt(t, s), us(at))
		wantKind(t, s.EndRelationship(ctx, r.ID, at.Add(time.Hour)), registration.ErrConflict)
		same(t, endedAt(t, s), us(at))
	})
	t.Run("AtCreation", func(t *testing.T) {
		s, r := setup(t)
		ok(t, s.EndRelationship(ctx, r.ID, r.CreatedAt))
		same(t, endedAt(t, s), us(r.CreatedAt))
	})
	t.Run("DefaultTime", func(t *testing.T) {
		s, r := setup(t)
		ok(t, s.EndRelationship(ctx, r.ID, time.Time{}))
		if endedAt(t, s).IsZero() {
			t.Fatal("EndedAt not set from the clock")
		}
	})
	t.Run("BeforeCreation", func(t *testing.T) {
		s, r := setup(t)
		wantKind(t, s.EndRelationship(ctx, r.ID, r.CreatedAt.Add(-time.Second)), registration.ErrInvalid)
		same(t, endedAt(t, s), time.Time{})
	})
	t.Run("NotFound", func(t *testing.T) {
		s, _ := setup(t)
		wantKind(t, s.EndRelationship(ctx, "ffffffffffffffff", t0), registration.ErrNotFound)
	})
	t.Run("InvalidID", func(t *testing.T) {
		s, _ := setup(t)
		for _, id := range []string{"", "0123456789ABCDEF", "0123456789abcdeg", strings.Repeat("f", 33)} {
			wantKind(t, s.EndRelationship(ctx, id, t0), registration.ErrInvalid)
		}
	})
}

func testRelationshipCurrent(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	// Stored and read back, so the store's microsecond times are what is tested.
	create := func(id string, expires time.Time, end time.Time) registration.Relationship {
		r := validRelationship()
		r.ID, r.ExpiresAt = id, expires
		ok(t, s.CreateRelationship(ctx, r))
		if !end.IsZero() {
			ok(t, s.EndRelationship(ctx, id, end))
		}
		got, err := s.RelationshipsFor(ctx, patientA, time.Time{})
		ok(t, err)
		for _, g := range got {
			if g.ID == id {
				return g
			}
		}
		t.Fatalf("relationship %s not listed", id)
		return registration.Relationship{}
	}
	created := us(t0)
	expiring := create("00000000000000e1", t0.Add(time.Hour), time.Time{})
	open_ := create("00000000000000e2", time.Time{}, time.Time{})
	ended := create("00000000000000e3", time.Time{}, t0.Add(10*time.Minute))
	endedAtStart := create("00000000000000e4", time.Time{}, t0)
	endedBeforeExpiry := create("00000000000000e5", t0.Add(time.Hour), t0.Add(time.Minute))
	expires, end := expiring.ExpiresAt, ended.EndedAt

	cases := []struct {
		name string
		r    registration.Relationship
		at   time.Time
		want bool
	}{
		{"BeforeCreated", expiring, created.Add(-time.Nanosecond), false},
		{"AtCreated", expiring, created, true},
		{"Inside", expiring, created.Add(30 * time.Minute), true},
		{"JustBeforeExpiry", expiring, expires.Add(-time.Nanosecond), true},
		{"AtExpiry", expiring, expires, false},
		{"AfterExpiry", expiring, expires.Add(time.Hour), false},
		{"NoExpiryFarFuture", open_, created.AddDate(100, 0, 0), true},
		{"NoExpiryBeforeCreated", open_, created.Add(-time.Microsecond), false},
		{"JustBeforeEnded", ended, end.Add(-time.Nanosecond), true},
		{"AtEnded", ended, end, false},
		{"AfterEnded", ended, end.AddDate(1, 0, 0), false},
		{"EndedAtCreation", endedAtStart, created, false},
		{"EndedBeforeExpiry", endedBeforeExpiry, created.Add(30 * time.Minute), false},
		{"OtherZone", expiring, created.In(time.FixedZone("X", -5*3600)), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Current(tc.at); got != tc.want {
				t.Fatalf("Current(%v) = %v, want %v (created %v, expires %v, ended %v)",
					tc.at, got, tc.want, tc.r.CreatedAt, tc.r.ExpiresAt, tc.r.EndedAt)
			}
		})
	}
}
