package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver the registration store uses
)

// The bulk loader: for worlds of 10^6 relationships and more, the Store
// API's one-transaction-per-record writes (each with its existence checks)
// would take most of the benchmark's time budget, so the patient facts go
// straight into the store's tables instead:
//
//   - into exactly the tables and columns of registration/migrations
//     (0002_patient.sql: relationships, consents, consent_dissent_codes,
//     seals); before writing, the loader checks that the database's
//     applied migrations are the ones it was written against and that each
//     table has exactly the expected columns, and refuses to run otherwise
//     (use --bulk api, or update this file with the new migration);
//   - every record first passes the same Validate method the Store runs
//     (registration.Relationship/Consent/Seal.Validate), and the schema's
//     CHECK and FOREIGN KEY constraints stay on (foreign_keys(1)), so a
//     row the Store would refuse is refused here too; the references it
//     relies on (created_by, updated_by: demo people; organisation
//     targets: demo and benchmark organisations) are created by SeedDemo
//     and the db stage before the loader runs;
//   - times are microseconds since the epoch (the *_us convention), and a
//     consent record starts at version 1 as SetConsent's first write does;
//   - in one transaction per bulkTxRows rows (at a patient boundary), with
//     multi-row INSERTs of bulkStmtRows rows, in NHS-number and ID order so
//     that the indexes are appended to rather than split;
//   - finally ANALYZE and a WAL checkpoint, so that authd starts on a
//     compact file with planner statistics.
const (
	bulkTxRows   = 50_000
	bulkStmtRows = 100
)

// bulkMigrations are the migrations the loader was written against.
// 0003_ra (the RA's records and the audit trail) and 0004_ca (the card
// CA's records) add tables of their own and leave those it writes as
// they were (the column check below would catch it otherwise).
var bulkMigrations = []string{"0001_init.sql", "0002_patient.sql", "0003_ra.sql", "0004_ca.sql"}

// bulkTables are the columns the loader writes, in the schema's order.
var bulkTables = map[string][]string{
	"relationships":         {"id", "nhs_number", "target_type", "target", "kind", "created_by", "reason", "created_at_us", "expires_at_us", "ended_at_us"},
	"consents":              {"nhs_number", "scr", "updated_by", "updated_at_us", "version"},
	"consent_dissent_codes": {"nhs_number", "code"},
	"seals":                 {"nhs_number", "section", "state", "owner_workgroup", "created_by", "created_at_us"},
}

// bulkInsert writes the generated patient facts into the SQLite file at
// path and returns the number of rows written.
func bulkInsert(ctx context.Context, path string, spec worldSpec, nhs []string, progress io.Writer) (int64, error) {
	q := url.Values{
		"_pragma": {"busy_timeout(10000)", "foreign_keys(1)", "journal_mode(WAL)", "synchronous(NORMAL)", "cache_size(-262144)"},
		"_txlock": {"immediate"},
	}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := checkBulkSchema(ctx, db); err != nil {
		return 0, err
	}

	b := &bulkWriter{ctx: ctx, db: db, inserts: map[string]*multiInsert{}}
	for table, cols := range bulkTables {
		b.inserts[table] = &multiInsert{table: table, cols: cols}
	}
	started := time.Now()
	lastReport := started
	err = generate(spec, nhs, func(p *patientFacts) error {
		if err := b.patient(p); err != nil {
			return fmt.Errorf("patient %s: %w", p.NHS, err)
		}
		if b.inTx >= bulkTxRows {
			if err := b.commit(); err != nil {
				return err
			}
			if time.Since(lastReport) > 5*time.Second {
				lastReport = time.Now()
				fmt.Fprintf(progress, "setup: %d rows (%.0f rows/s)\n", b.total, float64(b.total)/time.Since(started).Seconds())
			}
		}
		return nil
	})
	if err != nil {
		if b.tx != nil {
			_ = b.tx.Rollback()
		}
		return b.total, err
	}
	if err := b.commit(); err != nil {
		return b.total, err
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		return b.total, fmt.Errorf("analyze: %w", err)
	}
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return b.total, fmt.Errorf("checkpoint: %w", err)
	}
	return b.total, nil
}

// checkBulkSchema compares the database with what the loader writes.
func checkBulkSchema(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("bulk insert: reading schema_migrations: %w", err)
	}
	var applied []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return err
		}
		applied = append(applied, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if !slices.Equal(applied, bulkMigrations) {
		return fmt.Errorf("bulk insert: the database has migrations %v, the loader knows %v: use --bulk api or update scripts/pdpbench/bulk.go", applied, bulkMigrations)
	}
	for table, want := range bulkTables {
		got, err := tableColumns(ctx, db, table)
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("bulk insert: table %s has columns %v, the loader writes %v", table, got, want)
		}
	}
	return nil
}

func tableColumns(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	// table is one of bulkTables' keys, never input.
	rows, err := db.QueryContext(ctx, `SELECT name FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	return cols, rows.Err()
}

// bulkWriter batches rows into transactions.
type bulkWriter struct {
	ctx     context.Context
	db      *sql.DB
	tx      *sql.Tx
	inTx    int
	total   int64
	inserts map[string]*multiInsert
}

func (b *bulkWriter) patient(p *patientFacts) error { return patientRows(p, b.add) }

// patientRows checks one patient's facts as the Store would and passes
// each row to emit (table, then the values in bulkTables' column order).
// Both loaders (SQLite here, PostgreSQL in bulk_pg.go) use it.
func patientRows(p *patientFacts, emit func(table string, vals ...any) error) error {
	for _, r := range p.Relationships {
		ended := r.EndedAt
		r.EndedAt = time.Time{}
		if err := r.Validate(); err != nil { // what CreateRelationship checks
			return err
		}
		if !ended.IsZero() && ended.Before(r.CreatedAt) { // what EndRelationship checks
			return fmt.Errorf("relationship %s ends before it starts", r.ID)
		}
		if err := emit("relationships", r.ID, r.NHSNumber, string(r.TargetType), r.Target, string(r.Kind),
			r.CreatedBy, nullable(r.Reason), r.CreatedAt.UnixMicro(), nullableTime(r.ExpiresAt), nullableTime(ended)); err != nil {
			return err
		}
	}
	if c := p.Consent; c != nil {
		codes := slices.Clone(c.DissentCodes)
		slices.Sort(codes)
		if err := c.Validate(); err != nil {
			return err
		}
		if err := emit("consents", c.NHSNumber, string(c.SCR), c.UpdatedBy, c.UpdatedAt.UnixMicro(), int64(1)); err != nil {
			return err
		}
		for _, code := range slices.Compact(codes) {
			if err := emit("consent_dissent_codes", c.NHSNumber, code); err != nil {
				return err
			}
		}
	}
	for _, s := range p.Seals {
		if err := s.Validate(); err != nil {
			return err
		}
		if err := emit("seals", s.NHSNumber, s.Section, string(s.State), nullable(s.OwnerWorkgroup), s.CreatedBy, s.CreatedAt.UnixMicro()); err != nil {
			return err
		}
	}
	return nil
}

func (b *bulkWriter) add(table string, vals ...any) error {
	if b.tx == nil {
		tx, err := b.db.BeginTx(b.ctx, nil)
		if err != nil {
			return err
		}
		b.tx = tx
	}
	m := b.inserts[table]
	m.args = append(m.args, vals...)
	m.rows++
	b.inTx++
	b.total++
	if m.rows < bulkStmtRows {
		return nil
	}
	// Foreign keys are checked per statement: a parent's buffered rows go
	// in before its children's.
	if parent, ok := bulkParents[table]; ok {
		if err := b.inserts[parent].flush(b.ctx, b.tx); err != nil {
			return err
		}
	}
	return m.flush(b.ctx, b.tx)
}

// bulkParents maps a table to the table its rows reference.
var bulkParents = map[string]string{"consent_dissent_codes": "consents"}

func (b *bulkWriter) commit() error {
	if b.tx == nil {
		return nil
	}
	// Parents before children: consent_dissent_codes references consents.
	for _, t := range []string{"relationships", "consents", "consent_dissent_codes", "seals"} {
		if err := b.inserts[t].flush(b.ctx, b.tx); err != nil {
			_ = b.tx.Rollback()
			b.tx = nil
			return err
		}
	}
	err := b.tx.Commit()
	b.tx, b.inTx = nil, 0
	return err
}

// multiInsert accumulates rows for one multi-row INSERT.
type multiInsert struct {
	table string
	cols  []string
	rows  int
	args  []any
	full  string // the statement for bulkStmtRows rows
}

func (m *multiInsert) flush(ctx context.Context, tx *sql.Tx) error {
	if m.rows == 0 {
		return nil
	}
	var stmt string
	if m.rows == bulkStmtRows {
		if m.full == "" {
			m.full = insertSQL(m.table, m.cols, bulkStmtRows)
		}
		stmt = m.full
	} else {
		stmt = insertSQL(m.table, m.cols, m.rows)
	}
	if _, err := tx.ExecContext(ctx, stmt, m.args...); err != nil {
		return fmt.Errorf("insert into %s: %w", m.table, err)
	}
	m.rows, m.args = 0, m.args[:0]
	return nil
}

// insertSQL is INSERT INTO table (cols) VALUES (?,...),(?,...)... for rows rows.
func insertSQL(table string, cols []string, rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(one)
	}
	return b.String()
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullableTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}
