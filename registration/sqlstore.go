package registration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"
)

// sqlStore implements Store over database/sql with SQL that both SQLite
// and PostgreSQL accept ($n placeholders, BIGINT microsecond times). A
// backend supplies the connection pools and classify, which maps its
// driver's constraint errors onto the error kinds. The queries do not rely
// on the isolation level: pre-checks give precise errors, the schema's
// constraints catch whatever a concurrent writer slips past them (and
// classify turns that into the same kind), and state changes are
// compare-and-set updates.
//
// Each read is one statement run on the read pool without an explicit
// transaction: a single statement reads one snapshot on both databases
// (SQLite runs it in its own read transaction, PostgreSQL gives each
// statement a snapshot), so a record and its child rows are consistent
// without the round trips of BEGIN and ROLLBACK. The lookups of people,
// organisations, cards and role profiles, the login path among them, are
// prepared once (readStmts).
type sqlStore struct {
	w  *sql.DB // writes; for SQLite a single connection
	r  *sql.DB // reads; may be w
	q  readStmts
	dq decisionStmts // the PDP's read (sqlstore_decision.go)
	// now is the clock for timestamps a caller leaves zero.
	now func() time.Time
	// classify returns ErrExists or ErrInvalid for a constraint violation
	// (ErrConflict for a transaction aborted by a concurrent one) and nil
	// for anything else.
	classify func(error) error
	// retryable, if set, reports whether a failed write transaction was
	// aborted only because of a concurrent one (PostgreSQL's deadlock and
	// serialization failures); write runs it again up to maxRetries times.
	retryable  func(error) bool
	maxRetries int

	closeOnce sync.Once
}

var _ Store = (*sqlStore)(nil)

// newSQLStore returns a store over the pools w and r (r may be w) with the
// read statements prepared on r, so the schema must already be in place.
// It does not close the pools if it fails; the returned store's Close does.
func newSQLStore(ctx context.Context, w, r *sql.DB, now func() time.Time, classify func(error) error) (*sqlStore, error) {
	s := &sqlStore{w: w, r: r, now: now, classify: classify}
	if err := s.q.prepare(ctx, r); err != nil {
		return nil, err
	}
	return s, nil
}

// readStmts are the store's reads, prepared once on the read pool.
// database/sql prepares a *sql.Stmt again, lazily, on each connection it
// runs on and keeps it there, so after a connection's first use a read
// costs no parsing; a *sql.Stmt is safe for concurrent use.
type readStmts struct {
	person, organisation             *sql.Stmt
	card, cardByFingerprint, cardsOf *sql.Stmt
	roleProfile, roleProfilesOf      *sql.Stmt
}

// stmtSQL pairs a statement field with its query.
type stmtSQL struct {
	stmt  **sql.Stmt
	query string
}

func (q *readStmts) all() []stmtSQL {
	return []stmtSQL{
		{&q.person, personSQL},
		{&q.organisation, organisationSQL},
		{&q.card, cardSQL},
		{&q.cardByFingerprint, cardByFingerprintSQL},
		{&q.cardsOf, cardsOfSQL},
		{&q.roleProfile, roleProfileSQL},
		{&q.roleProfilesOf, roleProfilesOfSQL},
	}
}

// prepare prepares every statement on db; if one fails it closes those
// already prepared.
func (q *readStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, st := range q.all() {
		stmt, err := db.PrepareContext(ctx, st.query)
		if err != nil {
			_ = q.close()
			return fmt.Errorf("prepare reads: %w", err)
		}
		*st.stmt = stmt
	}
	return nil
}

// close closes the prepared statements. It leaves the fields set: a read
// after Close gets the closed statement's error, not a nil dereference.
func (q *readStmts) close() error {
	var errs []error
	for _, st := range q.all() {
		if *st.stmt != nil {
			errs = append(errs, (*st.stmt).Close())
		}
	}
	return errors.Join(errs...)
}

// Close closes the read statements and the connection pools. Calling it
// again returns nil.
func (s *sqlStore) Close() error {
	var err error
	s.closeOnce.Do(func() {
		qErr := errors.Join(s.q.close(), s.dq.close())
		var rErr error
		if s.r != s.w {
			rErr = s.r.Close()
		}
		err = errors.Join(qErr, rErr, s.w.Close())
	})
	return err
}

// write runs fn in a transaction on the write pool and commits it; any
// error rolls it back, so no write is ever half done. A transaction the
// database aborted because of a concurrent one (see retryable) is run
// again, from the start, a few times; fn must therefore not change
// anything outside the transaction.
//
// If ctx carries a pending audit entry (WithAudit) not yet written, each
// attempt locks the audit head first and appends the entry after fn, so
// the change and its record commit together.
func (s *sqlStore) write(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	pending := pendingAudit(ctx)
	var entry AuditEntry
	if pending != nil {
		var ok bool
		if entry, ok = pending.claim(); !ok {
			pending = nil
		}
	}
	var committed *AuditEntry
	if pending != nil {
		defer func() { pending.release(committed) }()
	}
	for attempt := 0; ; attempt++ {
		e := entry
		var audit *AuditEntry
		if pending != nil {
			audit = &e
		}
		err := s.inTx(ctx, fn, audit)
		if err == nil {
			committed = audit
			return nil
		}
		headRace := errors.Is(err, errAuditHeadRace) && attempt < 3
		if !headRace && (s.retryable == nil || attempt >= s.maxRetries || !s.retryable(err) || ctx.Err() != nil) {
			return s.wrap(op, err)
		}
		// A short, growing pause so that the transactions that collided
		// do not collide again at once.
		select {
		case <-ctx.Done():
			return s.wrap(op, err)
		case <-time.After(time.Duration(attempt+1) * 2 * time.Millisecond):
		}
	}
}

// inTx runs fn in one transaction and commits it, or rolls it back and
// returns the error as it came. With audit, it locks the audit head before
// fn and appends audit (filling in its sequence number and hashes) after.
func (s *sqlStore) inTx(ctx context.Context, fn func(tx *sql.Tx) error, audit *AuditEntry) (err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var seq int64
	var prev string
	if audit != nil {
		if seq, prev, err = s.lockAuditHead(ctx, tx); err != nil {
			return err
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	if audit != nil {
		if err := insertAudit(ctx, tx, audit, seq, prev); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// wrap adds the operation to err. An error that is already one of the
// kinds passes through; a constraint violation becomes its kind.
func (s *sqlStore) wrap(op string, err error) error {
	if isKind(err) {
		return err
	}
	if kind := s.classify(err); kind != nil {
		return fmt.Errorf("registration: %s: %w (%v)", op, kind, err)
	}
	return fmt.Errorf("registration: %s: %w", op, err)
}

func isKind(err error) bool {
	return errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) ||
		errors.Is(err, ErrConflict) || errors.Is(err, ErrInvalid)
}

// exists reports whether query (SELECT 1 ... ) returns a row.
func exists(ctx context.Context, tx *sql.Tx, query string, args ...any) (bool, error) {
	var one int
	err := tx.QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// mustExist returns ErrInvalid naming field when the referenced record
// (a person or an organisation) is missing.
func mustExist(ctx context.Context, tx *sql.Tx, field, what, query string, arg any) error {
	ok, err := exists(ctx, tx, query, arg)
	if err != nil {
		return err
	}
	if !ok {
		return invalid(field, "names no registered "+what)
	}
	return nil
}

const (
	personExistsSQL = `SELECT 1 FROM people WHERE uid = $1`
	orgExistsSQL    = `SELECT 1 FROM organisations WHERE ods = $1`
)

func toMicros(t time.Time) int64     { return t.UnixMicro() }
func fromMicros(us int64) time.Time  { return time.UnixMicro(us).UTC() }
func (s *sqlStore) stamp() time.Time { return normTime(s.now()) }

// CreatePerson implements Store.
func (s *sqlStore) CreatePerson(ctx context.Context, p Person) error {
	p, err := s.preparePerson(p)
	if err != nil {
		return err
	}
	return s.write(ctx, "create person", func(tx *sql.Tx) error { return createPersonTx(ctx, tx, p) })
}

// preparePerson fills in and checks a new person as CreatePerson stores it.
func (s *sqlStore) preparePerson(p Person) (Person, error) {
	if p.Version != 0 {
		return p, invalid("version", "must be 0 for a new person")
	}
	p.Version = 1
	if p.CreatedAt.IsZero() {
		p.CreatedAt = s.stamp()
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	p.CreatedAt, p.UpdatedAt = normTime(p.CreatedAt), normTime(p.UpdatedAt)
	return p, p.Validate()
}

// createPersonTx inserts p, prepared by preparePerson.
func createPersonTx(ctx context.Context, tx *sql.Tx, p Person) error {
	dup, err := exists(ctx, tx, personExistsSQL, p.UID)
	if err != nil {
		return err
	}
	if dup {
		return fmt.Errorf("registration: person %s: %w", p.UID, ErrExists)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO people
		(uid, name, status, version, created_at_us, updated_at_us)
		VALUES ($1, $2, $3, $4, $5, $6)`,
		p.UID, p.Name, string(p.Status), p.Version,
		toMicros(p.CreatedAt), toMicros(p.UpdatedAt))
	return err
}

const personSQL = `SELECT uid, name, status, version, created_at_us, updated_at_us
	FROM people WHERE uid = $1`

// Person implements Store.
func (s *sqlStore) Person(ctx context.Context, uid string) (*Person, error) {
	if err := ValidateUserID(uid); err != nil {
		return nil, err
	}
	var p Person
	var status string
	var created, updated int64
	err := s.q.person.QueryRowContext(ctx, uid).
		Scan(&p.UID, &p.Name, &status, &p.Version, &created, &updated)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("registration: person %s: %w", uid, ErrNotFound)
	case err != nil:
		return nil, s.wrap("get person", err)
	}
	p.Status = PersonStatus(status)
	p.CreatedAt, p.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &p, nil
}

// CreateOrganisation implements Store.
func (s *sqlStore) CreateOrganisation(ctx context.Context, o Organisation) error {
	if err := o.Validate(); err != nil {
		return err
	}
	return s.write(ctx, "create organisation", func(tx *sql.Tx) error {
		dup, err := exists(ctx, tx, orgExistsSQL, o.ODS)
		if err != nil {
			return err
		}
		if dup {
			return fmt.Errorf("registration: organisation %s: %w", o.ODS, ErrExists)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO organisations (ods, name) VALUES ($1, $2)`, o.ODS, o.Name)
		return err
	})
}

const organisationSQL = `SELECT ods, name FROM organisations WHERE ods = $1`

// Organisation implements Store.
func (s *sqlStore) Organisation(ctx context.Context, ods string) (*Organisation, error) {
	if err := ValidateODSCode(ods); err != nil {
		return nil, err
	}
	var o Organisation
	err := s.q.organisation.QueryRowContext(ctx, ods).Scan(&o.ODS, &o.Name)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("registration: organisation %s: %w", ods, ErrNotFound)
	case err != nil:
		return nil, s.wrap("get organisation", err)
	}
	return &o, nil
}
