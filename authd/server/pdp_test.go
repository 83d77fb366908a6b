package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/pdp"
	"github.com/carespine/spineauth/cardagent"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/testkeys"
)

// nhsNumbers yields valid test NHS numbers (999 prefix, mod-11 check digit).
func nhsNumbers() func() string {
	n := 500000
	return func() string {
		for {
			n++
			base := fmt.Sprintf("999%06d", n)
			sum := 0
			for i, c := range base {
				sum += int(c-'0') * (10 - i)
			}
			check := 11 - sum%11
			if check == 11 {
				check = 0
			}
			if check == 10 {
				continue
			}
			return fmt.Sprintf("%s%d", base, check)
		}
	}
}

// pdpRig is an authd with TLS, a PDP answering the service certificate,
// and logged-in sessions.
type pdpRig struct {
	*rig
	tls     *serviceTLS
	service *http.Client // presents the service certificate
}

func newPDPRig(t *testing.T, extra string) *pdpRig {
	t.Helper()
	st := newServiceTLS(t)
	r := newRig(t, withPDP(st, extra))
	return &pdpRig{rig: r, tls: st, service: st.client(st.service)}
}

// session logs a test PKI card in and selects a role profile ("" leaves
// none selected).
func (p *pdpRig) session(t *testing.T, card, role string) string {
	t.Helper()
	c := &cardagent.Client{BaseURL: p.url, HTTP: p.client}
	resp, err := c.Login(context.Background(), signedLogin(t, c, testkeys.Cert(t, card), testkeys.Key(t, card), role))
	if err != nil {
		t.Fatalf("login %s: %v", card, err)
	}
	return resp.SessionToken
}

func (p *pdpRig) evaluate(t *testing.T, req any) (int, pdp.EvaluationResponse) {
	t.Helper()
	var out pdp.EvaluationResponse
	st := p.post(t, p.service, "/access/v1/evaluation", req, &out)
	return st, out
}

func (p *pdpRig) post(t *testing.T, c *http.Client, path string, body, out any) int {
	t.Helper()
	var raw []byte
	switch b := body.(type) {
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := c.Post(p.url+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			t.Fatalf("%s: decoding answer (%d): %v", path, resp.StatusCode, err)
		}
	}
	return resp.StatusCode
}

func question(token, nhs, section, purpose, reason string) map[string]any {
	ctx := map[string]any{"purpose": purpose}
	if reason != "" {
		ctx["reason"] = reason
	}
	return map[string]any{
		"subject":  map[string]any{"type": "session", "id": token},
		"action":   map[string]any{"name": "view"},
		"resource": map[string]any{"type": "patient_record", "id": nhs, "properties": map[string]any{"section": section}},
		"context":  ctx,
	}
}

// The scenario dimensions.
type (
	lrKind  string
	seal    string
	purpose struct{ name, reason string }
	subject struct {
		name, uid, org, workgroup string
		activities                []string
		token                     string
	}
)

const (
	lrUser, lrWorkgroup, lrOrg, lrNone, lrExpired        lrKind = "user", "workgroup", "organisation", "none", "expired"
	sealNone, sealSealed, sealLockedOwn, sealLockedOther seal   = "plain", "sealed", "locked-own-team", "locked-other-team"
)

func (s subject) has(a string) bool { return slices.Contains(s.activities, a) }

// expect is the scenario oracle: the decision the policy must reach, in
// the terms of rego/README.md.
func expect(s subject, lr lrKind, dissent bool, p purpose, sl seal) (bool, []string, []string) {
	// Sealed-and-locked: only the owning workgroup is told it exists.
	owner := map[seal]string{sealLockedOwn: "riverside-clinicians", sealLockedOther: "northgate-ward-7"}[sl]
	if owner != "" && s.workgroup != owner {
		return false, []string{"not_found"}, nil
	}
	reasons := map[string]bool{}
	if !s.has("B0370") {
		reasons["activity_not_permitted"] = true
	}
	emergency := p.name == "emergency"
	if emergency && !s.has("B0168") {
		reasons["activity_not_permitted"] = true
	}
	if sl == sealSealed && !s.has("B0058") {
		reasons["activity_not_permitted"] = true
	}
	if emergency && p.reason == "" {
		reasons["emergency_reason_required"] = true
	}
	if sl == sealSealed && p.reason == "" {
		reasons["seal_reason_required"] = true
	}
	if !(emergency && p.reason != "") {
		matches := lr == lrUser && s.uid == "555000000011" || lr == lrWorkgroup && s.workgroup == "riverside-clinicians" ||
			lr == lrOrg && s.org == registration.DemoPracticeODS
		switch {
		case matches:
		case lr == lrExpired && s.org == registration.DemoPracticeODS:
			reasons["legitimate_relationship_expired"] = true
		default:
			reasons["no_legitimate_relationship"] = true
		}
	}
	if dissent {
		reasons["patient_dissent"] = true // override_dissent is false by default
	}
	if len(reasons) > 0 {
		var codes []string
		for c := range reasons {
			codes = append(codes, c)
		}
		slices.Sort(codes)
		return false, codes, nil
	}
	var alerts []string
	if emergency {
		alerts = append(alerts, "emergency_access")
	}
	if sl == sealSealed {
		alerts = append(alerts, "seal_broken")
	}
	return true, nil, alerts
}

// TestPDPScenarios runs every combination of role, relationship, consent,
// purpose and seal through the HTTP API with real sessions, and checks the
// decision, reason codes, obligations, and that alerts were stored
// exactly when an obligation says so.
func TestPDPScenarios(t *testing.T) {
	p := newPDPRig(t, "")
	ctx := context.Background()
	store := p.srv.Store()
	now := p.clock.Now()

	// Alice holds a role profile that may also break seals (B0058).
	const sealer = "555000001199"
	err := store.CreateRoleProfile(ctx, registration.RoleProfile{
		ID: sealer, UID: "555000000011", ODS: registration.DemoPracticeODS, JobRole: "S8000:G8000:R8000",
		Activities: []string{"B0020", "B0058", "B0082", "B0168", "B0264", "B0370", "B0825", "B8028"},
		Workgroups: []string{"riverside-clinicians"}, Start: now.Add(-time.Hour),
		Status: registration.RoleProfileActive, ApprovedBy: "555000000013",
	})
	if err != nil {
		t.Fatal(err)
	}
	subjects := []subject{
		{name: "clinician", uid: "555000000011", org: registration.DemoPracticeODS, workgroup: "riverside-clinicians",
			activities: []string{"B0058", "B0168", "B0370"}, token: p.session(t, "card-555000000011-ec", sealer)},
		{name: "sponsor without SCR access", uid: "555000000013", org: registration.DemoTrustODS,
			token: p.session(t, "card-555000000013-ec", registration.DemoCarolSponsorProfile)},
	}
	purposes := []purpose{{"direct_care", ""}, {"emergency", "patient unconscious in A&E"}, {"emergency", ""}}

	next := nhsNumbers()
	type patient struct {
		nhs     string
		lr      lrKind
		dissent bool
		seal    seal
	}
	var patients []patient
	for _, lr := range []lrKind{lrUser, lrWorkgroup, lrOrg, lrNone, lrExpired} {
		for _, dissent := range []bool{false, true} {
			for _, sl := range []seal{sealNone, sealSealed, sealLockedOwn, sealLockedOther} {
				pt := patient{nhs: next(), lr: lr, dissent: dissent, seal: sl}
				makePatient(t, store, now, pt.nhs, pt.lr, pt.dissent, pt.seal)
				patients = append(patients, pt)
			}
		}
	}

	var alertIDs []string
	cases := 0
	// Each question and its answer, as "allow|codes|alert types", for the
	// batch pass below.
	var asked []map[string]any
	var answers []string
	for _, s := range subjects {
		for _, pt := range patients {
			for _, pu := range purposes {
				name := fmt.Sprintf("%s/lr=%s/dissent=%v/%s/%s/reason=%v", s.name, pt.lr, pt.dissent, pt.seal, pu.name, pu.reason != "")
				wantAllow, wantCodes, wantAlerts := expect(s, pt.lr, pt.dissent, pu, pt.seal)
				st, got := p.evaluate(t, question(s.token, pt.nhs, "scr", pu.name, pu.reason))
				cases++
				if st != 200 || got.Decision != wantAllow || !slices.Equal(nonNil(got.Context.ReasonCodes), nonNil(wantCodes)) {
					t.Errorf("%s: got %d allow=%v %v, want allow=%v %v", name, st, got.Decision, got.Context.ReasonCodes, wantAllow, wantCodes)
					continue
				}
				var gotAlerts []string
				for _, o := range got.Context.Obligations {
					if o.Type != "alert" || o.AlertID == "" {
						t.Errorf("%s: obligation %+v", name, o)
					}
					gotAlerts = append(gotAlerts, o.AlertType)
					alertIDs = append(alertIDs, o.AlertID)
				}
				slices.Sort(gotAlerts)
				if !slices.Equal(nonNil(gotAlerts), nonNil(wantAlerts)) {
					t.Errorf("%s: alerts %v, want %v", name, gotAlerts, wantAlerts)
				}
				asked = append(asked, question(s.token, pt.nhs, "scr", pu.name, pu.reason))
				answers = append(answers, fmt.Sprint(got.Decision, got.Context.ReasonCodes, gotAlerts))
				if got.Context.ID == "" || got.Context.PolicyRevision == "" {
					t.Errorf("%s: decision id %q revision %q", name, got.Context.ID, got.Context.PolicyRevision)
				}
			}
		}
	}
	// Every alert an answer named is stored, and no other.
	stored, err := store.Alerts(ctx, registration.AlertFilter{ODS: registration.DemoPracticeODS, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var storedIDs []string
	for _, a := range stored {
		if a.NHSNumber == registration.DemoPatientSelfClaimed {
			continue // the demo world's own alert
		}
		storedIDs = append(storedIDs, a.ID)
	}
	slices.Sort(storedIDs)
	slices.Sort(alertIDs)
	if !slices.Equal(storedIDs, alertIDs) {
		t.Errorf("stored alerts %d, answered %d: they differ", len(storedIDs), len(alertIDs))
	}
	if len(alertIDs) == 0 {
		t.Error("no scenario raised an alert")
	}
	t.Logf("%d scenarios, %d alerts", cases, len(alertIDs))

	// The same questions in batches of 100, the two subjects' questions
	// interleaved (so each batch names both sessions and some fifty
	// patients): each answer is the one asked alone, and every alert a
	// batch names is stored.
	order := make([]int, 0, len(asked))
	half := len(asked) / len(subjects)
	for i := range half {
		for j := range subjects {
			order = append(order, j*half+i)
		}
	}
	batchAlerts := 0
	for lo := 0; lo < len(order); lo += 100 {
		idx := order[lo:min(lo+100, len(order))]
		var body struct {
			Evaluations []map[string]any `json:"evaluations"`
		}
		for _, i := range idx {
			body.Evaluations = append(body.Evaluations, asked[i])
		}
		var got pdp.BatchResponse
		if st := p.post(t, p.service, "/access/v1/evaluations", body, &got); st != 200 || len(got.Evaluations) != len(idx) {
			t.Fatalf("batch at %d: got %d with %d answers", lo, st, len(got.Evaluations))
		}
		for k, e := range got.Evaluations {
			var types []string
			for _, o := range e.Context.Obligations {
				if o.AlertID == "" {
					t.Errorf("batch question %d: obligation without an alert id: %+v", idx[k], o)
				}
				types = append(types, o.AlertType)
				batchAlerts++
			}
			slices.Sort(types)
			if a := fmt.Sprint(e.Decision, e.Context.ReasonCodes, types); a != answers[idx[k]] {
				t.Errorf("batch question %d: %s, asked alone %s", idx[k], a, answers[idx[k]])
			}
		}
	}
	after, err := store.Alerts(ctx, registration.AlertFilter{ODS: registration.DemoPracticeODS, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(after)-len(stored) != batchAlerts || batchAlerts != len(alertIDs) {
		t.Errorf("batches raised %d alerts and stored %d; asked alone, %d", batchAlerts, len(after)-len(stored), len(alertIDs))
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// makePatient records one scenario patient's facts.
func makePatient(t *testing.T, st registration.Store, now time.Time, nhs string, lr lrKind, dissent bool, sl seal) {
	t.Helper()
	ctx := context.Background()
	rel := registration.Relationship{ID: registration.NewRecordID(), NHSNumber: nhs, Kind: registration.RelationshipRegistered,
		CreatedBy: "555000000011", CreatedAt: now.Add(-48 * time.Hour)}
	switch lr {
	case lrUser:
		rel.TargetType, rel.Target = registration.TargetUser, "555000000011"
	case lrWorkgroup:
		rel.TargetType, rel.Target = registration.TargetWorkgroup, "riverside-clinicians"
	case lrOrg:
		rel.TargetType, rel.Target = registration.TargetOrganisation, registration.DemoPracticeODS
	case lrExpired:
		rel.TargetType, rel.Target = registration.TargetOrganisation, registration.DemoPracticeODS
		rel.Kind, rel.ExpiresAt = registration.RelationshipReferral, now.Add(-24*time.Hour)
	}
	if lr != lrNone {
		if err := st.CreateRelationship(ctx, rel); err != nil {
			t.Fatal(err)
		}
	}
	c := registration.Consent{NHSNumber: nhs, SCR: registration.ConsentYes, UpdatedBy: "555000000011", UpdatedAt: now}
	if dissent {
		c.SCR, c.DissentCodes = registration.ConsentNo, []string{"93C3"}
	}
	if err := st.SetConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	seal := registration.Seal{NHSNumber: nhs, Section: "scr", CreatedBy: "555000000011", CreatedAt: now}
	switch sl {
	case sealNone:
		return
	case sealSealed:
		seal.State = registration.Sealed
	case sealLockedOwn:
		seal.State, seal.OwnerWorkgroup = registration.SealedLocked, "riverside-clinicians"
	case sealLockedOther:
		seal.State, seal.OwnerWorkgroup = registration.SealedLocked, "northgate-ward-7"
	}
	if err := st.CreateSeal(ctx, seal); err != nil {
		t.Fatal(err)
	}
}
