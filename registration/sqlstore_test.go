package registration_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// TestRoleProfileListsAnyValue checks that a role profile's activities
// and workgroups come back exactly as stored even when they hold what the
// store's validation keeps out, such as the separator and escape
// characters of the aggregated lists the reads decode. Such rows can only
// come from outside the store (an operator's SQL), so the test writes
// them directly.
func TestRoleProfileListsAnyValue(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	db := rawDB(t, path)
	checkListsAnyValue(t, s, func(query string, args ...any) error {
		_, err := db.Exec(query, args...)
		return err
	})
}

// checkListsAnyValue is TestRoleProfileListsAnyValue on any SQL store:
// exec runs SQL on the store's database as an operator would.
func checkListsAnyValue(t *testing.T, s registration.Store, exec func(query string, args ...any) error) {
	t.Helper()
	ctx := context.Background()
	at := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	if err := registration.SeedDemo(ctx, s, at, nil); err != nil {
		t.Fatal(err)
	}
	const id = registration.DemoAlicePracticeProfile
	before, err := s.RoleProfile(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	odd := map[string][]string{
		"role_profile_activities": {"B 1 2", "%20%2", "%2520", "B%25 ", "  %  "},
		"role_profile_workgroups": {"a b", "50%", "%20", "%25x", " lead", "trail ", "%", "%%20 %"},
	}
	for table, values := range odd {
		column := "activity"
		if table == "role_profile_workgroups" {
			column = "workgroup"
		}
		for _, v := range values {
			if err := exec(`INSERT INTO `+table+` (role_profile_id, `+column+`) VALUES ($1, $2)`, id, v); err != nil {
				t.Fatalf("insert %q into %s: %v", v, table, err)
			}
		}
	}
	want := *before
	want.Activities = slices.Sorted(slices.Values(append(slices.Clone(before.Activities), odd["role_profile_activities"]...)))
	want.Workgroups = slices.Sorted(slices.Values(append(slices.Clone(before.Workgroups), odd["role_profile_workgroups"]...)))

	got, err := s.RoleProfile(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("RoleProfile:\ngot  %q %q\nwant %q %q", got.Activities, got.Workgroups, want.Activities, want.Workgroups)
	}
	all, err := s.RoleProfilesOf(ctx, want.UID)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(all, func(rp registration.RoleProfile) bool { return rp.ID == id })
	if i < 0 || !reflect.DeepEqual(all[i], want) {
		t.Errorf("RoleProfilesOf: got %+v, want %+v among them", all, want)
	}
}
