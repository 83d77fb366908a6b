package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// benchCases are inputs for testdata/bench and the decisions they get.
var benchCases = []struct {
	name, input, want string
}{
	{"allowed", `{"now": "2026-11-22T10:00:00Z", "action": "view",
		"resource": {"type": "patient_record", "nhs_number": "9990001235", "section": "scr", "seal": {"state": "none"}},
		"purpose": "direct_care", "reason": "",
		"subject": {"uid": "555000000011", "role_profile_id": "555000001101", "org": "Y12345",
			"job_role": "S8000:G8000:R8000", "activities": ["B0264", "B0370", "B0820"], "workgroups": ["riverside-gp-team"]},
		"relationships": [{"kind": "registered", "target_type": "organisation", "target": "Y12345", "expires_at": null}],
		"consent": {"scr": "yes", "dissent_codes": []}}`,
		`map[allow:true obligations:[] reason_codes:[]]`},
	{"no relationship, dissent", `{"action": "view",
		"resource": {"section": "scr", "seal": {"state": "none"}}, "purpose": "direct_care",
		"subject": {"uid": "555000000011", "org": "Y12345", "activities": ["B0370"], "workgroups": []},
		"relationships": [{"kind": "registered", "target_type": "organisation", "target": "Y99999", "expired": true}],
		"consent": {"scr": "no", "dissent_codes": ["93C3"]}}`,
		`map[allow:false obligations:[] reason_codes:[no_legitimate_relationship patient_dissent]]`},
	{"emergency", `{"action": "view",
		"resource": {"section": "clinical", "seal": {"state": "none"}}, "purpose": "emergency", "reason": "unconscious in A&E",
		"subject": {"uid": "555000000011", "org": "Y12345", "activities": ["B0264", "B0168"], "workgroups": []},
		"relationships": [], "consent": {"scr": "unknown", "dissent_codes": []}}`,
		`map[allow:true obligations:[map[alert_type:emergency_access type:alert]] reason_codes:[]]`},
	{"sealed locked", `{"action": "view",
		"resource": {"section": "clinical", "seal": {"state": "sealed_locked", "owner_workgroup": "sexual-health"}},
		"purpose": "direct_care",
		"subject": {"uid": "555000000011", "org": "Y12345", "activities": ["B0264"], "workgroups": ["riverside-gp-team"]},
		"relationships": [{"kind": "self_claimed", "target_type": "user", "target": "555000000011"}],
		"consent": {"scr": "yes", "dissent_codes": []}}`,
		`map[allow:false obligations:[map[alert_type:self_claimed_relationship type:alert]] reason_codes:[not_found]]`},
}

func benchEngine(tb testing.TB) (*Engine, []any) {
	tb.Helper()
	e, err := New(tb.Context(), Config{
		Source:  FSSource(os.DirFS("testdata/bench")),
		Queries: map[string]string{"access": "data.bench.access.decision"},
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(e.Close)
	inputs := make([]any, len(benchCases))
	for i, c := range benchCases {
		if err := json.Unmarshal([]byte(c.input), &inputs[i]); err != nil {
			tb.Fatalf("%s: %v", c.name, err)
		}
	}
	return e, inputs
}

func TestBenchPolicy(t *testing.T) {
	e, inputs := benchEngine(t)
	for i, c := range benchCases {
		t.Run(c.name, func(t *testing.T) {
			res, err := e.Eval(t.Context(), "access", inputs[i])
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(res.Value); got != c.want {
				t.Errorf("decision = %s\nwant       %s", got, c.want)
			}
		})
	}
}

func BenchmarkEval(b *testing.B) {
	e, inputs := benchEngine(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := e.Eval(b.Context(), "access", inputs[i%len(inputs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

func BenchmarkRecordSync(b *testing.B) {
	for _, par := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", par), func(b *testing.B) {
			l, err := OpenSQLiteLog(b.Context(), filepath.Join(b.TempDir(), "d.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			d := sampleDecision(1)
			b.ReportAllocs()
			b.ResetTimer()
			if par == 1 {
				for b.Loop() {
					d.ID = NewDecisionID(time.Now())
					if err := l.Record(b.Context(), d, true); err != nil {
						b.Fatal(err)
					}
				}
				return
			}
			b.SetParallelism(par) // × GOMAXPROCS callers
			b.RunParallel(func(pb *testing.PB) {
				d := sampleDecision(1)
				for pb.Next() {
					d.ID = NewDecisionID(time.Now())
					if err := l.Record(b.Context(), d, true); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRecordAsync measures sustained throughput: the time includes
// Close, which waits for every record to be committed.
func BenchmarkRecordAsync(b *testing.B) {
	l, err := OpenSQLiteLog(b.Context(), filepath.Join(b.TempDir(), "d.db"), WithEnqueueTimeout(10*time.Second))
	if err != nil {
		b.Fatal(err)
	}
	d := sampleDecision(1)
	b.ReportAllocs()
	for b.Loop() {
		d.ID = NewDecisionID(time.Now())
		if err := l.Record(b.Context(), d, false); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
}
