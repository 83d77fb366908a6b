package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Postgres is the Store for many authd nodes: a PostgreSQL database
// reached through pgx's database/sql driver, so that it runs the same
// portable SQL as SQLite (sqlStore). Writes are transactions at READ
// COMMITTED; the schema's constraints and the compare-and-set updates make
// concurrent writers on any number of nodes safe (see sqlStore). A write
// that PostgreSQL aborts as a deadlock or serialization failure is retried
// a few times and then reported as ErrConflict.
//
// The store works in the schema that the connection's search_path names
// first (public by default; `search_path=NAME` in the DSN selects another),
// which must exist. Its migrations take a transaction-scoped advisory lock
// keyed on that schema, so nodes starting together apply them once.
type Postgres struct {
	*sqlStore
	target string // user@host:port/database (schema), never the password
}

var _ Store = (*Postgres)(nil)

// Defaults of the PostgreSQL pool (WithMaxConns, WithMaxIdleConns,
// WithConnMaxLifetime).
const (
	DefaultPostgresMaxConns        = 16
	DefaultPostgresMaxIdleConns    = 4
	DefaultPostgresConnMaxLifetime = 30 * time.Minute
)

// WithMaxConns bounds the open PostgreSQL connections of the store's pool
// (default DefaultPostgresMaxConns). SQLite ignores it (see WithReaders).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// WithMaxIdleConns sets how many idle PostgreSQL connections the pool
// keeps, at most the maximum (default DefaultPostgresMaxIdleConns, or the
// maximum if that is lower). SQLite ignores it.
func WithMaxIdleConns(n int) Option { return func(o *options) { o.maxIdle = n } }

// WithConnMaxLifetime closes PostgreSQL connections after d, so that a
// fail-over or a changed DNS name is picked up (default
// DefaultPostgresConnMaxLifetime; 0 keeps them for ever). SQLite ignores it.
func WithConnMaxLifetime(d time.Duration) Option {
	return func(o *options) { o.connMaxLifetime = d }
}

// pgMaxRetries is how many times a write that PostgreSQL aborted as a
// deadlock or serialization failure is run again before ErrConflict.
const pgMaxRetries = 3

// OpenPostgres connects to the PostgreSQL database dsn names (a
// postgres:// URL or key=value pairs, as libpq and pgx accept), applies
// any pending migrations and prepares the store's reads. The DSN usually
// holds a password: no error or log line from this function contains it
// (a DSN that cannot be parsed is reported without its text).
func OpenPostgres(ctx context.Context, dsn string, opts ...Option) (*Postgres, error) {
	o := options{now: time.Now, log: slog.New(slog.DiscardHandler), maxConns: DefaultPostgresMaxConns,
		maxIdle: -1, connMaxLifetime: DefaultPostgresConnMaxLifetime}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxIdle == -1 { // not set
		o.maxIdle = min(DefaultPostgresMaxIdleConns, o.maxConns)
	}
	switch {
	case strings.TrimSpace(dsn) == "":
		return nil, invalid("dsn", "must name a PostgreSQL database")
	case o.now == nil || o.log == nil:
		return nil, invalid("options", "clock and logger must not be nil")
	case o.maxConns < 1 || o.maxConns > 1000:
		return nil, invalid("options", "max connections must be 1..1000")
	case o.maxIdle < 0 || o.maxIdle > o.maxConns:
		return nil, invalid("options", "max idle connections must be 0..max connections")
	case o.connMaxLifetime < 0:
		return nil, invalid("options", "connection lifetime must not be negative")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx redacts passwords from a DSN it cannot parse only on a best
		// effort basis, and the cause (a url.Error) may quote it whole.
		return nil, invalid("dsn", "is not a PostgreSQL connection string (postgres://user@host:port/database?... or host=... dbname=...); its text is not shown because it may hold a password")
	}
	secret := cfg.Password
	target := fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
	if sp := cfg.RuntimeParams["search_path"]; sp != "" {
		target += " (search_path " + sp + ")"
	}
	fail := func(db *sql.DB, err error) (*Postgres, error) {
		if db != nil {
			_ = db.Close()
		}
		return nil, redactErr(fmt.Errorf("registration: open postgres %s: %w", target, err), secret)
	}

	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(o.maxConns)
	db.SetMaxIdleConns(o.maxIdle)
	db.SetConnMaxLifetime(o.connMaxLifetime)
	if err := db.PingContext(ctx); err != nil {
		return fail(db, err)
	}
	var schema sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fail(db, err)
	}
	if !schema.Valid {
		return fail(db, errors.New("the search_path names no existing schema: create it first"))
	}
	// A transaction-scoped advisory lock on a key derived from the
	// schema: nodes migrating the same schema take turns, other schemas
	// (tests, other deployments in the database) do not wait.
	const lock = `SELECT pg_advisory_xact_lock(hashtextextended('spineauth.registration.migrate:' || current_schema(), 0))`
	n, err := migrate(ctx, db, lock, normTime(o.now()), o.log)
	if err != nil {
		return fail(db, err)
	}
	st, err := newSQLStore(ctx, db, db, o.now, classifyPostgres)
	if err != nil {
		return fail(db, err)
	}
	st.retryable, st.maxRetries = retryablePostgres, pgMaxRetries
	s := &Postgres{sqlStore: st, target: target}
	o.log.InfoContext(ctx, "registration: opened PostgreSQL store", "database", target,
		"schema", schema.String, "migrations_applied", n, "max_conns", o.maxConns)
	return s, nil
}

// Target names the database the store is connected to
// (user@host:port/database and the search_path, if the DSN set one),
// without the password: for logs and diagnostics.
func (s *Postgres) Target() string { return s.target }

// PostgreSQL error codes (SQLSTATE, Appendix A of its manual) the store
// acts on.
const (
	pgUniqueViolation      = "23505"
	pgForeignKeyViolation  = "23503"
	pgCheckViolation       = "23514"
	pgNotNullViolation     = "23502"
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgLockNotAvailable     = "55P03"
)

// classifyPostgres maps PostgreSQL constraint violations onto the error
// kinds: a duplicate key is ErrExists, a broken reference or check
// ErrInvalid, and a transaction aborted by a concurrent one (deadlock,
// serialization failure, lock not available) ErrConflict, which is what a
// write that still fails after its retries reports.
func classifyPostgres(err error) error {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return nil
	}
	switch pe.Code {
	case pgUniqueViolation:
		return ErrExists
	case pgForeignKeyViolation, pgCheckViolation, pgNotNullViolation:
		return ErrInvalid
	case pgSerializationFailure, pgDeadlockDetected, pgLockNotAvailable:
		return ErrConflict
	}
	return nil
}

// retryablePostgres reports whether PostgreSQL aborted the transaction
// only because of a concurrent one, so that running it again may succeed.
func retryablePostgres(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == pgSerializationFailure || pe.Code == pgDeadlockDetected
}

// redactErr hides secret (the DSN's password) in err's text, whatever a
// driver or server put there, keeping err for errors.Is and errors.As.
func redactErr(err error, secret string) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return &redactedError{err: err, secret: secret}
}

type redactedError struct {
	err    error
	secret string
}

func (e *redactedError) Error() string {
	return strings.ReplaceAll(e.err.Error(), e.secret, "REDACTED")
}

func (e *redactedError) Unwrap() error { return e.err }
