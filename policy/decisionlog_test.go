package policy

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

func openLog(t *testing.T, path string, opts ...LogOption) *SQLiteLog {
	t.Helper()
	l, err := OpenSQLiteLog(t.Context(), path, opts...)
	if err != nil {
		t.Fatalf("OpenSQLiteLog: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// rawDB is a second, independent connection to the log's file.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func countRows(t *testing.T, db *sql.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM decisions `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func sampleDecision(i int) Decision {
	return Decision{
		ID:         NewDecisionID(time.Now()),
		Time:       time.Date(2026, 11, 22, 10, 0, 0, i*1000, time.UTC),
		Query:      "access",
		Revision:   "0123456789abcdef",
		Input:      map[string]any{"subject": map[string]any{"uid": "555000000011"}, "n": i},
		Result:     map[string]any{"allow": i%2 == 0, "reason_codes": []any{}},
		Allow:      i%2 == 0,
		Caller:     "scr.spine.example",
		DurationUS: int64(100 + i),
	}
}

func TestRecordSyncSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l, err := OpenSQLiteLog(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	d := sampleDecision(2)
	if err := l.Record(t.Context(), d, true); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}

	got, err := openLog(t, path).Get(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := d
	want.Input = map[string]any{"subject": map[string]any{"uid": "555000000011"}, "n": json.Number("2")}
	want.Result = map[string]any{"allow": true, "reason_codes": []any{}}
	if !got.Time.Equal(want.Time) {
		t.Errorf("Time = %v, want %v", got.Time, want.Time)
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v\nwant %+v", got, want)
	}
	if _, err := openLog(t, filepath.Join(t.TempDir(), "other.db")).Get(t.Context(), d.ID); !errors.Is(err, ErrDecisionNotFound) {
		t.Errorf("Get of a missing id: %v", err)
	}
}

func TestRecordFillsIDAndTime(t *testing.T) {
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	path := filepath.Join(t.TempDir(), "decisions.db")
	l := openLog(t, path, WithClock(func() time.Time { return at }))
	d := sampleDecision(1)
	d.ID, d.Time = "", time.Time{}
	if err := l.Record(t.Context(), d, true); err != nil {
		t.Fatal(err)
	}
	var id string
	var us int64
	if err := rawDB(t, path).QueryRow(`SELECT id, time_us FROM decisions`).Scan(&id, &us); err != nil {
		t.Fatal(err)
	}
	if len(id) != 32 || id[:12] != NewDecisionID(at)[:12] || us != at.UnixMicro() {
		t.Errorf("id %s, time_us %d", id, us)
	}
}

func TestRecordAsyncFlushedByClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l, err := OpenSQLiteLog(t.Context(), path, WithEnqueueTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		if err := l.Record(t.Context(), sampleDecision(i), false); err != nil {
			t.Fatalf("Record %d: %v", i, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, rawDB(t, path), ""); n != 1000 {
		t.Errorf("%d rows, want 1000", n)
	}
	if err := l.Record(t.Context(), sampleDecision(0), true); !errors.Is(err, ErrLogClosed) {
		t.Errorf("Record after Close: %v", err)
	}
}

// TestRecordSyncIsCommitted checks that a sync Record returns only after
// its commit: an independent connection sees the row at once.
func TestRecordSyncIsCommitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l := openLog(t, path)
	db := rawDB(t, path)
	var wg sync.WaitGroup
	errs := make(chan error, 16*25)
	for g := range 16 {
		wg.Go(func() {
			for i := range 25 {
				d := sampleDecision(g*100 + i)
				if err := l.Record(t.Context(), d, true); err != nil {
					errs <- err
					return
				}
				var n int
				if err := db.QueryRow(`SELECT count(*) FROM decisions WHERE id = ?`, d.ID).Scan(&n); err != nil || n != 1 {
					errs <- fmt.Errorf("decision %s not visible after sync Record: n=%d err=%v", d.ID, n, err)
				}
				// Interleave async records, which share batches with sync ones.
				if err := l.Record(t.Context(), sampleDecision(g*100+50+i), false); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRecordAll: a batch's records, sync and not, each get their own
// answer: a duplicate and an unencodable record fail alone, and every
// sync record is committed when RecordAll returns.
func TestRecordAll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l := openLog(t, path)
	db := rawDB(t, path)
	if errs := l.RecordAll(t.Context(), nil, nil); len(errs) != 0 {
		t.Fatalf("RecordAll(nil) = %v", errs)
	}
	ds := make([]Decision, 8)
	for i := range ds {
		ds[i] = sampleDecision(i)
	}
	ds[5].ID = ds[1].ID                               // a duplicate of a sync record
	ds[6].Input = map[string]any{"c": make(chan int)} // cannot be encoded
	sync := []bool{true, true, false, true, false, true, true, true}
	errs := l.RecordAll(t.Context(), ds, sync)
	if len(errs) != len(ds) {
		t.Fatalf("%d errors for %d decisions", len(errs), len(ds))
	}
	for i, err := range errs {
		switch i {
		case 5:
			if err == nil || !strings.Contains(err.Error(), "UNIQUE") {
				t.Errorf("duplicate: %v", err)
			}
		case 6:
			if err == nil || !strings.Contains(err.Error(), "input") {
				t.Errorf("unencodable: %v", err)
			}
		default:
			if err != nil {
				t.Errorf("decision %d: %v", i, err)
			}
			if sync[i] && countRows(t, db, "WHERE id = ?", ds[i].ID) != 1 {
				t.Errorf("sync decision %d not committed when RecordAll returned", i)
			}
		}
	}
}

func TestRecordQueueFullIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l := openLog(t, path, WithQueueSize(1), WithMaxBatch(1), WithEnqueueTimeout(20*time.Millisecond))
	// Hold the write lock from another connection so the writer stalls.
	db := rawDB(t, path)
	conn, err := db.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var full error
	accepted := 0
	for i := range 10 {
		if full = l.Record(t.Context(), sampleDecision(i), false); full != nil {
			break
		}
		accepted++
	}
	if !errors.Is(full, ErrLogFull) {
		t.Fatalf("Record into a full queue: %v (after %d accepted)", full, accepted)
	}
	if _, err := conn.ExecContext(t.Context(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, db, ""); n != accepted {
		t.Errorf("%d rows, want the %d accepted", n, accepted)
	}
}

func TestRecordFailuresAreReported(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	var logs bytes.Buffer
	l, err := OpenSQLiteLog(t.Context(), path, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	d := sampleDecision(1)
	if err := l.Record(t.Context(), d, true); err != nil {
		t.Fatal(err)
	}
	t.Run("sync duplicate fails alone", func(t *testing.T) {
		dup := d
		other := sampleDecision(3)
		var wg sync.WaitGroup
		var errDup, errOther error
		wg.Go(func() { errDup = l.Record(t.Context(), dup, true) })
		wg.Go(func() { errOther = l.Record(t.Context(), other, true) })
		wg.Wait()
		if errDup == nil || !strings.Contains(errDup.Error(), "UNIQUE") {
			t.Errorf("duplicate: %v", errDup)
		}
		if errOther != nil {
			t.Errorf("other record in the batch: %v", errOther)
		}
	})
	t.Run("async duplicate is logged and counted", func(t *testing.T) {
		if err := l.Record(t.Context(), d, false); err != nil {
			t.Fatal(err)
		}
		err := l.Close()
		if l.Failed() != 1 || err == nil || !strings.Contains(err.Error(), "1 decision records could not be written") {
			t.Errorf("Failed = %d, Close = %v", l.Failed(), err)
		}
		if !strings.Contains(logs.String(), "decision record lost") || !strings.Contains(logs.String(), d.ID) ||
			strings.Contains(logs.String(), "555000000011") {
			t.Errorf("log = %s", logs.String())
		}
	})
	t.Run("unencodable input is refused at once", func(t *testing.T) {
		l := openLog(t, filepath.Join(t.TempDir(), "d.db"))
		bad := sampleDecision(1)
		bad.Input = map[string]any{"c": make(chan int)}
		if err := l.Record(t.Context(), bad, false); err == nil {
			t.Error("no error")
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		l := openLog(t, filepath.Join(t.TempDir(), "d.db"))
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		// Either it is refused or it is waited for; never a silent success
		// without a commit. With a cancelled context the wait fails.
		if err := l.Record(ctx, sampleDecision(1), true); err == nil {
			t.Log("committed before the cancellation was seen")
		}
	})
}

func TestOpenSQLiteLogRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		opts []LogOption
	}{
		{"empty path", "", nil},
		{"memory", ":memory:", nil},
		{"uri", "file:x.db", nil},
		{"query", "x.db?mode=ro", nil},
		{"zero queue", filepath.Join(t.TempDir(), "x.db"), []LogOption{WithQueueSize(0)}},
		{"nil logger", filepath.Join(t.TempDir(), "x.db"), []LogOption{WithLogger(nil)}},
		{"missing directory", filepath.Join(t.TempDir(), "no", "x.db"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if l, err := OpenSQLiteLog(t.Context(), tc.path, tc.opts...); err == nil {
				_ = l.Close()
				t.Error("opened")
			}
		})
	}
}

func TestNewDecisionID(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	start := time.Now()
	for i := range 1000 {
		id := NewDecisionID(start.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 32 || seen[id] || id <= prev {
			t.Fatalf("id %d = %q (prev %q)", i, id, prev)
		}
		seen[id], prev = true, id
	}
	if got := NewDecisionID(time.UnixMilli(0x0102030405))[:12]; got != "000102030405" {
		t.Errorf("time prefix = %s", got)
	}
}

// TestFsyncOnlyWhenOwed: batches of asynchronous records commit without
// an fsync (synchronous NORMAL), a batch with a sync record with one
// (FULL), and an earlier commit left unsynced longer than syncEvery makes
// the next batch FULL; when no batch comes, the writer fsyncs the WAL
// itself.
func TestFsyncOnlyWhenOwed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "decisions.db")
	l := openLog(t, path, WithSyncEvery(200*time.Millisecond))
	db := rawDB(t, path)
	writerSync := func() int {
		t.Helper()
		var mode int
		if err := l.w.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		return mode
	}
	waitFor := func(id string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); countRows(t, db, "WHERE id = ?", id) == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("decision %s never written", id)
			}
		}
	}

	async := sampleDecision(1)
	if err := l.Record(t.Context(), async, false); err != nil {
		t.Fatal(err)
	}
	waitFor(async.ID)
	if got := writerSync(); got != 1 {
		t.Errorf("after an asynchronous batch synchronous = %d, want NORMAL (1)", got)
	}
	if err := l.Record(t.Context(), sampleDecision(2), true); err != nil {
		t.Fatal(err)
	}
	if got := writerSync(); got != 2 {
		t.Errorf("after a sync record synchronous = %d, want FULL (2)", got)
	}

	// An unsynced commit older than syncEvery: the next batch pays the fsync.
	l.unsyncedForTest(time.Now().Add(-time.Second))
	late := sampleDecision(3)
	if err := l.Record(t.Context(), late, false); err != nil {
		t.Fatal(err)
	}
	waitFor(late.ID)
	if got := writerSync(); got != 2 {
		t.Errorf("asynchronous batch after an overdue one: synchronous = %d, want FULL (2)", got)
	}

	// No batch comes: the WAL is fsynced within syncEvery, and the writer
	// then waits for records without spinning.
	idle := sampleDecision(4)
	if err := l.Record(t.Context(), idle, false); err != nil {
		t.Fatal(err)
	}
	waitFor(idle.ID)
	for deadline := time.Now().Add(5 * time.Second); l.pendingFsync(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the unsynced commit was never fsynced")
		}
	}
}

func TestNeedsFsync(t *testing.T) {
	async, sync := &pending{}, &pending{done: make(chan error, 1)}
	now := time.Now()
	tests := []struct {
		name     string
		batch    []*pending
		unsynced time.Time
		want     bool
	}{
		{"async only, nothing owed", []*pending{async, async}, time.Time{}, false},
		{"async only, recent commit unsynced", []*pending{async}, now, false},
		{"async only, overdue commit", []*pending{async}, now.Add(-2 * time.Second), true},
		{"a sync record", []*pending{async, sync}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := needsFsync(tt.batch, tt.unsynced, time.Second); got != tt.want {
				t.Errorf("needsFsync = %v, want %v", got, tt.want)
			}
		})
	}
}

func (l *SQLiteLog) unsyncedForTest(t time.Time) { l.setUnsynced(t) }

func (l *SQLiteLog) pendingFsync() bool { return !l.unsynced().IsZero() }
