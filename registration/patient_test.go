package registration_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

func TestPatientValidators(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		check func(string) error
		good  []string
		bad   []string
	}{
		{"NHSNumber", registration.ValidateNHSNumber,
			[]string{"9990001235", "9990001243", "9990001030", "9434765919"},
			[]string{"", "9990001234", "999000123", "99900012350", "9990001260", "999000123a", "９９９０００１２３５",
				"999-000-1235", "9990001235\n"}},
		{"ReadCode", registration.ValidateReadCode,
			[]string{"93C3", "9Ndo", "9NdO.", "9N...", "0000"},
			[]string{"", "93C", "93C3X1", "93 3", "93C-", "93C\n", "93Cé", "93C3\x00", "９３Ｃ３"}},
		{"Section", registration.ValidateSection,
			[]string{"scr", "clinical", "clinical/mental-health", "a/b/c", "demographics_v2", "x",
				strings.Repeat("s", 64), strings.Repeat("a/", 31) + "bb"},
			[]string{"", "Clinical", "SCR", "/scr", "scr/", "a//b", "a/./b", "..", "mental health", "scr\n",
				"ｃlinical", "clinical\\mh", strings.Repeat("s", 65), "/"}},
		{"Reason", registration.ValidateReason,
			[]string{"Unconscious in A&E", "Zoë's GP asked — urgent", "x", strings.Repeat("é", 500)},
			[]string{"", " leading", "trailing ", "two\nlines", "tab\there", "esc\x1b[2J", "bidi \u202egnorw",
				"bad \xff", strings.Repeat("é", 501), "replacement \uFFFD"}},
		{"RecordID", registration.ValidateRecordID,
			[]string{"0123456789abcdef", "ffffffffffffffff", "0123456789abcdef0", strings.Repeat("f", 32), registration.NewRecordID()},
			[]string{"", "0123456789ABCDEF", "0123456789abcde", strings.Repeat("f", 33), "0123456789abcdeg", "0123456789abcde\n",
				"01234567-89ab-cdef-0123-456789abcdef"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.good {
				if err := tc.check(s); err != nil {
					t.Errorf("%q: %v", s, err)
				}
			}
			for _, s := range tc.bad {
				err := tc.check(s)
				var ie *registration.InvalidError
				if !errors.Is(err, registration.ErrInvalid) || !errors.As(err, &ie) || ie.Field == "" {
					t.Errorf("%q: %v, want an *InvalidError", s, err)
					continue
				}
				if len(s) > 3 && strings.Contains(err.Error(), s) {
					t.Errorf("%q: message %q repeats the untrusted input", s, err)
				}
			}
		})
	}
}

func TestNewRecordID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := registration.NewRecordID()
		if err := registration.ValidateRecordID(id); err != nil || len(id) != 32 {
			t.Fatalf("NewRecordID() = %q: %v", id, err)
		}
		if seen[id] {
			t.Fatalf("NewRecordID() repeated %q", id)
		}
		seen[id] = true
	}
}

// TestRelationshipCurrentUnstored covers Current on values that never
// went through a store (nanosecond times, a zero CreatedAt).
func TestRelationshipCurrentUnstored(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 1, 0, 0, 0, 1, time.UTC)
	cases := []struct {
		name string
		r    registration.Relationship
		at   time.Time
		want bool
	}{
		{"NanosecondBeforeCreated", registration.Relationship{CreatedAt: created}, created.Add(-1), false},
		{"AtCreated", registration.Relationship{CreatedAt: created}, created, true},
		{"ZeroCreatedAt", registration.Relationship{}, created, true},
		{"ExpiresNanosecondLater", registration.Relationship{CreatedAt: created, ExpiresAt: created.Add(1)}, created, true},
		{"ExpiresNanosecondLaterAt", registration.Relationship{CreatedAt: created, ExpiresAt: created.Add(1)}, created.Add(1), false},
		{"EndedBeforeExpires", registration.Relationship{CreatedAt: created, ExpiresAt: created.Add(time.Hour),
			EndedAt: created.Add(time.Minute)}, created.Add(2 * time.Minute), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.r.Current(tc.at); got != tc.want {
				t.Fatalf("Current = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPatientTypesValidate checks the rules that tie fields together,
// without a store.
func TestPatientTypesValidate(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rel := registration.Relationship{ID: "0123456789abcdef", NHSNumber: "9990001235",
		TargetType: registration.TargetUser, Target: "555000000011", Kind: registration.RelationshipEmergency,
		CreatedBy: "555000000011", Reason: "Collapsed in clinic", CreatedAt: at}
	alert := registration.Alert{ID: "0123456789abcdef", Type: registration.AlertEmergencyAccess,
		NHSNumber: "9990001235", UID: "555000000011", RoleProfileID: "555000001101", ODS: "Y12345",
		Reason: "Collapsed in clinic", CreatedAt: at, Status: registration.AlertOpen}
	closed := alert
	closed.Status, closed.ReviewedBy, closed.ReviewedAt = registration.AlertClosed, "555000000014", at
	selfReviewed := closed
	selfReviewed.ReviewedBy = closed.UID
	unreviewed := closed
	unreviewed.ReviewedBy = ""
	locked := registration.Seal{NHSNumber: "9990001235", Section: "clinical", State: registration.SealedLocked,
		OwnerWorkgroup: "riverside-clinicians", CreatedBy: "555000000011", CreatedAt: at}
	unowned := locked
	unowned.OwnerWorkgroup = ""
	for _, tc := range []struct {
		name  string
		err   error
		field string // "" for valid
	}{
		{"EmergencyRelationship", rel.Validate(), ""},
		{"EmergencyNoReason", func() error { r := rel; r.Reason = ""; return r.Validate() }(), "reason"},
		{"UserTargetNotUID", func() error { r := rel; r.Target = "Y12345"; return r.Validate() }(), "target"},
		{"EndedBeforeCreated", func() error { r := rel; r.EndedAt = at.Add(-1); return r.Validate() }(), "ended_at"},
		{"OpenAlert", alert.Validate(), ""},
		{"ClosedAlert", closed.Validate(), ""},
		{"SelfReviewedAlert", selfReviewed.Validate(), "reviewed_by"},
		{"ClosedWithoutReviewer", unreviewed.Validate(), "reviewed_by"},
		{"LockedSeal", locked.Validate(), ""},
		{"LockedSealWithoutOwner", unowned.Validate(), "owner_workgroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ie *registration.InvalidError
			switch {
			case tc.field == "" && tc.err != nil:
				t.Fatalf("unexpected error: %v", tc.err)
			case tc.field != "" && (!errors.As(tc.err, &ie) || ie.Field != tc.field):
				t.Fatalf("error %v, want an invalid %s", tc.err, tc.field)
			}
		})
	}
}

func ExampleRelationship_Current() {
	created := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	referral := registration.Relationship{
		NHSNumber: "9990001243", TargetType: registration.TargetWorkgroup, Target: "northgate-ward-7",
		Kind: registration.RelationshipReferral, CreatedAt: created, ExpiresAt: created.AddDate(0, 0, 90),
	}
	fmt.Println(referral.Current(created.AddDate(0, 0, 89)))
	fmt.Println(referral.Current(created.AddDate(0, 0, 90))) // expired: the PDP says legitimate_relationship_expired
	// Output:
	// true
	// false
}
