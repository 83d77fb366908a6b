package registration

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// migrationFiles are the schema migrations, NNNN_name.sql, applied in
// order. They are written to run unchanged on SQLite and PostgreSQL (see
// the conventions at the top of 0001_init.sql). A released migration is
// never edited: change the schema with a new file.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string // file name, e.g. 0001_init.sql
	sql     string
}

// loadMigrations returns the embedded migrations in order, checking that
// their numbers rise strictly. A gap is allowed, so that work on separate
// branches can take numbers ahead of time; migrate still refuses a
// database whose applied migrations are not a prefix of these, so a
// database that skipped a number cannot later take it out of order.
func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	out := make([]migration, 0, len(names))
	prev := 0
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 || v <= prev {
			return nil, fmt.Errorf("registration: migration %s: want a 4-digit number above %04d", base, prev)
		}
		prev = v
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(body)})
	}
	return out, nil
}

// migrate brings the schema up to date in one transaction on db, recording
// each migration in schema_migrations, and returns how many it applied.
// Running it again applies nothing. It refuses a database whose recorded
// migrations are not a prefix of the embedded ones (a newer build wrote
// it, or a migration file was renamed). lockSQL, if not empty, runs first
// in the transaction: PostgreSQL passes an advisory lock so that nodes
// starting together take turns (SQLite's BEGIN IMMEDIATE already does).
func migrate(ctx context.Context, db *sql.DB, lockSQL string, now time.Time, log *slog.Logger) (applied int, err error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("registration: migrate: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if lockSQL != "" {
		if _, err := tx.ExecContext(ctx, lockSQL); err != nil {
			return 0, fmt.Errorf("registration: migrate: lock: %w", err)
		}
	}
	const create = `CREATE TABLE IF NOT EXISTS schema_migrations (
		version        BIGINT NOT NULL PRIMARY KEY,
		name           TEXT   NOT NULL,
		applied_at_us  BIGINT NOT NULL)`
	if _, err := tx.ExecContext(ctx, create); err != nil {
		return 0, fmt.Errorf("registration: migrate: %w", err)
	}
	done, err := appliedMigrations(ctx, tx)
	if err != nil {
		return 0, err
	}
	for i, d := range done {
		if i >= len(ms) || d.version != ms[i].version || d.name != ms[i].name {
			return 0, fmt.Errorf("registration: migrate: database has migration %d (%s), which this build does not know", d.version, d.name)
		}
	}
	for _, m := range ms[len(done):] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return 0, fmt.Errorf("registration: migrate: %s: %w", m.name, err)
		}
		const ins = `INSERT INTO schema_migrations (version, name, applied_at_us) VALUES ($1, $2, $3)`
		if _, err := tx.ExecContext(ctx, ins, m.version, m.name, now.UnixMicro()); err != nil {
			return 0, fmt.Errorf("registration: migrate: %s: %w", m.name, err)
		}
		log.InfoContext(ctx, "registration: applied migration", "version", m.version, "name", m.name)
		applied++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("registration: migrate: commit: %w", err)
	}
	return applied, nil
}

func appliedMigrations(ctx context.Context, tx *sql.Tx) ([]migration, error) {
	rows, err := tx.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("registration: migrate: %w", err)
	}
	defer rows.Close()
	var out []migration
	for rows.Next() {
		var m migration
		if err := rows.Scan(&m.version, &m.name); err != nil {
			return nil, fmt.Errorf("registration: migrate: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registration: migrate: %w", err)
	}
	return out, nil
}
