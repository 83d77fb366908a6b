package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStoreSection(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings that must all appear; nil means success
		check   func(t *testing.T, s Store)
	}{
		{
			name: "sqlite by default",
			yaml: "",
			check: func(t *testing.T, s Store) {
				if s.Driver != "sqlite" || s.Path != "authd.db" || s.Postgres != (Postgres{}) {
					t.Errorf("store: %+v", s)
				}
			},
		},
		{
			name: "postgres from an environment variable, with defaults",
			yaml: "store:\n  driver: postgres\n  postgres:\n    dsn_env: REG_DSN\n",
			check: func(t *testing.T, s Store) {
				p := s.Postgres
				if s.Path != "" || p.DSNEnv != "REG_DSN" || p.MaxConns != 16 || *p.MaxIdleConns != 4 || *p.ConnMaxLifetime != 30*time.Minute {
					t.Errorf("store: %+v", s)
				}
			},
		},
		{
			name: "postgres pool settings kept",
			yaml: "store:\n  driver: postgres\n  postgres:\n    dsn_file: dsn\n    max_conns: 2\n    max_idle_conns: 0\n    conn_max_lifetime: 0s\n",
			check: func(t *testing.T, s Store) {
				p := s.Postgres
				if p.DSNFile != "dsn" || p.MaxConns != 2 || *p.MaxIdleConns != 0 || *p.ConnMaxLifetime != 0 {
					t.Errorf("store: %+v", s)
				}
			},
		},
		{name: "unknown driver", yaml: "store:\n  driver: mysql\n", wantErr: []string{`store.driver: "mysql" is not one of sqlite, postgres`}},
		{name: "postgres without a DSN source", yaml: "store:\n  driver: postgres\n",
			wantErr: []string{"store.postgres: dsn_env or dsn_file is required"}},
		{name: "DSN inline", yaml: "store:\n  driver: postgres\n  postgres:\n    dsn: postgres://u:hunter2@db/reg\n",
			wantErr: []string{"store.postgres.dsn: a DSN holds a password", "dsn_env or dsn_file is required"}},
		{name: "both sources", yaml: "store:\n  driver: postgres\n  postgres:\n    dsn_env: A\n    dsn_file: f\n",
			wantErr: []string{"dsn_env and dsn_file are exclusive"}},
		{name: "bad variable name", yaml: "store:\n  driver: postgres\n  postgres:\n    dsn_env: 1-DSN\n",
			wantErr: []string{`store.postgres.dsn_env: "1-DSN" is not an environment variable name`}},
		{name: "path with postgres", yaml: "store:\n  driver: postgres\n  path: x.db\n  postgres:\n    dsn_env: A\n",
			wantErr: []string{"store.path: the SQLite file is only for driver sqlite"}},
		{name: "postgres section with sqlite", yaml: "store:\n  postgres:\n    dsn_env: A\n",
			wantErr: []string{"store.postgres: only for driver postgres"}},
		{
			name: "every pool problem at once",
			yaml: "store:\n  driver: postgres\n  postgres:\n    dsn_env: A\n    max_conns: 8\n    max_idle_conns: -1\n    conn_max_lifetime: -1s\n",
			wantErr: []string{
				"store.postgres.max_idle_conns: -1 is outside 0..max_conns (8)",
				"store.postgres.conn_max_lifetime: -1s is negative",
			},
		},
		{
			name:    "max_conns out of range",
			yaml:    "store:\n  driver: postgres\n  postgres:\n    dsn_env: A\n    max_conns: 5000\n",
			wantErr: []string{"store.postgres.max_conns: 5000 is outside 1..1000"},
		},
		{name: "idle above max", yaml: "store:\n  driver: postgres\n  postgres:\n    dsn_env: A\n    max_conns: 2\n    max_idle_conns: 3\n",
			wantErr: []string{"store.postgres.max_idle_conns: 3 is outside 0..max_conns (2)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("want an error, got none")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error shows the inline password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c.Store)
		})
	}
}

func TestReadDSN(t *testing.T) {
	const dsn = "postgres://authd:s3cret@db.example:5432/registration?sslmode=verify-full"
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Setenv("TEST_REG_DSN", dsn)
	t.Setenv("TEST_REG_EMPTY", "  ")
	for _, tc := range []struct {
		name    string
		p       Postgres
		want    string
		wantErr string
	}{
		{"env", Postgres{DSNEnv: "TEST_REG_DSN"}, dsn, ""},
		{"file with newline", Postgres{DSNFile: write("dsn", dsn+"\n")}, dsn, ""},
		{"env unset", Postgres{DSNEnv: "TEST_REG_UNSET_X"}, "", "TEST_REG_UNSET_X is not set"},
		{"env empty", Postgres{DSNEnv: "TEST_REG_EMPTY"}, "", "the DSN is empty"},
		{"file missing", Postgres{DSNFile: filepath.Join(dir, "nope")}, "", "no such file"},
		{"file two lines", Postgres{DSNFile: write("two", dsn+"\nsecond line s3cret\n")}, "", "must be one line"},
		{"file too big", Postgres{DSNFile: write("big", strings.Repeat("x", maxDSNFileSize+1))}, "", "larger than"},
		{"none", Postgres{}, "", "neither dsn_env nor dsn_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.p.ReadDSN()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error shows the DSN: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ReadDSN = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestLoadResolvesDSNFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authd.yaml")
	if err := os.WriteFile(path, []byte("store:\n  driver: postgres\n  postgres:\n    dsn_file: secrets/dsn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Store.Postgres.DSNFile, filepath.Join(dir, "secrets/dsn"); got != want {
		t.Errorf("dsn_file: %q, want %q", got, want)
	}
	if c.Store.Path != "" {
		t.Errorf("store.path %q set for postgres", c.Store.Path)
	}
}
