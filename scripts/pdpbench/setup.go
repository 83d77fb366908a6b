package main

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/carespine/spineauth/registration"
)

// Files in a world directory (--dir).
const (
	worldFile    = "world.json"     // the spec, written by the db stage
	dbFile       = "authd.db"       // the registration store authd serves from
	factsFile    = "opa/facts.json" // OPA data: sessions, role profiles, patients
	requestsFile = "requests.jsonl" // AuthZEN bodies for load and compare
)

// apiBulkLimit is the most relationships the db stage writes through the
// Store API under --bulk auto; above it, the batched SQL insert.
const apiBulkLimit = 50_000

type setupConfig struct {
	Dir string
	// PostgresEnv names the environment variable holding the DSN of a
	// PostgreSQL store (its search_path's schema must exist); empty means
	// the SQLite file Dir/authd.db.
	PostgresEnv string
	PKI         string
	Stage       string
	Spec        worldSpec
	Bulk        string
	AuthdURL    string
	TLS         tlsFiles
	Sessions    int
	Requests    int
	OPAData     bool
	Emergency   float64
	ReqSeed     uint64
}

func runSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("setup", stderr)
	var c setupConfig
	c.TLS.register(fs)
	fs.StringVar(&c.Dir, "dir", "", "world directory (created; the db stage wants it empty of authd.db)")
	fs.StringVar(&c.PostgresEnv, "postgres-dsn-env", "", "the registration store is PostgreSQL at the DSN in this environment variable (an existing, empty schema), not --dir's authd.db")
	fs.StringVar(&c.PKI, "pki", "testkeys/pki", "the test PKI directory (card certificates and keys, read from disk)")
	fs.StringVar(&c.Stage, "stage", "auto", "db (no server needed); sessions (needs authd serving --dir's authd.db); all (both, authd already serving the file); auto: db unless --dir has a world, then sessions if --authd is given")
	fs.IntVar(&c.Spec.Patients, "patients", 10_000, "generated patients")
	fs.IntVar(&c.Spec.Relationships, "relationships", 40_000, "generated legitimate relationships, spread evenly over the patients")
	fs.Uint64Var(&c.Spec.Seed, "seed", 1, "seed of the generated world")
	fs.StringVar(&c.Bulk, "bulk", "auto", "how the db stage writes patient facts: api (Store API), sql (batched SQL, bulk.go), auto (api up to 50000 relationships)")
	fs.StringVar(&c.AuthdURL, "authd", "", "authd base URL for card logins (sessions stage)")
	fs.IntVar(&c.Sessions, "sessions", 48, "card logins to make (sessions stage)")
	fs.IntVar(&c.Requests, "requests", 20_000, "lines in the requests file")
	fs.BoolVar(&c.OPAData, "opa-data", true, "write the facts as OPA data (sessions stage)")
	fs.Float64Var(&c.Emergency, "emergency", 0, "fraction of requests for emergency access (allowed ones make authd store an alert)")
	fs.Uint64Var(&c.ReqSeed, "requests-seed", 2, "seed of the requests file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	auto := c.Stage == "auto"
	if auto {
		c.Stage = autoStage(c.Dir, c.AuthdURL != "")
	}
	if err := c.validate(); err != nil {
		return err
	}
	if c.Stage == "db" || c.Stage == "all" {
		if err := setupDB(ctx, c, stdout); err != nil {
			return err
		}
		if auto && c.Stage == "db" {
			fmt.Fprintf(stdout, "setup: next, serve %s with authd (store.path) and run: pdpbench setup --dir %s --authd https://127.0.0.1:PORT --cert F --key F --ca F\n",
				filepath.Join(c.Dir, dbFile), c.Dir)
		}
	}
	if c.Stage == "sessions" || c.Stage == "all" {
		return setupSessions(ctx, c, stdout)
	}
	return nil
}

// autoStage picks the stages --stage auto means: the db stage unless the
// directory already has a world, then the sessions stage if an authd is
// named.
func autoStage(dir string, haveAuthd bool) string {
	_, err := os.Stat(filepath.Join(dir, worldFile))
	switch {
	case err != nil && haveAuthd:
		return "all"
	case err != nil:
		return "db"
	default:
		return "sessions"
	}
}

func (c *setupConfig) validate() error {
	var problems []string
	if c.Dir == "" {
		problems = append(problems, "--dir is required")
	}
	if c.PostgresEnv != "" && os.Getenv(c.PostgresEnv) == "" {
		problems = append(problems, "--postgres-dsn-env: environment variable "+c.PostgresEnv+" is empty or not set")
	}
	switch c.Stage {
	case "db", "sessions", "all":
	default:
		problems = append(problems, "--stage must be db, sessions or all")
	}
	if c.Stage != "db" && c.AuthdURL == "" {
		problems = append(problems, "--authd is required for the sessions stage")
	}
	switch c.Bulk {
	case "api", "sql", "auto":
	default:
		problems = append(problems, "--bulk must be api, sql or auto")
	}
	if err := c.Spec.validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if c.Sessions < 1 || c.Sessions > 1000 {
		problems = append(problems, "--sessions must be 1..1000")
	}
	if c.Requests < 1 || c.Requests > 10_000_000 {
		problems = append(problems, "--requests must be 1..10000000")
	}
	if c.Emergency < 0 || c.Emergency > 1 {
		problems = append(problems, "--emergency must be in [0, 1]")
	}
	if len(problems) > 0 {
		return usagef("setup: %s", strings.Join(problems, "; "))
	}
	return nil
}

// worldRecord is world.json: how the db stage made the world.
type worldRecord struct {
	Spec        worldSpec `json:"spec"`
	Store       string    `json:"store"` // sqlite or postgres
	Bulk        string    `json:"bulk"`
	DemoPatient []string  `json:"demo_patients"`
	SeedSeconds float64   `json:"seed_seconds"`
}

// demoPatients are registration.SeedDemo's patients.
var demoPatients = []string{
	registration.DemoPatientRegistered, registration.DemoPatientReferral, registration.DemoPatientDissent,
	registration.DemoPatientSealed, registration.DemoPatientLocked, registration.DemoPatientExpired,
	registration.DemoPatientSelfClaimed, registration.DemoPatientNoRelationship,
}

// setupDB is stage (a): the registration store authd will serve.
func setupDB(ctx context.Context, c setupConfig, stdout io.Writer) error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	spec := c.Spec
	spec.Now = time.Now().UTC().Truncate(time.Second)
	var tag [8]byte
	_, _ = rand.Read(tag[:])
	spec.IDTag = binary.BigEndian.Uint64(tag[:])
	bulk := c.Bulk
	if bulk == "auto" {
		bulk = "api"
		if spec.Relationships > apiBulkLimit {
			bulk = "sql"
		}
	}
	rec, err := buildDB(ctx, c.storeTarget(), c.PKI, spec, bulk, stdout)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(c.Dir, worldFile), append(b, '\n'), 0o600); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "setup: %s store: %d patients, %d relationships (%s) in %.1fs\n",
		rec.Store, spec.Patients, spec.Relationships, bulk, rec.SeedSeconds)
	return nil
}

// storeTarget is where the db stage writes: dir/authd.db, or the
// PostgreSQL DSN in the environment variable --postgres-dsn-env names.
type storeTarget struct {
	dir string // the world directory
	dsn string // empty for SQLite
}

func (c setupConfig) storeTarget() storeTarget {
	t := storeTarget{dir: c.Dir}
	if c.PostgresEnv != "" {
		t.dsn = os.Getenv(c.PostgresEnv)
	}
	return t
}

func (t storeTarget) kind() string {
	if t.dsn != "" {
		return "postgres"
	}
	return "sqlite"
}

// open opens the store (reads: readers connections at most).
func (t storeTarget) open(ctx context.Context, readers int) (registration.Store, error) {
	if t.dsn != "" {
		return registration.OpenPostgres(ctx, t.dsn, registration.WithMaxConns(readers))
	}
	return registration.OpenSQLite(ctx, filepath.Join(t.dir, dbFile), registration.WithReaders(readers))
}

// buildDB makes the store (dir/authd.db or the PostgreSQL schema): the
// demo world, the benchmark organisations, and the generated patient
// facts written with bulk (api, or sql: the batched SQL insert for SQLite,
// COPY for PostgreSQL).
func buildDB(ctx context.Context, target storeTarget, pki string, spec worldSpec, bulk string, stdout io.Writer) (*worldRecord, error) {
	path := filepath.Join(target.dir, dbFile)
	if _, err := os.Stat(path); err == nil && target.dsn == "" {
		return nil, fmt.Errorf("%s already exists: use a fresh --dir", path)
	}
	started := time.Now()
	cards, err := demoCards(pki)
	if err != nil {
		return nil, err
	}
	st, err := target.open(ctx, 4)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	if err := registration.SeedDemo(ctx, st, spec.Now, cards); err != nil {
		return nil, fmt.Errorf("seeding the demo world: %w", err)
	}
	for _, o := range benchOrgs() {
		if err := st.CreateOrganisation(ctx, o); err != nil {
			return nil, fmt.Errorf("organisation %s: %w", o.ODS, err)
		}
	}
	nhs := nhsNumbers(spec.Patients)
	switch bulk {
	case "api":
		err := generate(spec, nhs, func(p *patientFacts) error { return writeThroughStore(ctx, st, p) })
		if err != nil {
			return nil, err
		}
		if err := st.Close(); err != nil {
			return nil, err
		}
	case "sql":
		// The bulk loader writes the database itself; the store is closed
		// first so that only one writer is ever open.
		if err := st.Close(); err != nil {
			return nil, err
		}
		var n int64
		if target.dsn != "" {
			n, err = copyInsert(ctx, target.dsn, spec, nhs, stdout)
		} else {
			n, err = bulkInsert(ctx, path, spec, nhs, stdout)
		}
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "setup: bulk-inserted %d rows\n", n)
	default:
		return nil, fmt.Errorf("unknown bulk mode %q", bulk)
	}
	return &worldRecord{Spec: spec, Store: target.kind(), Bulk: bulk, DemoPatient: demoPatients, SeedSeconds: time.Since(started).Seconds()}, nil
}

// writeThroughStore records one patient's facts through the Store API,
// one transaction per record, as the RA and spine services would.
func writeThroughStore(ctx context.Context, st registration.Store, p *patientFacts) error {
	for _, r := range p.Relationships {
		ended := r.EndedAt
		r.EndedAt = time.Time{}
		if err := st.CreateRelationship(ctx, r); err != nil {
			return fmt.Errorf("relationship %s: %w", r.ID, err)
		}
		if !ended.IsZero() {
			if err := st.EndRelationship(ctx, r.ID, ended); err != nil {
				return fmt.Errorf("ending relationship %s: %w", r.ID, err)
			}
		}
	}
	if p.Consent != nil {
		c := *p.Consent
		c.Version = 0 // new record
		if err := st.SetConsent(ctx, c); err != nil {
			return fmt.Errorf("consent of %s: %w", p.NHS, err)
		}
	}
	for _, s := range p.Seals {
		if err := st.CreateSeal(ctx, s); err != nil {
			return fmt.Errorf("seal of %s: %w", p.NHS, err)
		}
	}
	return nil
}

// demoCards groups the test PKI's card certificates by user ID, as
// authd's rig does (authd/server/rig_test.go), reading the PEM files from
// disk rather than importing package testkeys. The forged card-tampered
// reuses Alice's serial and is left out.
func demoCards(dir string) (map[string][]*x509.Certificate, error) {
	files, err := filepath.Glob(filepath.Join(dir, "card-*.pem"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no card-*.pem in %s (run from the module root or pass --pki)", dir)
	}
	out := map[string][]*x509.Certificate{}
	for _, f := range files {
		if strings.TrimSuffix(filepath.Base(f), ".pem") == "card-tampered" {
			continue
		}
		c, err := readCert(f)
		if err != nil {
			return nil, err
		}
		uid, _, _ := strings.Cut(c.Subject.CommonName, "_")
		out[uid] = append(out[uid], c)
	}
	return out, nil
}

// readCert reads the first certificate of a PEM file.
func readCert(path string) (*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s: no PEM certificate", path)
		}
		if block.Type == "CERTIFICATE" {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", path, err)
			}
			return c, nil
		}
	}
}

func readWorld(dir string) (*worldRecord, error) {
	b, err := os.ReadFile(filepath.Join(dir, worldFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: no %s; run the db stage first", dir, worldFile)
	}
	if err != nil {
		return nil, err
	}
	var rec worldRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		return nil, fmt.Errorf("%s: %w", worldFile, err)
	}
	return &rec, nil
}
