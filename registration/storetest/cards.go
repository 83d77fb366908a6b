package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

func fingerprint(s string) [32]byte { return sha256.Sum256([]byte(s)) }

func validCard() registration.Card {
	return registration.Card{
		ID:              "C0A1B2C3D4E5F",
		UID:             holderUID,
		CertSerial:      "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		CertFingerprint: fingerprint("card one"),
		CertNotAfter:    t0.AddDate(3, 0, 0),
		Status:          registration.CardActive,
		IssuedAt:        t0,
	}
}

func storedCard(c registration.Card) registration.Card {
	c.CertNotAfter, c.IssuedAt = us(c.CertNotAfter), us(c.IssuedAt)
	return c
}

func testCard(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		world(t, s)
		c := validCard()
		ok(t, s.CreateCard(ctx, c))
		got, err := s.Card(ctx, c.ID)
		ok(t, err)
		same(t, *got, storedCard(c))
		got, err = s.CardByFingerprint(ctx, c.CertFingerprint)
		ok(t, err)
		same(t, *got, storedCard(c))
	})
	t.Run("DefaultIssuedAt", func(t *testing.T) {
		s := open(t)
		world(t, s)
		c := validCard()
		c.IssuedAt = time.Time{}
		ok(t, s.CreateCard(ctx, c))
		got, err := s.Card(ctx, c.ID)
		ok(t, err)
		if got.IssuedAt.IsZero() {
			t.Fatal("IssuedAt not set from the clock")
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.CreateCard(ctx, validCard()))
		_, err := s.Card(ctx, "C0000")
		wantKind(t, err, registration.ErrNotFound)
		_, err = s.CardByFingerprint(ctx, fingerprint("no such card"))
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("InvalidLookup", func(t *testing.T) {
		s := open(t)
		for _, id := range []string{"", "C_1", "C 1", strings.Repeat("C", 33), "C1\n"} {
			_, err := s.Card(ctx, id)
			wantKind(t, err, registration.ErrInvalid)
		}
		_, err := s.CardByFingerprint(ctx, [32]byte{})
		wantKind(t, err, registration.ErrInvalid)
	})
	t.Run("ExistsID", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.CreateCard(ctx, validCard()))
		again := validCard()
		again.CertFingerprint = fingerprint("card two")
		wantKind(t, s.CreateCard(ctx, again), registration.ErrExists)
		_, err := s.CardByFingerprint(ctx, again.CertFingerprint)
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("DuplicateFingerprint", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.CreateCard(ctx, validCard()))
		again := validCard()
		again.ID, again.UID = "C999", otherUID
		wantKind(t, s.CreateCard(ctx, again), registration.ErrExists)
		_, err := s.Card(ctx, again.ID)
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("UnknownPerson", func(t *testing.T) {
		s := open(t)
		world(t, s)
		c := validCard()
		c.UID = "900000000999"
		wantKind(t, s.CreateCard(ctx, c), registration.ErrInvalid)
		_, err := s.Card(ctx, c.ID)
		wantKind(t, err, registration.ErrNotFound)
	})
	cases := []struct {
		name   string
		mutate func(c *registration.Card)
	}{
		{"IDEmpty", func(c *registration.Card) { c.ID = "" }},
		{"IDUnderscore", func(c *registration.Card) { c.ID = "C_1" }},
		{"IDTooLong", func(c *registration.Card) { c.ID = strings.Repeat("C", 33) }},
		{"UID", func(c *registration.Card) { c.UID = "1" }},
		{"SerialUpperCase", func(c *registration.Card) { c.CertSerial = "0A1B" }},
		{"SerialEmpty", func(c *registration.Card) { c.CertSerial = "" }},
		{"SerialNotHex", func(c *registration.Card) { c.CertSerial = "xyz" }},
		{"SerialTooLong", func(c *registration.Card) { c.CertSerial = strings.Repeat("a", 65) }},
		{"FingerprintZero", func(c *registration.Card) { c.CertFingerprint = [32]byte{} }},
		{"NotAfterZero", func(c *registration.Card) { c.CertNotAfter = time.Time{} }},
		{"StatusEmpty", func(c *registration.Card) { c.Status = "" }},
		{"StatusUnknown", func(c *registration.Card) { c.Status = "lost" }},
	}
	for _, tc := range cases {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			world(t, s)
			c := validCard()
			tc.mutate(&c)
			wantKind(t, s.CreateCard(ctx, c), registration.ErrInvalid)
			if c.CertFingerprint != ([32]byte{}) {
				_, err := s.CardByFingerprint(ctx, c.CertFingerprint)
				wantKind(t, err, registration.ErrNotFound)
			}
		})
	}
}

func testCardsOf(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	issued := map[string]time.Time{"C3": t0, "C1": t0.Add(time.Hour), "C2": t0, "C0": t0.Add(-time.Hour)}
	for _, id := range []string{"C3", "C1", "C2", "C0"} {
		c := validCard()
		c.ID, c.IssuedAt, c.CertFingerprint = id, issued[id], fingerprint(id)
		ok(t, s.CreateCard(ctx, c))
	}
	o := validCard()
	o.ID, o.UID, o.CertFingerprint = "C9", otherUID, fingerprint("C9")
	ok(t, s.CreateCard(ctx, o))

	got, err := s.CardsOf(ctx, holderUID)
	ok(t, err)
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	same(t, ids, []string{"C0", "C2", "C3", "C1"})

	none, err := s.CardsOf(ctx, approverUID)
	ok(t, err)
	if none == nil || len(none) != 0 {
		t.Fatalf("got %#v, want an empty non-nil slice", none)
	}
	_, err = s.CardsOf(ctx, "900000000999")
	wantKind(t, err, registration.ErrNotFound)
	_, err = s.CardsOf(ctx, "x")
	wantKind(t, err, registration.ErrInvalid)
}

func testSetCardStatus(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	c := validCard()
	ok(t, s.CreateCard(ctx, c))
	status := func() registration.CardStatus {
		t.Helper()
		got, err := s.Card(ctx, c.ID)
		ok(t, err)
		return got.Status
	}
	steps := []struct {
		to   registration.CardStatus
		want error
	}{
		{registration.CardActive, registration.ErrConflict},
		{registration.CardSuspended, nil},
		{registration.CardSuspended, registration.ErrConflict},
		{registration.CardActive, nil},
		{"lost", registration.ErrInvalid},
		{"", registration.ErrInvalid},
		{registration.CardCancelled, nil},
		{registration.CardActive, registration.ErrConflict},
		{registration.CardSuspended, registration.ErrConflict},
		{registration.CardCancelled, registration.ErrConflict},
	}
	cur := registration.CardActive
	for i, step := range steps {
		err := s.SetCardStatus(ctx, c.ID, step.to)
		if step.want == nil {
			if err != nil {
				t.Fatalf("step %d: %s -> %s: %v", i, cur, step.to, err)
			}
			cur = step.to
		} else {
			wantKind(t, err, step.want)
		}
		if got := status(); got != cur {
			t.Fatalf("step %d: status %s, want %s", i, got, cur)
		}
	}
	wantKind(t, s.SetCardStatus(ctx, "C0000", registration.CardSuspended), registration.ErrNotFound)
	wantKind(t, s.SetCardStatus(ctx, "C 1", registration.CardSuspended), registration.ErrInvalid)

	t.Run("ConcurrentCancel", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.CreateCard(ctx, validCard()))
		errs := make(chan error, 10)
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() { errs <- s.SetCardStatus(ctx, c.ID, registration.CardCancelled) })
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			if err == nil {
				won++
			} else if !errors.Is(err, registration.ErrConflict) {
				t.Errorf("loser: %v, want ErrConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d cancellations succeeded, want 1", won)
		}
	})
}

func testReopen(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	s := open(t)
	world(t, s)
	rp := validProfile()
	c := validCard()
	ok(t, s.CreateRoleProfile(ctx, rp))
	ok(t, s.CreateCard(ctx, c))
	ok(t, s.SetCardStatus(ctx, c.ID, registration.CardSuspended))
	ok(t, s.Close())

	s = open(t)
	p, err := s.Person(ctx, holderUID)
	ok(t, err)
	same(t, *p, registration.Person{UID: holderUID, Name: "Person " + holderUID, Status: registration.PersonActive,
		Version: 1, CreatedAt: us(t0), UpdatedAt: us(t0)})
	o, err := s.Organisation(ctx, trustODS)
	ok(t, err)
	same(t, *o, registration.Organisation{ODS: trustODS, Name: "Test Trust"})
	gotRP, err := s.RoleProfile(ctx, rp.ID)
	ok(t, err)
	same(t, *gotRP, stored(rp))
	gotCard, err := s.CardByFingerprint(ctx, c.CertFingerprint)
	ok(t, err)
	want := storedCard(c)
	want.Status = registration.CardSuspended
	same(t, *gotCard, want)
	// Still writable, and still enforcing uniqueness.
	wantKind(t, s.CreatePerson(ctx, registration.Person{UID: holderUID, Name: "X", Status: registration.PersonActive}), registration.ErrExists)
	ok(t, s.CreatePerson(ctx, registration.Person{UID: "900000000004", Name: "After Reopen", Status: registration.PersonActive}))
}
