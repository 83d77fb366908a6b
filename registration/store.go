package registration

import (
	"context"
	"time"
)

// Store is the registration database: people, organisations, role
// profiles and cards; patients' legitimate relationships, consent and
// sealed envelopes; and the alerts privacy officers review. It is the
// broad interface the conformance suite (package storetest) exercises
// against every backend; consumers declare the narrow interfaces they
// need (authd's login needs only Person, CardByFingerprint and
// RoleProfilesOf; the PDP, PatientFacts and CreateAlert) and the backends
// satisfy them.
//
// Contract for every backend:
//
//   - Every argument and record is validated before anything is read or
//     written; a malformed identifier is ErrInvalid, never ErrNotFound, and
//     never reaches the database.
//   - Each write is one transaction: it happens completely or not at all.
//   - Lookups return ErrNotFound for a well-formed identifier that names
//     nothing; Create* return ErrExists for a duplicate identity (or a
//     duplicate certificate fingerprint) and ErrInvalid for a reference to
//     a record that does not exist (a role profile's person, organisation
//     or approver; a card's owner). State changes that the life cycle does
//     not allow are ErrConflict.
//   - Times are stored to the microsecond and returned in UTC. A zero
//     CreatedAt, UpdatedAt or IssuedAt is set from the store's clock.
//   - Lists (activities, workgroups) are stored and returned sorted, and
//     returned non-nil; RoleProfilesOf and CardsOf return a non-nil slice,
//     or ErrNotFound when the person does not exist.
//   - Close releases the store's resources; calling it again returns nil.
//     Every method is safe for concurrent use until Close.
type Store interface {
	// CreatePerson registers p. p.Version must be 0; the stored person has
	// Version 1. A zero UpdatedAt is set to CreatedAt.
	CreatePerson(ctx context.Context, p Person) error
	Person(ctx context.Context, uid string) (*Person, error)

	CreateOrganisation(ctx context.Context, o Organisation) error
	Organisation(ctx context.Context, ods string) (*Organisation, error)

	// CreateRoleProfile stores rp with its activities and workgroups
	// (sorted). An active rp must name an approver (an existing person who
	// is not the holder); a pending one must not.
	CreateRoleProfile(ctx context.Context, rp RoleProfile) error
	RoleProfile(ctx context.Context, id string) (*RoleProfile, error)
	// RoleProfilesOf returns every role profile of uid, whatever its
	// status, ordered by Start and then ID.
	RoleProfilesOf(ctx context.Context, uid string) ([]RoleProfile, error)
	// SetRoleProfileStatus moves a profile along its life cycle: pending to
	// active (approvedBy required: an existing person, not the holder) or
	// ended; active to ended. approvedBy must be empty except when
	// approving. Any other transition, including to the same status, is
	// ErrConflict; a target of pending is ErrInvalid.
	SetRoleProfileStatus(ctx context.Context, id string, st RoleProfileStatus, approvedBy string) error

	CreateCard(ctx context.Context, c Card) error
	Card(ctx context.Context, id string) (*Card, error)
	// CardByFingerprint finds the card whose certificate has this SHA-256
	// fingerprint (see Fingerprint): the login path's lookup.
	CardByFingerprint(ctx context.Context, fp [32]byte) (*Card, error)
	// CardsOf returns every card of uid, whatever its status, ordered by
	// IssuedAt and then ID.
	CardsOf(ctx context.Context, uid string) ([]Card, error)
	// SetCardStatus moves a card along its life cycle: active and
	// suspended to each other; either to cancelled, which is final. Any
	// other transition, including to the same status, is ErrConflict.
	SetCardStatus(ctx context.Context, id string, st CardStatus) error

	// Patient facts and alerts (patient.go, alert.go). Patients are keyed
	// by NHS number and have no record of their own: a well-formed NHS
	// number nobody has recorded anything about has no relationships and
	// no seals (empty slices, not ErrNotFound) and no consent (ErrNotFound
	// from Consent, nil in PatientFacts). Every NHS number is validated,
	// check digit included, before anything is read or written.

	// CreateRelationship stores r. r.ID must be new (NewRecordID makes
	// one) and r.EndedAt zero; r.CreatedBy, and a user or organisation
	// target, must exist (else ErrInvalid). A workgroup target is checked
	// for shape only.
	CreateRelationship(ctx context.Context, r Relationship) error
	// RelationshipsFor returns the patient's relationships as they stood
	// at time at: every one created at or before at, current or not
	// (expired and ended ones included, for the PDP to tell "expired" from
	// "none"), ordered by CreatedAt and then ID. A zero at means no limit.
	RelationshipsFor(ctx context.Context, nhs string, at time.Time) ([]Relationship, error)
	// EndRelationship ends relationship id at time at (zero: the store's
	// clock). Ending one already ended is ErrConflict; at before its
	// CreatedAt is ErrInvalid.
	EndRelationship(ctx context.Context, id string, at time.Time) error

	// Consent returns the patient's consent record, or ErrNotFound.
	Consent(ctx context.Context, nhs string) (*Consent, error)
	// SetConsent records c, replacing its dissent codes, with optimistic
	// versioning: c.Version must be the stored version (0 when none is
	// stored), else ErrConflict; the stored record gets c.Version+1. A
	// zero UpdatedAt is set from the store's clock.
	SetConsent(ctx context.Context, c Consent) error

	// Seals returns the patient's seals ordered by Section.
	Seals(ctx context.Context, nhs string) ([]Seal, error)
	// CreateSeal stores s; a second seal on the same section is ErrExists.
	CreateSeal(ctx context.Context, s Seal) error

	// PatientFacts returns the patient's relationships (all of them, as
	// RelationshipsFor with a zero time), consent (nil if none) and seals,
	// read in one snapshot: the PDP's read on every decision.
	PatientFacts(ctx context.Context, nhs string) (*PatientFacts, error)
	// DecisionFacts reads, in one snapshot, the role profiles with the
	// given IDs and the facts of the patients with the given NHS numbers
	// (each as PatientFacts would): what a batch of access decisions
	// needs. Every key is validated; repeats are allowed; each list may
	// hold at most MaxDecisionFacts keys (else ErrInvalid). A profile that
	// does not exist is absent from Profiles; every NHS number asked for
	// is in Patients.
	DecisionFacts(ctx context.Context, profileIDs, nhsNumbers []string) (*DecisionFacts, error)

	// CreateAlert stores a, which must be open and new. a.RoleProfileID
	// must be a role profile of a.UID at a.ODS (else ErrInvalid).
	CreateAlert(ctx context.Context, a Alert) error
	// CreateAlerts stores each alert as CreateAlert would, all in one
	// transaction: all are stored or, with the first failure's error,
	// none.
	CreateAlerts(ctx context.Context, alerts []Alert) error
	// Alerts returns the alerts f selects, oldest first (CreatedAt, ID).
	Alerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// ReviewAlert records a review by reviewer (an existing person other
	// than the one who triggered the alert): open to closed or escalated,
	// escalated to closed. Any other transition is ErrConflict; a target
	// of open is ErrInvalid. note is optional.
	ReviewAlert(ctx context.Context, id, reviewer string, st AlertStatus, note string) error

	// The registration authority's audited writes and reads (ra.go).
	RA

	Close() error
}
