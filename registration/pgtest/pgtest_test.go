package pgtest_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/carespine/spineauth/registration/pgtest"
)

// TestStart exercises the path taken on a machine with no PostgreSQL
// running: a private cluster on a free loopback port, and isolated schemas
// in it.
func TestStart(t *testing.T) {
	srv := pgtest.Start(t)
	if !srv.Private() {
		t.Fatal("Start returned a server it did not start")
	}
	t.Setenv(pgtest.EnvDSN, srv.ServerDSN())
	if got := pgtest.New(t).ServerDSN(); got != srv.ServerDSN() {
		t.Fatalf("New = %s with %s=%s", got, pgtest.EnvDSN, srv.ServerDSN())
	}
	ctx := context.Background()
	connect := func(t *testing.T, dsn string) *pgx.Conn {
		t.Helper()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close(ctx) })
		return c
	}
	var schemas []string
	for _, name := range []string{"A", "B"} {
		t.Run(name, func(t *testing.T) {
			c := connect(t, srv.DSN(t))
			var schema string
			if err := c.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(schema, "t_teststart_"+strings.ToLower(name)+"_") {
				t.Fatalf("current_schema = %q", schema)
			}
			schemas = append(schemas, schema)
			// Each test sees only its own table of this name.
			if _, err := c.Exec(ctx, `CREATE TABLE t (v TEXT)`); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Exec(ctx, `INSERT INTO t VALUES ($1)`, name); err != nil {
				t.Fatal(err)
			}
			var n int
			if err := c.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 1 {
				t.Fatalf("rows in t: %d, %v", n, err)
			}
			c.Close(ctx)
		})
	}
	// Both schemas were dropped when their tests ended.
	c := connect(t, srv.ServerDSN())
	var left int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = ANY($1)`, schemas).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if len(schemas) != 2 || left != 0 {
		t.Fatalf("schemas %v: %d left after their tests", schemas, left)
	}
}

func TestWithSearchPath(t *testing.T) {
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://u@127.0.0.1:5432/test?sslmode=disable", "postgres://u@127.0.0.1:5432/test?search_path=s1&sslmode=disable"},
		{"postgresql://u@h/db", "postgresql://u@h/db?search_path=s1"},
		{"host=127.0.0.1 dbname=test", "host=127.0.0.1 dbname=test search_path=s1"},
	} {
		if got := pgtest.WithSearchPath(tc.dsn, "s1"); got != tc.want {
			t.Errorf("WithSearchPath(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}
