package registration_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/storetest"
)

// sqliteOpener returns an open function for storetest.Run: one database
// file per test, reopened when the same test asks again.
func sqliteOpener() func(t *testing.T) registration.Store {
	var mu sync.Mutex
	paths := map[*testing.T]string{} // guarded by mu
	return func(t *testing.T) registration.Store {
		t.Helper()
		mu.Lock()
		path, ok := paths[t]
		if !ok {
			path = filepath.Join(t.TempDir(), "registration.db")
			paths[t] = path
		}
		mu.Unlock()
		s, err := registration.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatalf("OpenSQLite: %v", err)
		}
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	}
}

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, sqliteOpener())
}

func openTemp(t *testing.T, opts ...registration.Option) (*registration.SQLite, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "reg.db")
	s, err := registration.OpenSQLite(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("OpenSQLite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestOpenSQLiteRefusesNonFilePaths(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, path := range []string{"", ":memory:", "file:" + dir + "/x.db", dir + "/x.db?mode=ro", dir + "/x\x00.db"} {
		s, err := registration.OpenSQLite(context.Background(), path)
		if !errors.Is(err, registration.ErrInvalid) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("OpenSQLite(%q) = %v, want ErrInvalid", path, err)
		}
	}
}

func TestOpenSQLiteFileAndPragmas(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("database file mode %o, want 600", mode)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q", s.Path())
	}
	db := rawDB(t, path)
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
}

// rawDB opens the file directly, as an operator's tool would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		s, err := registration.OpenSQLite(context.Background(), path)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v %v", files, err)
	}
	var n int
	if err := rawDB(t, path).QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Errorf("schema_migrations has %d rows, want %d", n, len(files))
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, name, applied_at_us) VALUES (999, '0999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := registration.OpenSQLite(context.Background(), path)
	if err == nil {
		_ = s2.Close()
		t.Fatal("opened a database with an unknown migration")
	}
	if !strings.Contains(err.Error(), "0999_future.sql") {
		t.Errorf("error %v does not name the unknown migration", err)
	}
}

func TestClockOption(t *testing.T) {
	t.Parallel()
	fixed := time.Date(2030, 6, 1, 8, 0, 0, 999, time.UTC)
	s, _ := openTemp(t, registration.WithClock(func() time.Time { return fixed }))
	ctx := context.Background()
	if err := s.CreatePerson(ctx, registration.Person{UID: "555000000011", Name: "Alice Carter", Status: registration.PersonActive}); err != nil {
		t.Fatal(err)
	}
	p, err := s.Person(ctx, "555000000011")
	if err != nil {
		t.Fatal(err)
	}
	if want := fixed.Truncate(time.Microsecond); !p.CreatedAt.Equal(want) || !p.UpdatedAt.Equal(want) {
		t.Errorf("timestamps %v %v, want %v", p.CreatedAt, p.UpdatedAt, want)
	}
}

// TestMigrationsArePortable keeps SQLite-only syntax out of the migrations,
// which PostgreSQL will run unchanged.
func TestMigrationsArePortable(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	forbidden := regexp.MustCompile(`(?i)\b(autoincrement|without\s+rowid|pragma|insert\s+or|replace\s+into|datetime\s*\(|strftime|glob|serial|jsonb?|blob|real)\b`)
	comment := regexp.MustCompile(`--[^\n]*`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		body := comment.ReplaceAllString(string(b), "")
		if m := forbidden.FindString(body); m != "" {
			t.Errorf("%s uses %q, which is not portable to PostgreSQL", f, m)
		}
	}
}
