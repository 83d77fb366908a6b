package pdp

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/registration"
)

// The patient-fact endpoints: spine services record legitimate
// relationships (for example on referral), let a user self-claim one, and
// read and update consent. Each acts for the user whose session is given
// in the SessionHeader, and each is decided by the same policy and
// recorded in the same decision log as an access question.

// SessionHeader carries the user's session token on these endpoints.
const SessionHeader = "X-Spine-Session"

// Records is the registration store these endpoints write to.
type Records interface {
	Facts
	CreateRelationship(ctx context.Context, r registration.Relationship) error
	Consent(ctx context.Context, nhs string) (*registration.Consent, error)
	SetConsent(ctx context.Context, c registration.Consent) error
}

var _ Records = (registration.Store)(nil)

func (s *Service) registerRecords(mux *http.ServeMux) {
	records, ok := s.d.Facts.(Records)
	if !ok {
		return
	}
	mux.HandleFunc("POST /v1/patients/{nhs}/relationships", s.authenticated(func(w http.ResponseWriter, r *http.Request, caller string) {
		s.handleRecordRelationship(w, r, caller, records)
	}))
	mux.HandleFunc("POST /v1/patients/{nhs}/relationships/self-claim", s.authenticated(func(w http.ResponseWriter, r *http.Request, caller string) {
		s.handleSelfClaim(w, r, caller, records)
	}))
	mux.HandleFunc("GET /v1/patients/{nhs}/consent", s.authenticated(func(w http.ResponseWriter, r *http.Request, caller string) {
		s.handleGetConsent(w, r, caller, records)
	}))
	mux.HandleFunc("PUT /v1/patients/{nhs}/consent", s.authenticated(func(w http.ResponseWriter, r *http.Request, caller string) {
		s.handlePutConsent(w, r, caller, records)
	}))
}

// decide asks the policy whether the session's user may do action on the
// patient's section; on a deny it writes the answer and returns nil.
func (s *Service) decide(w http.ResponseWriter, r *http.Request, caller, action, section, reason string) (*EvaluationResponse, *evaluation) {
	req := EvaluationRequest{
		Subject:  &Entity{Type: "session", ID: r.Header.Get(SessionHeader)},
		Action:   &Action{Name: action},
		Resource: &Entity{Type: "patient_record", ID: r.PathValue("nhs"), Properties: map[string]any{"section": section}},
		Context:  map[string]any{"purpose": "direct_care", "reason": reason},
	}
	ev := &evaluation{id: policy.NewDecisionID(time.Now()), caller: caller, start: time.Now(), now: s.d.Now(), req: req}
	resp := s.evaluate(r.Context(), ev)
	s.d.Metrics.observe(resp, time.Since(ev.start))
	if !resp.Decision {
		writeJSON(w, http.StatusForbidden, resp)
		return nil, nil
	}
	return &resp, ev
}

type relationshipBody struct {
	Kind       string     `json:"kind"`        // registered | referral
	TargetType string     `json:"target_type"` // user | workgroup | organisation
	Target     string     `json:"target"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	Reason     string     `json:"reason,omitempty"`
}

func (s *Service) handleRecordRelationship(w http.ResponseWriter, r *http.Request, caller string, st Records) {
	var body relationshipBody
	if status, ok := decodeBody(w, r, maxEvalBody, &body); !ok {
		writeJSON(w, status, s.malformed(r, caller))
		return
	}
	if body.Kind != string(registration.RelationshipRegistered) && body.Kind != string(registration.RelationshipReferral) {
		writeError(w, http.StatusBadRequest, "bad_request", "kind must be registered or referral")
		return
	}
	resp, ev := s.decide(w, r, caller, "record", "relationship", body.Reason)
	if resp == nil {
		return
	}
	rel := registration.Relationship{
		ID: registration.NewRecordID(), NHSNumber: ev.nhs,
		Kind:       registration.RelationshipKind(body.Kind),
		TargetType: registration.TargetType(body.TargetType),
		Target:     body.Target, CreatedBy: ev.sess.UserID, Reason: body.Reason, CreatedAt: ev.now,
	}
	if body.ExpiresAt != nil {
		rel.ExpiresAt = *body.ExpiresAt
	}
	s.createRelationship(w, r, st, rel, resp)
}

func (s *Service) handleSelfClaim(w http.ResponseWriter, r *http.Request, caller string, st Records) {
	var body struct {
		Reason string `json:"reason"`
	}
	if status, ok := decodeBody(w, r, maxEvalBody, &body); !ok {
		writeJSON(w, status, s.malformed(r, caller))
		return
	}
	resp, ev := s.decide(w, r, caller, "self_claim", "relationship", body.Reason)
	if resp == nil {
		return
	}
	rel := registration.Relationship{
		ID: registration.NewRecordID(), NHSNumber: ev.nhs, Kind: registration.RelationshipSelfClaimed,
		TargetType: registration.TargetUser, Target: ev.sess.UserID,
		CreatedBy: ev.sess.UserID, Reason: ev.reason, CreatedAt: ev.now,
	}
	s.createRelationship(w, r, st, rel, resp)
}

func (s *Service) createRelationship(w http.ResponseWriter, r *http.Request, st Records, rel registration.Relationship, resp *EvaluationResponse) {
	err := st.CreateRelationship(r.Context(), rel)
	switch {
	case errors.Is(err, registration.ErrInvalid):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	case err != nil:
		s.log.ErrorContext(r.Context(), "relationship not stored", "decision", resp.Context.ID, "err", err)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the registration store is unavailable")
	default:
		s.log.InfoContext(r.Context(), "relationship recorded", "decision", resp.Context.ID, "relationship", rel.ID, "kind", rel.Kind)
		writeJSON(w, http.StatusCreated, map[string]any{"decision": resp, "relationship": rel})
	}
}

func (s *Service) handleGetConsent(w http.ResponseWriter, r *http.Request, caller string, st Records) {
	resp, ev := s.decide(w, r, caller, "view", "consent", "")
	if resp == nil {
		return
	}
	c, err := st.Consent(r.Context(), ev.nhs)
	switch {
	case errors.Is(err, registration.ErrNotFound):
		c = &registration.Consent{NHSNumber: ev.nhs, SCR: registration.ConsentUnknown}
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the registration store is unavailable")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"decision": resp, "consent": c})
}

func (s *Service) handlePutConsent(w http.ResponseWriter, r *http.Request, caller string, st Records) {
	var body struct {
		SCR          string   `json:"scr"`
		DissentCodes []string `json:"dissent_codes"`
		Version      int      `json:"version"`
	}
	if status, ok := decodeBody(w, r, maxEvalBody, &body); !ok {
		writeJSON(w, status, s.malformed(r, caller))
		return
	}
	resp, ev := s.decide(w, r, caller, "amend", "consent", "")
	if resp == nil {
		return
	}
	c := registration.Consent{NHSNumber: ev.nhs, SCR: registration.ConsentSCR(body.SCR), DissentCodes: body.DissentCodes,
		UpdatedBy: ev.sess.UserID, UpdatedAt: ev.now, Version: body.Version}
	err := st.SetConsent(r.Context(), c)
	switch {
	case errors.Is(err, registration.ErrInvalid):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
	case errors.Is(err, registration.ErrConflict):
		writeError(w, http.StatusConflict, "conflict", "consent changed since version given; read it again")
	case err != nil:
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the registration store is unavailable")
	default:
		writeJSON(w, http.StatusOK, map[string]any{"decision": resp, "consent": c})
	}
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}
