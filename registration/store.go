package registration

import "context"

// Store is the registration database: people, organisations, role
// profiles and cards. It is the broad interface the conformance suite
// (package storetest) exercises against every backend; consumers declare
// the narrow interfaces they need (authd's login needs only Person,
// CardByFingerprint and RoleProfilesOf) and the backends satisfy them.
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

	Close() error
}
