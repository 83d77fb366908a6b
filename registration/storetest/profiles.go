package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

func validProfile() registration.RoleProfile {
	return registration.RoleProfile{
		ID:         "100000000001",
		UID:        holderUID,
		ODS:        practiceODS,
		JobRole:    "S8000:G8000:R8000",
		Activities: []string{"B0825", "B0264", "B0015"},
		Workgroups: []string{"wg_a", "wg-b"},
		Start:      t0,
		End:        t0.AddDate(1, 0, 0),
		Status:     registration.RoleProfileActive,
		ApprovedBy: approverUID,
		CreatedAt:  t0.Add(-time.Hour),
	}
}

// stored is what a store returns for rp: lists sorted, times truncated.
func stored(rp registration.RoleProfile) registration.RoleProfile {
	rp.Activities = sorted(rp.Activities)
	rp.Workgroups = sorted(rp.Workgroups)
	rp.Start, rp.CreatedAt = us(rp.Start), us(rp.CreatedAt)
	if !rp.End.IsZero() {
		rp.End = us(rp.End)
	}
	return rp
}

func sorted(list []string) []string {
	out := append([]string{}, list...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func testRoleProfile(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		world(t, s)
		rp := validProfile()
		ok(t, s.CreateRoleProfile(ctx, rp))
		got, err := s.RoleProfile(ctx, rp.ID)
		ok(t, err)
		same(t, *got, stored(rp))
		same(t, got.Activities, []string{"B0015", "B0264", "B0825"})
		same(t, got.Workgroups, []string{"wg-b", "wg_a"})
	})
	t.Run("OpenEndedPendingNoLists", func(t *testing.T) {
		s := open(t)
		world(t, s)
		rp := validProfile()
		rp.End, rp.Status, rp.ApprovedBy = time.Time{}, registration.RoleProfilePending, ""
		rp.Activities, rp.Workgroups = nil, nil
		ok(t, s.CreateRoleProfile(ctx, rp))
		got, err := s.RoleProfile(ctx, rp.ID)
		ok(t, err)
		if !got.End.IsZero() || got.ApprovedBy != "" || got.Activities == nil || got.Workgroups == nil ||
			len(got.Activities) != 0 || len(got.Workgroups) != 0 {
			t.Fatalf("got %+v: want zero End, no approver, empty non-nil lists", got)
		}
	})
	t.Run("DefaultCreatedAt", func(t *testing.T) {
		s := open(t)
		world(t, s)
		rp := validProfile()
		rp.CreatedAt = time.Time{}
		ok(t, s.CreateRoleProfile(ctx, rp))
		got, err := s.RoleProfile(ctx, rp.ID)
		ok(t, err)
		if got.CreatedAt.IsZero() {
			t.Fatal("CreatedAt not set from the clock")
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.RoleProfile(ctx, "100000000009")
		wantKind(t, err, registration.ErrNotFound)
		_, err = s.RoleProfile(ctx, "10000000000x")
		wantKind(t, err, registration.ErrInvalid)
	})
	t.Run("Exists", func(t *testing.T) {
		s := open(t)
		world(t, s)
		rp := validProfile()
		ok(t, s.CreateRoleProfile(ctx, rp))
		again := validProfile()
		again.UID, again.Activities = otherUID, []string{"B9999"}
		wantKind(t, s.CreateRoleProfile(ctx, again), registration.ErrExists)
		got, err := s.RoleProfile(ctx, rp.ID)
		ok(t, err)
		same(t, *got, stored(rp))
	})
	refs := []struct {
		name   string
		mutate func(rp *registration.RoleProfile)
	}{
		{"UnknownOrganisation", func(rp *registration.RoleProfile) { rp.ODS = "Y99999" }},
		{"UnknownPerson", func(rp *registration.RoleProfile) { rp.UID = "900000000999" }},
		{"UnknownApprover", func(rp *registration.RoleProfile) { rp.ApprovedBy = "900000000999" }},
	}
	for _, tc := range refs {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			world(t, s)
			rp := validProfile()
			tc.mutate(&rp)
			wantKind(t, s.CreateRoleProfile(ctx, rp), registration.ErrInvalid)
			_, err := s.RoleProfile(ctx, rp.ID)
			wantKind(t, err, registration.ErrNotFound)
		})
	}
	cases := []struct {
		name   string
		mutate func(rp *registration.RoleProfile)
	}{
		{"ID", func(rp *registration.RoleProfile) { rp.ID = "1000000001" }},
		{"UID", func(rp *registration.RoleProfile) { rp.UID = "90000000000A" }},
		{"ODSLowerCase", func(rp *registration.RoleProfile) { rp.ODS = "a81001" }},
		{"ODSTooLong", func(rp *registration.RoleProfile) { rp.ODS = "A810011" }},
		{"JobRoleLetter", func(rp *registration.RoleProfile) { rp.JobRole = "S8000:G8000:X8000" }},
		{"JobRoleShort", func(rp *registration.RoleProfile) { rp.JobRole = "S800:G8000:R8000" }},
		{"JobRoleSeparator", func(rp *registration.RoleProfile) { rp.JobRole = "S8000-G8000:R8000" }},
		{"JobRoleEmpty", func(rp *registration.RoleProfile) { rp.JobRole = "" }},
		{"ActivityLowerCase", func(rp *registration.RoleProfile) { rp.Activities = []string{"b0264"} }},
		{"ActivityShort", func(rp *registration.RoleProfile) { rp.Activities = []string{"B264"} }},
		{"ActivityDuplicate", func(rp *registration.RoleProfile) { rp.Activities = []string{"B0264", "B0264"} }},
		{"ActivityTooMany", func(rp *registration.RoleProfile) { rp.Activities = manyActivities(registration.MaxActivities + 1) }},
		{"WorkgroupSpace", func(rp *registration.RoleProfile) { rp.Workgroups = []string{"wg a"} }},
		{"WorkgroupTooLong", func(rp *registration.RoleProfile) { rp.Workgroups = []string{strings.Repeat("w", 65)} }},
		{"WorkgroupDuplicate", func(rp *registration.RoleProfile) { rp.Workgroups = []string{"wg", "wg"} }},
		{"StartZero", func(rp *registration.RoleProfile) { rp.Start = time.Time{} }},
		{"EndEqualsStart", func(rp *registration.RoleProfile) { rp.End = rp.Start }},
		{"EndBeforeStart", func(rp *registration.RoleProfile) { rp.End = rp.Start.Add(-time.Hour) }},
		{"StatusEmpty", func(rp *registration.RoleProfile) { rp.Status = "" }},
		{"StatusUnknown", func(rp *registration.RoleProfile) { rp.Status = "approved" }},
		{"PendingWithApprover", func(rp *registration.RoleProfile) { rp.Status = registration.RoleProfilePending }},
		{"ActiveWithoutApprover", func(rp *registration.RoleProfile) { rp.ApprovedBy = "" }},
		{"SelfApproved", func(rp *registration.RoleProfile) { rp.ApprovedBy = rp.UID }},
		{"ApproverMalformed", func(rp *registration.RoleProfile) { rp.ApprovedBy = "nobody" }},
	}
	for _, tc := range cases {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			world(t, s)
			rp := validProfile()
			tc.mutate(&rp)
			wantKind(t, s.CreateRoleProfile(ctx, rp), registration.ErrInvalid)
			if registration.ValidateRoleProfileID(rp.ID) == nil {
				_, err := s.RoleProfile(ctx, rp.ID)
				wantKind(t, err, registration.ErrNotFound)
			}
		})
	}
	t.Run("ActivityLimit", func(t *testing.T) {
		s := open(t)
		world(t, s)
		rp := validProfile()
		rp.Activities = manyActivities(registration.MaxActivities)
		ok(t, s.CreateRoleProfile(ctx, rp))
		got, err := s.RoleProfile(ctx, rp.ID)
		ok(t, err)
		same(t, len(got.Activities), registration.MaxActivities)
	})
}

func manyActivities(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "B" + string([]byte{byte('0' + i/1000%10), byte('0' + i/100%10), byte('0' + i/10%10), byte('0' + i%10)})
	}
	return out
}

func testRoleProfilesOf(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	// Created out of order: the store orders by Start, then ID.
	starts := map[string]time.Time{
		"100000000004": t0.Add(2 * time.Hour),
		"100000000003": t0,
		"100000000002": t0.Add(2 * time.Hour),
		"100000000001": t0.Add(-time.Hour),
	}
	for _, id := range []string{"100000000004", "100000000003", "100000000002", "100000000001"} {
		rp := validProfile()
		rp.ID, rp.Start, rp.End = id, starts[id], time.Time{}
		ok(t, s.CreateRoleProfile(ctx, rp))
	}
	other := validProfile()
	other.ID, other.UID, other.ApprovedBy = "100000000005", otherUID, holderUID
	ok(t, s.CreateRoleProfile(ctx, other))

	t.Run("Order", func(t *testing.T) {
		got, err := s.RoleProfilesOf(ctx, holderUID)
		ok(t, err)
		var ids []string
		for _, rp := range got {
			ids = append(ids, rp.ID)
			if rp.UID != holderUID || len(rp.Activities) != 3 || len(rp.Workgroups) != 2 {
				t.Errorf("profile %s: %+v", rp.ID, rp)
			}
		}
		same(t, ids, []string{"100000000001", "100000000003", "100000000002", "100000000004"})
	})
	t.Run("Complete", func(t *testing.T) {
		got, err := s.RoleProfilesOf(ctx, otherUID)
		ok(t, err)
		same(t, got, []registration.RoleProfile{stored(other)})
	})
	t.Run("NoProfiles", func(t *testing.T) {
		got, err := s.RoleProfilesOf(ctx, approverUID)
		ok(t, err)
		if got == nil || len(got) != 0 {
			t.Fatalf("got %#v, want an empty non-nil slice", got)
		}
	})
	t.Run("UnknownPerson", func(t *testing.T) {
		_, err := s.RoleProfilesOf(ctx, "900000000999")
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("InvalidUID", func(t *testing.T) {
		_, err := s.RoleProfilesOf(ctx, "9000000009")
		wantKind(t, err, registration.ErrInvalid)
	})
}

func testSetRoleProfileStatus(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	const (
		pending = registration.RoleProfilePending
		active  = registration.RoleProfileActive
		ended   = registration.RoleProfileEnded
	)
	setup := func(t *testing.T, st registration.RoleProfileStatus) (registration.Store, registration.RoleProfile) {
		s := open(t)
		world(t, s)
		rp := validProfile()
		rp.Status = st
		if st == pending {
			rp.ApprovedBy = ""
		}
		ok(t, s.CreateRoleProfile(ctx, rp))
		return s, rp
	}
	status := func(t *testing.T, s registration.Store, id string) (registration.RoleProfileStatus, string) {
		t.Helper()
		got, err := s.RoleProfile(ctx, id)
		ok(t, err)
		return got.Status, got.ApprovedBy
	}

	t.Run("Approve", func(t *testing.T) {
		s, rp := setup(t, pending)
		ok(t, s.SetRoleProfileStatus(ctx, rp.ID, active, approverUID))
		st, by := status(t, s, rp.ID)
		same(t, []string{string(st), by}, []string{"active", approverUID})
	})
	t.Run("EndKeepsApprover", func(t *testing.T) {
		s, rp := setup(t, active)
		ok(t, s.SetRoleProfileStatus(ctx, rp.ID, ended, ""))
		st, by := status(t, s, rp.ID)
		same(t, []string{string(st), by}, []string{"ended", approverUID})
	})
	t.Run("Reject", func(t *testing.T) {
		s, rp := setup(t, pending)
		ok(t, s.SetRoleProfileStatus(ctx, rp.ID, ended, ""))
		st, by := status(t, s, rp.ID)
		same(t, []string{string(st), by}, []string{"ended", ""})
	})
	conflicts := []struct {
		name     string
		from, to registration.RoleProfileStatus
		by       string
	}{
		{"EndedToActive", ended, active, otherUID},
		{"EndedToEnded", ended, ended, ""},
		{"ActiveToActive", active, active, otherUID},
	}
	for _, tc := range conflicts {
		t.Run("Conflict/"+tc.name, func(t *testing.T) {
			s, rp := setup(t, tc.from)
			wantKind(t, s.SetRoleProfileStatus(ctx, rp.ID, tc.to, tc.by), registration.ErrConflict)
			st, by := status(t, s, rp.ID)
			same(t, []string{string(st), by}, []string{string(tc.from), rp.ApprovedBy})
		})
	}
	invalids := []struct {
		name string
		to   registration.RoleProfileStatus
		by   string
	}{
		{"ToPending", pending, ""},
		{"UnknownStatus", "approved", approverUID},
		{"ApproveWithoutApprover", active, ""},
		{"EndWithApprover", ended, approverUID},
		{"SelfApproval", active, holderUID},
		{"UnknownApprover", active, "900000000999"},
		{"MalformedApprover", active, "someone"},
	}
	for _, tc := range invalids {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s, rp := setup(t, pending)
			wantKind(t, s.SetRoleProfileStatus(ctx, rp.ID, tc.to, tc.by), registration.ErrInvalid)
			st, by := status(t, s, rp.ID)
			same(t, []string{string(st), by}, []string{"pending", ""})
		})
	}
	t.Run("NotFound", func(t *testing.T) {
		s, _ := setup(t, pending)
		wantKind(t, s.SetRoleProfileStatus(ctx, "100000000009", active, approverUID), registration.ErrNotFound)
		wantKind(t, s.SetRoleProfileStatus(ctx, "1", active, approverUID), registration.ErrInvalid)
	})
}

func testCurrent(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	create := func(id string, st registration.RoleProfileStatus, end time.Time) registration.RoleProfile {
		rp := validProfile()
		rp.ID, rp.Status, rp.End = id, st, end
		if st == registration.RoleProfilePending {
			rp.ApprovedBy = ""
		}
		ok(t, s.CreateRoleProfile(ctx, rp))
		got, err := s.RoleProfile(ctx, id)
		ok(t, err)
		return *got
	}
	bounded := create("100000000001", registration.RoleProfileActive, t0.Add(time.Hour))
	open_ := create("100000000002", registration.RoleProfileActive, time.Time{})
	pending := create("100000000003", registration.RoleProfilePending, time.Time{})
	ended := create("100000000004", registration.RoleProfileActive, time.Time{})
	ok(t, s.SetRoleProfileStatus(ctx, ended.ID, registration.RoleProfileEnded, ""))
	got, err := s.RoleProfile(ctx, ended.ID)
	ok(t, err)
	ended = *got

	start, end := bounded.Start, bounded.End
	cases := []struct {
		name string
		rp   registration.RoleProfile
		at   time.Time
		want bool
	}{
		{"BeforeStart", bounded, start.Add(-time.Nanosecond), false},
		{"AtStart", bounded, start, true},
		{"Inside", bounded, start.Add(30 * time.Minute), true},
		{"JustBeforeEnd", bounded, end.Add(-time.Nanosecond), true},
		{"AtEnd", bounded, end, false},
		{"AfterEnd", bounded, end.Add(time.Hour), false},
		{"OpenEndedFarFuture", open_, start.AddDate(100, 0, 0), true},
		{"OpenEndedBeforeStart", open_, start.Add(-time.Microsecond), false},
		{"Pending", pending, start.Add(time.Minute), false},
		{"Ended", ended, start.Add(time.Minute), false},
		{"OtherZone", bounded, start.In(time.FixedZone("X", 5*3600)), true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rp.Current(tc.at); got != tc.want {
				t.Fatalf("Current(%v) = %v, want %v (start %v, end %v, status %s)",
					tc.at, got, tc.want, tc.rp.Start, tc.rp.End, tc.rp.Status)
			}
		})
	}
}
