package ra

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
	"github.com/carespine/spineauth/sessions"
)

// Query is the name of the RA policy query in the policy engine.
const Query = "ra"

// Sessions finds RA staff's sessions and ends the sessions of people and
// cards that may no longer have one.
type Sessions interface {
	Get(ctx context.Context, tok sessions.Token) (*sessions.Session, error)
	DeleteUser(ctx context.Context, userID string) (int, error)
	DeleteCard(ctx context.Context, cardID string) (int, error)
}

// Store is the registration data the RA reads and writes.
type Store interface {
	registration.RA
	Person(ctx context.Context, uid string) (*registration.Person, error)
	Organisation(ctx context.Context, ods string) (*registration.Organisation, error)
	RoleProfile(ctx context.Context, id string) (*registration.RoleProfile, error)
	RoleProfilesOf(ctx context.Context, uid string) ([]registration.RoleProfile, error)
	Card(ctx context.Context, id string) (*registration.Card, error)
	CardsOf(ctx context.Context, uid string) ([]registration.Card, error)
	SetCardStatus(ctx context.Context, id string, st registration.CardStatus) error
}

// Evaluator runs a named policy query.
type Evaluator interface {
	Eval(ctx context.Context, query string, input any) (*policy.Result, error)
}

// CA is the card certificate authority (package cardca): it certifies a
// public key generated on a card, renews a card's certificate and
// cancels a card with its certificates revoked. Its store writes carry
// the RA's audit entry by context (registration.WithAudit).
type CA interface {
	IssueCard(ctx context.Context, uid string, pub crypto.PublicKey) (*cardca.Issued, error)
	RenewCard(ctx context.Context, cardID string, pub crypto.PublicKey) (*cardca.Issued, error)
	CancelCard(ctx context.Context, cardID string, reason registration.RevocationReason) ([]registration.IssuedCert, error)
}

var (
	_ Store     = (registration.Store)(nil)
	_ Evaluator = (*policy.Engine)(nil)
	_ Sessions  = (sessions.Store)(nil)
	_ CA        = (*cardca.CA)(nil)
)

// Deps are the service's collaborators.
type Deps struct {
	Store     Store
	Sessions  Sessions
	Policy    Evaluator
	Catalogue *registration.Catalogue
	// CA may be nil: cards cannot then be issued or renewed (503
	// ca_unavailable), and a cancelled card is not revoked (the answer
	// says so).
	CA     CA
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the RA API. It is safe for concurrent use.
type Service struct {
	d   Deps
	log *slog.Logger
}

// New checks deps and returns a Service.
func New(d Deps) (*Service, error) {
	if d.Store == nil || d.Sessions == nil || d.Policy == nil || d.Catalogue == nil {
		return nil, errors.New("ra: store, sessions, policy and catalogue are required")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{d: d, log: log}, nil
}

// actor is the RA member making a request: their session and the role
// profile selected in it.
type actor struct {
	sess    *sessions.Session
	profile *registration.RoleProfile
	current bool
}

// target is what an action is about, as the policy sees it.
type target struct {
	UID         string   `json:"uid,omitempty"`
	Org         string   `json:"org,omitempty"`
	Orgs        []string `json:"orgs"`
	Activities  []string `json:"activities"`
	RequestedBy string   `json:"requested_by,omitempty"`
}

// Error is a refusal: a stable code, a safe message, and for policy
// refusals the reason codes and decision id.
type Error struct {
	Status      int      `json:"-"`
	Code        string   `json:"error"`
	Message     string   `json:"message"`
	ReasonCodes []string `json:"reason_codes,omitempty"`
	DecisionID  string   `json:"decision_id,omitempty"`
	Err         error    `json:"-"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

func fail(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// storeError maps a store error onto an answer.
func storeError(err error, what string) *Error {
	var inv *registration.InvalidError
	switch {
	case errors.As(err, &inv):
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: inv.Error(), Err: err}
	case errors.Is(err, registration.ErrInvalid):
		return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: what + " is not acceptable", Err: err}
	case errors.Is(err, registration.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: what + " was not found", Err: err}
	case errors.Is(err, registration.ErrExists):
		return &Error{Status: http.StatusConflict, Code: "exists", Message: what + " already exists", Err: err}
	case errors.Is(err, registration.ErrConflict):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: what + " is not in a state that allows this change (it may have changed meanwhile)", Err: err}
	}
	return &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the registration store is unavailable; try again shortly", Err: err}
}

// authenticate finds the caller's session and selected role profile.
func (s *Service) authenticate(ctx context.Context, header string) (*actor, *Error) {
	const prefix = "Bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return nil, fail(http.StatusUnauthorized, "session_invalid", "missing bearer session token")
	}
	tok, err := sessions.ParseToken(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return nil, fail(http.StatusUnauthorized, "session_invalid", "malformed session token")
	}
	sess, err := s.d.Sessions.Get(ctx, tok)
	switch {
	case errors.Is(err, sessions.ErrExpired):
		return nil, fail(http.StatusUnauthorized, "session_expired", "session has expired; log in again")
	case errors.Is(err, sessions.ErrNotFound):
		return nil, fail(http.StatusUnauthorized, "session_invalid", "session is unknown or has ended")
	case err != nil:
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: "unavailable", Message: "the session store is unavailable", Err: err}
	}
	if sess.RoleProfileID == "" {
		return nil, fail(http.StatusForbidden, "no_role_selected", "select a role profile for this session first")
	}
	rp, err := s.d.Store.RoleProfile(ctx, sess.RoleProfileID)
	if err != nil && !errors.Is(err, registration.ErrNotFound) {
		return nil, storeError(err, "the role profile")
	}
	a := &actor{sess: sess, profile: rp}
	a.current = rp != nil && rp.UID == sess.UserID && rp.Current(s.d.Now())
	if rp == nil || rp.UID != sess.UserID {
		a.profile = &registration.RoleProfile{ID: sess.RoleProfileID, UID: sess.UserID}
	}
	return a, nil
}

// decision is the policy's answer for one action.
type decision struct {
	id       string
	allow    bool
	reasons  []string
	revision string
}

// decide asks the policy, and audits a refusal. A policy that fails or
// answers malformed refuses with internal_error.
func (s *Service) decide(ctx context.Context, act *actor, action string, t target) (*decision, *Error) {
	now := s.d.Now()
	d := &decision{id: policy.NewDecisionID(now)}
	if t.Orgs == nil {
		t.Orgs = []string{}
	}
	if t.Activities == nil {
		t.Activities = []string{}
	}
	input := map[string]any{
		"action": action,
		"now":    now.UTC().Format(time.RFC3339),
		"actor": map[string]any{
			"uid":             act.sess.UserID,
			"role_profile_id": act.profile.ID,
			"org":             act.profile.ODS,
			"job_role":        act.profile.JobRole,
			"activities":      s.d.Catalogue.Closure(act.profile.Activities),
			"role_current":    act.current,
		},
		"target": t,
	}
	res, err := s.d.Policy.Eval(ctx, Query, input)
	if err == nil {
		d.revision = res.Revision
		d.allow, d.reasons, err = parseDecision(res.Value)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "RA policy failed; refusing", "decision", d.id, "action", action, "err", err)
		d.allow, d.reasons = false, []string{"internal_error"}
	}
	if d.allow {
		return d, nil
	}
	e := &Error{Status: http.StatusForbidden, Code: d.reasons[0], ReasonCodes: d.reasons, DecisionID: d.id,
		Message: "refused by the RA policy: " + strings.Join(d.reasons, ", ")}
	_, aerr := s.d.Store.AppendAudit(ctx, registration.AuditEntry{
		At: now, ActorUID: act.sess.UserID, ActorRoleProfileID: auditRP(act.profile.ID), Action: action,
		Outcome: registration.AuditDenied, SubjectUID: t.UID, Reason: strings.Join(d.reasons, " "), DecisionID: d.id,
	})
	if aerr != nil {
		s.log.ErrorContext(ctx, "refusal could not be audited", "decision", d.id, "err", aerr)
	}
	s.log.InfoContext(ctx, "RA action refused", "decision", d.id, "action", action, "actor", act.sess.UserID,
		"subject", t.UID, "reasons", d.reasons)
	return nil, e
}

func auditRP(id string) string {
	if registration.ValidRoleProfileID(id) {
		return id
	}
	return ""
}

// parseDecision reads {"allow": bool, "reason_codes": [string]} strictly.
// A refusal always carries a reason.
func parseDecision(v any) (bool, []string, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return false, nil, fmt.Errorf("decision is %T, not an object", v)
	}
	allow, ok := m["allow"].(bool)
	if !ok {
		return false, nil, errors.New("decision.allow is not a boolean")
	}
	rc, ok := m["reason_codes"].([]any)
	if !ok {
		return false, nil, errors.New("decision.reason_codes is not an array")
	}
	codes := make([]string, 0, len(rc))
	for _, c := range rc {
		cs, ok := c.(string)
		if !ok || cs == "" {
			return false, nil, errors.New("a reason code is not a string")
		}
		codes = append(codes, cs)
	}
	sort.Strings(codes)
	switch {
	case allow && len(codes) > 0:
		return false, nil, errors.New("decision allows with reason codes")
	case !allow && len(codes) == 0:
		return false, []string{"internal_error"}, nil
	}
	return allow, codes, nil
}

// entry is the audit entry of an allowed action.
func (s *Service) entry(act *actor, d *decision, action, subject, tgt, reason, details string) registration.AuditEntry {
	return registration.AuditEntry{
		At: s.d.Now(), ActorUID: act.sess.UserID, ActorRoleProfileID: auditRP(act.profile.ID),
		Action: action, Outcome: registration.AuditDone, SubjectUID: subject, Target: tgt,
		Reason: reason, DecisionID: d.id, Details: details,
	}
}

// personTarget describes a person for the policy.
func (s *Service) personTarget(ctx context.Context, uid string) (target, *Error) {
	orgs, err := s.d.Store.PersonOrganisations(ctx, uid)
	if err != nil {
		return target{}, storeError(err, "the person")
	}
	return target{UID: uid, Orgs: orgs}, nil
}
