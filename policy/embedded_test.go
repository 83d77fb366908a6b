package policy

import (
	"encoding/json"
	"fmt"
	"testing"

	policies "github.com/carespine/spineauth/rego"
)

// readmeInput is the example input of rego/README.md.
const readmeInput = `{
  "now": "2026-11-22T10:00:00Z",
  "action": "view",
  "resource": {"type": "patient_record", "nhs_number": "9990001235", "section": "scr", "seal": {"state": "none"}},
  "purpose": "direct_care",
  "reason": "",
  "subject": {"uid": "555000000011", "role_profile_id": "555000001101", "org": "Y12345",
    "job_role": "S8000:G8000:R8000", "activities": ["B0264", "B0370", "B0820"], "workgroups": ["riverside-gp-team"]},
  "relationships": [{"kind": "registered", "target_type": "organisation", "target": "Y12345", "expires_at": null}],
  "consent": {"scr": "yes", "dissent_codes": []}
}`

func readme(t testing.TB, edit func(in map[string]any)) map[string]any {
	t.Helper()
	var in map[string]any
	if err := json.Unmarshal([]byte(readmeInput), &in); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(in)
	}
	return in
}

// TestEmbeddedPolicy loads the shipped policy set (rego.FS) the way authd
// does, with its Rego tests, and checks the contract's example decisions.
func TestEmbeddedPolicy(t *testing.T) {
	e := newEngine(t, Config{
		Source:   FSSource(policies.FS),
		Queries:  map[string]string{"access": "data.spine.access.decision"},
		RunTests: true,
	})
	if st := e.Status(); st.TestsPassed == 0 {
		t.Errorf("no Rego tests passed: %+v", st)
	}
	for _, tc := range []struct {
		name string
		edit func(map[string]any)
		want string
	}{
		{"readme example", nil, "map[allow:true obligations:[] reason_codes:[]]"},
		{"no relationship", func(in map[string]any) { in["relationships"] = []any{} },
			"map[allow:false obligations:[] reason_codes:[no_legitimate_relationship]]"},
		{"missing activity", func(in map[string]any) { in["subject"].(map[string]any)["activities"] = []any{"B0264"} },
			"map[allow:false obligations:[] reason_codes:[activity_not_permitted]]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Eval(t.Context(), "access", readme(t, tc.edit))
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Value); got != tc.want {
				t.Errorf("decision = %s\nwant       %s", got, tc.want)
			}
		})
	}
}

func BenchmarkEvalEmbedded(b *testing.B) {
	e, err := New(b.Context(), Config{
		Source:  FSSource(policies.FS),
		Queries: map[string]string{"access": "data.spine.access.decision"},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	in := readme(b, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.Eval(b.Context(), "access", in); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
