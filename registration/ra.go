package registration

import (
	"context"
	"time"
)

// RA is the registration authority's part of the Store: the writes an RA
// makes, each committed in ONE transaction with the audit entry that
// records it (so an acknowledged action always has its record, and a
// crash leaves both or neither), and the reads its rules need.
//
// Card writes go through the card CA (package cardca), whose store
// writes carry the RA's audit entry in their transaction by context (see
// WithAudit).
//
// Every write's AuditEntry is appended to the hash chain as given, with
// ID (NewRecordID) and At (the store's clock) filled in when zero and
// Outcome AuditDone. The store checks the life cycle and the two-person
// rule on its own records as a second line behind the policy (the RA
// layer decides who may act at all): an approver is neither the holder
// nor the requester of a profile (ErrConflict), and a registrar does not
// check their own identity (ErrInvalid).
type RA interface {
	// RegisterPerson creates p (as CreatePerson) with the identity check
	// behind it; check.UID must be p.UID.
	RegisterPerson(ctx context.Context, p Person, check IdentityCheck, a AuditEntry) error
	// UpdatePerson changes a person's name and status with optimistic
	// versioning: p.Version must be the stored version, else ErrConflict
	// (nothing is written). It returns the stored person, Version+1.
	UpdatePerson(ctx context.Context, p Person, a AuditEntry) (*Person, error)
	// IdentityChecks returns a person's identity checks, oldest first.
	IdentityChecks(ctx context.Context, uid string) ([]IdentityCheck, error)
	// PersonOrganisations returns the organisations a person belongs to,
	// sorted: those they were registered for and those of their role
	// profiles that have not ended.
	PersonOrganisations(ctx context.Context, uid string) ([]string, error)
	// FindPeople returns the people f selects, ordered by name and UID.
	FindPeople(ctx context.Context, f PersonFilter) ([]Person, error)

	// RequestRoleProfile creates rp, which must be pending, recording who
	// asked for it.
	RequestRoleProfile(ctx context.Context, rp RoleProfile, req RoleProfileRequest, a AuditEntry) error
	// RoleProfileRequest returns who asked for a role profile, or
	// ErrNotFound (profiles created directly, such as the demo world's).
	RoleProfileRequest(ctx context.Context, id string) (*RoleProfileRequest, error)
	// ApproveRoleProfile makes a pending profile active, approved by
	// approver, who must be neither its holder nor its requester.
	ApproveRoleProfile(ctx context.Context, id, approver string, a AuditEntry) error
	// EndRoleProfile ends a pending or active profile.
	EndRoleProfile(ctx context.Context, id string, a AuditEntry) error
	// PendingRoleProfiles returns the pending profiles at an organisation,
	// oldest first.
	PendingRoleProfiles(ctx context.Context, ods string) ([]RoleProfile, error)

	// AppendAudit appends an entry that records no change of its own (a
	// login, a refusal, an unlock done on the card) and returns it as
	// stored, with Seq and hashes.
	AppendAudit(ctx context.Context, a AuditEntry) (*AuditEntry, error)
	// AuditEntries returns the entries f selects, in Seq order.
	AuditEntries(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// AuditHead returns the recorded end of the chain.
	AuditHead(ctx context.Context) (*AuditHead, error)
	// VerifyAudit checks the whole chain up to the head read when it
	// starts; a broken chain is an *AuditChainError naming the first bad
	// row.
	VerifyAudit(ctx context.Context) (int64, error)
}

// DocumentType is a kind of identity evidence (the NHS RA's documents:
// photographic ID, then proof of address or employment).
type DocumentType string

const (
	DocPassport                 DocumentType = "passport"
	DocDrivingLicence           DocumentType = "driving_licence"
	DocNationalIdentityCard     DocumentType = "national_identity_card"
	DocBirthCertificate         DocumentType = "birth_certificate"
	DocBiometricResidencePermit DocumentType = "biometric_residence_permit"
	DocUtilityBill              DocumentType = "utility_bill"
	DocBankStatement            DocumentType = "bank_statement"
	DocEmployerLetter           DocumentType = "employer_letter"
)

// Valid reports whether t is one of the defined document types.
func (t DocumentType) Valid() bool {
	switch t {
	case DocPassport, DocDrivingLicence, DocNationalIdentityCard, DocBirthCertificate,
		DocBiometricResidencePermit, DocUtilityBill, DocBankStatement, DocEmployerLetter:
		return true
	}
	return false
}

// IdentityCheck is the evidence an RA member checked before registering
// a person, and the organisation the person was registered for.
type IdentityCheck struct {
	ID           string // NewRecordID if empty
	UID          string
	ODS          string
	DocumentType DocumentType
	DocumentRef  string // the document's number or reference, 1-64 of [A-Za-z0-9_-]
	CheckedBy    string
	CheckedAt    time.Time
}

// Validate checks every field, with ID and CheckedAt filled in.
func (c IdentityCheck) Validate() error {
	if err := checkRecordID("id", c.ID); err != nil {
		return err
	}
	if err := ValidateUserID(c.UID); err != nil {
		return err
	}
	if err := ValidateODSCode(c.ODS); err != nil {
		return err
	}
	if !c.DocumentType.Valid() {
		return invalid("document_type", "is not a known kind of identity document")
	}
	if err := checkToken("document_ref", c.DocumentRef, 64, true); err != nil {
		return err
	}
	if err := checkUserID("checked_by", c.CheckedBy); err != nil {
		return err
	}
	if c.CheckedBy == c.UID {
		return invalid("checked_by", "must not be the person registered")
	}
	return checkTime("checked_at", c.CheckedAt)
}

// RoleProfileRequest records who asked for a role profile and why.
type RoleProfileRequest struct {
	RoleProfileID string
	RequestedBy   string
	RequestedAt   time.Time
	Reason        string // optional
}

// PersonFilter selects people. At least one of Name and ODS is required.
type PersonFilter struct {
	// Name matches people whose name contains it, ignoring ASCII case.
	Name string
	// ODS keeps people who belong to the organisation (as
	// PersonOrganisations).
	ODS   string
	Limit int // 1..200; 0 means 50
}

func (f PersonFilter) validate() (PersonFilter, error) {
	if f.Name == "" && f.ODS == "" {
		return f, invalid("filter", "needs a name or an organisation")
	}
	if f.Name != "" {
		if err := checkName("name", f.Name); err != nil {
			return f, err
		}
	}
	if f.ODS != "" {
		if err := ValidateODSCode(f.ODS); err != nil {
			return f, err
		}
	}
	switch {
	case f.Limit == 0:
		f.Limit = 50
	case f.Limit < 0 || f.Limit > 200:
		return f, invalid("limit", "must be between 1 and 200")
	}
	return f, nil
}
