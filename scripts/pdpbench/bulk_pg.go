package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The PostgreSQL bulk loader: the same rows as the SQLite one (bulk.go),
// checked by the same patientRows (the Store's Validate methods), into the
// same tables and columns, checked the same way against the applied
// migrations and the columns of the store's schema (the search_path's
// first schema, where registration.OpenPostgres put the tables). Rows go
// in with COPY (pgx CopyFrom, binary), pgCopyRows at a time per table, in
// one transaction per pgCopyRows relationships, parents before children;
// the schema's constraints stay on. Then ANALYZE.
const pgCopyRows = 100_000

// pgCopyOrder is the order the tables are copied in: consents before the
// dissent codes that reference them.
var pgCopyOrder = []string{"relationships", "consents", "consent_dissent_codes", "seals"}

// copyInsert writes the generated patient facts into the PostgreSQL
// schema dsn works in and returns the number of rows written.
func copyInsert(ctx context.Context, dsn string, spec worldSpec, nhs []string, progress io.Writer) (int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, fmt.Errorf("bulk copy: connect: %w", err)
	}
	defer conn.Close(context.Background())
	if err := checkPGSchema(ctx, conn); err != nil {
		return 0, err
	}
	buf := map[string][][]any{}
	var total, pending int64
	started, lastReport := time.Now(), time.Now()
	flush := func() error {
		if pending == 0 {
			return nil
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		for _, table := range pgCopyOrder {
			rows := buf[table]
			if len(rows) == 0 {
				continue
			}
			n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, bulkTables[table], pgx.CopyFromRows(rows))
			if err != nil {
				return fmt.Errorf("copy into %s: %w", table, err)
			}
			if n != int64(len(rows)) {
				return fmt.Errorf("copy into %s: %d of %d rows", table, n, len(rows))
			}
			buf[table] = rows[:0]
		}
		if err := tx.Commit(ctx); err != nil {
			return err
		}
		total += pending
		pending = 0
		if time.Since(lastReport) > 5*time.Second {
			lastReport = time.Now()
			fmt.Fprintf(progress, "setup: %d rows (%.0f rows/s)\n", total, float64(total)/time.Since(started).Seconds())
		}
		return nil
	}
	err = generate(spec, nhs, func(p *patientFacts) error {
		err := patientRows(p, func(table string, vals ...any) error {
			buf[table] = append(buf[table], slices.Clone(vals))
			pending++
			return nil
		})
		if err != nil {
			return fmt.Errorf("patient %s: %w", p.NHS, err)
		}
		// At a patient boundary, so a consent and its codes share a batch.
		if len(buf["relationships"]) >= pgCopyRows {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return total, err
	}
	for _, table := range pgCopyOrder {
		if _, err := conn.Exec(ctx, `ANALYZE `+pgx.Identifier{table}.Sanitize()); err != nil {
			return total, fmt.Errorf("analyze %s: %w", table, err)
		}
	}
	return total, nil
}

// checkPGSchema is checkBulkSchema for PostgreSQL.
func checkPGSchema(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("bulk copy: reading schema_migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if !slices.Equal(applied, bulkMigrations) {
		return fmt.Errorf("bulk copy: the database has migrations %v, the loader knows %v: use --bulk api or update scripts/pdpbench/bulk.go", applied, bulkMigrations)
	}
	for table, want := range bulkTables {
		rows, err := conn.Query(ctx, `SELECT column_name::text FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("bulk copy: table %s has columns %v, the loader writes %v", table, got, want)
		}
	}
	return nil
}
