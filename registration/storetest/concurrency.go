package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// Concurrency: what many authd nodes writing one store at once must never
// see. On SQLite the writers queue on one connection; on PostgreSQL they
// run in parallel transactions, and these tests are what shows that the
// pre-checks, constraints and compare-and-set updates hold there too.

// racers is how many goroutines each race starts.
const racers = 12

// race runs fn(0..n-1) at once, released together, and returns the errors
// in order.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var start, wg sync.WaitGroup
	start.Add(1)
	for i := range n {
		wg.Go(func() {
			start.Wait()
			errs[i] = fn(i)
		})
	}
	start.Done()
	wg.Wait()
	return errs
}

// oneWinner fails unless exactly one error is nil and every other matches
// loser (and no other kind); it returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: racers %d and %d both succeeded", what, winner, i)
		case err == nil:
			winner = i
		default:
			wantKind(t, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: nobody succeeded: %v", what, errs[0])
	}
	return winner
}

func testConcurrentVersionedWrites(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	// Writers each add their own dissent codes to one consent record,
	// read-modify-write with the version read, retrying on ErrConflict.
	// No update may be lost: every code added is there at the end, and
	// the version counts every successful write exactly once.
	t.Run("NoLostUpdate", func(t *testing.T) {
		s := open(t)
		world(t, s)
		first := validConsent()
		first.DissentCodes = nil
		ok(t, s.SetConsent(ctx, first))
		const writers, each = 8, 2 // 16 codes: MaxDissentCodes
		var mu sync.Mutex
		conflicts := 0 // guarded by mu
		errs := race(writers, func(w int) error {
			for j := range each {
				code := fmt.Sprintf("W%02dx%d", w, j)
				for attempt := 0; ; attempt++ {
					if attempt == 200 {
						return fmt.Errorf("writer %d: %s not written after %d conflicts", w, code, attempt)
					}
					cur, err := s.Consent(ctx, patientA)
					if err != nil {
						return err
					}
					next := *cur
					next.DissentCodes = append(slices.Clone(cur.DissentCodes), code)
					next.UpdatedBy, next.UpdatedAt = []string{holderUID, otherUID}[w%2], time.Time{}
					err = s.SetConsent(ctx, next)
					if errors.Is(err, registration.ErrConflict) {
						mu.Lock()
						conflicts++
						mu.Unlock()
						continue
					}
					if err != nil {
						return fmt.Errorf("writer %d: %w", w, err)
					}
					break
				}
			}
			return nil
		})
		for _, err := range errs {
			ok(t, err)
		}
		got, err := s.Consent(ctx, patientA)
		ok(t, err)
		var want []string
		for w := range writers {
			for j := range each {
				want = append(want, fmt.Sprintf("W%02dx%d", w, j))
			}
		}
		slices.Sort(want)
		same(t, got.DissentCodes, want)
		same(t, got.Version, 1+writers*each)
		t.Logf("%d writes, %d conflicts retried", writers*each, conflicts)

		// A writer holding any older version loses, and changes nothing.
		stale := *got
		stale.Version, stale.DissentCodes = got.Version-1, nil
		wantKind(t, s.SetConsent(ctx, stale), registration.ErrConflict)
		again, err := s.Consent(ctx, patientA)
		ok(t, err)
		same(t, *again, *got)
	})
	// Writers all holding the same version: one wins each round, the rest
	// get ErrConflict, and the record is the winner's.
	t.Run("SameVersion", func(t *testing.T) {
		s := open(t)
		world(t, s)
		for version := range 3 {
			errs := race(racers, func(i int) error {
				c := validConsent()
				c.Version, c.DissentCodes = version, []string{fmt.Sprintf("R%dx%02d", version, i)}
				return s.SetConsent(ctx, c)
			})
			w := oneWinner(t, fmt.Sprintf("version %d", version), errs, registration.ErrConflict)
			got, err := s.Consent(ctx, patientA)
			ok(t, err)
			same(t, []any{got.Version, got.DissentCodes}, []any{version + 1, []string{fmt.Sprintf("R%dx%02d", version, w)}})
		}
	})
}

func testConcurrentCreates(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	// Each case creates records of the same identity from racers
	// goroutines at once (the records differ otherwise): exactly one is
	// stored, the others get ErrExists, and the one stored is the
	// winner's.
	t.Run("Organisation", func(t *testing.T) {
		s := open(t)
		errs := race(racers, func(i int) error {
			return s.CreateOrganisation(ctx, registration.Organisation{ODS: "Y12345", Name: fmt.Sprintf("Racer %d", i)})
		})
		w := oneWinner(t, "organisation", errs, registration.ErrExists)
		got, err := s.Organisation(ctx, "Y12345")
		ok(t, err)
		same(t, got.Name, fmt.Sprintf("Racer %d", w))
	})
	t.Run("RoleProfile", func(t *testing.T) {
		s := open(t)
		world(t, s)
		errs := race(racers, func(i int) error {
			rp := validProfile()
			rp.Workgroups = []string{fmt.Sprintf("wg_%d", i)}
			return s.CreateRoleProfile(ctx, rp)
		})
		w := oneWinner(t, "role profile", errs, registration.ErrExists)
		got, err := s.RoleProfile(ctx, validProfile().ID)
		ok(t, err)
		same(t, got.Workgroups, []string{fmt.Sprintf("wg_%d", w)})
	})
	t.Run("CardID", func(t *testing.T) {
		s := open(t)
		world(t, s)
		errs := race(racers, func(i int) error {
			c := validCard()
			c.CertFingerprint = fingerprint(fmt.Sprintf("card %d", i))
			return s.CreateCard(ctx, c)
		})
		w := oneWinner(t, "card", errs, registration.ErrExists)
		got, err := s.Card(ctx, validCard().ID)
		ok(t, err)
		same(t, got.CertFingerprint, fingerprint(fmt.Sprintf("card %d", w)))
	})
	t.Run("CardFingerprint", func(t *testing.T) {
		// Different cards, one certificate: the fingerprint is unique.
		s := open(t)
		world(t, s)
		errs := race(racers, func(i int) error {
			c := validCard()
			c.ID = fmt.Sprintf("C0A1B2C3D4E%02d", i)
			return s.CreateCard(ctx, c)
		})
		w := oneWinner(t, "card fingerprint", errs, registration.ErrExists)
		got, err := s.CardByFingerprint(ctx, validCard().CertFingerprint)
		ok(t, err)
		same(t, got.ID, fmt.Sprintf("C0A1B2C3D4E%02d", w))
		cards, err := s.CardsOf(ctx, holderUID)
		ok(t, err)
		same(t, len(cards), 1)
	})
	t.Run("Relationship", func(t *testing.T) {
		s := open(t)
		world(t, s)
		errs := race(racers, func(i int) error {
			r := validRelationship()
			r.CreatedAt = t0.Add(time.Duration(i) * time.Second)
			return s.CreateRelationship(ctx, r)
		})
		w := oneWinner(t, "relationship", errs, registration.ErrExists)
		got, err := s.RelationshipsFor(ctx, patientA, time.Time{})
		ok(t, err)
		same(t, len(got), 1)
		same(t, got[0].CreatedAt, us(t0.Add(time.Duration(w)*time.Second)))
	})
	t.Run("Seal", func(t *testing.T) {
		s := open(t)
		world(t, s)
		errs := race(racers, func(i int) error {
			sl := validSeal()
			sl.OwnerWorkgroup = fmt.Sprintf("wg_%d", i)
			return s.CreateSeal(ctx, sl)
		})
		w := oneWinner(t, "seal", errs, registration.ErrExists)
		got, err := s.Seals(ctx, patientA)
		ok(t, err)
		same(t, len(got), 1)
		same(t, got[0].OwnerWorkgroup, fmt.Sprintf("wg_%d", w))
	})
	t.Run("Alert", func(t *testing.T) {
		s := open(t)
		alertWorld(t, s)
		errs := race(racers, func(i int) error {
			a := validAlert()
			a.Reason = fmt.Sprintf("Racer %d", i)
			return s.CreateAlert(ctx, a)
		})
		w := oneWinner(t, "alert", errs, registration.ErrExists)
		got, err := s.Alerts(ctx, registration.AlertFilter{Limit: 100})
		ok(t, err)
		same(t, len(got), 1)
		same(t, got[0].Reason, fmt.Sprintf("Racer %d", w))
	})
}

func testConcurrentTransitions(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	// Each case makes racers goroutines move one record out of the same
	// state at once: exactly one move happens, the others are ErrConflict.
	t.Run("CancelCard", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.CreateCard(ctx, validCard()))
		errs := race(racers, func(int) error { return s.SetCardStatus(ctx, validCard().ID, registration.CardCancelled) })
		oneWinner(t, "cancel card", errs, registration.ErrConflict)
		got, err := s.Card(ctx, validCard().ID)
		ok(t, err)
		same(t, got.Status, registration.CardCancelled)
	})
	t.Run("SuspendOrCancelCard", func(t *testing.T) {
		// Half suspend, half cancel: whichever wins, the other kind of
		// move then conflicts or follows the life cycle, never both
		// from active.
		s := open(t)
		world(t, s)
		ok(t, s.CreateCard(ctx, validCard()))
		errs := race(racers, func(i int) error {
			st := registration.CardSuspended
			if i%2 == 1 {
				st = registration.CardCancelled
			}
			return s.SetCardStatus(ctx, validCard().ID, st)
		})
		var won []int
		for i, err := range errs {
			if err == nil {
				won = append(won, i)
			} else {
				wantKind(t, err, registration.ErrConflict)
			}
		}
		got, err := s.Card(ctx, validCard().ID)
		ok(t, err)
		// Allowed histories: one suspension; one cancellation; or one
		// suspension followed by one cancellation.
		switch len(won) {
		case 1:
			want := registration.CardSuspended
			if won[0]%2 == 1 {
				want = registration.CardCancelled
			}
			same(t, got.Status, want)
		case 2:
			if won[0]%2 == won[1]%2 {
				t.Fatalf("two racers made the same move: %v", won)
			}
			same(t, got.Status, registration.CardCancelled)
		default:
			t.Fatalf("%d moves succeeded (%v), want 1 or 2", len(won), won)
		}
	})
	t.Run("ApproveRoleProfile", func(t *testing.T) {
		// Two approvers at once: one approval is recorded.
		s := open(t)
		world(t, s)
		rp := validProfile()
		rp.Status, rp.ApprovedBy = registration.RoleProfilePending, ""
		ok(t, s.CreateRoleProfile(ctx, rp))
		approvers := []string{approverUID, otherUID}
		errs := race(racers, func(i int) error {
			return s.SetRoleProfileStatus(ctx, rp.ID, registration.RoleProfileActive, approvers[i%2])
		})
		w := oneWinner(t, "approve", errs, registration.ErrConflict)
		got, err := s.RoleProfile(ctx, rp.ID)
		ok(t, err)
		same(t, []any{got.Status, got.ApprovedBy}, []any{registration.RoleProfileActive, approvers[w%2]})
	})
	t.Run("EndRelationship", func(t *testing.T) {
		s := open(t)
		world(t, s)
		ok(t, s.CreateRelationship(ctx, validRelationship()))
		errs := race(racers, func(i int) error {
			return s.EndRelationship(ctx, validRelationship().ID, t0.Add(time.Duration(i+1)*time.Minute))
		})
		w := oneWinner(t, "end relationship", errs, registration.ErrConflict)
		got, err := s.RelationshipsFor(ctx, patientA, time.Time{})
		ok(t, err)
		same(t, got[0].EndedAt, us(t0.Add(time.Duration(w+1)*time.Minute)))
	})
	t.Run("ReviewAlert", func(t *testing.T) {
		s := open(t)
		alertWorld(t, s)
		ok(t, s.CreateAlert(ctx, validAlert()))
		reviewers := []string{approverUID, otherUID}
		errs := race(racers, func(i int) error {
			return s.ReviewAlert(ctx, validAlert().ID, reviewers[i%2], registration.AlertClosed, fmt.Sprintf("note %d", i))
		})
		w := oneWinner(t, "review alert", errs, registration.ErrConflict)
		got, err := s.Alerts(ctx, registration.AlertFilter{Limit: 10})
		ok(t, err)
		same(t, []any{got[0].Status, got[0].ReviewedBy, got[0].ReviewNote},
			[]any{registration.AlertClosed, reviewers[w%2], fmt.Sprintf("note %d", w)})
	})
}
