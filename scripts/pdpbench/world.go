package main

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/carespine/spineauth/registration"
)

// The benchmark world: the demo world (registration.SeedDemo: people, role
// profiles, cards, the demo patients) plus N generated patients with M
// legitimate relationships between them, some consent records and some
// seals. It is generated deterministically from a seed, patient by
// patient in NHS-number order, so the same parameters give the same facts
// and the bulk insert appends to the indexes in order.

// Demo identities the generated facts refer to (registration/seed.go).
const (
	uidAlice = "555000000011"
	uidBob   = "555000000012"
	uidPriya = "555000000010" // RA manager; no card, so never logged in
)

// benchOrgs are extra organisations the generated relationships point at
// (nobody logged in works there); created in the db stage.
func benchOrgs() []registration.Organisation {
	out := make([]registration.Organisation, 20)
	for i := range out {
		out[i] = registration.Organisation{
			ODS:  fmt.Sprintf("B%05d", 81001+i),
			Name: fmt.Sprintf("Benchmark Practice %d", i+1),
		}
	}
	return out
}

// target is where a relationship points.
type target struct {
	tt   registration.TargetType
	name string
}

// Targets that match some session's role profile (organisation, workgroup
// or user of the demo clinicians), and targets that match nobody.
var matchingTargets = []target{
	{registration.TargetOrganisation, registration.DemoPracticeODS}, // Y12345: Alice (practice), Dan (practice)
	{registration.TargetOrganisation, registration.DemoTrustODS},    // RZZ: Alice (trust), Bob, Carol, Dan (trust)
	{registration.TargetWorkgroup, "riverside-clinicians"},          // Alice (practice)
	{registration.TargetWorkgroup, "northgate-ward-7"},              // Bob
	{registration.TargetWorkgroup, "northgate-emergency-dept"},      // Alice (trust)
	{registration.TargetUser, uidAlice},
	{registration.TargetUser, uidBob},
}

// worldSpec fixes a world.
type worldSpec struct {
	Patients      int       `json:"patients"`
	Relationships int       `json:"relationships"`
	Seed          uint64    `json:"seed"`
	Now           time.Time `json:"now"`
	// IDTag makes relationship IDs unique to this world (16 hex digits),
	// followed by a 16-hex-digit counter: IDs increase as they are
	// generated, so inserts append to the primary-key index.
	IDTag uint64 `json:"id_tag"`
}

func (s worldSpec) validate() error {
	switch {
	case s.Patients < 1 || s.Patients > maxPatients:
		return usagef("--patients must be 1..%d", maxPatients)
	case s.Relationships < 0 || s.Relationships > 100_000_000:
		return usagef("--relationships must be 0..100000000")
	}
	return nil
}

// patientFacts is one generated patient.
type patientFacts struct {
	NHS           string
	Relationships []registration.Relationship // EndedAt set on the ones that ended
	Consent       *registration.Consent
	Seals         []registration.Seal
}

// firstPrefix is the first nine digits of the generated NHS numbers: test
// numbers (prefix 999) clear of the demo patients (9990001xxx).
const firstPrefix = 999_100_000

// maxPatients is about how many valid numbers there are from firstPrefix
// to 999 999 999 (10 in 11 prefixes have a check digit).
const maxPatients = 8_000_000

// nhsNumbers returns the first n valid NHS numbers from firstPrefix on,
// in increasing order.
func nhsNumbers(n int) []string {
	out := make([]string, 0, n)
	for p := firstPrefix; len(out) < n && p <= 999_999_999; p++ {
		if d, ok := checkDigit(p); ok {
			out = append(out, fmt.Sprintf("%09d%d", p, d))
		}
	}
	return out
}

// checkDigit is the modulus 11 check digit of a nine-digit prefix; ok is
// false for prefixes that have none (check value 10).
func checkDigit(prefix int) (int, bool) {
	sum := 0
	for i := 8; i >= 0; i-- {
		sum += (prefix % 10) * (10 - i)
		prefix /= 10
	}
	c := 11 - sum%11
	switch c {
	case 11:
		return 0, true
	case 10:
		return 0, false
	}
	return c, true
}

// generate calls fn for each patient in NHS-number order.
func generate(spec worldSpec, nhs []string, fn func(p *patientFacts) error) error {
	rng := rand.New(rand.NewPCG(spec.Seed, spec.Seed^0x9e3779b97f4a7c15))
	now := spec.Now.UTC().Truncate(time.Second)
	orgs := benchOrgs()
	per, extra := spec.Relationships/len(nhs), spec.Relationships%len(nhs)
	var counter uint64
	day := 24 * time.Hour
	for i, n := range nhs {
		p := &patientFacts{NHS: n}
		k := per
		if i < extra {
			k++
		}
		for range k {
			counter++
			r := registration.Relationship{
				ID:        fmt.Sprintf("%016x%016x", spec.IDTag, counter),
				NHSNumber: n,
				Kind:      registration.RelationshipRegistered,
				CreatedBy: uidAlice,
				CreatedAt: now.Add(-time.Duration(1+rng.IntN(1500)) * day),
			}
			var t target
			if rng.Float64() < 0.5 {
				t = matchingTargets[rng.IntN(len(matchingTargets))]
			} else {
				switch rng.IntN(3) {
				case 0:
					t = target{registration.TargetOrganisation, orgs[rng.IntN(len(orgs))].ODS}
				case 1:
					t = target{registration.TargetWorkgroup, fmt.Sprintf("team-%04d", rng.IntN(500))}
				default:
					t = target{registration.TargetUser, uidPriya}
				}
			}
			r.TargetType, r.Target = t.tt, t.name
			if t.tt != registration.TargetOrganisation {
				r.Kind = registration.RelationshipReferral
			}
			if t.tt == registration.TargetUser && rng.Float64() < 0.05 {
				r.Kind, r.CreatedBy, r.Reason = registration.RelationshipSelfClaimed, t.name, "pdpbench: seen in clinic"
			}
			switch x := rng.Float64(); {
			case x < 0.12: // expired: ran out between creation and now
				span := now.Sub(r.CreatedAt) - time.Hour // at least 23h
				r.ExpiresAt = r.CreatedAt.Add(30*time.Minute + time.Duration(rng.Int64N(int64(span)))).Truncate(time.Second)
			case x < 0.22: // expires later
				r.ExpiresAt = now.Add(time.Duration(1+rng.IntN(365)) * day)
			case x < 0.24: // ended
				r.EndedAt = r.CreatedAt.Add(time.Duration(rng.Int64N(int64(now.Sub(r.CreatedAt))))).Truncate(time.Second)
			}
			p.Relationships = append(p.Relationships, r)
		}
		if rng.Float64() < 0.85 {
			c := &registration.Consent{NHSNumber: n, SCR: registration.ConsentYes, DissentCodes: []string{},
				UpdatedBy: uidAlice, UpdatedAt: now.Add(-time.Duration(1+rng.IntN(700)) * day), Version: 1}
			switch x := rng.Float64(); {
			case x < 0.05:
				c.SCR = registration.ConsentNo
				if rng.IntN(2) == 0 {
					c.DissentCodes = []string{"93C3"}
				}
			case x < 0.07:
				c.DissentCodes = []string{"9Ndo"} // dissent by Read code alone
			case x < 0.11:
				c.SCR = registration.ConsentAsk
			case x < 0.14:
				c.SCR = registration.ConsentUnknown
			}
			p.Consent = c
		}
		switch x := rng.Float64(); {
		case x < 0.04:
			p.Seals = append(p.Seals, registration.Seal{NHSNumber: n, Section: "clinical", State: registration.Sealed,
				CreatedBy: uidAlice, CreatedAt: now.Add(-30 * day)})
		case x < 0.07:
			owners := []string{"riverside-clinicians", "northgate-ward-7", "team-0001"}
			p.Seals = append(p.Seals, registration.Seal{NHSNumber: n, Section: "clinical", State: registration.SealedLocked,
				OwnerWorkgroup: owners[rng.IntN(len(owners))], CreatedBy: uidAlice, CreatedAt: now.Add(-30 * day)})
		case x < 0.08:
			p.Seals = append(p.Seals, registration.Seal{NHSNumber: n, Section: "demographics", State: registration.SealedLocked,
				OwnerWorkgroup: "northgate-emergency-dept", CreatedBy: uidAlice, CreatedAt: now.Add(-30 * day)})
		}
		if err := fn(p); err != nil {
			return err
		}
	}
	return nil
}
