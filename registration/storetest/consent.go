package storetest

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

func validConsent() registration.Consent {
	return registration.Consent{
		NHSNumber:    patientA,
		SCR:          registration.ConsentNo,
		DissentCodes: []string{"9Ndo", "93C3"},
		UpdatedBy:    holderUID,
		UpdatedAt:    t0,
	}
}

func testConsent(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		_, err := s.Consent(ctx, patientA)
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("CreateAndGet", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.SetConsent(ctx, validConsent()))
		got, err := s.Consent(ctx, patientA)
		ok(t, err)
		want := validConsent()
		want.DissentCodes, want.UpdatedAt, want.Version = []string{"93C3", "9Ndo"}, us(t0), 1
		same(t, *got, want)
		_, err = s.Consent(ctx, patientB)
		wantKind(t, err, registration.ErrNotFound)
	})
	t.Run("Update", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.SetConsent(ctx, validConsent()))
		c := validConsent()
		c.Version, c.SCR, c.DissentCodes, c.UpdatedBy, c.UpdatedAt = 1, registration.ConsentYes, nil, otherUID, t0.Add(time.Hour)
		ok(t, s.SetConsent(ctx, c))
		got, err := s.Consent(ctx, patientA)
		ok(t, err)
		same(t, *got, registration.Consent{NHSNumber: patientA, SCR: registration.ConsentYes, DissentCodes: []string{},
			UpdatedBy: otherUID, UpdatedAt: us(t0.Add(time.Hour)), Version: 2})
		c.Version, c.SCR, c.DissentCodes = 2, registration.ConsentAsk, []string{"9Nd.1"}
		ok(t, s.SetConsent(ctx, c))
		got, err = s.Consent(ctx, patientA)
		ok(t, err)
		same(t, []any{got.Version, got.SCR, got.DissentCodes}, []any{3, registration.ConsentAsk, []string{"9Nd.1"}})
	})
	t.Run("DefaultUpdatedAt", func(t *testing.T) {
		s := open(t)
		world(t, s)
		c := validConsent()
		c.UpdatedAt = time.Time{}
		ok(t, s.SetConsent(ctx, c))
		got, err := s.Consent(ctx, patientA)
		ok(t, err)
		if got.UpdatedAt.IsZero() {
			t.Fatal("UpdatedAt not set from the clock")
		}
	})
	t.Run("VersionConflict", func(t *testing.T) {
		s := open(t)
		world(t, s)
		fresh := validConsent()
		fresh.Version = 1
		wantKind(t, s.SetConsent(ctx, fresh), registration.ErrConflict) // nothing stored yet
		_, err := s.Consent(ctx, patientA)
		wantKind(t, err, registration.ErrNotFound)

		ok(t, s.SetConsent(ctx, validConsent()))
		for _, v := range []int{0, 2, 7} {
			c := validConsent()
			c.Version, c.SCR, c.DissentCodes = v, registration.ConsentYes, nil
			wantKind(t, s.SetConsent(ctx, c), registration.ErrConflict)
		}
		got, err := s.Consent(ctx, patientA)
		ok(t, err)
		same(t, []any{got.Version, got.SCR, got.DissentCodes}, []any{1, registration.ConsentNo, []string{"93C3", "9Ndo"}})
	})
	t.Run("UnknownUpdater", func(t *testing.T) {
		s := open(t)
		world(t, s)
		c := validConsent()
		c.UpdatedBy = "900000000999"
		wantKind(t, s.SetConsent(ctx, c), registration.ErrInvalid)
	})
	cases := []struct {
		name   string
		mutate func(c *registration.Consent)
	}{
		{"SCREmpty", func(c *registration.Consent) { c.SCR = "" }},
		{"SCRUnknownValue", func(c *registration.Consent) { c.SCR = "maybe" }},
		{"SCRUpperCase", func(c *registration.Consent) { c.SCR = "YES" }},
		{"ReadCodeShort", func(c *registration.Consent) { c.DissentCodes = []string{"93C"} }},
		{"ReadCodeLong", func(c *registration.Consent) { c.DissentCodes = []string{"93C3X1"} }},
		{"ReadCodeSpace", func(c *registration.Consent) { c.DissentCodes = []string{"93 3"} }},
		{"ReadCodeHyphen", func(c *registration.Consent) { c.DissentCodes = []string{"93C-"} }},
		{"ReadCodeNewline", func(c *registration.Consent) { c.DissentCodes = []string{"93C\n"} }},
		{"ReadCodeNonASCII", func(c *registration.Consent) { c.DissentCodes = []string{"93Cé"} }},
		{"ReadCodeEmpty", func(c *registration.Consent) { c.DissentCodes = []string{""} }},
		{"ReadCodeDuplicate", func(c *registration.Consent) { c.DissentCodes = []string{"93C3", "9Ndo", "93C3"} }},
		{"TooManyReadCodes", func(c *registration.Consent) {
			c.DissentCodes = nil
			for i := range registration.MaxDissentCodes + 1 {
				c.DissentCodes = append(c.DissentCodes, "9N"+strconv.Itoa(10+i))
			}
		}},
		{"UpdatedByBad", func(c *registration.Consent) { c.UpdatedBy = "" }},
		{"VersionNegative", func(c *registration.Consent) { c.Version = -1 }},
	}
	for _, bad := range badNHSNumbers {
		cases = append(cases, struct {
			name   string
			mutate func(c *registration.Consent)
		}{"NHS" + bad.name, func(c *registration.Consent) { c.NHSNumber = bad.nhs }})
	}
	for _, tc := range cases {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			world(t, s)
			c := validConsent()
			tc.mutate(&c)
			wantKind(t, s.SetConsent(ctx, c), registration.ErrInvalid)
			_, err := s.Consent(ctx, patientA)
			wantKind(t, err, registration.ErrNotFound)
		})
	}
	t.Run("InvalidLookup", func(t *testing.T) {
		s := open(t)
		for _, bad := range badNHSNumbers {
			_, err := s.Consent(ctx, bad.nhs)
			wantKind(t, err, registration.ErrInvalid)
		}
	})
	t.Run("Race", func(t *testing.T) {
		s := open(t)
		world(t, s)
		// Ten writers with the same version, first for a new record, then
		// for an update: exactly one wins each round, the rest conflict.
		for _, version := range []int{0, 1} {
			var wg sync.WaitGroup
			errs := make([]error, 10)
			for i := range errs {
				wg.Go(func() {
					c := validConsent()
					c.Version, c.DissentCodes = version, []string{"9N" + strconv.Itoa(10+i)}
					errs[i] = s.SetConsent(ctx, c)
				})
			}
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("version %d: writers %d and %d both won", version, winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, registration.ErrConflict):
					t.Fatalf("version %d: loser %d: %v, want ErrConflict", version, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("version %d: nobody won", version)
			}
			got, err := s.Consent(ctx, patientA)
			ok(t, err)
			same(t, []any{got.Version, got.DissentCodes}, []any{version + 1, []string{"9N" + strconv.Itoa(10+winner)}})
		}
	})
}

func validSeal() registration.Seal {
	return registration.Seal{
		NHSNumber: patientA,
		Section:   "clinical/mental-health",
		State:     registration.SealedLocked,
		// A workgroup of validProfile's.
		OwnerWorkgroup: "wg_a",
		CreatedBy:      holderUID,
		CreatedAt:      t0,
	}
}

func testSeal(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("CreateAndList", func(t *testing.T) {
		s := open(t)
		world(t, s)
		locked := validSeal()
		clinical := registration.Seal{NHSNumber: patientA, Section: "clinical", State: registration.Sealed,
			CreatedBy: otherUID, CreatedAt: t0.Add(time.Hour)}
		scr := registration.Seal{NHSNumber: patientA, Section: "scr", State: registration.Sealed,
			OwnerWorkgroup: "wg-b", CreatedBy: holderUID, CreatedAt: t0.Add(-time.Hour)}
		other := registration.Seal{NHSNumber: patientB, Section: "clinical_2", State: registration.Sealed,
			CreatedBy: holderUID, CreatedAt: t0}
		for _, sl := range []registration.Seal{scr, locked, clinical, other} {
			ok(t, s.CreateSeal(ctx, sl))
		}
		got, err := s.Seals(ctx, patientA)
		ok(t, err)
		locked.CreatedAt, clinical.CreatedAt, scr.CreatedAt = us(locked.CreatedAt), us(clinical.CreatedAt), us(scr.CreatedAt)
		same(t, got, []registration.Seal{clinical, locked, scr}) // by section, byte order
		none, err := s.Seals(ctx, "9990001316")
		ok(t, err)
		if none == nil || len(none) != 0 {
			t.Fatalf("unknown patient: %#v, want an empty non-nil slice", none)
		}
	})
	t.Run("DefaultCreatedAt", func(t *testing.T) {
		s := open(t)
		world(t, s)
		sl := validSeal()
		sl.CreatedAt = time.Time{}
		ok(t, s.CreateSeal(ctx, sl))
		got, err := s.Seals(ctx, patientA)
		ok(t, err)
		if len(got) != 1 || got[0].CreatedAt.IsZero() {
			t.Fatalf("got %+v: want CreatedAt set from the clock", got)
		}
	})
	t.Run("Exists", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.CreateSeal(ctx, validSeal()))
		again := validSeal()
		again.State, again.OwnerWorkgroup = registration.Sealed, ""
		wantKind(t, s.CreateSeal(ctx, again), registration.ErrExists)
		got, err := s.Seals(ctx, patientA)
		ok(t, err)
		same(t, got[0].State, registration.SealedLocked)
	})
	t.Run("UnknownCreator", func(t *testing.T) {
		s := open(t)
		world(t, s)
		sl := validSeal()
		sl.CreatedBy = "900000000999"
		wantKind(t, s.CreateSeal(ctx, sl), registration.ErrInvalid)
	})
	cases := []struct {
		name   string
		mutate func(s *registration.Seal)
	}{
		{"SectionEmpty", func(s *registration.Seal) { s.Section = "" }},
		{"SectionUpperCase", func(s *registration.Seal) { s.Section = "Clinical" }},
		{"SectionTrailingSlash", func(s *registration.Seal) { s.Section = "clinical/" }},
		{"SectionLeadingSlash", func(s *registration.Seal) { s.Section = "/clinical" }},
		{"SectionDoubleSlash", func(s *registration.Seal) { s.Section = "clinical//mh" }},
		{"SectionDotDot", func(s *registration.Seal) { s.Section = "clinical/../scr" }},
		{"SectionSpace", func(s *registration.Seal) { s.Section = "mental health" }},
		{"SectionNewline", func(s *registration.Seal) { s.Section = "clinical\n" }},
		{"SectionFullWidth", func(s *registration.Seal) { s.Section = "ｃlinical" }},
		{"SectionTooLong", func(s *registration.Seal) { s.Section = strings.Repeat("a", 65) }},
		{"StateEmpty", func(s *registration.Seal) { s.State = "" }},
		{"StateUnknown", func(s *registration.Seal) { s.State = "locked" }},
		{"LockedWithoutOwner", func(s *registration.Seal) { s.OwnerWorkgroup = "" }},
		{"OwnerBad", func(s *registration.Seal) { s.OwnerWorkgroup = "ward 7" }},
		{"CreatedByBad", func(s *registration.Seal) { s.CreatedBy = "90000000000x" }},
	}
	for _, bad := range badNHSNumbers {
		cases = append(cases, struct {
			name   string
			mutate func(s *registration.Seal)
		}{"NHS" + bad.name, func(s *registration.Seal) { s.NHSNumber = bad.nhs }})
	}
	for _, tc := range cases {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			world(t, s)
			sl := validSeal()
			tc.mutate(&sl)
			wantKind(t, s.CreateSeal(ctx, sl), registration.ErrInvalid)
			got, err := s.Seals(ctx, patientA)
			ok(t, err)
			same(t, len(got), 0)
		})
	}
	t.Run("Invalid/SectionLimit", func(t *testing.T) {
		s := open(t)
		world(t, s)
		sl := validSeal()
		sl.Section = strings.Repeat("a", 31) + "/" + strings.Repeat("b", 32)
		ok(t, s.CreateSeal(ctx, sl)) // 64 bytes
	})
	t.Run("InvalidLookup", func(t *testing.T) {
		s := open(t)
		for _, bad := range badNHSNumbers {
			_, err := s.Seals(ctx, bad.nhs)
			wantKind(t, err, registration.ErrInvalid)
		}
	})
}
