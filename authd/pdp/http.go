package pdp

import (
	"crypto/x509"
	"errors"
	"net/http"
	"time"

	"github.com/carespine/spineauth/authd/httpjson"
	"github.com/carespine/spineauth/policy"
)

// Request limits.
const (
	maxEvalBody      = 64 << 10
	maxBatchBody     = 1 << 20
	maxBatchRequests = 100
)

// Register adds the AuthZEN endpoints and the patient-fact endpoints to
// mux. Every one requires an authenticated calling service.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /access/v1/evaluation", s.authenticated(s.handleEvaluation))
	mux.HandleFunc("POST /access/v1/evaluations", s.authenticated(s.handleEvaluations))
	s.registerRecords(mux)
}

// CallerOf returns the name of the calling service: the subject common
// name of a client certificate that the TLS layer verified against the
// configured service CAs (chain and clientAuth usage).
func CallerOf(r *http.Request) (string, bool) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || len(r.TLS.VerifiedChains[0]) == 0 {
		return "", false
	}
	leaf := r.TLS.VerifiedChains[0][0]
	return callerName(leaf), true
}

func callerName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	return c.Subject.String()
}

// authenticated refuses requests without a verified service certificate.
func (s *Service) authenticated(h func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		caller, ok := CallerOf(r)
		if !ok {
			writeJSON(w, http.StatusUnauthorized, map[string]string{
				"error":   "caller_unauthenticated",
				"message": "the PDP answers only spine services presenting a client certificate issued by a configured service CA",
			})
			return
		}
		h(w, r, caller)
	}
}

func (s *Service) handleEvaluation(w http.ResponseWriter, r *http.Request, caller string) {
	var req EvaluationRequest
	if status, ok := decodeBody(w, r, maxEvalBody, &req); !ok {
		writeJSON(w, status, s.malformed(r, caller))
		return
	}
	writeJSON(w, http.StatusOK, s.Evaluate(r.Context(), caller, req))
}

func (s *Service) handleEvaluations(w http.ResponseWriter, r *http.Request, caller string) {
	var req BatchRequest
	if status, ok := decodeBody(w, r, maxBatchBody, &req); !ok {
		writeJSON(w, status, BatchResponse{Evaluations: []EvaluationResponse{s.malformed(r, caller)}})
		return
	}
	if len(req.Evaluations) == 0 || len(req.Evaluations) > maxBatchRequests {
		writeJSON(w, http.StatusBadRequest, BatchResponse{Evaluations: []EvaluationResponse{s.malformed(r, caller)}})
		return
	}
	reqs := make([]EvaluationRequest, len(req.Evaluations))
	for i, e := range req.Evaluations {
		reqs[i] = e.withDefaults(req.EvaluationRequest)
	}
	writeJSON(w, http.StatusOK, BatchResponse{Evaluations: s.EvaluateBatch(r.Context(), caller, reqs)})
}

// malformed is the deny for a body that could not be read.
func (s *Service) malformed(r *http.Request, caller string) EvaluationResponse {
	ev := &evaluation{id: policy.NewDecisionID(time.Now()), caller: caller, now: s.d.Now()}
	resp := s.deny(r.Context(), ev, "", ReasonMalformed)
	s.d.Metrics.observe(resp, 0)
	return resp
}

// decodeBody reads a bounded JSON body strictly (package httpjson). On
// failure it returns the HTTP status to answer with.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any) (int, bool) {
	err := httpjson.Decode(w, r, limit, v)
	var de *httpjson.DecodeError
	switch {
	case err == nil:
		return 0, true
	case errors.As(err, &de) && de.TooLarge:
		return http.StatusRequestEntityTooLarge, false
	default:
		return http.StatusBadRequest, false
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
