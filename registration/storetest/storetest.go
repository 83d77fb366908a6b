// Package storetest is the conformance suite for registration.Store. Every
// backend runs it from its own tests:
//
//	func TestSQLite(t *testing.T) { storetest.Run(t, openSQLite) }
//
// It needs nothing but the Store interface, so a new backend (PostgreSQL)
// proves itself by passing it unchanged. It must not depend on a backend,
// on testkeys, or on anything outside the Store contract documented in
// package registration.
package storetest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// Run runs the suite. open must return a usable store, registering its
// Close with t.Cleanup (the suite may close it first: Close is idempotent).
// The first call for a given t must return an empty store; a later call
// with the same t, after the previous store was closed, must return a
// store over the same data (for SQLite: the same file), which is how the
// suite checks that data survives a reopen.
func Run(t *testing.T, open func(t *testing.T) registration.Store) {
	t.Run("Person", func(t *testing.T) { testPerson(t, open) })
	t.Run("Organisation", func(t *testing.T) { testOrganisation(t, open) })
	t.Run("RoleProfile", func(t *testing.T) { testRoleProfile(t, open) })
	t.Run("RoleProfilesOf", func(t *testing.T) { testRoleProfilesOf(t, open) })
	t.Run("SetRoleProfileStatus", func(t *testing.T) { testSetRoleProfileStatus(t, open) })
	t.Run("Current", func(t *testing.T) { testCurrent(t, open) })
	t.Run("Card", func(t *testing.T) { testCard(t, open) })
	t.Run("CardsOf", func(t *testing.T) { testCardsOf(t, open) })
	t.Run("SetCardStatus", func(t *testing.T) { testSetCardStatus(t, open) })
	t.Run("ConcurrentWrites", func(t *testing.T) { testConcurrentWrites(t, open) })
	t.Run("ConcurrentVersionedWrites", func(t *testing.T) { testConcurrentVersionedWrites(t, open) })
	t.Run("ConcurrentCreates", func(t *testing.T) { testConcurrentCreates(t, open) })
	t.Run("ConcurrentTransitions", func(t *testing.T) { testConcurrentTransitions(t, open) })
	t.Run("Reopen", func(t *testing.T) { testReopen(t, open) })
	t.Run("Close", func(t *testing.T) { testClose(t, open) })
	t.Run("CancelledContext", func(t *testing.T) { testCancelledContext(t, open) })
	t.Run("SeedDemo", func(t *testing.T) { testSeedDemo(t, open) })

	// Patient facts and alerts.
	t.Run("Relationship", func(t *testing.T) { testRelationship(t, open) })
	t.Run("EndRelationship", func(t *testing.T) { testEndRelationship(t, open) })
	t.Run("RelationshipCurrent", func(t *testing.T) { testRelationshipCurrent(t, open) })
	t.Run("Consent", func(t *testing.T) { testConsent(t, open) })
	t.Run("Seal", func(t *testing.T) { testSeal(t, open) })
	t.Run("PatientFacts", func(t *testing.T) { testPatientFacts(t, open) })
	t.Run("DecisionFacts", func(t *testing.T) { testDecisionFacts(t, open) })
	t.Run("Alert", func(t *testing.T) { testAlert(t, open) })
	t.Run("ReviewAlert", func(t *testing.T) { testReviewAlert(t, open) })
	t.Run("SeedDemoPatients", func(t *testing.T) { testSeedDemoPatients(t, open) })

	// The registration authority and the audit trail.
	t.Run("RA", func(t *testing.T) { runRA(t, open) })

	// The card CA's records (ca.go): every backend keeps them.
	t.Run("CA", func(t *testing.T) { testCA(t, open) })
}

// t0 has nanoseconds on purpose: stores keep microseconds.
var t0 = time.Date(2025, 3, 1, 9, 30, 15, 123456789, time.UTC)

const (
	holderUID   = "900000000001"
	approverUID = "900000000002"
	otherUID    = "900000000003"
	practiceODS = "A81001"
	trustODS    = "RXX"
)

// us is what a store returns for t.
func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// wantKind fails unless err matches kind under errors.Is (and only kind).
func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("error = %v, want %v", err, kind)
	}
	for _, other := range []error{registration.ErrNotFound, registration.ErrExists, registration.ErrConflict, registration.ErrInvalid} {
		if other != kind && errors.Is(err, other) {
			t.Fatalf("error %v matches %v as well as %v", err, other, kind)
		}
	}
}

func same(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

// world creates two organisations and three people.
func world(t *testing.T, s registration.Store) {
	t.Helper()
	ctx := context.Background()
	ok(t, s.CreateOrganisation(ctx, registration.Organisation{ODS: practiceODS, Name: "Test Practice"}))
	ok(t, s.CreateOrganisation(ctx, registration.Organisation{ODS: trustODS, Name: "Test Trust"}))
	for _, uid := range []string{holderUID, approverUID, otherUID} {
		ok(t, s.CreatePerson(ctx, registration.Person{UID: uid, Name: "Person " + uid, Status: registration.PersonActive, CreatedAt: t0}))
	}
}

func testPerson(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	valid := registration.Person{UID: "555000000011", Name: "Alice Carter", Status: registration.PersonActive,
		CreatedAt: t0, UpdatedAt: t0.Add(time.Hour)}

	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		ok(t, s.CreatePerson(ctx, valid))
		got, err := s.Person(ctx, valid.UID)
		ok(t, err)
		want := valid
		want.Version, want.CreatedAt, want.UpdatedAt = 1, us(valid.CreatedAt), us(valid.UpdatedAt)
		same(t, *got, want)
	})
	t.Run("UnicodeName", func(t *testing.T) {
		s := open(t)
		p := valid
		p.Name = "Zoë Ó Súilleabháin-Øster 李"
		ok(t, s.CreatePerson(ctx, p))
		got, err := s.Person(ctx, p.UID)
		ok(t, err)
		same(t, got.Name, p.Name)
	})
	t.Run("DefaultTimestamps", func(t *testing.T) {
		s := open(t)
		p := valid
		p.CreatedAt, p.UpdatedAt = time.Time{}, time.Time{}
		ok(t, s.CreatePerson(ctx, p))
		got, err := s.Person(ctx, p.UID)
		ok(t, err)
		if got.CreatedAt.IsZero() || !got.UpdatedAt.Equal(got.CreatedAt) {
			t.Fatalf("timestamps %v, %v: want set from the clock and equal", got.CreatedAt, got.UpdatedAt)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Person(ctx, "123456789012")
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("Exists", func(t *testing.T) {
		s := open(t)
		ok(t, s.CreatePerson(ctx, valid))
		again := valid
		again.Name = "Someone Else"
		wantKind(t, s.CreatePerson(ctx, again), registration.ErrExists)
		got, err := s.Person(ctx, valid.UID)
		ok(t, err)
		same(t, got.Name, valid.Name)
	})
	t.Run("InvalidLookup", func(t *testing.T) {
		s := open(t)
		for _, uid := range []string{"", "55500000001", "5550000000111", "55500000001a", "５５５０００００００１１", "555000000011\n"} {
			_, err := s.Person(ctx, uid)
			wantKind(t, err, registration.ErrInvalid)
		}
	})
	cases := []struct {
		name   string
		mutate func(p *registration.Person)
	}{
		{"UIDShort", func(p *registration.Person) { p.UID = "55500000001" }},
		{"UIDLong", func(p *registration.Person) { p.UID = "5550000000111" }},
		{"UIDLetter", func(p *registration.Person) { p.UID = "55500000001x" }},
		{"UIDEmpty", func(p *registration.Person) { p.UID = "" }},
		{"NameEmpty", func(p *registration.Person) { p.Name = "" }},
		{"NameControl", func(p *registration.Person) { p.Name = "Alice\x07Carter" }},
		{"NameNewline", func(p *registration.Person) { p.Name = "Alice\nCarter" }},
		{"NameBidiOverride", func(p *registration.Person) { p.Name = "Alice \u202eretraC" }},
		{"NameBadUTF8", func(p *registration.Person) { p.Name = "Alice \xff" }},
		{"NameLeadingSpace", func(p *registration.Person) { p.Name = " Alice" }},
		{"NameTooLong", func(p *registration.Person) { p.Name = strings.Repeat("a", 201) }},
		{"StatusEmpty", func(p *registration.Person) { p.Status = "" }},
		{"StatusUnknown", func(p *registration.Person) { p.Status = "deleted" }},
		{"VersionSet", func(p *registration.Person) { p.Version = 3 }},
		{"UpdatedBeforeCreated", func(p *registration.Person) { p.UpdatedAt = p.CreatedAt.Add(-time.Second) }},
	}
	for _, tc := range cases {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			p := valid
			tc.mutate(&p)
			wantKind(t, s.CreatePerson(ctx, p), registration.ErrInvalid)
			if registration.ValidateUserID(p.UID) == nil {
				_, err := s.Person(ctx, p.UID)
				wantKind(t, err, registration.ErrNotFound)
			}
		})
	}
	t.Run("Invalid/NameTooLongRunes", func(t *testing.T) {
		s := open(t)
		p := valid
		p.Name = ""
		for range 200 {
			p.Name += "é"
		}
		ok(t, s.CreatePerson(ctx, p)) // 200 characters, 400 bytes
		p.UID, p.Name = "555000000012", p.Name+"é"
		wantKind(t, s.CreatePerson(ctx, p), registration.ErrInvalid)
	})
}

func testOrganisation(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		for _, o := range []registration.Organisation{
			{ODS: "Y12345", Name: "Riverside Health Centre"},
			{ODS: "RBA", Name: "A Trust"},
			{ODS: "A81001", Name: "A Practice"},
		} {
			ok(t, s.CreateOrganisation(ctx, o))
			got, err := s.Organisation(ctx, o.ODS)
			ok(t, err)
			same(t, *got, o)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Organisation(ctx, "Y99999")
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("Exists", func(t *testing.T) {
		s := open(t)
		ok(t, s.CreateOrganisation(ctx, registration.Organisation{ODS: "Y12345", Name: "One"}))
		wantKind(t, s.CreateOrganisation(ctx, registration.Organisation{ODS: "Y12345", Name: "Two"}), registration.ErrExists)
	})
	for _, ods := range []string{"", "Y1", "Y123456", "y12345", "Y1234-", "Y 123", "Y12345\x00"} {
		t.Run("InvalidODS/"+ods, func(t *testing.T) {
			s := open(t)
			wantKind(t, s.CreateOrganisation(ctx, registration.Organisation{ODS: ods, Name: "X"}), registration.ErrInvalid)
			_, err := s.Organisation(ctx, ods)
			wantKind(t, err, registration.ErrInvalid)
		})
	}
	t.Run("InvalidName", func(t *testing.T) {
		s := open(t)
		wantKind(t, s.CreateOrganisation(ctx, registration.Organisation{ODS: "Y12345", Name: ""}), registration.ErrInvalid)
		wantKind(t, s.CreateOrganisation(ctx, registration.Organisation{ODS: "Y12345", Name: "A\tB"}), registration.ErrInvalid)
		_, err := s.Organisation(ctx, "Y12345")
		wantKind(t, err, registration.ErrNotFound)
	})
}

func testConcurrentWrites(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("DistinctPeople", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				uid := "7000000000" + string(rune('0'+i/10)) + string(rune('0'+i%10))
				if err := s.CreatePerson(ctx, registration.Person{UID: uid, Name: "Person " + uid, Status: registration.PersonActive}); err != nil {
					t.Errorf("create %s: %v", uid, err)
					return
				}
				if _, err := s.Person(ctx, uid); err != nil {
					t.Errorf("read %s: %v", uid, err)
				}
			})
		}
		wg.Wait()
	})
	t.Run("SamePerson", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 10)
		for range 10 {
			wg.Go(func() {
				errs <- s.CreatePerson(ctx, registration.Person{UID: "700000000099", Name: "Racer", Status: registration.PersonActive})
			})
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, registration.ErrExists) {
				t.Errorf("loser: %v, want ErrExists", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d creations of the same person succeeded, want 1", won)
		}
	})
}

func testClose(t *testing.T, open func(t *testing.T) registration.Store) {
	s := open(t)
	ok(t, s.Close())
	ok(t, s.Close())
}

func testCancelledContext(t *testing.T, open func(t *testing.T) registration.Store) {
	s := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := registration.Person{UID: "555000000011", Name: "Alice Carter", Status: registration.PersonActive}
	if err := s.CreatePerson(ctx, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := s.Person(ctx, p.UID); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context: %v, want context.Canceled", err)
	}
	_, err := s.Person(context.Background(), p.UID)
	wantKind(t, err, registration.ErrNotFound)
}
