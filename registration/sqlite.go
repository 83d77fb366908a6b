package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// SQLite is the single-machine Store: one database file (modernc.org/sqlite,
// no cgo) in WAL mode with foreign keys enforced. All writes go through one
// connection with BEGIN IMMEDIATE, so writers queue in Go rather than
// failing with SQLITE_BUSY; reads use a separate pool of read-only
// connections that WAL lets run alongside the writer. Commits are
// synchronous=FULL: a write that returned (an RA action with its audit
// entry, a login's audit entry, an alert) survives a power loss, not only
// a crash of the process, at the price of an fsync per commit.
type SQLite struct {
	*sqlStore
	path string
}

var _ Store = (*SQLite)(nil)

// Option configures OpenSQLite and OpenPostgres.
type Option func(*options)

type options struct {
	now         func() time.Time
	log         *slog.Logger
	busyTimeout time.Duration
	readers     int

	// PostgreSQL's pool (postgres.go).
	maxConns, maxIdle int
	connMaxLifetime   time.Duration
}

// WithClock sets the clock used for timestamps a caller leaves zero and
// for the migration log. The default is time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the logger. The default discards.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithBusyTimeout sets how long a connection waits for a lock held by
// another process (a backup, an operator's sqlite3 shell) before failing.
// The default is 5 s.
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithReaders sets the number of read connections. The default is 4.
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

// OpenSQLite opens (creating if needed, with mode 0600) the database file
// at path and applies any pending migrations. path is a file name, not a
// URI: ":memory:", "file:" URIs and names containing '?' are refused,
// because the store needs one shared file for its writer and readers.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*SQLite, error) {
	o := options{now: time.Now, log: slog.New(slog.DiscardHandler), busyTimeout: 5 * time.Second, readers: 4}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case path == "" || strings.HasPrefix(path, ":") || strings.HasPrefix(path, "file:") || strings.ContainsAny(path, "?\x00"):
		return nil, invalid("path", "must be a plain file name")
	case o.now == nil || o.log == nil:
		return nil, invalid("options", "clock and logger must not be nil")
	case o.readers < 1 || o.busyTimeout < 0:
		return nil, invalid("options", "need at least one reader and a non-negative busy timeout")
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("registration: open %s: %w", path, err)
	}

	busy := strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)
	wq := url.Values{
		"_pragma": {"busy_timeout(" + busy + ")", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(FULL)"},
		"_txlock": {"immediate"},
	}
	w, err := sql.Open("sqlite", path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("registration: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	pools := []*sql.DB{w}
	fail := func(err error) (*SQLite, error) {
		for _, db := range pools {
			_ = db.Close()
		}
		return nil, err
	}
	if err := checkPragmas(ctx, w); err != nil {
		return fail(fmt.Errorf("registration: open %s: %w", path, err))
	}
	n, err := migrate(ctx, w, "", normTime(o.now()), o.log)
	if err != nil {
		return fail(err)
	}

	rq := url.Values{"_pragma": {"busy_timeout(" + busy + ")", "foreign_keys(1)", "query_only(1)"}}
	r, err := sql.Open("sqlite", path+"?"+rq.Encode())
	if err != nil {
		return fail(fmt.Errorf("registration: open %s: %w", path, err))
	}
	pools = append(pools, r)
	r.SetMaxOpenConns(o.readers)
	r.SetMaxIdleConns(o.readers)
	if err := r.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("registration: open %s: readers: %w", path, err))
	}
	st, err := newSQLStore(ctx, w, r, o.now, classifySQLite)
	if err != nil {
		return fail(fmt.Errorf("registration: open %s: %w", path, err))
	}
	s := &SQLite{path: path, sqlStore: st}
	o.log.InfoContext(ctx, "registration: opened SQLite store", "path", path, "migrations_applied", n)
	return s, nil
}

// Path returns the database file name.
func (s *SQLite) Path() string { return s.path }

// createPrivate creates path with mode 0600 if it does not exist, so that
// SQLite (which gives its -wal and -shm files the database's mode) never
// makes the registration data world-readable.
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

// checkPragmas confirms that the settings the store relies on took effect:
// a file system that cannot do WAL, or a driver that ignored a pragma,
// must stop the store rather than weaken it silently.
func checkPragmas(ctx context.Context, db *sql.DB) error {
	var mode string
	if err := db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, want wal", mode)
	}
	var fk int
	if err := db.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		return err
	}
	if fk != 1 {
		return errors.New("foreign keys are not enforced")
	}
	var sync int
	if err := db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&sync); err != nil {
		return err
	}
	if sync != 2 {
		return fmt.Errorf("synchronous is %d, want FULL (2)", sync)
	}
	return nil
}

// classifySQLite maps SQLite constraint violations onto the error kinds.
func classifySQLite(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
		return ErrExists
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY, sqlite3.SQLITE_CONSTRAINT_CHECK,
		sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return ErrInvalid
	}
	return nil
}
