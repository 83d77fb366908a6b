package registration

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The demo world's organisations (made-up names; the codes have the shape
// of a GP practice's and an NHS trust's ODS codes).
const (
	DemoPracticeODS = "Y12345" // Riverside Health Centre, a GP practice
	DemoTrustODS    = "RZZ"    // Northgate NHS Trust
)

// Role profile IDs of the demo world that tests refer to. The pattern is
// 55500000 + the last two digits of the holder's UID + a two-digit number.
const (
	DemoAlicePracticeProfile = "555000001101" // Clinical Practitioner at Y12345
	DemoAliceTrustProfile    = "555000001102" // Clinical Practitioner at RZZ
	DemoBobTrustProfile      = "555000001201" // Nurse at RZZ
	DemoBobEndedProfile      = "555000001202" // Nurse at Y12345, ended
	DemoCarolAgentProfile    = "555000001301" // RA Agent at RZZ
	DemoCarolSponsorProfile  = "555000001302" // sponsor (B1300) at RZZ
	DemoDanTrustProfile      = "555000001401" // Privacy Officer at RZZ
	DemoDanPracticeProfile   = "555000001402" // Privacy Officer at Y12345
	DemoDanPendingProfile    = "555000001403" // Caldicott Guardian at RZZ, pending
	DemoDanSponsorProfile    = "555000001404" // sponsor (B1300) at RZZ
	DemoSamSponsorProfile    = "555000001501" // sponsor (B1300) at Y12345
	DemoLeeUnlockProfile     = "555000001601" // local smartcard administrator (B1615) at RZZ
)

// Demo RA staff without cards (log in through sessions made by tests).
const (
	DemoRAManagerUID      = "555000000010" // Priya Shah, RA manager at RZZ
	DemoSponsorUID        = "555000000015" // Sam Patel, sponsor at Y12345
	DemoSmartcardAdminUID = "555000000016" // Lee Grant, local smartcard administrator at RZZ
)

const (
	demoRAManager = "555000000010" // Priya Shah: no card; approves Carol
	demoRAAgent   = "555000000013" // Carol Jones: approves everyone else
)

type demoPerson struct {
	uid, name string
	// cancelled: the person's cards are seeded cancelled (their
	// certificates are revoked in the test PKI too).
	cancelled bool
	profiles  []demoProfile
}

type demoProfile struct {
	id, ods, jobRole string
	activities       []string
	workgroups       []string
	status           RoleProfileStatus // active unless set
	ended            bool              // started two years ago, ended 30 days ago
}

// demoPeople is the demo world: the four users with good cards in the
// test PKI, the users 555000000090-99 who hold its negative cards (each
// with an ordinary nurse profile, so that a login with their card fails on
// the certificate or the card, never for want of a role), and an RA
// manager, a sponsor and a local smartcard administrator without cards.
func demoPeople() []demoPerson {
	const (
		clinician = "S8000:G8000:R8000"
		nurse     = "S8000:G8000:R8001"
		admin     = "S8001:G8001:R8008"
		privacy   = "S8002:G8002:R0001"
		caldicott = "S8002:G8002:R5105"
		raManager = "S8003:G8003:R5080"
		raAgent   = "S8003:G8003:R5090"
		sponsor   = "S8003:G8003:R5085"
		unlocker  = "S8003:G8003:R5095"
	)
	clinical := []string{"B0020", "B0082", "B0168", "B0264", "B0370", "B0825", "B8028"}
	nursing := []string{"B0082", "B0168", "B0264", "B0370"}
	people := []demoPerson{
		{uid: demoRAManager, name: "Priya Shah", profiles: []demoProfile{
			{id: "555000001001", ods: DemoTrustODS, jobRole: raManager, activities: []string{"B1300", "B1610"}},
		}},
		{uid: "555000000011", name: "Alice Carter", profiles: []demoProfile{
			{id: DemoAlicePracticeProfile, ods: DemoPracticeODS, jobRole: clinician, activities: clinical,
				workgroups: []string{"riverside-clinicians"}},
			{id: DemoAliceTrustProfile, ods: DemoTrustODS, jobRole: clinician, activities: clinical,
				workgroups: []string{"northgate-emergency-dept"}},
		}},
		{uid: "555000000012", name: "Bob Singh", profiles: []demoProfile{
			{id: DemoBobTrustProfile, ods: DemoTrustODS, jobRole: nurse, activities: nursing,
				workgroups: []string{"northgate-ward-7"}},
			{id: DemoBobEndedProfile, ods: DemoPracticeODS, jobRole: nurse, activities: nursing,
				workgroups: []string{"riverside-clinicians"}, ended: true},
		}},
		{uid: demoRAAgent, name: "Carol Jones", profiles: []demoProfile{
			{id: DemoCarolAgentProfile, ods: DemoTrustODS, jobRole: raAgent, activities: []string{"B1611", "B1612", "B1614"}},
			{id: DemoCarolSponsorProfile, ods: DemoTrustODS, jobRole: admin, activities: []string{"B0825", "B1300"}},
		}},
		{uid: "555000000014", name: "Dan Okafor", profiles: []demoProfile{
			{id: DemoDanTrustProfile, ods: DemoTrustODS, jobRole: privacy, activities: []string{"B0011", "B0015", "B0016"}},
			{id: DemoDanPracticeProfile, ods: DemoPracticeODS, jobRole: privacy, activities: []string{"B0011", "B0015", "B0016"}},
			{id: DemoDanPendingProfile, ods: DemoTrustODS, jobRole: caldicott,
				activities: []string{"B0011", "B0015", "B0016", "B0058"}, status: RoleProfilePending},
			{id: DemoDanSponsorProfile, ods: DemoTrustODS, jobRole: sponsor, activities: []string{"B1300"}},
		}},
		{uid: DemoSponsorUID, name: "Sam Patel", profiles: []demoProfile{
			{id: DemoSamSponsorProfile, ods: DemoPracticeODS, jobRole: sponsor, activities: []string{"B1300"}},
		}},
		{uid: DemoSmartcardAdminUID, name: "Lee Grant", profiles: []demoProfile{
			{id: DemoLeeUnlockProfile, ods: DemoTrustODS, jobRole: unlocker, activities: []string{"B1615"}},
		}},
	}
	negative := []struct {
		n         string
		name      string
		cancelled bool
	}{
		{"90", "Eve Expired", false}, {"91", "Nina Notyet", false},
		{"92", "Rhys Revoked", true}, {"93", "Rose Revoked", true},
		{"94", "Fred Foreign", false}, {"95", "Kim Wrongku", false},
		{"96", "Ed Wrongeku", false}, {"97", "Pat Nopolicy", false},
		{"98", "Nick Notca", false}, {"99", "Sue Revokedsubca", false},
	}
	for _, p := range negative {
		people = append(people, demoPerson{uid: "5550000000" + p.n, name: p.name, cancelled: p.cancelled,
			profiles: []demoProfile{{id: "55500000" + p.n + "01", ods: DemoTrustODS, jobRole: nurse, activities: nursing}}})
	}
	return people
}

// SeedDemo creates the demo world in s: two organisations, the demo
// people and their role profiles (see the Demo* constants), and one card
// per certificate in cards (keyed by the owner's UID). A card's ID comes
// from its certificate serial (CardIDFromSerial) and it is active, except
// that the cards of 555000000092 and 555000000093 (whose certificates the
// test PKI revokes) are cancelled. now anchors every date: profiles
// started a year before now, Bob's ended profile 30 days before it.
// It also records the demo patients' relationships, consent, seals and an
// open alert (see the DemoPatient* constants).
//
// Each certificate's subject CN must be "<uid>_<name>" of a demo person,
// and no two cards may share an ID or a fingerprint (the test PKI's
// card-tampered reuses Alice's serial, so it cannot be seeded beside her
// RSA card). All of this is checked before the first write. SeedDemo
// returns ErrExists if the demo world is already there. It writes through
// Store, one transaction per record, so an I/O failure part way leaves a
// partial world: seed a fresh store.
func SeedDemo(ctx context.Context, s Store, now time.Time, cards map[string][]*x509.Certificate) error {
	now = normTime(now)
	if err := checkTime("now", now); err != nil {
		return err
	}
	people := demoPeople()
	demoCards, err := demoCardsFor(people, cards, now)
	if err != nil {
		return err
	}
	switch _, err := s.Person(ctx, people[1].uid); {
	case err == nil:
		return fmt.Errorf("registration: seed: demo data already present: %w", ErrExists)
	case !isNotFound(err):
		return fmt.Errorf("registration: seed: %w", err)
	}

	orgs := []Organisation{
		{ODS: DemoPracticeODS, Name: "Riverside Health Centre"},
		{ODS: DemoTrustODS, Name: "Northgate NHS Trust"},
	}
	for _, o := range orgs {
		if err := s.CreateOrganisation(ctx, o); err != nil {
			return fmt.Errorf("registration: seed: %w", err)
		}
	}
	created := now.AddDate(-1, 0, 0)
	for _, p := range people {
		err := s.CreatePerson(ctx, Person{UID: p.uid, Name: p.name, Status: PersonActive, CreatedAt: created})
		if err != nil {
			return fmt.Errorf("registration: seed: %w", err)
		}
	}
	for _, p := range people {
		approver := demoRAAgent
		if p.uid == demoRAAgent {
			approver = demoRAManager
		}
		for _, dp := range p.profiles {
			if err := seedProfile(ctx, s, p.uid, approver, dp, now); err != nil {
				return fmt.Errorf("registration: seed: %w", err)
			}
		}
	}
	for _, c := range demoCards {
		if err := s.CreateCard(ctx, c); err != nil {
			return fmt.Errorf("registration: seed: %w", err)
		}
	}
	if err := seedPatients(ctx, s, now); err != nil {
		return fmt.Errorf("registration: seed: %w", err)
	}
	return nil
}

func seedProfile(ctx context.Context, s Store, uid, approver string, dp demoProfile, now time.Time) error {
	rp := RoleProfile{
		ID: dp.id, UID: uid, ODS: dp.ods, JobRole: dp.jobRole,
		Activities: dp.activities, Workgroups: dp.workgroups,
		Start: now.AddDate(-1, 0, 0), Status: RoleProfileActive, ApprovedBy: approver,
		CreatedAt: now.AddDate(-1, 0, 0),
	}
	if dp.status == RoleProfilePending {
		rp.Status, rp.ApprovedBy, rp.Start, rp.CreatedAt = RoleProfilePending, "", now, now
	}
	if dp.ended {
		rp.Start, rp.CreatedAt = now.AddDate(-2, 0, 0), now.AddDate(-2, 0, 0)
		rp.End = now.AddDate(0, 0, -30)
	}
	if err := s.CreateRoleProfile(ctx, rp); err != nil {
		return err
	}
	if dp.ended {
		return s.SetRoleProfileStatus(ctx, rp.ID, RoleProfileEnded, "")
	}
	return nil
}

// demoCardsFor checks the certificates against the demo people and
// describes their cards, in a stable order.
func demoCardsFor(people []demoPerson, certs map[string][]*x509.Certificate, now time.Time) ([]Card, error) {
	byUID := make(map[string]demoPerson, len(people))
	for _, p := range people {
		byUID[p.uid] = p
	}
	uids := make([]string, 0, len(certs))
	for uid := range certs {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	var out []Card
	ids, fps := map[string]bool{}, map[[32]byte]bool{}
	for _, uid := range uids {
		p, ok := byUID[uid]
		if !ok {
			if err := ValidateUserID(uid); err != nil {
				return nil, err
			}
			return nil, invalid("cards", "uid "+uid+" is not a demo person")
		}
		for _, cert := range certs[uid] {
			if cert == nil {
				return nil, invalid("cards", "nil certificate for "+uid)
			}
			if cert.Subject.CommonName != uid+"_"+p.name {
				return nil, invalid("cards", "a certificate for "+uid+" does not name "+p.name)
			}
			issued := cert.NotBefore
			if issued.After(now) {
				issued = now
			}
			c, err := NewCard(cert, uid, issued)
			if err != nil {
				return nil, err
			}
			if p.cancelled {
				c.Status = CardCancelled
			}
			if ids[c.ID] || fps[c.CertFingerprint] {
				return nil, invalid("cards", "two certificates give card "+c.ID)
			}
			ids[c.ID], fps[c.CertFingerprint] = true, true
			out = append(out, c)
		}
	}
	return out, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Demo patients: test NHS numbers (prefix 999, valid modulus 11 check
// digit), each showing one thing the policy decides on. Unless said
// otherwise a patient consents to the SCR (consent yes) and has no seals.
// Alice's practice (Y12345) recorded everything but Bob's self-claim.
const (
	// DemoPatientRegistered is registered with Alice's practice: an
	// organisation relationship to Y12345 of kind registered, no expiry.
	// Alice may view; Bob (at RZZ) has no relationship.
	DemoPatientRegistered = "9990001235"
	// DemoPatientReferral was referred to Bob's ward: a workgroup
	// relationship to northgate-ward-7 of kind referral, expiring 90 days
	// after now. Bob may view; Alice has no relationship.
	DemoPatientReferral = "9990001243"
	// DemoPatientDissent is registered with Y12345 but dissents from the
	// SCR: consent no with Read code 93C3 (patient_dissent, unless
	// emergency access may override it: dissent_override).
	DemoPatientDissent = "9990001251"
	// DemoPatientSealed is registered with Y12345 and has the section
	// "clinical" sealed (no owner): viewing it needs a reason and raises a
	// seal_broken alert.
	DemoPatientSealed = "9990001278"
	// DemoPatientLocked is registered with Y12345 and has the section
	// "clinical/mental-health" sealed_locked, owned by Alice's practice
	// workgroup riverside-clinicians: Alice (in her Y12345 profile) may
	// see it; everyone else is told it does not exist (Bob held that
	// workgroup only in his ended profile).
	DemoPatientLocked = "9990001286"
	// DemoPatientExpired had a referral to northgate-ward-7 that ran from
	// 100 days before now until 10 days before now: Bob gets
	// legitimate_relationship_expired.
	DemoPatientExpired = "9990001294"
	// DemoPatientSelfClaimed has a relationship Bob self-claimed (a user
	// relationship, with his reason) an hour before now, and the open
	// self_claimed_relationship alert DemoAlertSelfClaimed it raised, for
	// RZZ's privacy officer (Dan) to review.
	DemoPatientSelfClaimed = "9990001308"
	// DemoPatientNoRelationship has no relationship with anyone
	// (no_legitimate_relationship): the patient for emergency access.
	DemoPatientNoRelationship = "9990001316"

	// DemoAlertSelfClaimed is the open alert raised by Bob's self-claim
	// (DemoPatientSelfClaimed), in his RZZ role profile.
	DemoAlertSelfClaimed = "a1e7000000000001"
)

// seedPatients records the demo patients' facts; now is normalised.
func seedPatients(ctx context.Context, s Store, now time.Time) error {
	const (
		alice        = "555000000011"
		bob          = "555000000012"
		practiceTeam = "riverside-clinicians"
		ward7        = "northgate-ward-7"
	)
	yearAgo := now.AddDate(-1, 0, 0)
	registered := func(id, nhs string) Relationship {
		return Relationship{ID: id, NHSNumber: nhs, TargetType: TargetOrganisation, Target: DemoPracticeODS,
			Kind: RelationshipRegistered, CreatedBy: alice, CreatedAt: yearAgo}
	}
	selfClaimReason := "Patient admitted to ward 7 overnight; GP summary needed for medicines reconciliation"
	relationships := []Relationship{
		registered("de1a000000000001", DemoPatientRegistered),
		{ID: "de1a000000000002", NHSNumber: DemoPatientReferral, TargetType: TargetWorkgroup, Target: ward7,
			Kind: RelationshipReferral, CreatedBy: alice, CreatedAt: now.AddDate(0, 0, -7),
			ExpiresAt: now.AddDate(0, 0, 90)},
		registered("de1a000000000003", DemoPatientDissent),
		registered("de1a000000000004", DemoPatientSealed),
		registered("de1a000000000005", DemoPatientLocked),
		{ID: "de1a000000000006", NHSNumber: DemoPatientExpired, TargetType: TargetWorkgroup, Target: ward7,
			Kind: RelationshipReferral, CreatedBy: alice, CreatedAt: now.AddDate(0, 0, -100),
			ExpiresAt: now.AddDate(0, 0, -10)},
		{ID: "de1a000000000007", NHSNumber: DemoPatientSelfClaimed, TargetType: TargetUser, Target: bob,
			Kind: RelationshipSelfClaimed, CreatedBy: bob, Reason: selfClaimReason, CreatedAt: now.Add(-time.Hour)},
	}
	for _, r := range relationships {
		if err := s.CreateRelationship(ctx, r); err != nil {
			return err
		}
	}
	for _, nhs := range []string{DemoPatientRegistered, DemoPatientReferral, DemoPatientDissent,
		DemoPatientSealed, DemoPatientLocked, DemoPatientExpired, DemoPatientSelfClaimed, DemoPatientNoRelationship} {
		c := Consent{NHSNumber: nhs, SCR: ConsentYes, UpdatedBy: alice, UpdatedAt: yearAgo}
		if nhs == DemoPatientDissent {
			c.SCR, c.DissentCodes = ConsentNo, []string{"93C3"}
		}
		if err := s.SetConsent(ctx, c); err != nil {
			return err
		}
	}
	seals := []Seal{
		{NHSNumber: DemoPatientSealed, Section: "clinical", State: Sealed, CreatedBy: alice, CreatedAt: yearAgo},
		{NHSNumber: DemoPatientLocked, Section: "clinical/mental-health", State: SealedLocked,
			OwnerWorkgroup: practiceTeam, CreatedBy: alice, CreatedAt: yearAgo},
	}
	for _, sl := range seals {
		if err := s.CreateSeal(ctx, sl); err != nil {
			return err
		}
	}
	return s.CreateAlert(ctx, Alert{ID: DemoAlertSelfClaimed, Type: AlertSelfClaimedRelationship,
		NHSNumber: DemoPatientSelfClaimed, UID: bob, RoleProfileID: DemoBobTrustProfile, ODS: DemoTrustODS,
		Reason: selfClaimReason, CreatedAt: now.Add(-time.Hour), Status: AlertOpen})
}
