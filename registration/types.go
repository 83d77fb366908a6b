package registration

import (
	"slices"
	"strconv"
	"time"
)

// PersonStatus is the state of a person's registration.
type PersonStatus string

const (
	PersonActive    PersonStatus = "active"
	PersonSuspended PersonStatus = "suspended"
	PersonClosed    PersonStatus = "closed"
)

// Valid reports whether s is one of the defined statuses.
func (s PersonStatus) Valid() bool {
	return s == PersonActive || s == PersonSuspended || s == PersonClosed
}

// Person is a registered user: someone an RA has identity-checked.
type Person struct {
	UID    string // 12-digit user ID
	Name   string // display name, as in the card certificate CN after "<uid>_"
	Status PersonStatus
	// Version counts changes, for optimistic concurrency in later RA edits.
	// A new person is stored with Version 1; CreatePerson requires 0.
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Validate checks every field of p as CreatePerson would receive it, with
// timestamps already filled in.
func (p Person) Validate() error {
	if err := ValidateUserID(p.UID); err != nil {
		return err
	}
	if err := ValidateName(p.Name); err != nil {
		return err
	}
	if !p.Status.Valid() {
		return invalid("status", "must be active, suspended or closed")
	}
	if p.Version < 0 {
		return invalid("version", "must not be negative")
	}
	if err := checkTime("created_at", p.CreatedAt); err != nil {
		return err
	}
	if err := checkTime("updated_at", p.UpdatedAt); err != nil {
		return err
	}
	if p.UpdatedAt.Before(p.CreatedAt) {
		return invalid("updated_at", "must not be before created_at")
	}
	return nil
}

// Organisation is a care organisation, identified by its ODS code.
type Organisation struct {
	ODS  string // 3-6 upper-case letters or digits, e.g. Y12345
	Name string
}

// Validate checks every field of o.
func (o Organisation) Validate() error {
	if err := ValidateODSCode(o.ODS); err != nil {
		return err
	}
	return checkName("organisation_name", o.Name)
}

// RoleProfileStatus is the state of a role profile (a position).
type RoleProfileStatus string

const (
	// RoleProfilePending: requested, awaiting approval; grants nothing.
	RoleProfilePending RoleProfileStatus = "pending"
	// RoleProfileActive: approved; grants its activities between Start and End.
	RoleProfileActive RoleProfileStatus = "active"
	// RoleProfileEnded: withdrawn or rejected; grants nothing, ever again.
	RoleProfileEnded RoleProfileStatus = "ended"
)

// Valid reports whether s is one of the defined statuses.
func (s RoleProfileStatus) Valid() bool {
	return s == RoleProfilePending || s == RoleProfileActive || s == RoleProfileEnded
}

// Limits on the lists a role profile carries.
const (
	MaxActivities = 256
	MaxWorkgroups = 64
)

// RoleProfile is one position a person holds: a job role at an
// organisation, with the activities (B codes) and workgroups granted.
type RoleProfile struct {
	ID      string // 12 digits
	UID     string // holder
	ODS     string // organisation
	JobRole string // S<nnnn>:G<nnnn>:R<nnnn>
	// Activities are the codes granted, sorted, without duplicates. They
	// are not expanded: use Catalogue.Closure for what they include.
	Activities []string
	Workgroups []string // sorted, without duplicates
	Start      time.Time
	End        time.Time // zero: open-ended
	Status     RoleProfileStatus
	// ApprovedBy is the UID of whoever approved the profile: empty while
	// pending, required when active, and never the holder.
	ApprovedBy string
	CreatedAt  time.Time
}

// Current reports whether the profile grants anything at time at: it is
// active and at lies in [Start, End), End zero meaning no end.
func (rp RoleProfile) Current(at time.Time) bool {
	if rp.Status != RoleProfileActive {
		return false
	}
	if at.Before(rp.Start) {
		return false
	}
	return rp.End.IsZero() || at.Before(rp.End)
}

// Validate checks every field of rp as CreateRoleProfile would receive it,
// with CreatedAt already filled in. It checks shapes only: that the codes
// are in the deployment's catalogue is the RA layer's business, so that
// profiles granted under an older catalogue stay readable.
func (rp RoleProfile) Validate() error {
	if err := ValidateRoleProfileID(rp.ID); err != nil {
		return err
	}
	if err := ValidateUserID(rp.UID); err != nil {
		return err
	}
	if err := ValidateODSCode(rp.ODS); err != nil {
		return err
	}
	if err := ValidateJobRole(rp.JobRole); err != nil {
		return err
	}
	if err := checkList("activities", rp.Activities, MaxActivities, checkActivity); err != nil {
		return err
	}
	wg := func(field, s string) error { return checkToken(field, s, 64, true) }
	if err := checkList("workgroups", rp.Workgroups, MaxWorkgroups, wg); err != nil {
		return err
	}
	if err := checkTime("start", rp.Start); err != nil {
		return err
	}
	if !rp.End.IsZero() {
		if err := checkTime("end", rp.End); err != nil {
			return err
		}
		if !rp.End.After(rp.Start) {
			return invalid("end", "must be after start")
		}
	}
	if !rp.Status.Valid() {
		return invalid("status", "must be pending, active or ended")
	}
	if err := checkApprover(rp.Status, rp.ApprovedBy, rp.UID); err != nil {
		return err
	}
	return checkTime("created_at", rp.CreatedAt)
}

// checkApprover applies the approval rules: nobody approves a pending
// profile, somebody other than the holder approves an active one, and an
// ended one keeps whatever it had.
func checkApprover(st RoleProfileStatus, approvedBy, holder string) error {
	switch {
	case st == RoleProfilePending && approvedBy != "":
		return invalid("approved_by", "must be empty while pending")
	case st == RoleProfileActive && approvedBy == "":
		return invalid("approved_by", "is required for an active profile")
	case approvedBy == "":
		return nil
	case approvedBy == holder:
		return invalid("approved_by", "must not be the holder of the profile")
	}
	return checkUserID("approved_by", approvedBy)
}

func checkList(field string, list []string, max int, check func(field, s string) error) error {
	if len(list) > max {
		return invalid(field, "has more than "+strconv.Itoa(max)+" entries")
	}
	seen := make(map[string]bool, len(list))
	for i, s := range list {
		f := field + "[" + strconv.Itoa(i) + "]"
		if err := check(f, s); err != nil {
			return err
		}
		if seen[s] {
			return invalid(f, "is a duplicate")
		}
		seen[s] = true
	}
	return nil
}

// sortedCopy returns a sorted copy of list, never nil.
func sortedCopy(list []string) []string {
	out := append([]string{}, list...)
	slices.Sort(out)
	return out
}

// CardStatus is the state of a smartcard.
type CardStatus string

const (
	CardActive    CardStatus = "active"
	CardSuspended CardStatus = "suspended"
	CardCancelled CardStatus = "cancelled" // final
)

// Valid reports whether s is one of the defined statuses.
func (s CardStatus) Valid() bool {
	return s == CardActive || s == CardSuspended || s == CardCancelled
}

// Card is a smartcard and the authentication certificate on it.
type Card struct {
	ID              string // as printed: 1-32 of [A-Za-z0-9-]
	UID             string // owner
	CertSerial      string // lower-case hex, see SerialHex
	CertFingerprint [32]byte
	CertNotAfter    time.Time
	Status          CardStatus
	IssuedAt        time.Time
}

// Validate checks every field of c as CreateCard would receive it, with
// IssuedAt already filled in.
func (c Card) Validate() error {
	if err := ValidateCardID(c.ID); err != nil {
		return err
	}
	if err := ValidateUserID(c.UID); err != nil {
		return err
	}
	if err := ValidateCertSerial(c.CertSerial); err != nil {
		return err
	}
	if c.CertFingerprint == ([32]byte{}) {
		return invalid("cert_fingerprint", "must be set")
	}
	if err := checkTime("cert_not_after", c.CertNotAfter); err != nil {
		return err
	}
	if !c.Status.Valid() {
		return invalid("status", "must be active, suspended or cancelled")
	}
	return checkTime("issued_at", c.IssuedAt)
}

// cardTransitionOK is the card life cycle: active and suspended swap;
// either may be cancelled; cancelled is final. Staying put is not a change.
func cardTransitionOK(from, to CardStatus) bool {
	switch from {
	case CardActive:
		return to == CardSuspended || to == CardCancelled
	case CardSuspended:
		return to == CardActive || to == CardCancelled
	}
	return false
}

// roleProfileTransitionOK is the role profile life cycle: pending becomes
// active (approved) or ended (rejected); active becomes ended; ended is
// final. Nothing returns to pending.
func roleProfileTransitionOK(from, to RoleProfileStatus) bool {
	switch from {
	case RoleProfilePending:
		return to == RoleProfileActive || to == RoleProfileEnded
	case RoleProfileActive:
		return to == RoleProfileEnded
	}
	return false
}
