package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Postgres configures the PostgreSQL registration store (store.driver:
// postgres). The DSN names the server, database, user and, usually, the
// password, so it never appears in the configuration file: it comes from
// an environment variable (DSNEnv) or a file (DSNFile), exactly one of
// them. `search_path=SCHEMA` in the DSN selects a schema other than
// public; the schema must exist.
type Postgres struct {
	// DSN is refused when set: it is here only so that a DSN written
	// inline gets a clear error instead of "field not found".
	DSN string `yaml:"dsn"`
	// DSNEnv names the environment variable holding the DSN.
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile is a file holding the DSN (surrounding white space is
	// ignored), relative to the configuration file.
	DSNFile string `yaml:"dsn_file"`
	// MaxConns bounds each node's connections (default 16).
	MaxConns int `yaml:"max_conns"`
	// MaxIdleConns is how many idle connections a node keeps (default 4,
	// at most max_conns).
	MaxIdleConns *int `yaml:"max_idle_conns"`
	// ConnMaxLifetime recycles connections, so that fail-overs and DNS
	// changes are picked up (default 30m; 0 keeps them).
	ConnMaxLifetime *time.Duration `yaml:"conn_max_lifetime"`
}

// maxDSNFileSize bounds a DSN file.
const maxDSNFileSize = 8 << 10

func (p *Postgres) setDefaults(driver string) {
	if driver != "postgres" {
		return
	}
	if p.MaxConns == 0 {
		p.MaxConns = 16
	}
	if p.MaxIdleConns == nil {
		p.MaxIdleConns = ptr(min(4, p.MaxConns))
	}
	if p.ConnMaxLifetime == nil {
		p.ConnMaxLifetime = ptr(30 * time.Minute)
	}
}

// validate reports every problem of the store section.
func (s *Store) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	p := s.Postgres
	switch s.Driver {
	case "sqlite":
		if p != (Postgres{}) {
			bad("store.postgres: only for driver postgres (the driver is sqlite)")
		}
	case "postgres":
		if s.Path != "" {
			bad("store.path: the SQLite file is only for driver sqlite; PostgreSQL is named by store.postgres.dsn_env or dsn_file")
		}
		if p.DSN != "" {
			bad("store.postgres.dsn: a DSN holds a password and must not be written in the configuration; put it in a file (dsn_file) or an environment variable (dsn_env)")
		}
		switch {
		case p.DSNEnv == "" && p.DSNFile == "":
			bad("store.postgres: dsn_env or dsn_file is required for driver postgres")
		case p.DSNEnv != "" && p.DSNFile != "":
			bad("store.postgres: dsn_env and dsn_file are exclusive; give one")
		case p.DSNEnv != "" && !validEnvName(p.DSNEnv):
			bad("store.postgres.dsn_env: %q is not an environment variable name (letters, digits and '_', not starting with a digit)", p.DSNEnv)
		}
		if p.MaxConns < 1 || p.MaxConns > 1000 {
			bad("store.postgres.max_conns: %d is outside 1..1000", p.MaxConns)
		} else if p.MaxIdleConns != nil && (*p.MaxIdleConns < 0 || *p.MaxIdleConns > p.MaxConns) {
			bad("store.postgres.max_idle_conns: %d is outside 0..max_conns (%d)", *p.MaxIdleConns, p.MaxConns)
		}
		if p.ConnMaxLifetime != nil && *p.ConnMaxLifetime < 0 {
			bad("store.postgres.conn_max_lifetime: %s is negative", *p.ConnMaxLifetime)
		}
	default:
		bad("store.driver: %q is not one of sqlite, postgres", s.Driver)
	}
	return errs
}

// ReadDSN returns the PostgreSQL DSN from the environment variable or the
// file the configuration names. Its errors name the variable or file,
// never the DSN's contents.
func (p Postgres) ReadDSN() (string, error) {
	var dsn string
	switch {
	case p.DSNEnv != "":
		v, ok := os.LookupEnv(p.DSNEnv)
		if !ok {
			return "", fmt.Errorf("store.postgres.dsn_env: environment variable %s is not set", p.DSNEnv)
		}
		dsn = v
	case p.DSNFile != "":
		f, err := os.Open(p.DSNFile)
		if err != nil {
			return "", fmt.Errorf("store.postgres.dsn_file: %w", err)
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxDSNFileSize+1))
		if err != nil {
			return "", fmt.Errorf("store.postgres.dsn_file: %s: %w", p.DSNFile, err)
		}
		if len(b) > maxDSNFileSize {
			return "", fmt.Errorf("store.postgres.dsn_file: %s is larger than %d bytes", p.DSNFile, maxDSNFileSize)
		}
		dsn = string(b)
	default:
		return "", errors.New("store.postgres: neither dsn_env nor dsn_file is set")
	}
	dsn = strings.TrimSpace(dsn)
	if dsn == "" {
		return "", errors.New("store.postgres: the DSN is empty")
	}
	if strings.ContainsAny(dsn, "\n\r\x00") {
		return "", errors.New("store.postgres: the DSN must be one line")
	}
	return dsn, nil
}

func validEnvName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return s != ""
}
