package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/pdp"
	"github.com/carespine/spineauth/cardagent"
	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
	policies "github.com/carespine/spineauth/rego"
)

// TestPDPDeniesWhenUnsure: an unknown, ended or expired session, no role,
// a malformed NHS number or body, an unauthenticated caller, and broken
// dependencies are all denials (never an allow) with their reason code.
func TestPDPDeniesWhenUnsure(t *testing.T) {
	p := newPDPRig(t, "")
	alice := p.session(t, "card-555000000011-rsa", registration.DemoAlicePracticeProfile)
	patient := registration.DemoPatientRegistered
	ok := question(alice, patient, "scr", "direct_care", "")
	// A caller that puts a secret among its properties does not get it
	// into the decision log.
	withSecret := question(alice, patient, "scr", "direct_care", "")
	withSecret["context"].(map[string]any)["Authorization"] = "Bearer caller-secret-8c1f"
	st, control := p.evaluate(t, withSecret)
	if st != 200 || !control.Decision {
		t.Fatalf("the control question is not allowed: %d %+v", st, control)
	}
	// The decision reaches the durable log (plain decisions are written
	// by the log's group commit shortly after the answer), with its
	// inputs, without the token.
	var logged policy.Decision
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if logged, err = p.srv.DecisionLog().Get(context.Background(), control.Context.ID); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("decision %s not in the log: %v", control.Context.ID, err)
	}
	raw, _ := json.Marshal(logged)
	if strings.Contains(string(raw), alice) || strings.Contains(string(raw), "caller-secret-8c1f") ||
		!strings.Contains(string(raw), `"Authorization":"REDACTED"`) || !strings.Contains(string(raw), `"id":"session:`) ||
		!strings.Contains(string(raw), `"policy_input":`) || !logged.Allow || logged.Caller != "scr-service" ||
		!strings.Contains(string(raw), registration.DemoPatientRegistered) {
		t.Fatalf("logged decision: %s", raw)
	}

	// An emergency decision is in the log before its answer arrives.
	_, emergency := p.evaluate(t, question(alice, registration.DemoPatientNoRelationship, "scr", "emergency", "collapsed"))
	if !emergency.Decision {
		t.Fatalf("emergency: %+v", emergency)
	}
	if _, err := p.srv.DecisionLog().Get(context.Background(), emergency.Context.ID); err != nil {
		t.Fatalf("emergency decision not yet durable when answered: %v", err)
	}

	ended := p.session(t, "card-555000000011-ec", registration.DemoAlicePracticeProfile)
	c := &cardagent.Client{BaseURL: p.url, HTTP: p.client}
	if err := c.Logout(context.Background(), ended); err != nil {
		t.Fatal(err)
	}
	noRole := p.session(t, "card-555000000011-rsa", "")

	tests := []struct {
		name string
		body any
		code string
	}{
		{"unknown session", question(strings.Repeat("A", 43), patient, "scr", "direct_care", ""), pdp.ReasonSessionUnknown},
		{"malformed session token", question("not-a-token", patient, "scr", "direct_care", ""), pdp.ReasonSessionUnknown},
		{"ended session", question(ended, patient, "scr", "direct_care", ""), pdp.ReasonSessionUnknown},
		{"no role selected", question(noRole, patient, "scr", "direct_care", ""), pdp.ReasonNoRole},
		{"NHS number with a bad check digit", question(alice, "9990001234", "scr", "direct_care", ""), pdp.ReasonNHSNumberInvalid},
		{"NHS number not digits", question(alice, "999000123X", "scr", "direct_care", ""), pdp.ReasonNHSNumberInvalid},
		{"missing subject", map[string]any{"action": map[string]any{"name": "view"}}, pdp.ReasonMalformed},
		{"wrong subject type", map[string]any{"subject": map[string]any{"type": "user", "id": "555000000011"},
			"action": map[string]any{"name": "view"}, "resource": map[string]any{"type": "patient_record", "id": patient}}, pdp.ReasonMalformed},
		{"purpose not a string", map[string]any{"subject": map[string]any{"type": "session", "id": alice},
			"action": map[string]any{"name": "view"}, "resource": map[string]any{"type": "patient_record", "id": patient},
			"context": map[string]any{"purpose": 7}}, pdp.ReasonMalformed},
		{"unknown section", question(alice, patient, "x-rays", "direct_care", ""), "unknown_section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, got := p.evaluate(t, tt.body)
			if st != 200 || got.Decision || len(got.Context.ReasonCodes) == 0 || got.Context.ReasonCodes[0] != tt.code {
				t.Fatalf("got %d %+v, want a deny with %s", st, got, tt.code)
			}
		})
	}
	t.Run("body not JSON", func(t *testing.T) {
		var got pdp.EvaluationResponse
		if st := p.post(t, p.service, "/access/v1/evaluation", []byte(`{"subject":`), &got); st != 400 || got.Decision || got.Context.ReasonCodes[0] != pdp.ReasonMalformed {
			t.Fatalf("got %d %+v", st, got)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		var got pdp.EvaluationResponse
		big := []byte(`{"context":{"reason":"` + strings.Repeat("x", 70<<10) + `"}}`)
		if st := p.post(t, p.service, "/access/v1/evaluation", big, &got); st != http.StatusRequestEntityTooLarge || got.Decision {
			t.Fatalf("got %d %+v", st, got)
		}
	})
	t.Run("caller without a service certificate", func(t *testing.T) {
		var got map[string]string
		if st := p.post(t, p.client, "/access/v1/evaluation", ok, &got); st != 401 || got["error"] != "caller_unauthenticated" {
			t.Fatalf("got %d %v", st, got)
		}
	})
	t.Run("caller with a certificate from another CA", func(t *testing.T) {
		other := newServiceTLS(t)
		rogue := p.tls.client(other.clientCert(t, "rogue"))
		_, err := rogue.Post(p.url+"/access/v1/evaluation", "application/json", bytes.NewReader([]byte("{}")))
		if err == nil {
			t.Fatal("a certificate from an unknown CA was accepted by the TLS layer")
		}
	})
	t.Run("batch answers in order with defaults", func(t *testing.T) {
		var got pdp.BatchResponse
		body := map[string]any{
			"subject":  map[string]any{"type": "session", "id": alice},
			"action":   map[string]any{"name": "view"},
			"resource": map[string]any{"type": "patient_record", "id": patient, "properties": map[string]any{"section": "scr"}},
			"evaluations": []any{
				map[string]any{},
				map[string]any{"resource": map[string]any{"type": "patient_record", "id": registration.DemoPatientNoRelationship, "properties": map[string]any{"section": "scr"}}},
				map[string]any{"resource": map[string]any{"type": "patient_record", "id": "123"}},
				// Sessions are looked up once per batch and token; each
				// question still gets its own session's answer.
				map[string]any{"subject": map[string]any{"type": "session", "id": ended}},
				map[string]any{"subject": map[string]any{"type": "session", "id": noRole}},
				map[string]any{},
				map[string]any{"subject": map[string]any{"type": "session", "id": ended}},
				// Decided side by side: each emergency access stores its
				// own alert before the batch is answered.
				map[string]any{"resource": map[string]any{"type": "patient_record", "id": registration.DemoPatientNoRelationship, "properties": map[string]any{"section": "scr"}},
					"context": map[string]any{"purpose": "emergency", "reason": "collapsed"}},
				map[string]any{"resource": map[string]any{"type": "patient_record", "id": registration.DemoPatientNoRelationship, "properties": map[string]any{"section": "scr"}},
					"context": map[string]any{"purpose": "emergency", "reason": "collapsed again"}},
			},
		}
		if st := p.post(t, p.service, "/access/v1/evaluations", body, &got); st != 200 || len(got.Evaluations) != 9 {
			t.Fatalf("got %d %+v", st, got)
		}
		want := []struct {
			allow bool
			code  string
		}{
			{true, ""}, {false, "no_legitimate_relationship"}, {false, pdp.ReasonNHSNumberInvalid},
			{false, pdp.ReasonSessionUnknown}, {false, pdp.ReasonNoRole}, {true, ""}, {false, pdp.ReasonSessionUnknown},
			{true, ""}, {true, ""},
		}
		for i, e := range got.Evaluations {
			if e.Decision != want[i].allow || (want[i].code != "" && !slices.Contains(e.Context.ReasonCodes, want[i].code)) {
				t.Errorf("evaluation %d: %+v, want %+v", i, e, want[i])
			}
		}
		ids := map[string]bool{}
		for _, e := range got.Evaluations {
			ids[e.Context.ID] = true
		}
		if len(ids) != len(got.Evaluations) {
			t.Errorf("decision ids are not distinct: %v", ids)
		}
		for _, e := range got.Evaluations[7:] {
			if len(e.Context.Obligations) != 1 || e.Context.Obligations[0].AlertID == "" {
				t.Fatalf("emergency in a batch: %+v", e)
			}
			alerts, err := p.srv.Store().Alerts(context.Background(), registration.AlertFilter{ODS: registration.DemoPracticeODS, Limit: registration.MaxAlertsLimit})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(alerts, func(a registration.Alert) bool {
				return a.ID == e.Context.Obligations[0].AlertID && a.DecisionID == e.Context.ID
			}) {
				t.Errorf("alert %s of decision %s is not stored", e.Context.Obligations[0].AlertID, e.Context.ID)
			}
			if _, err := p.srv.DecisionLog().Get(context.Background(), e.Context.ID); err != nil {
				t.Errorf("emergency decision %s not durable when the batch was answered: %v", e.Context.ID, err)
			}
		}
	})
	t.Run("expired session", func(t *testing.T) {
		p.clock.Advance(11 * time.Hour)
		st, got := p.evaluate(t, ok)
		if st != 200 || got.Decision || got.Context.ReasonCodes[0] != pdp.ReasonSessionExpired {
			t.Fatalf("got %d %+v", st, got)
		}
	})
	t.Run("registration store down", func(t *testing.T) {
		fresh := p.session(t, "card-555000000011-rsa", registration.DemoAlicePracticeProfile)
		p.srv.Store().Close()
		st, got := p.evaluate(t, question(fresh, patient, "scr", "direct_care", ""))
		if st != 200 || got.Decision || got.Context.ReasonCodes[0] != pdp.ReasonInternal {
			t.Fatalf("got %d %+v", st, got)
		}
	})
}

// TestPDPBrokenPolicyKeepsLastGood: a policy directory served live; a
// broken policy is refused, decisions continue on the last good one, and
// the failure shows on /readyz until a good policy replaces it.
func TestPDPBrokenPolicyKeepsLastGood(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"access.rego", "access_test.rego", "config.json"} {
		data, err := policies.FS.ReadFile("access/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The RA rules are part of the set authd loads.
	if err := os.Mkdir(filepath.Join(dir, "ra"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ra.rego", "ra_test.rego", "config.json"} {
		data, err := policies.FS.ReadFile("ra/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ra", name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p := newPDPRig(t, "  policy_dir: "+dir+"\n")
	alice := p.session(t, "card-555000000011-rsa", registration.DemoAlicePracticeProfile)
	q := question(alice, registration.DemoPatientRegistered, "scr", "direct_care", "")
	_, before := p.evaluate(t, q)
	if !before.Decision {
		t.Fatalf("control: %+v", before)
	}

	broken := []byte("package spine.access\n\ndecision := {\"allow\": true  # unterminated\n")
	if err := os.WriteFile(filepath.Join(dir, "access.rego"), broken, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Policy().Reload(context.Background()); err == nil {
		t.Fatal("a broken policy was accepted")
	}
	_, during := p.evaluate(t, q)
	if !during.Decision || during.Context.PolicyRevision != before.Context.PolicyRevision {
		t.Fatalf("decisions did not continue on the last good policy: %+v", during)
	}
	// The deny cases still deny under the kept policy.
	if _, d := p.evaluate(t, question(alice, registration.DemoPatientNoRelationship, "scr", "direct_care", "")); d.Decision {
		t.Fatalf("kept policy allowed a patient without a relationship: %+v", d)
	}
	var ready map[string]string
	if st := getJSON(t, p.client, p.url+"/readyz", &ready); st != 200 || !strings.HasPrefix(ready["policy"], "degraded") {
		t.Fatalf("readyz %d %v does not show the degraded policy", st, ready)
	}
	if !strings.Contains(p.logs.String(), "policy") {
		t.Error("the failed reload was not logged")
	}

	// A policy that compiles but whose tests fail is refused too.
	good, _ := policies.FS.ReadFile("access/access.rego")
	permissive := strings.Replace(string(good), "default allow := false", "default allow := true", 1)
	if permissive == string(good) {
		t.Fatal("policy text changed; update the permissive edit")
	}
	if err := os.WriteFile(filepath.Join(dir, "access.rego"), []byte(permissive), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Policy().Reload(context.Background()); err == nil {
		t.Fatal("a policy whose tests fail was accepted")
	}
	// Restore: loaded again, healthy.
	if err := os.WriteFile(filepath.Join(dir, "access.rego"), good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := p.srv.Policy().Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := getJSON(t, p.client, p.url+"/readyz", &ready); st != 200 || ready["policy"] != "ok" {
		t.Fatalf("readyz after the fix: %d %v", st, ready)
	}
}

func getJSON(t *testing.T, c *http.Client, url string, out any) int {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := jsonDecode(resp.Body, out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}
