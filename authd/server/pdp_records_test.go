package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/carespine/spineauth/authd/pdp"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions/redistest"
)

// call with the service certificate and the user's session header.
func (p *pdpRig) records(t *testing.T, method, path, session string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	raw, _ := json.Marshal(body)
	rd = bytes.NewReader(raw)
	req, err := http.NewRequest(method, p.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set(pdp.SessionHeader, session)
	resp, err := p.service.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

// TestPatientFactEndpoints: self-claiming a relationship (with its alert),
// recording one, and reading and updating consent, each decided by the
// policy.
func TestPatientFactEndpoints(t *testing.T) {
	p := newPDPRig(t, "")
	ctx := context.Background()
	bob := p.session(t, "card-555000000012-ec", registration.DemoBobTrustProfile)
	alice := p.session(t, "card-555000000011-ec", registration.DemoAlicePracticeProfile)
	patient := registration.DemoPatientNoRelationship

	if st, got := p.evaluate(t, question(bob, patient, "scr", "direct_care", "")); st != 200 || got.Decision {
		t.Fatalf("before the claim Bob may see the record: %+v", got)
	}
	var refused pdp.EvaluationResponse
	if st := p.records(t, "POST", "/v1/patients/"+patient+"/relationships/self-claim", bob, map[string]string{}, &refused); st != 403 ||
		refused.Context.ReasonCodes[0] != "self_claim_reason_required" {
		t.Fatalf("self-claim without a reason: %d %+v", st, refused)
	}
	var claimed struct {
		Decision     pdp.EvaluationResponse    `json:"decision"`
		Relationship registration.Relationship `json:"relationship"`
	}
	if st := p.records(t, "POST", "/v1/patients/"+patient+"/relationships/self-claim", bob,
		map[string]string{"reason": "patient attending ward 7 without a referral"}, &claimed); st != 201 {
		t.Fatalf("self-claim: %d %+v", st, claimed)
	}
	obs := claimed.Decision.Context.Obligations
	if len(obs) != 1 || obs[0].AlertType != "self_claimed_relationship" || obs[0].AlertID == "" {
		t.Fatalf("self-claim obligations %+v", obs)
	}
	alerts, err := p.srv.Store().Alerts(ctx, registration.AlertFilter{ODS: registration.DemoTrustODS, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range alerts {
		found = found || a.ID == obs[0].AlertID && a.NHSNumber == patient && a.UID == "555000000012"
	}
	if !found {
		t.Fatalf("the self-claim alert %s is not in the privacy officers' queue", obs[0].AlertID)
	}
	if st, got := p.evaluate(t, question(bob, patient, "scr", "direct_care", "")); st != 200 || !got.Decision {
		t.Fatalf("after the claim Bob may not see the record: %+v", got)
	}

	// Recording a referral needs B0083, which a clinician here lacks.
	if st := p.records(t, "POST", "/v1/patients/"+registration.DemoPatientRegistered+"/relationships", alice,
		map[string]string{"kind": "referral", "target_type": "organisation", "target": registration.DemoTrustODS}, &refused); st != 403 ||
		refused.Context.ReasonCodes[0] != "activity_not_permitted" {
		t.Fatalf("referral: %d %+v", st, refused)
	}

	// Consent: read, update with its version, and a stale update refused.
	var read struct {
		Consent registration.Consent `json:"consent"`
	}
	path := "/v1/patients/" + registration.DemoPatientRegistered + "/consent"
	if st := p.records(t, "GET", path, alice, nil, &read); st != 200 || read.Consent.SCR != registration.ConsentYes {
		t.Fatalf("read consent: %d %+v", st, read)
	}
	update := map[string]any{"scr": "no", "dissent_codes": []string{"93C3"}, "version": read.Consent.Version}
	if st := p.records(t, "PUT", path, alice, update, nil); st != 200 {
		t.Fatalf("update consent: %d", st)
	}
	if st := p.records(t, "PUT", path, alice, update, nil); st != http.StatusConflict {
		t.Fatalf("stale update: %d, want 409", st)
	}
	if _, got := p.evaluate(t, question(alice, registration.DemoPatientRegistered, "scr", "direct_care", "")); got.Decision ||
		got.Context.ReasonCodes[0] != "patient_dissent" {
		t.Fatalf("after dissent: %+v", got)
	}
	// A user without an LR to the patient may not read its consent.
	if st := p.records(t, "GET", "/v1/patients/"+registration.DemoPatientNoRelationship+"/consent", alice, nil, &refused); st != 403 {
		t.Fatalf("consent without a relationship: %d", st)
	}
}

// TestEmergencyOverridesDissentWhenConfigured: the deployment's policy
// data decides whether emergency access overrides dissent.
func TestEmergencyOverridesDissentWhenConfigured(t *testing.T) {
	for _, override := range []bool{false, true} {
		t.Run(fmt.Sprint("override=", override), func(t *testing.T) {
			extra := fmt.Sprintf("  data:\n    spine:\n      config:\n        emergency:\n          override_dissent: %v\n", override)
			p := newPDPRig(t, extra)
			alice := p.session(t, "card-555000000011-rsa", registration.DemoAlicePracticeProfile)
			_, got := p.evaluate(t, question(alice, registration.DemoPatientDissent, "scr", "emergency", "collapsed in clinic"))
			if got.Decision != override {
				t.Fatalf("decision %+v", got)
			}
			if !override {
				if got.Context.ReasonCodes[0] != "patient_dissent" {
					t.Fatalf("reasons %v", got.Context.ReasonCodes)
				}
				return
			}
			var types []string
			for _, o := range got.Context.Obligations {
				types = append(types, o.AlertType)
			}
			if fmt.Sprint(types) != "[dissent_override emergency_access]" {
				t.Fatalf("obligations %v", types)
			}
		})
	}
}

// TestPDPDeniesWhenSessionBackendDown: with the Redis session backend
// gone, decisions are denials with internal_error.
func TestPDPDeniesWhenSessionBackendDown(t *testing.T) {
	addr := redistest.Start(t)
	st := newServiceTLS(t)
	r := newRig(t, withPDP(st, ""), func(rc *rigConfig) {
		rc.sessions = fmt.Sprintf("sessions:\n  backend: redis\n  redis:\n    addrs: [%s]\n", addr)
	})
	p := &pdpRig{rig: r, tls: st, service: st.client(st.service)}
	alice := p.session(t, "card-555000000011-rsa", registration.DemoAlicePracticeProfile)
	q := question(alice, registration.DemoPatientRegistered, "scr", "direct_care", "")
	if _, got := p.evaluate(t, q); !got.Decision {
		t.Fatalf("control: %+v", got)
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	_ = c.Do(context.Background(), "SHUTDOWN", "NOSAVE").Err() // the connection drops as it obeys
	c.Close()
	if code, got := p.evaluate(t, q); code != 200 || got.Decision || got.Context.ReasonCodes[0] != pdp.ReasonInternal {
		t.Fatalf("with Redis down: %d %+v", code, got)
	}
}
