package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding the DSN of a PostgreSQL
// server for the tests; the role must be allowed to create schemas.
const EnvDSN = "SPINEAUTH_TEST_POSTGRES"

// DefaultAddr is where New looks for a server when EnvDSN is not set.
const DefaultAddr = "127.0.0.1:5432"

// DefaultDatabase is the database New uses on DefaultAddr.
const DefaultDatabase = "test"

// defaultUsers are tried, in order, on DefaultAddr.
var defaultUsers = []string{"postgres", "root"}

// Server is a PostgreSQL server tests may use.
type Server struct {
	dsn     string // the server's DSN, without a search_path
	private bool   // started by Start for this test
}

// New returns a server for t: the one EnvDSN names, else one answering on
// DefaultAddr, else a private one started for t (Start). t is skipped only
// when none of these is possible (no server and no PostgreSQL installed).
func New(t testing.TB) *Server {
	t.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		if err := ping(dsn); err != nil {
			t.Fatalf("pgtest: %s: %v", EnvDSN, err)
		}
		return &Server{dsn: dsn}
	}
	for _, user := range defaultUsers {
		dsn := (&url.URL{Scheme: "postgres", User: url.User(user), Host: DefaultAddr, Path: "/" + DefaultDatabase,
			RawQuery: "sslmode=disable&connect_timeout=3"}).String()
		if ping(dsn) == nil {
			return &Server{dsn: dsn}
		}
	}
	return Start(t)
}

// ServerDSN is the server's DSN (no search_path): the default schema of
// its database, shared by everyone using the server. Tests should work in
// a schema of their own (DSN).
func (s *Server) ServerDSN() string { return s.dsn }

// Private reports whether the server was started for this test.
func (s *Server) Private() bool { return s.private }

// DSN creates a new, empty schema for t and returns a DSN whose
// search_path names it. The schema, with everything in it, is dropped
// when t ends (after the cleanups t registers later, such as closing a
// store).
func (s *Server) DSN(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, drop, err := s.NewSchema(ctx, t.Name())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx); err != nil {
			t.Error(err)
		}
	})
	return dsn
}

// NewSchema creates a new, empty schema named after test (see DSN) and
// returns a DSN whose search_path names it and a function that drops it.
// Unlike DSN it ties the schema to no test: for a pool of schemas that
// outlives the tests using them, whose owner must call drop.
func (s *Server) NewSchema(ctx context.Context, test string) (dsn string, drop func(context.Context) error, err error) {
	schema := schemaName(test)
	if err := s.exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("pgtest: creating schema %s: %w", schema, err)
	}
	drop = func(ctx context.Context) error {
		if err := s.exec(ctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			return fmt.Errorf("pgtest: dropping schema %s: %w", schema, err)
		}
		return nil
	}
	return testDSN(s.dsn, schema), drop, nil
}

// testDSN is dsn working in schema. Commits in a test need not wait for
// the WAL to reach the disk: a crash loses only a test's rows, which the
// test would drop anyway.
func testDSN(dsn, schema string) string {
	return withParam(WithSearchPath(dsn, schema), "synchronous_commit", "off")
}

func (s *Server) exec(ctx context.Context, sql string, args ...any) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

// WithSearchPath returns dsn (a URL or key=value pairs) with its
// search_path set to schema, which must be a plain lower-case identifier.
func WithSearchPath(dsn, schema string) string { return withParam(dsn, "search_path", schema) }

// withParam sets a run-time parameter in dsn; value must need no quoting.
func withParam(dsn, key, value string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err == nil {
			q := u.Query()
			q.Set(key, value)
			u.RawQuery = q.Encode()
			return u.String()
		}
	}
	return strings.TrimSpace(dsn) + " " + key + "=" + value
}

// schemaName makes a schema name unique to this run from a test name:
// "t_", the name's letters and digits (lower case, others as '_', the
// end kept when it is long), '_' and 8 random hex digits; at most 63
// bytes, PostgreSQL's limit.
func schemaName(test string) string {
	name := strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z' || '0' <= r && r <= '9':
			return r
		case 'A' <= r && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, test)
	if len(name) > 44 {
		name = name[len(name)-44:]
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "t_" + name + "_" + hex.EncodeToString(b[:])
}

// ping connects to dsn and runs SELECT 1.
func ping(dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return errors.New("cannot parse the DSN")
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > 3*time.Second {
		cfg.ConnectTimeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	var one int
	return conn.QueryRow(ctx, `SELECT 1`).Scan(&one)
}
