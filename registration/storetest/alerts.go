package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

const trustProfileID = "100000000002" // otherUID's profile at trustODS

// alertWorld is world plus two role profiles: validProfile (holderUID at
// practiceODS) and trustProfileID (otherUID at trustODS).
func alertWorld(t *testing.T, s registration.Store) {
	t.Helper()
	world(t, s)
	ctx := context.Background()
	ok(t, s.CreateRoleProfile(ctx, validProfile()))
	rp := validProfile()
	rp.ID, rp.UID, rp.ODS = trustProfileID, otherUID, trustODS
	ok(t, s.CreateRoleProfile(ctx, rp))
}

func validAlert() registration.Alert {
	return registration.Alert{
		ID:            "a1e7000000000001",
		Type:          registration.AlertEmergencyAccess,
		NHSNumber:     patientA,
		UID:           holderUID,
		RoleProfileID: "100000000001",
		ODS:           practiceODS,
		Reason:        "Unconscious in A&E; no GP record available",
		DecisionID:    "9f0c1b2e-7d4a-4c1e-9b8a-0123456789ab",
		CreatedAt:     t0,
		Status:        registration.AlertOpen,
	}
}

func storedAlert(a registration.Alert) registration.Alert {
	a.CreatedAt = us(a.CreatedAt)
	if !a.ReviewedAt.IsZero() {
		a.ReviewedAt = us(a.ReviewedAt)
	}
	return a
}

func testAlert(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	// four alerts: three at the practice (one of each age), one at the trust.
	four := func() []registration.Alert {
		a := validAlert()
		b := validAlert()
		b.ID, b.Type, b.CreatedAt, b.DecisionID = registration.NewRecordID(), registration.AlertSealBroken, t0.Add(time.Minute), ""
		c := validAlert()
		c.ID, c.Type, c.NHSNumber, c.CreatedAt = "a1e7000000000003", registration.AlertDissentOverride, patientB, t0.Add(-time.Minute)
		d := validAlert()
		d.ID, d.Type, d.UID, d.RoleProfileID, d.ODS = "a1e7000000000004", registration.AlertSelfClaimedRelationship,
			otherUID, trustProfileID, trustODS
		return []registration.Alert{a, b, c, d}
	}
	t.Run("CreateAndList", func(t *testing.T) {
		s := open(t)
		alertWorld(t, s)
		as := four()
		for _, a := range as {
			ok(t, s.CreateAlert(ctx, a))
		}
		a, b, c, d := storedAlert(as[0]), storedAlert(as[1]), storedAlert(as[2]), storedAlert(as[3])
		for _, tc := range []struct {
			name   string
			filter registration.AlertFilter
			want   []registration.Alert
		}{
			{"Practice", registration.AlertFilter{ODS: practiceODS}, []registration.Alert{c, a, b}},
			{"PracticeOpen", registration.AlertFilter{ODS: practiceODS, Status: registration.AlertOpen}, []registration.Alert{c, a, b}},
			{"PracticeClosed", registration.AlertFilter{ODS: practiceODS, Status: registration.AlertClosed}, []registration.Alert{}},
			{"Trust", registration.AlertFilter{ODS: trustODS}, []registration.Alert{d}},
			{"Everywhere", registration.AlertFilter{}, []registration.Alert{c, a, d, b}},
			{"Limit", registration.AlertFilter{ODS: practiceODS, Limit: 2}, []registration.Alert{c, a}},
			{"NoSuchOrganisation", registration.AlertFilter{ODS: "Y99999"}, []registration.Alert{}},
		} {
			got, err := s.Alerts(ctx, tc.filter)
			ok(t, err)
			if got == nil {
				t.Fatalf("%s: nil slice", tc.name)
			}
			same(t, got, tc.want)
		}
	})
	t.Run("CreateAlertsAllOrNone", func(t *testing.T) {
		s := open(t)
		alertWorld(t, s)
		as := four()
		ok(t, s.CreateAlerts(ctx, nil))
		// A bad alert last: the three before it are not stored either.
		bad := validAlert()
		bad.ID, bad.RoleProfileID = registration.NewRecordID(), "100000000009"
		wantKind(t, s.CreateAlerts(ctx, append(as[:3:3], bad)), registration.ErrInvalid)
		// A duplicate of an alert of the same call.
		wantKind(t, s.CreateAlerts(ctx, append(as[:2:2], as[0])), registration.ErrExists)
		got, err := s.Alerts(ctx, registration.AlertFilter{})
		ok(t, err)
		same(t, got, []registration.Alert{})
		zero := as[3]
		zero.CreatedAt = time.Time{}
		ok(t, s.CreateAlerts(ctx, []registration.Alert{as[0], as[1], as[2], zero}))
		if !zero.CreatedAt.IsZero() {
			t.Fatal("CreateAlerts changed the caller's alert")
		}
		got, err = s.Alerts(ctx, registration.AlertFilter{ODS: practiceODS})
		ok(t, err)
		same(t, got, []registration.Alert{storedAlert(as[2]), storedAlert(as[0]), storedAlert(as[1])})
		got, err = s.Alerts(ctx, registration.AlertFilter{ODS: trustODS})
		ok(t, err)
		if len(got) != 1 || got[0].ID != as[3].ID || got[0].CreatedAt.IsZero() {
			t.Fatalf("trust alerts %+v", got)
		}
	})
	t.Run("DefaultCreatedAt", func(t *testing.T) {
		s := open(t)
		alertWorld(t, s)
		a := validAlert()
		a.CreatedAt = time.Time{}
		ok(t, s.CreateAlert(ctx, a))
		got, err := s.Alerts(ctx, registration.AlertFilter{})
		ok(t, err)
		if len(got) != 1 || got[0].CreatedAt.IsZero() {
			t.Fatalf("got %+v: want CreatedAt set from the clock", got)
		}
	})
	t.Run("Exists", func(t *testing.T) {
		s := open(t)
		alertWorld(t, s)
		ok(t, s.CreateAlert(ctx, validAlert()))
		again := validAlert()
		again.Reason = "Something else"
		wantKind(t, s.CreateAlert(ctx, again), registration.ErrExists)
		got, err := s.Alerts(ctx, registration.AlertFilter{})
		ok(t, err)
		same(t, got, []registration.Alert{storedAlert(validAlert())})
	})
	refs := []struct {
		name   string
		mutate func(a *registration.Alert)
	}{
		{"UnknownRoleProfile", func(a *registration.Alert) { a.RoleProfileID = "100000000009" }},
		{"SomeoneElsesProfile", func(a *registration.Alert) { a.RoleProfileID = trustProfileID; a.ODS = trustODS }},
		{"NotTheProfilesOrganisation", func(a *registration.Alert) { a.ODS = trustODS }},
		{"UnknownOrganisation", func(a *registration.Alert) { a.ODS = "Y99999" }},
	}
	cases := []struct {
		name   string
		mutate func(a *registration.Alert)
	}{
		{"IDEmpty", func(a *registration.Alert) { a.ID = "" }},
		{"IDUpperCase", func(a *registration.Alert) { a.ID = "A1E7000000000001" }},
		{"TypeEmpty", func(a *registration.Alert) { a.Type = "" }},
		{"TypeUnknown", func(a *registration.Alert) { a.Type = "break_glass" }},
		{"UIDBad", func(a *registration.Alert) { a.UID = "9000000000011" }},
		{"RoleProfileIDBad", func(a *registration.Alert) { a.RoleProfileID = "10000000000a" }},
		{"ODSBad", func(a *registration.Alert) { a.ODS = "a81001" }},
		{"ReasonEmpty", func(a *registration.Alert) { a.Reason = "" }},
		{"ReasonNewline", func(a *registration.Alert) { a.Reason = "line one\nline two" }},
		{"ReasonTooLong", func(a *registration.Alert) { a.Reason = strings.Repeat("x", 501) }},
		{"DecisionIDSpace", func(a *registration.Alert) { a.DecisionID = "decision 1" }},
		{"DecisionIDTooLong", func(a *registration.Alert) { a.DecisionID = strings.Repeat("d", 65) }},
		{"StatusClosed", func(a *registration.Alert) {
			a.Status, a.ReviewedBy, a.ReviewedAt = registration.AlertClosed, approverUID, t0
		}},
		{"StatusEmpty", func(a *registration.Alert) { a.Status = "" }},
		{"ReviewedWhileOpen", func(a *registration.Alert) { a.ReviewedBy = approverUID }},
		{"ReviewNoteWhileOpen", func(a *registration.Alert) { a.ReviewNote = "fine" }},
	}
	for _, bad := range badNHSNumbers {
		cases = append(cases, struct {
			name   string
			mutate func(a *registration.Alert)
		}{"NHS" + bad.name, func(a *registration.Alert) { a.NHSNumber = bad.nhs }})
	}
	for _, tc := range append(refs, cases...) {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			alertWorld(t, s)
			a := validAlert()
			tc.mutate(&a)
			wantKind(t, s.CreateAlert(ctx, a), registration.ErrInvalid)
			got, err := s.Alerts(ctx, registration.AlertFilter{})
			ok(t, err)
			same(t, len(got), 0)
		})
	}
	t.Run("InvalidFilter", func(t *testing.T) {
		s := open(t)
		for _, f := range []registration.AlertFilter{
			{ODS: "a81001"}, {ODS: "Y1"}, {Status: "pending"}, {Status: "OPEN"},
			{Limit: -1}, {Limit: registration.MaxAlertsLimit + 1},
		} {
			_, err := s.Alerts(ctx, f)
			wantKind(t, err, registration.ErrInvalid)
		}
		_, err := s.Alerts(ctx, registration.AlertFilter{Limit: registration.MaxAlertsLimit})
		ok(t, err)
	})
}

func testReviewAlert(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	const reviewer = approverUID
	setup := func(t *testing.T) registration.Store {
		s := open(t)
		alertWorld(t, s)
		ok(t, s.CreateAlert(ctx, validAlert()))
		return s
	}
	get := func(t *testing.T, s registration.Store) registration.Alert {
		t.Helper()
		got, err := s.Alerts(ctx, registration.AlertFilter{ODS: practiceODS})
		ok(t, err)
		same(t, len(got), 1)
		return got[0]
	}
	const (
		open_     = registration.AlertOpen
		closed    = registration.AlertClosed
		escalated = registration.AlertEscalated
	)
	transitions := []struct {
		name string
		path []registration.AlertStatus // reached first, with nil errors
		to   registration.AlertStatus
		want error // nil: allowed
	}{
		{"OpenToClosed", nil, closed, nil},
		{"OpenToEscalated", nil, escalated, nil},
		{"EscalatedToClosed", []registration.AlertStatus{escalated}, closed, nil},
		{"ClosedToClosed", []registration.AlertStatus{closed}, closed, registration.ErrConflict},
		{"ClosedToEscalated", []registration.AlertStatus{closed}, escalated, registration.ErrConflict},
		{"EscalatedToEscalated", []registration.AlertStatus{escalated}, escalated, registration.ErrConflict},
		{"ToOpen", nil, open_, registration.ErrInvalid},
		{"EscalatedToOpen", []registration.AlertStatus{escalated}, open_, registration.ErrInvalid},
		{"ToUnknown", nil, "dismissed", registration.ErrInvalid},
	}
	for _, tc := range transitions {
		t.Run(tc.name, func(t *testing.T) {
			s := setup(t)
			for _, st := range tc.path {
				ok(t, s.ReviewAlert(ctx, validAlert().ID, otherUID, st, "first look"))
			}
			before := get(t, s)
			err := s.ReviewAlert(ctx, validAlert().ID, reviewer, tc.to, "Spoke to the clinician; justified.")
			if tc.want != nil {
				wantKind(t, err, tc.want)
				same(t, get(t, s), before)
				return
			}
			ok(t, err)
			got := get(t, s)
			if got.Status != tc.to || got.ReviewedBy != reviewer || got.ReviewNote != "Spoke to the clinician; justified." ||
				got.ReviewedAt.IsZero() {
				t.Fatalf("after review: %+v", got)
			}
			want := storedAlert(validAlert())
			want.Status, want.ReviewedBy, want.ReviewNote, want.ReviewedAt = got.Status, got.ReviewedBy, got.ReviewNote, got.ReviewedAt
			same(t, got, want) // nothing else changed
		})
	}
	t.Run("NoNote", func(t *testing.T) {
		s := setup(t)
		ok(t, s.ReviewAlert(ctx, validAlert().ID, reviewer, closed, ""))
		same(t, get(t, s).ReviewNote, "")
	})
	t.Run("StatusFilterFollows", func(t *testing.T) {
		s := setup(t)
		ok(t, s.ReviewAlert(ctx, validAlert().ID, reviewer, escalated, "to the Caldicott Guardian"))
		for st, n := range map[registration.AlertStatus]int{open_: 0, escalated: 1, closed: 0} {
			got, err := s.Alerts(ctx, registration.AlertFilter{ODS: practiceODS, Status: st})
			ok(t, err)
			if len(got) != n {
				t.Fatalf("status %s: %d alerts, want %d", st, len(got), n)
			}
		}
	})
	bad := []struct {
		name     string
		id, by   string
		note     string
		wantKind error
	}{
		{"NotFound", "ffffffffffffffff", reviewer, "", registration.ErrNotFound},
		{"BadID", "not-an-id", reviewer, "", registration.ErrInvalid},
		{"ReviewerBad", validAlert().ID, "reviewer", "", registration.ErrInvalid},
		{"ReviewerUnknown", validAlert().ID, "900000000999", "", registration.ErrInvalid},
		{"OwnAlert", validAlert().ID, holderUID, "", registration.ErrInvalid},
		{"NoteNewline", validAlert().ID, reviewer, "a\nb", registration.ErrInvalid},
		{"NoteTooLong", validAlert().ID, reviewer, strings.Repeat("n", registration.MaxReviewNoteLen+1), registration.ErrInvalid},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			s := setup(t)
			wantKind(t, s.ReviewAlert(ctx, tc.id, tc.by, closed, tc.note), tc.wantKind)
			same(t, get(t, s), storedAlert(validAlert()))
		})
	}
	t.Run("Race", func(t *testing.T) {
		s := setup(t)
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			wg.Go(func() { errs <- s.ReviewAlert(ctx, validAlert().ID, reviewer, closed, "") })
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, registration.ErrConflict) {
				t.Errorf("loser: %v, want ErrConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d reviews of one open alert succeeded, want 1", won)
		}
	})
}
