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
// manager without a card.
func demoPeople() []demoPerson {
	const (
		clinician = "S8000:G8000:R8000"
		nurse     = "S8000:G8000:R8001"
		admin     = "S8001:G8001:R8008"
		privacy   = "S8002:G8002:R0001"
		caldicott = "S8002:G8002:R5105"
		raManager = "S8003:G8003:R5080"
		raAgent   = "S8003:G8003:R5090"
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
