package registration

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/carespine/spineauth/registration/pgtest"
)

// These tests drive the write helper directly, with transactions that
// PostgreSQL really aborts, to show what a Store write does when that
// happens: it runs the transaction again, and gives up with ErrConflict.

func openPostgresInternal(t *testing.T) *Postgres {
	t.Helper()
	s, err := OpenPostgres(context.Background(), pgtest.New(t).DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPostgresDeadlockIsRetried makes two transactions lock two rows in
// opposite orders. PostgreSQL aborts one as a deadlock (40P01); write runs
// it again, and both writes succeed.
func TestPostgresDeadlockIsRetried(t *testing.T) {
	t.Parallel()
	s := openPostgresInternal(t)
	ctx := context.Background()
	for _, ods := range []string{"AAA", "BBB"} {
		if err := s.CreateOrganisation(ctx, Organisation{ODS: ods, Name: "Org " + ods}); err != nil {
			t.Fatal(err)
		}
	}
	var attempts atomic.Int32
	var locked sync.WaitGroup // both first locks are held
	locked.Add(2)
	var first [2]sync.Once
	update := func(tx *sql.Tx, ods, name string) error {
		_, err := tx.ExecContext(ctx, `UPDATE organisations SET name = $1 WHERE ods = $2`, name, ods)
		return err
	}
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, order := range [][2]string{{"AAA", "BBB"}, {"BBB", "AAA"}} {
		wg.Go(func() {
			errs[i] = s.write(ctx, "deadlock test", func(tx *sql.Tx) error {
				attempts.Add(1)
				if err := update(tx, order[0], "first"); err != nil {
					return err
				}
				first[i].Do(func() { locked.Done(); locked.Wait() })
				return update(tx, order[1], "second")
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	if n := attempts.Load(); n < 3 {
		t.Fatalf("%d attempts: want at least one retry after the deadlock", n)
	}
}

// TestPostgresRetriesEnd: a transaction that keeps failing with a
// serialization failure (40001) is tried 1+pgMaxRetries times, then
// reported as ErrConflict with the cause kept.
func TestPostgresRetriesEnd(t *testing.T) {
	t.Parallel()
	s := openPostgresInternal(t)
	ctx := context.Background()
	attempts := 0
	err := s.write(ctx, "always conflicting", func(tx *sql.Tx) error {
		attempts++
		_, err := tx.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = 'serialization_failure'; END $$`)
		return err
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("error %v, want ErrConflict", err)
	}
	if attempts != 1+pgMaxRetries {
		t.Fatalf("%d attempts, want %d", attempts, 1+pgMaxRetries)
	}
	// Any other error is not retried.
	attempts = 0
	err = s.write(ctx, "failing", func(tx *sql.Tx) error {
		attempts++
		_, err := tx.ExecContext(ctx, `SELECT 1/0`)
		return err
	})
	if err == nil || isKind(err) || attempts != 1 {
		t.Fatalf("division by zero: %v after %d attempts, want one attempt and no kind", err, attempts)
	}
}

func TestClassifyPostgres(t *testing.T) {
	t.Parallel()
	s := openPostgresInternal(t)
	ctx := context.Background()
	for _, tc := range []struct {
		code string
		want error
	}{
		{"unique_violation", ErrExists},
		{"foreign_key_violation", ErrInvalid},
		{"check_violation", ErrInvalid},
		{"not_null_violation", ErrInvalid},
		{"serialization_failure", ErrConflict},
		{"deadlock_detected", ErrConflict},
		{"lock_not_available", ErrConflict},
		{"division_by_zero", nil},
	} {
		_, err := s.w.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '`+tc.code+`'; END $$`)
		if err == nil {
			t.Fatalf("%s: no error", tc.code)
		}
		if got := classifyPostgres(err); got != tc.want {
			t.Errorf("%s: classify = %v, want %v", tc.code, got, tc.want)
		}
	}
	if classifyPostgres(errors.New("not from postgres")) != nil {
		t.Error("a non-PostgreSQL error was classified")
	}
}
