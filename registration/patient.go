package registration

import (
	"slices"
	"time"
)

// The patient facts the policy decision point reads on every decision:
// legitimate relationships, consent and sealed envelopes. They are keyed
// by NHS number; the spine's demographics service owns patients, so there
// is no patient table here, and a patient nobody has recorded anything
// about simply has no facts (no relationship, no consent record, no seal).

// TargetType says what a legitimate relationship links the patient to.
type TargetType string

const (
	TargetUser         TargetType = "user"         // Target is a 12-digit user ID
	TargetWorkgroup    TargetType = "workgroup"    // Target is a workgroup ID
	TargetOrganisation TargetType = "organisation" // Target is an ODS code
)

// Valid reports whether t is one of the defined target types.
func (t TargetType) Valid() bool {
	return t == TargetUser || t == TargetWorkgroup || t == TargetOrganisation
}

// RelationshipKind says how a legitimate relationship came about.
type RelationshipKind string

const (
	// RelationshipRegistered: the patient registered with a GP practice.
	RelationshipRegistered RelationshipKind = "registered"
	// RelationshipReferral: the patient was referred (to a team, a
	// service, a clinician).
	RelationshipReferral RelationshipKind = "referral"
	// RelationshipSelfClaimed: a user claimed the relationship themselves,
	// giving a reason; the claim raises an alert.
	RelationshipSelfClaimed RelationshipKind = "self_claimed"
	// RelationshipEmergency: created by emergency ("break glass") access,
	// with a reason; raises an alert.
	RelationshipEmergency RelationshipKind = "emergency"
)

// Valid reports whether k is one of the defined kinds.
func (k RelationshipKind) Valid() bool {
	return k == RelationshipRegistered || k == RelationshipReferral ||
		k == RelationshipSelfClaimed || k == RelationshipEmergency
}

// NeedsReason reports whether a relationship of kind k must carry a reason.
func (k RelationshipKind) NeedsReason() bool {
	return k == RelationshipSelfClaimed || k == RelationshipEmergency
}

// Relationship is a legitimate relationship (LR) between a patient and a
// user, a workgroup or an organisation. It is never deleted: it expires
// (ExpiresAt) or is ended (EndedAt), and the PDP still sees it, so that it
// can tell "expired" from "never had one".
type Relationship struct {
	ID         string // 16 to 32 lower-case hex digits (NewRecordID)
	NHSNumber  string
	TargetType TargetType
	// Target is a user ID, a workgroup ID or an ODS code, by TargetType.
	Target    string
	Kind      RelationshipKind
	CreatedBy string // UID of whoever recorded it
	// Reason is required for self-claimed and emergency relationships and
	// optional otherwise (see ValidateReason).
	Reason    string
	CreatedAt time.Time
	ExpiresAt time.Time // zero: does not expire
	EndedAt   time.Time // zero: not ended
}

// Current reports whether r is in force at time at: at lies in
// [CreatedAt, ExpiresAt) and before EndedAt, a zero ExpiresAt or EndedAt
// meaning no limit.
func (r Relationship) Current(at time.Time) bool {
	if at.Before(r.CreatedAt) {
		return false
	}
	if !r.ExpiresAt.IsZero() && !at.Before(r.ExpiresAt) {
		return false
	}
	return r.EndedAt.IsZero() || at.Before(r.EndedAt)
}

// Validate checks every field of r as CreateRelationship would receive it,
// with CreatedAt already filled in.
func (r Relationship) Validate() error {
	if err := checkRecordID("id", r.ID); err != nil {
		return err
	}
	if err := checkNHS("nhs_number", r.NHSNumber); err != nil {
		return err
	}
	if err := checkTarget(r.TargetType, r.Target); err != nil {
		return err
	}
	if !r.Kind.Valid() {
		return invalid("kind", "must be registered, referral, self_claimed or emergency")
	}
	if err := checkUserID("created_by", r.CreatedBy); err != nil {
		return err
	}
	if r.Reason != "" || r.Kind.NeedsReason() {
		if r.Reason == "" {
			return invalid("reason", "is required for a self-claimed or emergency relationship")
		}
		if err := checkText("reason", r.Reason, MaxReasonLen); err != nil {
			return err
		}
	}
	if err := checkTime("created_at", r.CreatedAt); err != nil {
		return err
	}
	if !r.ExpiresAt.IsZero() {
		if err := checkTime("expires_at", r.ExpiresAt); err != nil {
			return err
		}
		if !r.ExpiresAt.After(r.CreatedAt) {
			return invalid("expires_at", "must be after created_at")
		}
	}
	if !r.EndedAt.IsZero() {
		if err := checkTime("ended_at", r.EndedAt); err != nil {
			return err
		}
		if r.EndedAt.Before(r.CreatedAt) {
			return invalid("ended_at", "must not be before created_at")
		}
	}
	return nil
}

// checkTarget checks target against the rules of its type.
func checkTarget(tt TargetType, target string) error {
	switch tt {
	case TargetUser:
		return checkUserID("target", target)
	case TargetWorkgroup:
		return checkToken("target", target, 64, true)
	case TargetOrganisation:
		return checkODS("target", target)
	}
	return invalid("target_type", "must be user, workgroup or organisation")
}

// ConsentSCR is the patient's consent flag for the summary care record.
type ConsentSCR string

const (
	ConsentYes     ConsentSCR = "yes"     // consents to an SCR being viewed
	ConsentNo      ConsentSCR = "no"      // dissents
	ConsentAsk     ConsentSCR = "ask"     // ask the patient each time
	ConsentUnknown ConsentSCR = "unknown" // recorded as not known
)

// Valid reports whether c is one of the defined flags.
func (c ConsentSCR) Valid() bool {
	return c == ConsentYes || c == ConsentNo || c == ConsentAsk || c == ConsentUnknown
}

// Consent is the patient's recorded consent. One record per patient; it
// changes by optimistic versioning (see Store.SetConsent).
type Consent struct {
	NHSNumber string
	SCR       ConsentSCR
	// DissentCodes are the Read codes recorded against the patient (93C3
	// "refused consent for upload to national shared electronic record",
	// 9Ndo "express dissent for SCR"), stored and returned sorted, never nil.
	DissentCodes []string
	UpdatedBy    string // UID
	UpdatedAt    time.Time
	// Version counts changes: 0 means "new" in SetConsent; the first stored
	// record has Version 1.
	Version int
}

// Validate checks every field of c as SetConsent would receive it, with
// UpdatedAt already filled in.
func (c Consent) Validate() error {
	if err := checkNHS("nhs_number", c.NHSNumber); err != nil {
		return err
	}
	if !c.SCR.Valid() {
		return invalid("scr", "must be yes, no, ask or unknown")
	}
	if err := checkList("dissent_codes", c.DissentCodes, MaxDissentCodes, checkReadCode); err != nil {
		return err
	}
	if err := checkUserID("updated_by", c.UpdatedBy); err != nil {
		return err
	}
	if c.Version < 0 {
		return invalid("version", "must not be negative")
	}
	return checkTime("updated_at", c.UpdatedAt)
}

// SealState is how a section of a patient's record is sealed.
type SealState string

const (
	// Sealed: viewing needs a reason and raises an alert (seal_broken).
	Sealed SealState = "sealed"
	// SealedLocked: only OwnerWorkgroup may view it; everyone else is told
	// nothing, not even that it exists.
	SealedLocked SealState = "sealed_locked"
)

// Valid reports whether s is one of the defined states.
func (s SealState) Valid() bool { return s == Sealed || s == SealedLocked }

// Seal is a sealed envelope over one section of a patient's record. There
// is at most one per (NHSNumber, Section). Whether a seal on "clinical"
// also covers "clinical/mental-health" is the policy's business.
type Seal struct {
	NHSNumber string
	Section   string // see ValidateSection
	State     SealState
	// OwnerWorkgroup is the workgroup that sealed it: required when
	// sealed_locked (it alone may see the section), optional when sealed.
	OwnerWorkgroup string
	CreatedBy      string // UID
	CreatedAt      time.Time
}

// Validate checks every field of s as CreateSeal would receive it, with
// CreatedAt already filled in.
func (s Seal) Validate() error {
	if err := checkNHS("nhs_number", s.NHSNumber); err != nil {
		return err
	}
	if err := checkSection("section", s.Section); err != nil {
		return err
	}
	if !s.State.Valid() {
		return invalid("state", "must be sealed or sealed_locked")
	}
	switch {
	case s.OwnerWorkgroup != "":
		if err := checkToken("owner_workgroup", s.OwnerWorkgroup, 64, true); err != nil {
			return err
		}
	case s.State == SealedLocked:
		return invalid("owner_workgroup", "is required for a sealed_locked section")
	}
	if err := checkUserID("created_by", s.CreatedBy); err != nil {
		return err
	}
	return checkTime("created_at", s.CreatedAt)
}

// PatientFacts is everything the PDP needs to know about a patient, read
// in one snapshot by Store.PatientFacts.
type PatientFacts struct {
	NHSNumber string
	// Relationships are all of the patient's relationships, current or
	// not, ordered by CreatedAt and then ID; never nil.
	Relationships []Relationship
	// Consent is nil when no consent has been recorded.
	Consent *Consent
	// Seals are ordered by Section; never nil.
	Seals []Seal
}

// DecisionFacts is what Store.DecisionFacts read, keyed by role profile
// ID and by NHS number.
type DecisionFacts struct {
	Profiles map[string]*RoleProfile
	Patients map[string]*PatientFacts
}

// CurrentRelationships returns the relationships that are Current at at,
// in order (a new slice, never nil).
func (f *PatientFacts) CurrentRelationships(at time.Time) []Relationship {
	out := []Relationship{}
	for _, r := range f.Relationships {
		if r.Current(at) {
			out = append(out, r)
		}
	}
	return out
}

// Seal returns the seal on exactly section, if there is one.
func (f *PatientFacts) Seal(section string) (Seal, bool) {
	i := slices.IndexFunc(f.Seals, func(s Seal) bool { return s.Section == section })
	if i < 0 {
		return Seal{}, false
	}
	return f.Seals[i], true
}
