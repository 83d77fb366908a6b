package pdp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions"
)

// Sessions is how the PDP finds the user sessions questions name.
type Sessions interface {
	// GetMany looks up several sessions at once (sessions.Store).
	GetMany(ctx context.Context, toks []sessions.Token) ([]*sessions.Session, []error)
}

// Facts is the registration data a decision needs.
type Facts interface {
	// DecisionFacts reads the role profiles and patients' facts of a
	// batch of questions in one snapshot (registration.Store).
	DecisionFacts(ctx context.Context, profileIDs, nhsNumbers []string) (*registration.DecisionFacts, error)
	// CreateAlerts stores a batch's alerts in one transaction.
	CreateAlerts(ctx context.Context, alerts []registration.Alert) error
}

// Evaluator runs a named policy query.
type Evaluator interface {
	Eval(ctx context.Context, query string, input any) (*policy.Result, error)
}

var (
	_ Evaluator = (*policy.Engine)(nil)
	_ Facts     = (registration.Store)(nil)
)

// AccessQuery is the name of the record-access query in the policy engine.
const AccessQuery = "access"

// Deps are the PDP's collaborators.
type Deps struct {
	Sessions  Sessions
	Facts     Facts
	Catalogue *registration.Catalogue
	Policy    Evaluator
	Log       policy.DecisionLog
	Now       func() time.Time
	Logger    *slog.Logger
	Metrics   *Metrics // may be nil
}

// Service answers access questions. It is safe for concurrent use.
type Service struct {
	d   Deps
	log *slog.Logger
}

// New checks deps and returns a Service.
func New(d Deps) (*Service, error) {
	if d.Sessions == nil || d.Facts == nil || d.Catalogue == nil || d.Policy == nil || d.Log == nil {
		return nil, errors.New("pdp: sessions, facts, catalogue, policy and decision log are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{d: d, log: log}, nil
}

// maxReason bounds the free-text reason a user gives.
const maxReason = 500

// evaluation is one decision in the making.
type evaluation struct {
	id     string
	caller string
	start  time.Time
	now    time.Time
	req    EvaluationRequest

	// Set by gather: code, when the question is denied before the policy
	// runs; otherwise the rest.
	code    string
	tok     sessions.Token
	nhs     string
	purpose string
	reason  string
	section string
	sub     *subject
	sess    *sessions.Session
	profile *registration.RoleProfile
	input   *PolicyInput
}

// Evaluate answers one question. It never fails: anything that goes wrong
// is a deny with a reason code.
func (s *Service) Evaluate(ctx context.Context, caller string, req EvaluationRequest) EvaluationResponse {
	return s.EvaluateBatch(ctx, caller, []EvaluationRequest{req})[0]
}

// EvaluateBatch answers several questions in order, each as Evaluate
// would. The questions of one batch are asked at one instant: each
// distinct session is looked up once, and the role profiles and patients'
// facts they all need are read from the store in one statement (up to
// registration.MaxDecisionFacts questions at a time).
func (s *Service) EvaluateBatch(ctx context.Context, caller string, reqs []EvaluationRequest) []EvaluationResponse {
	start, now := time.Now(), s.d.Now()
	out := make([]EvaluationResponse, len(reqs))
	for lo := 0; lo < len(reqs); lo += registration.MaxDecisionFacts {
		part := reqs[lo:min(lo+registration.MaxDecisionFacts, len(reqs))]
		evs := make([]*evaluation, len(part))
		for i, req := range part {
			evs[i] = &evaluation{id: policy.NewDecisionID(time.Now()), caller: caller, start: start, now: now, req: req}
		}
		s.gather(ctx, evs)
		for i, resp := range s.answer(ctx, evs) {
			out[lo+i] = resp
			s.d.Metrics.observe(resp, time.Since(start))
		}
	}
	return out
}

// evaluate gathers ev's facts and answers it.
func (s *Service) evaluate(ctx context.Context, ev *evaluation) EvaluationResponse {
	evs := []*evaluation{ev}
	s.gather(ctx, evs)
	return s.answer(ctx, evs)[0]
}

// answer decides gathered questions in three steps, each taken once for
// them all: the policy for each question; the alerts the allowed answers
// owe, stored in one transaction; the decision log's records, enqueued
// together so that those owed a commit before the answer share one.
func (s *Service) answer(ctx context.Context, evs []*evaluation) []EvaluationResponse {
	out := make([]EvaluationResponse, len(evs))
	revisions := make([]string, len(evs))
	for i, ev := range evs {
		out[i], revisions[i] = s.decideOne(ctx, ev)
	}
	s.storeAlerts(ctx, evs, out)
	s.recordAll(ctx, evs, revisions, out)
	return out
}

// decideOne evaluates the policy for ev, or denies it with the code gather
// found; it also returns the policy revision that decided.
func (s *Service) decideOne(ctx context.Context, ev *evaluation) (EvaluationResponse, string) {
	if ev.code != "" {
		return denial(ev.id, "", ev.code), ""
	}
	res, err := s.d.Policy.Eval(ctx, AccessQuery, ev.input.Value())
	if err != nil {
		s.log.ErrorContext(ctx, "policy evaluation failed", "decision", ev.id, "err", err)
		return denial(ev.id, "", ReasonInternal), ""
	}
	allow, codes, obligations, err := parseDecision(res.Value)
	if err != nil {
		s.log.ErrorContext(ctx, "policy returned a malformed decision", "decision", ev.id, "revision", res.Revision, "err", err)
		return denial(ev.id, res.Revision, ReasonInternal), res.Revision
	}
	resp := EvaluationResponse{Decision: allow, Context: DecisionContext{
		ID: ev.id, ReasonCodes: codes, Obligations: obligations, PolicyRevision: res.Revision}}
	if !allow {
		resp.Context.Obligations = []Obligation{}
		if len(resp.Context.ReasonCodes) == 0 {
			resp.Context.ReasonCodes = []string{ReasonInternal} // a deny always says why
		}
	}
	return resp, res.Revision
}

// denial is a deny with one reason code.
func denial(id, revision, code string) EvaluationResponse {
	return EvaluationResponse{Context: DecisionContext{ID: id, ReasonCodes: []string{code},
		Obligations: []Obligation{}, PolicyRevision: revision}}
}

// storeAlerts stores the alerts that the allowed answers in out owe, all
// in one transaction, before any answer leaves, and puts their IDs in the
// obligations. An answer whose alert cannot be stored becomes a deny: one
// that fails the alert's own checks alone, every one that owed an alert
// when the transaction fails.
func (s *Service) storeAlerts(ctx context.Context, evs []*evaluation, out []EvaluationResponse) {
	var alerts []registration.Alert
	var owing []int
	for i := range out {
		if !out[i].Decision {
			continue
		}
		var mine []registration.Alert
		obs := out[i].Context.Obligations
		for j := range obs {
			if obs[j].Type == "alert" {
				a := s.alert(evs[i], obs[j].AlertType)
				obs[j].AlertID = a.ID
				mine = append(mine, a)
			}
		}
		if len(mine) == 0 {
			continue
		}
		if err := validAlerts(mine); err != nil {
			s.log.ErrorContext(ctx, "alert refused; denying", "decision", evs[i].id, "err", err)
			out[i] = denial(evs[i].id, out[i].Context.PolicyRevision, ReasonInternal)
			continue
		}
		alerts = append(alerts, mine...)
		owing = append(owing, i)
	}
	if len(alerts) == 0 {
		return
	}
	if err := s.d.Facts.CreateAlerts(ctx, alerts); err != nil {
		s.log.ErrorContext(ctx, "alerts could not be stored; denying", "decision", evs[owing[0]].id,
			"alerts", len(alerts), "err", err)
		for _, i := range owing {
			out[i] = denial(evs[i].id, out[i].Context.PolicyRevision, ReasonInternal)
		}
	}
}

func validAlerts(alerts []registration.Alert) error {
	for _, a := range alerts {
		if err := a.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// alert is the alert of type alertType that ev's allowed answer owes.
func (s *Service) alert(ev *evaluation, alertType string) registration.Alert {
	return registration.Alert{
		ID:            registration.NewRecordID(),
		Type:          registration.AlertType(alertType),
		NHSNumber:     ev.nhs,
		UID:           ev.sess.UserID,
		RoleProfileID: ev.profile.ID,
		ODS:           ev.profile.ODS,
		Reason:        ev.reason,
		DecisionID:    ev.id,
		CreatedAt:     ev.now,
		Status:        registration.AlertOpen,
	}
}

// recordAll writes the decision log's records of evs, answered out:
// emergency and alerting decisions durably before the answers leave. An
// allow that cannot be recorded would be unaccounted for, so it becomes a
// deny.
func (s *Service) recordAll(ctx context.Context, evs []*evaluation, revisions []string, out []EvaluationResponse) {
	ds := make([]policy.Decision, len(evs))
	sync := make([]bool, len(evs))
	for i, ev := range evs {
		ds[i] = ev.decision(revisions[i], out[i])
		sync[i] = len(out[i].Context.Obligations) > 0 || ev.purpose == "emergency"
	}
	for i, err := range s.d.Log.RecordAll(ctx, ds, sync) {
		if err == nil {
			continue
		}
		s.log.ErrorContext(ctx, "decision could not be recorded", "decision", evs[i].id, "allowed", out[i].Decision, "err", err)
		if out[i].Decision {
			out[i] = denial(evs[i].id, revisions[i], ReasonInternal)
		}
	}
}

// Input builds the policy input document for req as Evaluate would,
// without deciding or recording anything: for tools that explain a
// decision and for benchmarks that time the policy alone. The error
// carries the reason code when the request would be denied before the
// policy runs.
func (s *Service) Input(ctx context.Context, req EvaluationRequest) (*PolicyInput, error) {
	ev := &evaluation{id: "input", now: s.d.Now(), req: req}
	s.gather(ctx, []*evaluation{ev})
	if ev.code != "" {
		return nil, fmt.Errorf("pdp: request would be denied: %s", ev.code)
	}
	return ev.input, nil
}

// gather validates each question and looks up everything the policy
// needs, setting ev.input, or ev.code when the question must be denied
// before the policy runs. The distinct sessions the questions name are
// looked up together (one round trip to Redis); then one store read
// brings the role profiles of the sessions found and the facts of the
// patients they ask about.
func (s *Service) gather(ctx context.Context, evs []*evaluation) {
	subjects := make(map[string]*subject, 1)
	var toks []sessions.Token
	var looked []*subject // in the order of toks
	for _, ev := range evs {
		if ev.code = ev.parse(); ev.code != "" {
			continue
		}
		sub, ok := subjects[ev.req.Subject.ID]
		if !ok {
			sub = &subject{decision: ev.id}
			subjects[ev.req.Subject.ID] = sub
			toks = append(toks, ev.tok)
			looked = append(looked, sub)
		}
		ev.sub = sub
	}
	if len(toks) == 0 {
		return
	}
	found, errs := s.d.Sessions.GetMany(ctx, toks)
	if len(found) != len(toks) || len(errs) != len(toks) { // a store that broke its contract
		broken := fmt.Errorf("pdp: the session store answered %d of %d lookups", min(len(found), len(errs)), len(toks))
		found, errs = make([]*sessions.Session, len(toks)), make([]error, len(toks))
		for i := range errs {
			errs[i] = broken
		}
	}
	var profileIDs []string
	for i, sub := range looked {
		s.checkSession(ctx, sub, found[i], errs[i])
		if sub.code == "" {
			profileIDs = append(profileIDs, sub.sess.RoleProfileID)
		}
	}
	var nhsNumbers []string
	for _, ev := range evs {
		if ev.code != "" {
			continue
		}
		ev.sess = ev.sub.sess
		if ev.code = ev.sub.code; ev.code == "" {
			nhsNumbers = append(nhsNumbers, ev.nhs)
		}
	}
	if len(nhsNumbers) == 0 {
		return
	}
	facts, err := s.d.Facts.DecisionFacts(ctx, profileIDs, nhsNumbers)
	if err != nil {
		s.log.ErrorContext(ctx, "registration store failed", "decision", evs[0].id, "questions", len(evs), "err", err)
	}
	for _, sub := range looked {
		if sub.code == "" && err == nil {
			sub.choose(facts.Profiles[sub.sess.RoleProfileID], evs[0].now, s.d.Catalogue)
		}
	}
	for _, ev := range evs {
		switch {
		case ev.code != "":
		case err != nil:
			ev.code = ReasonInternal
		case ev.sub.code != "":
			ev.code = ev.sub.code
		case facts.Patients[ev.nhs] == nil: // a store that broke its contract
			s.log.ErrorContext(ctx, "registration store left out a patient's facts", "decision", ev.id)
			ev.code = ReasonInternal
		default:
			ev.profile = ev.sub.profile
			ev.input = newPolicyInput(ev, ev.sub.input, facts.Patients[ev.nhs])
		}
	}
}

// parse validates the request's fields and keeps those the input needs;
// it returns a reason code for a request that must be denied.
func (ev *evaluation) parse() string {
	r := ev.req
	if r.Subject == nil || r.Action == nil || r.Resource == nil {
		return ReasonMalformed
	}
	if r.Subject.Type != "session" || r.Resource.Type != "patient_record" || r.Action.Name == "" || len(r.Action.Name) > 64 {
		return ReasonMalformed
	}
	tok, err := sessions.ParseToken(r.Subject.ID)
	if err != nil {
		return ReasonSessionUnknown
	}
	ev.tok = tok
	ev.nhs = r.Resource.ID
	if !registration.ValidNHSNumber(ev.nhs) {
		return ReasonNHSNumberInvalid
	}
	var ok bool
	if ev.purpose, ok = stringProp(r.Context, "purpose", "direct_care"); !ok {
		return ReasonMalformed
	}
	if ev.reason, ok = stringProp(r.Context, "reason", ""); !ok || len(ev.reason) > maxReason {
		return ReasonMalformed
	}
	if ev.section, ok = stringProp(r.Resource.Properties, "section", ""); !ok || len(ev.section) > 64 {
		return ReasonMalformed
	}
	return ""
}

// subject is a looked-up session and, once the store has been read, its
// selected role profile and the input's subject part; or the reason code
// that stopped the lookup.
type subject struct {
	decision string // the first question that named it, for logs
	sess     *sessions.Session
	profile  *registration.RoleProfile
	input    *InputSubject
	code     string
}

// checkSession takes the session store's answer for sub: the session
// must exist and have a role profile selected.
func (s *Service) checkSession(ctx context.Context, sub *subject, sess *sessions.Session, err error) {
	switch {
	case errors.Is(err, sessions.ErrExpired):
		sub.code = ReasonSessionExpired
	case errors.Is(err, sessions.ErrNotFound):
		sub.code = ReasonSessionUnknown
	case err != nil || sess == nil:
		s.log.ErrorContext(ctx, "session store failed", "decision", sub.decision, "err", err)
		sub.code = ReasonInternal
	case sess.RoleProfileID == "":
		sub.sess, sub.code = sess, ReasonNoRole
	case registration.ValidateRoleProfileID(sess.RoleProfileID) != nil:
		sub.sess, sub.code = sess, ReasonRoleNotCurrent
	default:
		sub.sess = sess
	}
}

// choose takes the session's role profile as read from the store (nil
// when there is none), which must be the session user's and current at
// now.
func (sub *subject) choose(profile *registration.RoleProfile, now time.Time, cat *registration.Catalogue) {
	if profile == nil || profile.UID != sub.sess.UserID || !profile.Current(now) {
		sub.code = ReasonRoleNotCurrent
		return
	}
	sub.profile = profile
	sub.input = newInputSubject(sub.sess.UserID, profile, cat)
}

// deny answers no with one reason code and records the decision.
func (s *Service) deny(ctx context.Context, ev *evaluation, revision, code string) EvaluationResponse {
	resp := denial(ev.id, revision, code)
	if err := s.d.Log.Record(ctx, ev.decision(revision, resp), false); err != nil {
		s.log.ErrorContext(ctx, "denial could not be recorded", "decision", ev.id, "err", err)
	}
	return resp
}

// decision is the decision log's record of ev answered resp; the request
// is recorded without the session token.
func (ev *evaluation) decision(revision string, resp EvaluationResponse) policy.Decision {
	return policy.Decision{
		ID:         ev.id,
		Time:       ev.now,
		Query:      AccessQuery,
		Revision:   revision,
		Input:      loggedInput{Request: ev.loggedRequest(), PolicyInput: ev.input},
		Result:     resp,
		Allow:      resp.Decision,
		Caller:     ev.caller,
		DurationUS: time.Since(ev.start).Microseconds(),
	}
}

// loggedInput is what the decision log keeps of a decision's inputs.
type loggedInput struct {
	Request     EvaluationRequest `json:"request"`
	PolicyInput *PolicyInput      `json:"policy_input,omitempty"`
}

// secretKeys are the property names whose values the decision log masks
// wherever a caller put them.
var secretKeys = []string{"session_token", "token", "authorization"}

// loggedRequest is the request as the decision log keeps it: the session
// token replaced by the public session id (or REDACTED when no session
// was found) and the free-form properties the caller supplied masked
// (policy.Mask). The policy input needs no masking: authd builds it from
// the store and the request's validated fields, none of them secret.
func (ev *evaluation) loggedRequest() EvaluationRequest {
	req := ev.req
	if req.Subject != nil {
		subj := *req.Subject
		subj.ID = policy.Redacted
		if ev.sess != nil {
			subj.ID = "session:" + ev.sess.ID
		}
		subj.Properties = maskProps(subj.Properties)
		req.Subject = &subj
	}
	if req.Action != nil {
		a := *req.Action
		a.Properties = maskProps(a.Properties)
		req.Action = &a
	}
	if req.Resource != nil {
		r := *req.Resource
		r.Properties = maskProps(r.Properties)
		req.Resource = &r
	}
	req.Context = maskProps(req.Context)
	return req
}

func maskProps(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	masked, _ := policy.Mask(m, secretKeys...).(map[string]any)
	return masked
}

// parseDecision reads the policy's decision document strictly.
func parseDecision(v any) (allow bool, codes []string, obligations []Obligation, err error) {
	m, ok := v.(map[string]any)
	if !ok {
		return false, nil, nil, fmt.Errorf("decision is %T, not an object", v)
	}
	if allow, ok = m["allow"].(bool); !ok {
		return false, nil, nil, errors.New("decision.allow is not a boolean")
	}
	rc, ok := m["reason_codes"].([]any)
	if !ok {
		return false, nil, nil, errors.New("decision.reason_codes is not an array")
	}
	codes = make([]string, 0, len(rc))
	for _, c := range rc {
		cs, ok := c.(string)
		if !ok {
			return false, nil, nil, errors.New("a reason code is not a string")
		}
		codes = append(codes, cs)
	}
	sort.Strings(codes)
	obs, ok := m["obligations"].([]any)
	if !ok {
		return false, nil, nil, errors.New("decision.obligations is not an array")
	}
	obligations = make([]Obligation, 0, len(obs))
	for _, o := range obs {
		om, ok := o.(map[string]any)
		if !ok {
			return false, nil, nil, errors.New("an obligation is not an object")
		}
		typ, _ := om["type"].(string)
		at, _ := om["alert_type"].(string)
		if typ == "" || (typ == "alert" && at == "") {
			return false, nil, nil, errors.New("an obligation lacks its type")
		}
		obligations = append(obligations, Obligation{Type: typ, AlertType: at})
	}
	return allow, codes, obligations, nil
}

// stringProp reads an optional string property; ok is false when present
// but not a string.
func stringProp(m map[string]any, key, def string) (string, bool) {
	v, present := m[key]
	if !present || v == nil {
		return def, true
	}
	s, ok := v.(string)
	return strings.TrimSpace(s), ok
}
