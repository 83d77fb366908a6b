package registration_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/pgtest"
	"github.com/carespine/spineauth/registration/storetest"
)

// postgresOpener returns an open function for storetest.Run: a schema of
// its own per test on srv, reopened when the same test asks again.
//
// The suite runs some hundreds of tests, and creating a schema and
// applying the migrations costs PostgreSQL about 0.15 s each, so the
// schemas are pooled: a test takes a migrated schema no other test is
// using, emptied (every table but schema_migrations truncated), and gives
// it back when it ends; top's cleanup drops them all. The migrations on a
// fresh schema are covered by the first use of each schema and by the
// TestPostgres* tests below.
func postgresOpener(top *testing.T, srv *pgtest.Server) func(t *testing.T) registration.Store {
	var mu sync.Mutex
	dsns := map[*testing.T]string{} // guarded by mu
	var free []string               // guarded by mu: schemas no test is using
	var drops []func(context.Context) error
	top.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, drop := range drops {
			if err := drop(ctx); err != nil {
				top.Error(err)
			}
		}
	})
	take := func(t *testing.T) string {
		ctx := context.Background()
		mu.Lock()
		var dsn string
		if n := len(free); n > 0 {
			dsn, free = free[n-1], free[:n-1]
		}
		mu.Unlock()
		if dsn == "" {
			var drop func(context.Context) error
			var err error
			dsn, drop, err = srv.NewSchema(ctx, top.Name())
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			drops = append(drops, drop)
			mu.Unlock()
		} else {
			emptySchema(t, dsn)
		}
		// Registered before the store's Close, so it runs after it.
		t.Cleanup(func() {
			mu.Lock()
			free = append(free, dsn)
			mu.Unlock()
		})
		return dsn
	}
	return func(t *testing.T) registration.Store {
		t.Helper()
		mu.Lock()
		dsn, ok := dsns[t]
		mu.Unlock()
		if !ok {
			dsn = take(t)
			mu.Lock()
			dsns[t] = dsn
			mu.Unlock()
		}
		s, err := registration.OpenPostgres(context.Background(), dsn, registration.WithMaxConns(8))
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

// emptySchema deletes every row of every table in the schema dsn works in
// except schema_migrations, children before the tables they reference.
// (DELETE, not TRUNCATE: on tables this small TRUNCATE costs PostgreSQL
// some hundred times as much.)
func emptySchema(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	conn := pgConn(t, dsn)
	rows, err := conn.Query(ctx, `SELECT c.relname,
			coalesce(array_agg(p.relname) FILTER (WHERE p.relname IS NOT NULL AND p.relname <> c.relname), '{}')
		FROM pg_class c
		LEFT JOIN pg_constraint f ON f.conrelid = c.oid AND f.contype = 'f'
		LEFT JOIN pg_class p ON p.oid = f.confrelid
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'
			AND c.relname <> 'schema_migrations'
		GROUP BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	parents := map[string][]string{}
	for rows.Next() {
		var table string
		var refs []string
		if err := rows.Scan(&table, &refs); err != nil {
			t.Fatal(err)
		}
		parents[table] = refs
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(parents) == 0 {
		t.Fatal("emptySchema: no tables: the schema was never migrated")
	}
	// Delete a table once no remaining table references it.
	for len(parents) > 0 {
		referenced := map[string]bool{}
		for _, refs := range parents {
			for _, p := range refs {
				referenced[p] = true
			}
		}
		progress := false
		for table := range parents {
			if referenced[table] {
				continue
			}
			if _, err := conn.Exec(ctx, `DELETE FROM `+pgx.Identifier{table}.Sanitize()); err != nil {
				t.Fatal(err)
			}
			delete(parents, table)
			progress = true
		}
		if !progress {
			t.Fatalf("emptySchema: foreign keys form a cycle among %v", parents)
		}
	}
	// The rows the migrations themselves insert, as a fresh store has them.
	if _, err := conn.Exec(ctx, `INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, $1)`, registration.ZeroHash); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
}

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, postgresOpener(t, pgtest.New(t)))
}

func openPostgres(t *testing.T, dsn string, opts ...registration.Option) *registration.Postgres {
	t.Helper()
	s, err := registration.OpenPostgres(context.Background(), dsn, opts...)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestPostgresConcurrentMigrations starts several stores on one empty
// schema at once, as authd nodes starting together would: the advisory
// lock lets one apply the migrations and the others find them done.
func TestPostgresConcurrentMigrations(t *testing.T) {
	t.Parallel()
	srv := pgtest.New(t)
	dsn := srv.DSN(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Go(func() {
			s, err := registration.OpenPostgres(context.Background(), dsn, registration.WithMaxConns(2))
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: %v", i, err)
		}
	}
	conn := pgConn(t, dsn)
	var n, files int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	matches, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(matches) == 0 {
		t.Fatalf("migrations: %v %v", matches, err)
	}
	files = len(matches)
	if n != files {
		t.Errorf("schema_migrations has %d rows, want %d", n, files)
	}
}

func TestPostgresNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	srv := pgtest.New(t)
	dsn := srv.DSN(t)
	if err := openPostgres(t, dsn).Close(); err != nil {
		t.Fatal(err)
	}
	conn := pgConn(t, dsn)
	if _, err := conn.Exec(context.Background(), `INSERT INTO schema_migrations (version, name, applied_at_us) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s, err := registration.OpenPostgres(context.Background(), dsn)
	if err == nil {
		_ = s.Close()
		t.Fatal("opened a database with an unknown migration")
	}
	if !strings.Contains(err.Error(), "0999_future.sql") {
		t.Errorf("error %v does not name the unknown migration", err)
	}
}

// TestPostgresSchemaMustExist: a search_path naming no schema is refused
// before anything is created anywhere else.
func TestPostgresSchemaMustExist(t *testing.T) {
	t.Parallel()
	srv := pgtest.New(t)
	dsn := pgtest.WithSearchPath(srv.ServerDSN(), "no_such_schema_here")
	s, err := registration.OpenPostgres(context.Background(), dsn)
	if err == nil {
		_ = s.Close()
		t.Fatal("opened a store on a search_path without a schema")
	}
	if !strings.Contains(err.Error(), "no existing schema") {
		t.Errorf("error %v does not say the schema is missing", err)
	}
}

// TestPostgresDSNSecretNeverShown: whatever goes wrong, the password in
// the DSN is not in the error.
func TestPostgresDSNSecretNeverShown(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-Pa55word"
	srv := pgtest.New(t)
	cfg, err := pgx.ParseConfig(srv.ServerDSN())
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		// Unparseable: a URL with a bad port, and key=value with an
		// unterminated quote.
		"BadURL":      "postgres://alice:" + secret + "@127.0.0.1:99999999/test",
		"BadKeyValue": "host=127.0.0.1 password='" + secret + " dbname=test",
		"BadEscape":   "postgres://alice:" + secret + "%zz@127.0.0.1/test",
		// Parseable but nobody listens (port 1 on loopback).
		"Refused": "postgres://alice:" + secret + "@127.0.0.1:1/test?sslmode=disable&connect_timeout=2",
		// The real server, an unknown database.
		"UnknownDatabase": "postgres://" + cfg.User + ":" + secret + "@" + cfg.Host + ":" +
			strconv.Itoa(int(cfg.Port)) + "/no_such_database_x?sslmode=disable",
		// The real server, a schema that does not exist.
		"UnknownSchema": "postgres://" + cfg.User + ":" + secret + "@" + cfg.Host + ":" +
			strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database + "?sslmode=disable&search_path=" + secret,
	}
	for name, dsn := range cases {
		t.Run(name, func(t *testing.T) {
			s, err := registration.OpenPostgres(context.Background(), dsn)
			if err == nil {
				_ = s.Close()
				t.Fatal("opened")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), strings.ToLower(secret)) {
				t.Fatalf("error shows the password: %v", err)
			}
		})
	}
}

func TestPostgresBadOptions(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]registration.Option{
		"MaxConnsZero":     registration.WithMaxConns(0),
		"IdleAboveMax":     registration.WithMaxIdleConns(registration.DefaultPostgresMaxConns + 1),
		"IdleNegative":     registration.WithMaxIdleConns(-2),
		"NegativeLifetime": registration.WithConnMaxLifetime(-1),
		"NilClock":         registration.WithClock(nil),
	} {
		s, err := registration.OpenPostgres(context.Background(), "postgres://u@127.0.0.1:1/x", opt)
		if !errors.Is(err, registration.ErrInvalid) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := registration.OpenPostgres(context.Background(), " "); !errors.Is(err, registration.ErrInvalid) {
		t.Errorf("empty DSN: %v, want ErrInvalid", err)
	}
}

func pgConn(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

// TestPostgresRoleProfileListsAnyValue: the aggregated lists decode
// exactly on PostgreSQL too (string_agg and replace, see profileSelect).
func TestPostgresRoleProfileListsAnyValue(t *testing.T) {
	t.Parallel()
	dsn := pgtest.New(t).DSN(t)
	s := openPostgres(t, dsn)
	conn := pgConn(t, dsn)
	checkListsAnyValue(t, s, func(query string, args ...any) error {
		_, err := conn.Exec(context.Background(), query, args...)
		return err
	})
}
