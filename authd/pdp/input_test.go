package pdp

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/carespine/spineauth/registration"
)

// TestInputValueMatchesJSON checks that the value the PDP hands the
// policy engine is exactly the document the decision log records: the
// input's JSON, decoded as OPA decodes a JSON input.
func TestInputValueMatchesJSON(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	cat := registration.DefaultCatalogue()
	profile := &registration.RoleProfile{ID: "555000001101", UID: "555000000011", ODS: "Y12345",
		JobRole: "S8000:G8000:R8000", Activities: []string{"B0264", "B0370"}, Workgroups: []string{"riverside-gp-team"}}
	bare := &registration.RoleProfile{ID: "555000001102", UID: "555000000011", ODS: "RZZ", JobRole: "R8000"}
	rel := func(kind registration.RelationshipKind, tt registration.TargetType, target string) registration.Relationship {
		return registration.Relationship{Kind: kind, TargetType: tt, Target: target, CreatedAt: now.Add(-time.Hour)}
	}
	expiring := rel(registration.RelationshipReferral, registration.TargetWorkgroup, "ward-7")
	expiring.ExpiresAt = now.Add(24 * time.Hour)
	expired := rel(registration.RelationshipSelfClaimed, registration.TargetUser, "555000000011")
	expired.ExpiresAt = now.Add(-time.Minute)
	ended := rel(registration.RelationshipRegistered, registration.TargetOrganisation, "Y99999")
	ended.EndedAt = now.Add(-time.Second)

	cases := []struct {
		name    string
		profile *registration.RoleProfile
		section string
		reason  string
		facts   registration.PatientFacts
	}{
		{"no facts", bare, "scr", "", registration.PatientFacts{}},
		{"relationships and dissent", profile, "scr", "",
			registration.PatientFacts{
				Relationships: []registration.Relationship{
					rel(registration.RelationshipRegistered, registration.TargetOrganisation, "Y12345"), expiring, expired, ended},
				Consent: &registration.Consent{SCR: registration.ConsentNo, DissentCodes: []string{"93C3", "9Ndo"}},
			}},
		{"consent without codes", profile, "scr", "", registration.PatientFacts{
			Consent: &registration.Consent{SCR: registration.ConsentYes}}},
		{"sealed, other section", profile, "scr", "", registration.PatientFacts{
			Seals: []registration.Seal{{Section: "clinical", State: registration.Sealed, OwnerWorkgroup: "sexual-health"}}}},
		{"sealed without owner", profile, "clinical", "unconscious in A&E \"quoted\" \u00e9\u2028", registration.PatientFacts{
			Seals: []registration.Seal{{Section: "clinical", State: registration.Sealed}}}},
		{"sealed and locked", profile, "clinical/mental-health", "", registration.PatientFacts{
			Seals: []registration.Seal{{Section: "clinical/mental-health", State: registration.SealedLocked,
				OwnerWorkgroup: "riverside-clinicians"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ev := &evaluation{now: now, req: EvaluationRequest{Action: &Action{Name: "view"}},
				nhs: "9990001235", purpose: "emergency", reason: tc.reason, section: tc.section}
			in := newPolicyInput(ev, newInputSubject(tc.profile.UID, tc.profile, cat), &tc.facts)
			b, err := json.Marshal(in)
			if err != nil {
				t.Fatal(err)
			}
			var doc any
			if err := util.NewJSONDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
				t.Fatal(err)
			}
			want, err := ast.InterfaceToValue(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got := in.Value(); got.Compare(want) != 0 {
				t.Errorf("Value() = %v\nJSON     %v", got, want)
			}
			// An InputSubject not made by newInputSubject gives the same.
			in.Subject = &InputSubject{UID: in.Subject.UID, RoleProfileID: in.Subject.RoleProfileID, Org: in.Subject.Org,
				JobRole: in.Subject.JobRole, Activities: in.Subject.Activities, Workgroups: in.Subject.Workgroups}
			if got := in.Value(); got.Compare(want) != 0 {
				t.Errorf("Value() with a plain subject = %v\nJSON     %v", got, want)
			}
		})
	}
}
