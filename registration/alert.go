package registration

import "time"

// AlertType says what raised an alert.
type AlertType string

const (
	AlertSelfClaimedRelationship AlertType = "self_claimed_relationship"
	AlertEmergencyAccess         AlertType = "emergency_access"
	AlertSealBroken              AlertType = "seal_broken"
	AlertDissentOverride         AlertType = "dissent_override"
)

// Valid reports whether t is one of the defined types.
func (t AlertType) Valid() bool {
	return t == AlertSelfClaimedRelationship || t == AlertEmergencyAccess ||
		t == AlertSealBroken || t == AlertDissentOverride
}

// AlertStatus is where an alert is in its review.
type AlertStatus string

const (
	// AlertOpen: waiting for a privacy officer.
	AlertOpen AlertStatus = "open"
	// AlertClosed: reviewed and closed; final.
	AlertClosed AlertStatus = "closed"
	// AlertEscalated: reviewed and passed on (to the Caldicott Guardian,
	// say); it is closed by a later review.
	AlertEscalated AlertStatus = "escalated"
)

// Valid reports whether s is one of the defined statuses.
func (s AlertStatus) Valid() bool {
	return s == AlertOpen || s == AlertClosed || s == AlertEscalated
}

// alertTransitionOK is the review life cycle: open becomes closed or
// escalated; escalated becomes closed; closed is final.
func alertTransitionOK(from, to AlertStatus) bool {
	switch from {
	case AlertOpen:
		return to == AlertClosed || to == AlertEscalated
	case AlertEscalated:
		return to == AlertClosed
	}
	return false
}

// Alert is an event privacy officers must review: a self-claimed
// relationship, emergency access, a broken seal or an override of the
// patient's dissent. The PDP stores it before it answers.
type Alert struct {
	ID        string // 16 to 32 lower-case hex digits (NewRecordID)
	Type      AlertType
	NHSNumber string
	// UID and RoleProfileID are who triggered it, in which role; the role
	// profile must be UID's.
	UID           string
	RoleProfileID string
	// ODS is the organisation whose privacy officers review the alert: the
	// organisation of RoleProfileID, which the store checks.
	ODS    string
	Reason string // required: every alert type comes from an act that needs one
	// DecisionID links the alert to the PDP decision that raised it; empty
	// when it was not raised by a decision. 1 to 64 of [A-Za-z0-9_-].
	DecisionID string
	CreatedAt  time.Time
	Status     AlertStatus
	// The latest review: empty while open. Escalating and then closing
	// keeps the closing review (the audit log keeps both).
	ReviewedBy string
	ReviewNote string // optional, see MaxReviewNoteLen
	ReviewedAt time.Time
}

// Validate checks every field of a as the store keeps it. CreateAlert
// additionally requires Status open.
func (a Alert) Validate() error {
	if err := checkRecordID("id", a.ID); err != nil {
		return err
	}
	if !a.Type.Valid() {
		return invalid("type", "must be self_claimed_relationship, emergency_access, seal_broken or dissent_override")
	}
	if err := checkNHS("nhs_number", a.NHSNumber); err != nil {
		return err
	}
	if err := checkUserID("uid", a.UID); err != nil {
		return err
	}
	if err := checkDigits("role_profile_id", a.RoleProfileID, 12); err != nil {
		return err
	}
	if err := checkODS("ods", a.ODS); err != nil {
		return err
	}
	if err := checkText("reason", a.Reason, MaxReasonLen); err != nil {
		return err
	}
	if a.DecisionID != "" {
		if err := checkToken("decision_id", a.DecisionID, 64, true); err != nil {
			return err
		}
	}
	if err := checkTime("created_at", a.CreatedAt); err != nil {
		return err
	}
	if !a.Status.Valid() {
		return invalid("status", "must be open, closed or escalated")
	}
	return checkReview(a)
}

// checkReview applies the review rules: an open alert has no review; a
// reviewed one names a reviewer (not the user who triggered it) and a time.
func checkReview(a Alert) error {
	if a.Status == AlertOpen {
		if a.ReviewedBy != "" || a.ReviewNote != "" || !a.ReviewedAt.IsZero() {
			return invalid("reviewed_by", "must be empty while the alert is open")
		}
		return nil
	}
	if err := checkReviewer(a.ReviewedBy, a.UID); err != nil {
		return err
	}
	if a.ReviewNote != "" {
		if err := checkText("review_note", a.ReviewNote, MaxReviewNoteLen); err != nil {
			return err
		}
	}
	// ReviewedAt is not compared with CreatedAt: they may come from the
	// clocks of different nodes.
	return checkTime("reviewed_at", a.ReviewedAt)
}

// checkReviewer: a reviewer is a user, and nobody reviews their own alert.
func checkReviewer(reviewer, triggeredBy string) error {
	if err := checkUserID("reviewed_by", reviewer); err != nil {
		return err
	}
	if reviewer == triggeredBy {
		return invalid("reviewed_by", "must not be the user who triggered the alert")
	}
	return nil
}

// Limits on Alerts.
const (
	DefaultAlertsLimit = 100
	MaxAlertsLimit     = 1000
)

// AlertFilter selects alerts for a review queue. Empty fields match
// everything.
type AlertFilter struct {
	ODS    string      // the reviewing organisation
	Status AlertStatus // open, closed or escalated
	// Limit is the most alerts returned: 0 means DefaultAlertsLimit; more
	// than MaxAlertsLimit is ErrInvalid.
	Limit int
}

// validate checks f and returns it with the default limit applied.
func (f AlertFilter) validate() (AlertFilter, error) {
	if f.ODS != "" {
		if err := checkODS("ods", f.ODS); err != nil {
			return f, err
		}
	}
	if f.Status != "" && !f.Status.Valid() {
		return f, invalid("status", "must be open, closed or escalated")
	}
	switch {
	case f.Limit < 0 || f.Limit > MaxAlertsLimit:
		return f, invalid("limit", "must be between 0 and 1000")
	case f.Limit == 0:
		f.Limit = DefaultAlertsLimit
	}
	return f, nil
}
