package pdp

import (
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/carespine/spineauth/registration"
)

// PolicyInput is the policy's input document (rego/README.md). It is
// built from the request's validated fields and the store's facts, never
// from caller-supplied free-form properties, so it holds no secret and is
// logged as it is. Value gives the same document as OPA's own value, so
// that the policy is evaluated without a JSON round trip; the decision log
// keeps its JSON encoding.
type PolicyInput struct {
	Now           string              `json:"now"`
	Action        string              `json:"action"`
	Resource      InputResource       `json:"resource"`
	Purpose       string              `json:"purpose"`
	Reason        string              `json:"reason"`
	Subject       *InputSubject       `json:"subject"`
	Relationships []InputRelationship `json:"relationships"`
	Consent       InputConsent        `json:"consent"`
}

// InputResource is the record part asked about.
type InputResource struct {
	Type      string    `json:"type"`
	NHSNumber string    `json:"nhs_number"`
	Section   string    `json:"section"`
	Seal      InputSeal `json:"seal"`
}

// InputSeal is the seal on the section asked about; State is "none" when
// there is none, and then OwnerWorkgroup is absent.
type InputSeal struct {
	State          string  `json:"state"`
	OwnerWorkgroup *string `json:"owner_workgroup,omitempty"`
}

// InputSubject is the session's user in its selected role profile. The
// questions of a batch that name one session share one InputSubject (and
// its value): it must not change once built.
type InputSubject struct {
	UID           string   `json:"uid"`
	RoleProfileID string   `json:"role_profile_id"`
	Org           string   `json:"org"`
	JobRole       string   `json:"job_role"`
	Activities    []string `json:"activities"` // with the catalogue's inclusions
	Workgroups    []string `json:"workgroups"`

	value ast.Value
}

// InputRelationship is one of the patient's legitimate relationships
// that has not ended; ExpiresAt is nil when it does not expire.
type InputRelationship struct {
	Kind       string  `json:"kind"`
	TargetType string  `json:"target_type"`
	Target     string  `json:"target"`
	ExpiresAt  *string `json:"expires_at"`
	Expired    bool    `json:"expired"`
}

// InputConsent is the patient's consent to the summary care record;
// "unknown" with no codes when none is recorded.
type InputConsent struct {
	SCR          string   `json:"scr"`
	DissentCodes []string `json:"dissent_codes"`
}

// newInputSubject builds the subject part of the input for uid in profile,
// its activities closed under the catalogue's inclusions.
func newInputSubject(uid string, profile *registration.RoleProfile, cat *registration.Catalogue) *InputSubject {
	in := &InputSubject{
		UID: uid, RoleProfileID: profile.ID, Org: profile.ODS, JobRole: profile.JobRole,
		Activities: nonNil(cat.Closure(profile.Activities)), Workgroups: nonNil(profile.Workgroups),
	}
	in.value = in.build()
	return in
}

// build makes the subject's value.
func (in *InputSubject) build() ast.Value {
	return ast.NewObject(
		ast.Item(ast.InternedTerm("uid"), ast.InternedTerm(in.UID)),
		ast.Item(ast.InternedTerm("role_profile_id"), ast.InternedTerm(in.RoleProfileID)),
		ast.Item(ast.InternedTerm("org"), ast.InternedTerm(in.Org)),
		ast.Item(ast.InternedTerm("job_role"), ast.InternedTerm(in.JobRole)),
		ast.Item(ast.InternedTerm("activities"), stringsTerm(in.Activities)),
		ast.Item(ast.InternedTerm("workgroups"), stringsTerm(in.Workgroups)),
	)
}

// newPolicyInput builds the input for ev, whose subject is sub, from the
// patient's facts f.
func newPolicyInput(ev *evaluation, sub *InputSubject, f *registration.PatientFacts) *PolicyInput {
	in := &PolicyInput{
		Now:    ev.now.UTC().Format(time.RFC3339),
		Action: ev.req.Action.Name,
		Resource: InputResource{Type: "patient_record", NHSNumber: ev.nhs, Section: ev.section,
			Seal: InputSeal{State: "none"}},
		Purpose:       ev.purpose,
		Reason:        ev.reason,
		Subject:       sub,
		Relationships: make([]InputRelationship, 0, len(f.Relationships)),
		Consent:       InputConsent{SCR: "unknown", DissentCodes: []string{}},
	}
	for _, r := range f.Relationships {
		if !r.EndedAt.IsZero() && !r.EndedAt.After(ev.now) {
			continue
		}
		rel := InputRelationship{Kind: string(r.Kind), TargetType: string(r.TargetType), Target: r.Target,
			Expired: !r.Current(ev.now)}
		if !r.ExpiresAt.IsZero() {
			exp := r.ExpiresAt.UTC().Format(time.RFC3339)
			rel.ExpiresAt = &exp
		}
		in.Relationships = append(in.Relationships, rel)
	}
	if f.Consent != nil {
		in.Consent = InputConsent{SCR: string(f.Consent.SCR), DissentCodes: nonNil(f.Consent.DissentCodes)}
	}
	for _, sl := range f.Seals {
		if sl.Section == ev.section {
			owner := sl.OwnerWorkgroup
			in.Resource.Seal = InputSeal{State: string(sl.State), OwnerWorkgroup: &owner}
		}
	}
	return in
}

// Value is the input as the policy engine's value: the document its JSON
// encoding would decode to.
func (in *PolicyInput) Value() ast.Value {
	seal := [][2]*ast.Term{ast.Item(ast.InternedTerm("state"), ast.InternedTerm(in.Resource.Seal.State))}
	if owner := in.Resource.Seal.OwnerWorkgroup; owner != nil {
		seal = append(seal, ast.Item(ast.InternedTerm("owner_workgroup"), ast.InternedTerm(*owner)))
	}
	rels := make([]*ast.Term, len(in.Relationships))
	for i, r := range in.Relationships {
		exp := ast.NullTerm()
		if r.ExpiresAt != nil {
			exp = ast.StringTerm(*r.ExpiresAt)
		}
		rels[i] = ast.ObjectTerm(
			ast.Item(ast.InternedTerm("kind"), ast.InternedTerm(r.Kind)),
			ast.Item(ast.InternedTerm("target_type"), ast.InternedTerm(r.TargetType)),
			ast.Item(ast.InternedTerm("target"), ast.InternedTerm(r.Target)),
			ast.Item(ast.InternedTerm("expires_at"), exp),
			ast.Item(ast.InternedTerm("expired"), ast.InternedTerm(r.Expired)),
		)
	}
	subject := in.Subject.value
	if subject == nil { // an InputSubject not made by newInputSubject
		subject = in.Subject.build()
	}
	return ast.NewObject(
		ast.Item(ast.InternedTerm("now"), ast.StringTerm(in.Now)),
		ast.Item(ast.InternedTerm("action"), ast.InternedTerm(in.Action)),
		ast.Item(ast.InternedTerm("resource"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("type"), ast.InternedTerm(in.Resource.Type)),
			ast.Item(ast.InternedTerm("nhs_number"), ast.StringTerm(in.Resource.NHSNumber)),
			ast.Item(ast.InternedTerm("section"), ast.InternedTerm(in.Resource.Section)),
			ast.Item(ast.InternedTerm("seal"), ast.ObjectTerm(seal...)),
		)),
		ast.Item(ast.InternedTerm("purpose"), ast.InternedTerm(in.Purpose)),
		ast.Item(ast.InternedTerm("reason"), ast.InternedTerm(in.Reason)),
		ast.Item(ast.InternedTerm("subject"), ast.NewTerm(subject)),
		ast.Item(ast.InternedTerm("relationships"), ast.ArrayTerm(rels...)),
		ast.Item(ast.InternedTerm("consent"), ast.ObjectTerm(
			ast.Item(ast.InternedTerm("scr"), ast.InternedTerm(in.Consent.SCR)),
			ast.Item(ast.InternedTerm("dissent_codes"), stringsTerm(in.Consent.DissentCodes)),
		)),
	)
}

func stringsTerm(ss []string) *ast.Term {
	terms := make([]*ast.Term, len(ss))
	for i, s := range ss {
		terms[i] = ast.InternedTerm(s)
	}
	return ast.ArrayTerm(terms...)
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}
