package pdp

// The OpenID AuthZEN request and response shapes (DESIGN.md, "Policy
// decision point").

// Entity is an AuthZEN subject or resource.
type Entity struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Action is what the subject wants to do.
type Action struct {
	Name       string         `json:"name"`
	Properties map[string]any `json:"properties,omitempty"`
}

// EvaluationRequest is one access question.
type EvaluationRequest struct {
	Subject  *Entity        `json:"subject,omitempty"`
	Action   *Action        `json:"action,omitempty"`
	Resource *Entity        `json:"resource,omitempty"`
	Context  map[string]any `json:"context,omitempty"`
}

// Obligation is something the caller must do or know with an allow.
type Obligation struct {
	Type      string `json:"type"`
	AlertType string `json:"alert_type,omitempty"`
	AlertID   string `json:"alert_id,omitempty"`
}

// DecisionContext explains a decision.
type DecisionContext struct {
	ID             string       `json:"id"`
	ReasonCodes    []string     `json:"reason_codes"`
	Obligations    []Obligation `json:"obligations"`
	PolicyRevision string       `json:"policy_revision,omitempty"`
}

// EvaluationResponse is the answer to one question.
type EvaluationResponse struct {
	Decision bool            `json:"decision"`
	Context  DecisionContext `json:"context"`
}

// BatchRequest asks several questions; its top-level fields are defaults
// for the evaluations that leave them out.
type BatchRequest struct {
	EvaluationRequest
	Evaluations []EvaluationRequest `json:"evaluations"`
}

// BatchResponse answers in order.
type BatchResponse struct {
	Evaluations []EvaluationResponse `json:"evaluations"`
}

// withDefaults fills e's missing parts from d.
func (e EvaluationRequest) withDefaults(d EvaluationRequest) EvaluationRequest {
	if e.Subject == nil {
		e.Subject = d.Subject
	}
	if e.Action == nil {
		e.Action = d.Action
	}
	if e.Resource == nil {
		e.Resource = d.Resource
	}
	if e.Context == nil {
		e.Context = d.Context
	}
	return e
}

// Reason codes the PDP gives itself (the policy gives the others; see
// rego/README.md).
const (
	ReasonMalformed        = "malformed_request"
	ReasonSessionUnknown   = "session_unknown"
	ReasonSessionExpired   = "session_expired"
	ReasonNoRole           = "no_role_selected"
	ReasonRoleNotCurrent   = "role_profile_not_current"
	ReasonNHSNumberInvalid = "nhs_number_invalid"
	ReasonInternal         = "internal_error"
)
