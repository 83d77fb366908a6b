package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/carespine/spineauth/registration"
)

// Stage (b)-(d) of setup: log in, then write the facts authd holds as OPA
// data, and the requests file.
//
// The OPA data document (opa/facts.json, loaded by `opa run` at the root
// of data) is what opa/authzen.rego reads:
//
//	data.pdpbench.sessions[token]       {uid, role_profile_id}
//	data.pdpbench.role_profiles[id]     {uid, org, job_role, activities (the closure),
//	                                     workgroups, status, start_us, end_us}
//	data.pdpbench.patients[nhs]         {relationships: [{kind, target_type, target,
//	                                     created_us, expires_us, ended_us, expires_at}],
//	                                     consent: {scr, dissent_codes} (absent: none recorded),
//	                                     seals: {section: {state, owner_workgroup}}}
//
// Times are microseconds since the epoch (the store's own unit) so the
// wrapper compares numbers rather than parsing dates; expires_at is also
// given as the RFC 3339 text authd's PDP puts into the policy input.
// Patients are read back from the store with PatientFacts, the PDP's own
// read, so both servers decide over the same facts.

type opaSession struct {
	UID           string `json:"uid"`
	RoleProfileID string `json:"role_profile_id"`
}

type opaProfile struct {
	UID        string   `json:"uid"`
	Org        string   `json:"org"`
	JobRole    string   `json:"job_role"`
	Activities []string `json:"activities"`
	Workgroups []string `json:"workgroups"`
	Status     string   `json:"status"`
	StartUS    int64    `json:"start_us"`
	EndUS      *int64   `json:"end_us"`
}

type opaRelationship struct {
	Kind       string  `json:"kind"`
	TargetType string  `json:"target_type"`
	Target     string  `json:"target"`
	CreatedUS  int64   `json:"created_us"`
	ExpiresUS  *int64  `json:"expires_us"`
	EndedUS    *int64  `json:"ended_us"`
	ExpiresAt  *string `json:"expires_at"`
}

type opaConsent struct {
	SCR          string   `json:"scr"`
	DissentCodes []string `json:"dissent_codes"`
}

type opaSeal struct {
	State          string `json:"state"`
	OwnerWorkgroup string `json:"owner_workgroup"`
}

type opaPatient struct {
	Relationships []opaRelationship  `json:"relationships"`
	Consent       *opaConsent        `json:"consent,omitempty"`
	Seals         map[string]opaSeal `json:"seals"`
}

type opaFacts struct {
	Sessions     map[string]opaSession `json:"sessions"`
	RoleProfiles map[string]opaProfile `json:"role_profiles"`
	Patients     map[string]opaPatient `json:"patients"`
}

func setupSessions(ctx context.Context, c setupConfig, stdout io.Writer) error {
	rec, err := readWorld(c.Dir)
	if err != nil {
		return err
	}
	base, err := checkLoopback(c.AuthdURL)
	if err != nil {
		return err
	}
	tc, err := c.TLS.config()
	if err != nil {
		return err
	}
	a := &authdClient{base: strings.TrimSuffix(base.String(), "/"), client: newClient(tc, 1, 30*time.Second)}
	defer a.client.CloseIdleConnections()
	sessions, err := loginSessions(ctx, a, c.PKI, c.Sessions)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "setup: %d card logins: %s\n", len(sessions), sessionSummary(sessions))

	// Read-only use of the store authd is serving (SQLite's WAL lets both
	// read).
	if rec.Store == "postgres" && c.PostgresEnv == "" {
		return fmt.Errorf("%s: the world is in PostgreSQL: give --postgres-dsn-env", c.Dir)
	}
	st, err := c.storeTarget().open(ctx, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	cat := registration.DefaultCatalogue()
	facts := opaFacts{Sessions: map[string]opaSession{}, RoleProfiles: map[string]opaProfile{}, Patients: map[string]opaPatient{}}
	for _, s := range sessions {
		facts.Sessions[s.Token] = opaSession{UID: s.UID, RoleProfileID: s.Profile}
		if s.Profile == "" {
			continue
		}
		if _, done := facts.RoleProfiles[s.Profile]; done {
			continue
		}
		rp, err := st.RoleProfile(ctx, s.Profile)
		if err != nil {
			return fmt.Errorf("role profile %s: %w", s.Profile, err)
		}
		p := opaProfileOf(rp, cat)
		// authd computed the closure with the catalogue it was configured
		// with; a different one would make the two servers disagree.
		if !slices.Equal(p.Activities, s.Activities) {
			return fmt.Errorf("role profile %s: authd's activities %v differ from the default catalogue's closure %v (is authd configured with another catalogue?)",
				s.Profile, s.Activities, p.Activities)
		}
		facts.RoleProfiles[s.Profile] = p
	}

	nhs := nhsNumbers(rec.Spec.Patients)
	if c.OPAData {
		started := time.Now()
		for _, n := range append(slices.Clone(rec.DemoPatient), nhs...) {
			f, err := st.PatientFacts(ctx, n)
			if err != nil {
				return fmt.Errorf("facts of %s: %w", n, err)
			}
			facts.Patients[n] = opaPatientOf(f)
		}
		b, err := json.Marshal(map[string]any{"pdpbench": facts})
		if err != nil {
			return err
		}
		path := filepath.Join(c.Dir, factsFile)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		if err := writeFileAtomic(path, b, 0o600); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "setup: %s: %d sessions, %d role profiles, %d patients (%.1f MB) in %.1fs\n",
			path, len(facts.Sessions), len(facts.RoleProfiles), len(facts.Patients), float64(len(b))/1e6, time.Since(started).Seconds())
	}

	rng := mrand.New(mrand.NewPCG(c.ReqSeed, c.ReqSeed+1))
	var buf bytes.Buffer
	for range c.Requests {
		b, err := json.Marshal(makeRequest(rng, sessions, nhs, rec.DemoPatient, c.Emergency))
		if err != nil {
			return err
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	path := filepath.Join(c.Dir, requestsFile)
	if err := writeFileAtomic(path, buf.Bytes(), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "setup: %s: %d requests\n", path, c.Requests)
	return nil
}

// opaProfileOf is a role profile as OPA data: activities with their
// inclusions applied, as authd's PDP gives them to the policy.
func opaProfileOf(rp *registration.RoleProfile, cat *registration.Catalogue) opaProfile {
	return opaProfile{
		UID: rp.UID, Org: rp.ODS, JobRole: rp.JobRole,
		Activities: nonNil(cat.Closure(rp.Activities)), Workgroups: nonNil(rp.Workgroups),
		Status: string(rp.Status), StartUS: rp.Start.UnixMicro(), EndUS: micros(rp.End),
	}
}

// opaPatientOf is a patient's facts as OPA data.
func opaPatientOf(f *registration.PatientFacts) opaPatient {
	p := opaPatient{Relationships: []opaRelationship{}, Seals: map[string]opaSeal{}}
	for _, r := range f.Relationships {
		o := opaRelationship{
			Kind: string(r.Kind), TargetType: string(r.TargetType), Target: r.Target,
			CreatedUS: r.CreatedAt.UnixMicro(), ExpiresUS: micros(r.ExpiresAt), EndedUS: micros(r.EndedAt),
		}
		if !r.ExpiresAt.IsZero() {
			s := r.ExpiresAt.UTC().Format(time.RFC3339) // as authd's PDP writes it
			o.ExpiresAt = &s
		}
		p.Relationships = append(p.Relationships, o)
	}
	if f.Consent != nil {
		p.Consent = &opaConsent{SCR: string(f.Consent.SCR), DissentCodes: nonNil(f.Consent.DissentCodes)}
	}
	for _, s := range f.Seals {
		p.Seals[s.Section] = opaSeal{State: string(s.State), OwnerWorkgroup: s.OwnerWorkgroup}
	}
	return p
}

func micros(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	us := t.UnixMicro()
	return &us
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// The request mix. Weights are per mille of the requests that name a
// known session and a well-formed patient.
var sectionActions = []struct {
	section, action string
	weight          int
}{
	{"scr", "view", 400},
	{"clinical", "view", 250},
	{"demographics", "view", 150},
	{"scr", "amend", 60},
	{"demographics", "amend", 60},
	{"clinical", "amend", 50},
	{"clinical/mental-health", "view", 30}, // not a configured section: unknown_section
}

// evalRequest is an AuthZEN evaluation request body.
type evalRequest struct {
	Subject  evalEntity     `json:"subject"`
	Action   evalAction     `json:"action"`
	Resource evalEntity     `json:"resource"`
	Context  map[string]any `json:"context"`
}

type evalEntity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

type evalAction struct {
	Name string `json:"name"`
}

// makeRequest draws one request: about 4 % name a session that does not
// exist, 2 % a malformed NHS number, 3 % a demo patient; the rest a
// logged-in session (see sessionKinds) and a generated patient.
func makeRequest(rng *mrand.Rand, sessions []benchSession, nhs, demo []string, emergency float64) evalRequest {
	tok := sessions[rng.IntN(len(sessions))].Token
	patient := nhs[rng.IntN(len(nhs))]
	switch x := rng.Float64(); {
	case x < 0.04:
		tok = unknownToken()
	case x < 0.06:
		patient = patient[:9] + string(rune('0'+(patient[9]-'0'+1)%10)) // wrong check digit
	case x < 0.09 && len(demo) > 0:
		patient = demo[rng.IntN(len(demo))]
	}
	w := rng.IntN(1000)
	sa := sectionActions[len(sectionActions)-1]
	for _, c := range sectionActions {
		if w < c.weight {
			sa = c
			break
		}
		w -= c.weight
	}
	ctx := map[string]any{"purpose": "direct_care"}
	switch x := rng.Float64(); {
	case x < emergency:
		ctx["purpose"], ctx["reason"] = "emergency", "pdpbench: unconscious in A&E"
	case x < emergency+0.05:
		ctx["reason"] = "pdpbench: reviewing sealed notes"
	}
	return evalRequest{
		Subject:  evalEntity{Type: "session", ID: tok},
		Action:   evalAction{Name: sa.action},
		Resource: evalEntity{Type: "patient_record", ID: patient, Properties: map[string]any{"section": sa.section}},
		Context:  ctx,
	}
}

// unknownToken is a well-formed session token that no login issued.
func unknownToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
