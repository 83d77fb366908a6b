package policy

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Decision is one decision as recorded in the decision log.
type Decision struct {
	ID         string    // NewDecisionID; filled in by Record when empty
	Time       time.Time // filled in by Record when zero
	Query      string
	Revision   string
	Input      any // already masked by the caller (see Mask)
	Result     any
	Allow      bool
	Caller     string // the authenticated calling service
	DurationUS int64
}

// DecisionLog stores decisions durably.
type DecisionLog interface {
	// Record stores d. With sync it returns only once d is durable (and
	// an error if it is not); without, it enqueues d, which becomes durable
	// shortly after. When the queue is full, Record waits briefly and then
	// fails: a record is never dropped without its caller being told.
	Record(ctx context.Context, d Decision, sync bool) error
	// RecordAll stores each of ds as Record would, with sync[i] for
	// ds[i], but enqueues them all before it waits for the sync ones, so
	// that these can share a commit (and its fsync). errs[i] is Record's
	// error for ds[i].
	RecordAll(ctx context.Context, ds []Decision, sync []bool) (errs []error)
	// Close writes everything queued and releases the log.
	Close() error
}

var _ DecisionLog = (*SQLiteLog)(nil)

// Errors of the decision log.
var (
	ErrLogClosed        = errors.New("policy: decision log closed")
	ErrLogFull          = errors.New("policy: decision log queue full")
	ErrDecisionNotFound = errors.New("policy: decision not found")
)

// NewDecisionID returns a time-ordered decision id: 48 bits of Unix
// milliseconds then 80 random bits, as 32 hex digits.
func NewDecisionID(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	_, _ = rand.Read(b[6:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// LogOption configures OpenSQLiteLog.
type LogOption func(*logOptions)

type logOptions struct {
	queue       int
	maxBatch    int
	enqueueWait time.Duration
	syncEvery   time.Duration
	busyTimeout time.Duration
	log         *slog.Logger
	now         func() time.Time
}

// WithQueueSize sets how many records may wait to be written (default
// 8192).
func WithQueueSize(n int) LogOption { return func(o *logOptions) { o.queue = n } }

// WithMaxBatch sets the most records committed in one transaction
// (default 512).
func WithMaxBatch(n int) LogOption { return func(o *logOptions) { o.maxBatch = n } }

// WithEnqueueTimeout sets how long Record waits for room in a full queue
// before failing with ErrLogFull (default 100ms).
func WithEnqueueTimeout(d time.Duration) LogOption {
	return func(o *logOptions) { o.enqueueWait = d }
}

// WithSyncEvery sets how long a record committed without an fsync may
// wait for one (default 1s); see SQLiteLog.
func WithSyncEvery(d time.Duration) LogOption { return func(o *logOptions) { o.syncEvery = d } }

// WithLogger sets where write failures are logged (never record contents).
func WithLogger(l *slog.Logger) LogOption { return func(o *logOptions) { o.log = l } }

// WithClock sets the clock used for records that come without a time.
func WithClock(now func() time.Time) LogOption { return func(o *logOptions) { o.now = now } }

// SQLiteLog is a DecisionLog in its own SQLite file (WAL). A single writer
// goroutine commits records in batches: every record waiting when a batch
// starts goes into it (group commit), and sync callers are released when
// their batch commits.
//
// Durability: a batch with a sync record commits with synchronous=FULL,
// an fsync of the WAL that makes it, and every record committed before
// it, survive a power loss before the sync callers are released. Other
// batches commit with synchronous=NORMAL: in the WAL at once (they survive
// a crash of the process) and fsynced by the next FULL commit, which the
// writer makes at most syncEvery after the first one left unsynced, or by
// an fsync of the WAL file when no batch comes. So an answered decision can be lost only
// to a power loss, and only within syncEvery of its answer.
type SQLiteLog struct {
	path        string
	w, r        *sql.DB
	log         *slog.Logger
	now         func() time.Time
	enqueueWait time.Duration
	maxBatch    int
	syncEvery   time.Duration

	// The writer goroutine's own state.
	full bool // the writer connection's synchronous is FULL
	// unsyncedAt is when the oldest commit not yet fsynced was made (Unix
	// nanoseconds), 0 if none. Only the writer sets it.
	unsyncedAt atomic.Int64

	mu     sync.RWMutex // held for reading while enqueuing, for writing by Close
	closed bool         // guarded by mu
	queue  chan *pending
	done   chan struct{}
	failed atomic.Int64

	closeOnce sync.Once
	closeErr  error
}

type pending struct {
	d             Decision
	input, result []byte
	done          chan error // nil for an asynchronous record
}

const schema = `CREATE TABLE IF NOT EXISTS decisions (
	id          TEXT PRIMARY KEY,
	time_us     INTEGER NOT NULL,
	query       TEXT NOT NULL,
	revision    TEXT NOT NULL,
	input_json  TEXT NOT NULL,
	result_json TEXT NOT NULL,
	allow       INTEGER NOT NULL CHECK (allow IN (0, 1)),
	caller      TEXT NOT NULL,
	duration_us INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time_us);`

// OpenSQLiteLog opens (creating if need be, mode 0600) the decision log at
// path and starts its writer.
func OpenSQLiteLog(ctx context.Context, path string, opts ...LogOption) (*SQLiteLog, error) {
	o := logOptions{
		queue: 8192, maxBatch: 512, enqueueWait: 100 * time.Millisecond, syncEvery: time.Second,
		busyTimeout: 5 * time.Second, log: slog.New(slog.DiscardHandler), now: time.Now,
	}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case path == "" || strings.HasPrefix(path, ":") || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?\x00"):
		return nil, errors.New("policy: decision log: path must be a plain file name")
	case o.queue < 1 || o.maxBatch < 1 || o.enqueueWait < 0:
		return nil, errors.New("policy: decision log: queue and batch sizes must be positive")
	case o.syncEvery <= 0:
		return nil, errors.New("policy: decision log: the sync interval must be positive")
	case o.log == nil || o.now == nil:
		return nil, errors.New("policy: decision log: logger and clock must not be nil")
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("policy: decision log %s: %w", path, err)
	}
	busy := "busy_timeout(" + strconv.FormatInt(o.busyTimeout.Milliseconds(), 10) + ")"
	wq := url.Values{"_pragma": {busy, "journal_mode(WAL)", "synchronous(FULL)"}, "_txlock": {"immediate"}}
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("policy: decision log %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", path+"?"+url.Values{"_pragma": {busy, "query_only(1)"}}.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("policy: decision log %s: %w", path, err)
	}
	fail := func(err error) (*SQLiteLog, error) {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("policy: decision log %s: %w", path, err)
	}
	if err := checkDurable(ctx, w); err != nil {
		return fail(err)
	}
	if _, err := w.ExecContext(ctx, schema); err != nil {
		return fail(err)
	}
	l := &SQLiteLog{
		path: path, w: w, r: r, log: o.log, now: o.now,
		enqueueWait: o.enqueueWait, maxBatch: o.maxBatch, syncEvery: o.syncEvery, full: true,
		queue: make(chan *pending, o.queue), done: make(chan struct{}),
	}
	go l.run()
	return l, nil
}

// checkDurable confirms the settings durability rests on took effect.
func checkDurable(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var sync int
	if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return err
	}
	if sync < 2 {
		return fmt.Errorf("synchronous is %d, want FULL (2)", sync)
	}
	return nil
}

// createPrivate creates path with mode 0600 if it does not exist; SQLite
// gives its -wal and -shm files the database's mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return f.Close()
}

// Path returns the database file name.
func (l *SQLiteLog) Path() string { return l.path }

// Failed counts asynchronous records that could not be written (each is
// logged with its id); export it as a metric and alert on it.
func (l *SQLiteLog) Failed() int64 { return l.failed.Load() }

// Record implements DecisionLog. Input and Result are encoded as JSON
// before Record returns, so the caller may reuse them afterwards.
func (l *SQLiteLog) Record(ctx context.Context, d Decision, sync bool) error {
	return l.RecordAll(ctx, []Decision{d}, []bool{sync})[0]
}

// RecordAll implements DecisionLog; as with Record, the decisions may be
// reused once it returns.
func (l *SQLiteLog) RecordAll(ctx context.Context, ds []Decision, sync []bool) []error {
	errs := make([]error, len(ds))
	queued := make([]*pending, len(ds))
	for i, d := range ds {
		queued[i], errs[i] = l.queue1(ctx, d, i < len(sync) && sync[i])
	}
	for i, p := range queued {
		if p == nil || p.done == nil {
			continue
		}
		select {
		case errs[i] = <-p.done:
		case <-ctx.Done():
			// The record may still commit; the caller has been told it is
			// not known to be durable and must act as if it were not.
			errs[i] = fmt.Errorf("policy: decision %s: waiting for commit: %w", p.d.ID, ctx.Err())
		}
	}
	return errs
}

// queue1 encodes d and enqueues it; a sync record gets a done channel.
func (l *SQLiteLog) queue1(ctx context.Context, d Decision, sync bool) (*pending, error) {
	if d.Time.IsZero() {
		d.Time = l.now()
	}
	if d.ID == "" {
		d.ID = NewDecisionID(d.Time)
	}
	p := &pending{d: d}
	var err error
	if p.input, err = json.Marshal(d.Input); err != nil {
		return nil, fmt.Errorf("policy: decision %s: input: %w", d.ID, err)
	}
	if p.result, err = json.Marshal(d.Result); err != nil {
		return nil, fmt.Errorf("policy: decision %s: result: %w", d.ID, err)
	}
	if sync {
		p.done = make(chan error, 1)
	}
	if err := l.enqueue(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (l *SQLiteLog) enqueue(ctx context.Context, p *pending) error {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return ErrLogClosed
	}
	select {
	case l.queue <- p:
		return nil
	default:
	}
	t := time.NewTimer(l.enqueueWait)
	defer t.Stop()
	select {
	case l.queue <- p:
		return nil
	case <-t.C:
		return fmt.Errorf("%w: decision %s not recorded", ErrLogFull, p.d.ID)
	case <-ctx.Done():
		return fmt.Errorf("policy: decision %s not recorded: %w", p.d.ID, ctx.Err())
	}
}

// run is the single writer: it takes everything waiting, commits it as
// one transaction and releases the sync callers of that batch.
func (l *SQLiteLog) run() {
	defer close(l.done)
	batch := make([]*pending, 0, l.maxBatch)
	idle := time.NewTimer(l.syncEvery)
	defer idle.Stop()
	for {
		var p *pending
		var ok bool
		if since := l.unsynced(); since.IsZero() {
			p, ok = <-l.queue
		} else {
			idle.Reset(l.syncEvery - time.Since(since))
			select {
			case p, ok = <-l.queue:
			case <-idle.C:
				l.syncWAL()
				continue
			}
		}
		if !ok {
			l.syncWAL()
			return
		}
		batch = append(batch[:0], p)
	fill:
		for len(batch) < l.maxBatch {
			select {
			case p, ok := <-l.queue:
				if !ok {
					break fill
				}
				batch = append(batch, p)
			default:
				break fill
			}
		}
		l.write(batch)
		clear(batch) // let the encoded records go
	}
}

// needsFsync reports whether batch must commit with an fsync: it has a
// sync record, or an earlier commit has waited syncEvery for one.
func needsFsync(batch []*pending, unsynced time.Time, syncEvery time.Duration) bool {
	if !unsynced.IsZero() && time.Since(unsynced) >= syncEvery {
		return true
	}
	for _, p := range batch {
		if p.done != nil {
			return true
		}
	}
	return false
}

// setSync sets the writer connection's synchronous mode; l.full says
// which mode the connection is in, also after an error.
func (l *SQLiteLog) setSync(ctx context.Context, full bool) error {
	if l.full == full {
		return nil
	}
	mode := "NORMAL"
	if full {
		mode = "FULL"
	}
	if _, err := l.w.ExecContext(ctx, "PRAGMA synchronous = "+mode); err != nil {
		return fmt.Errorf("setting synchronous=%s: %w", mode, err)
	}
	l.full = full
	return nil
}

// syncWAL makes the commits left unsynced durable when no batch comes to
// carry the fsync: it fsyncs the WAL file, which is what a FULL commit
// does. Only the writer goroutine writes the WAL, and this runs on it.
func (l *SQLiteLog) syncWAL() {
	if l.unsynced().IsZero() {
		return
	}
	f, err := os.Open(l.path + "-wal")
	if err == nil {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		l.log.Error("policy: decision log: syncing the WAL failed", "err", err)
		l.setUnsynced(time.Now()) // try again in syncEvery, or with the next FULL commit
		return
	}
	l.setUnsynced(time.Time{})
}

func (l *SQLiteLog) unsynced() time.Time {
	if n := l.unsyncedAt.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

func (l *SQLiteLog) setUnsynced(t time.Time) {
	if t.IsZero() {
		l.unsyncedAt.Store(0)
		return
	}
	l.unsyncedAt.Store(t.UnixNano())
}

func (l *SQLiteLog) write(batch []*pending) {
	// Writes outlive the callers' contexts: a decision that was answered
	// must be recorded even if the request has gone.
	ctx := context.Background()
	if err := l.setSync(ctx, needsFsync(batch, l.unsynced(), l.syncEvery)); err != nil {
		if !l.full {
			// An fsync is owed and cannot be promised: nothing in this
			// batch may be reported as recorded.
			for _, p := range batch {
				l.settle(ctx, p, err)
			}
			return
		}
		// NORMAL was wanted, FULL stays: slower, never less durable.
		l.log.Error("policy: decision log: keeping synchronous=FULL", "err", err)
	}
	err := l.insert(ctx, batch)
	switch {
	case l.full && err == nil:
		l.setUnsynced(time.Time{})
	case !l.full && l.unsynced().IsZero():
		l.setUnsynced(time.Now()) // whatever committed, below too, awaits an fsync
	}
	if err == nil || len(batch) == 1 {
		for _, p := range batch {
			l.settle(ctx, p, err)
		}
		return
	}
	// One bad record (a reused id) must not sink its batch: retry each on
	// its own so that only the offender fails.
	for _, p := range batch {
		l.settle(ctx, p, l.insert(ctx, []*pending{p}))
	}
}

func (l *SQLiteLog) settle(ctx context.Context, p *pending, err error) {
	if err != nil {
		err = fmt.Errorf("policy: decision %s not recorded: %w", p.d.ID, err)
	}
	if p.done != nil {
		p.done <- err
		return
	}
	if err != nil {
		l.failed.Add(1)
		l.log.ErrorContext(ctx, "policy: decision record lost", "decision_id", p.d.ID, "err", err)
	}
}

func (l *SQLiteLog) insert(ctx context.Context, batch []*pending) (err error) {
	tx, err := l.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	st, err := tx.PrepareContext(ctx, `INSERT INTO decisions
		(id, time_us, query, revision, input_json, result_json, allow, caller, duration_us)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, p := range batch {
		d := p.d
		allow := 0
		if d.Allow {
			allow = 1
		}
		if _, err = st.ExecContext(ctx, d.ID, d.Time.UnixMicro(), d.Query, d.Revision,
			string(p.input), string(p.result), allow, d.Caller, d.DurationUS); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// Get reads one decision back; Input and Result are decoded JSON (numbers
// as json.Number).
func (l *SQLiteLog) Get(ctx context.Context, id string) (Decision, error) {
	var (
		d             Decision
		us            int64
		input, result string
		allow         int
	)
	err := l.r.QueryRowContext(ctx, `SELECT id, time_us, query, revision, input_json, result_json,
		allow, caller, duration_us FROM decisions WHERE id = ?`, id).
		Scan(&d.ID, &us, &d.Query, &d.Revision, &input, &result, &allow, &d.Caller, &d.DurationUS)
	if errors.Is(err, sql.ErrNoRows) {
		return Decision{}, ErrDecisionNotFound
	}
	if err != nil {
		return Decision{}, fmt.Errorf("policy: decision log: %w", err)
	}
	d.Time = time.UnixMicro(us)
	d.Allow = allow == 1
	if d.Input, err = decodeJSON(input); err != nil {
		return Decision{}, fmt.Errorf("policy: decision %s: input: %w", id, err)
	}
	if d.Result, err = decodeJSON(result); err != nil {
		return Decision{}, fmt.Errorf("policy: decision %s: result: %w", id, err)
	}
	return d, nil
}

func decodeJSON(s string) (any, error) {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// Close implements DecisionLog: it refuses new records, writes everything
// queued, and closes the database.
func (l *SQLiteLog) Close() error {
	l.closeOnce.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.queue)
		l.mu.Unlock()
		<-l.done
		l.closeErr = errors.Join(l.r.Close(), l.w.Close())
		if n := l.failed.Load(); n > 0 {
			l.closeErr = errors.Join(l.closeErr, fmt.Errorf("policy: %d decision records could not be written", n))
		}
	})
	return l.closeErr
}
