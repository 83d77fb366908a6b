package ractl_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	_ "modernc.org/sqlite"

	"github.com/carespine/spineauth/authd/ra"
	"github.com/carespine/spineauth/policy"
	"github.com/carespine/spineauth/ractl"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
	policies "github.com/carespine/spineauth/rego"
	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/testkeys"
	"github.com/carespine/spineauth/testkeys/scripttest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"ractl": func() { os.Exit(ractl.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts in testdata/script against an RA API
// in this process: a real SQLite store seeded with the demo world, the
// real policy set, the card CA (test PKI sub-CA) and in-memory sessions.
// Each script gets its own, with $RACTL_AUTHD set and session token files
// in its work directory:
//
//	agent.tok          Carol, RA agent at RZZ
//	carol-sponsor.tok  Carol in her sponsor profile at RZZ
//	sponsor.tok        Dan, sponsor at RZZ
//	manager.tok        Priya, RA manager at RZZ
//	lee.tok            Lee, local smartcard administrator at RZZ
//	clinician.tok      Alice, clinician at RZZ
//
// and $DB the store's file (for the sql command).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			return startRA(env)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exits": scripttest.Exits,
			// sql DB STATEMENT: runs a statement on the SQLite file
			// behind the store's back (to tamper with the audit trail).
			"sql": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: sql DB STATEMENT")
				}
				db, err := sql.Open("sqlite", ts.MkAbs(args[0]))
				ts.Check(err)
				defer db.Close()
				_, err = db.Exec(args[1])
				ts.Check(err)
			},
			// jsonvar VAR FIELD: sets $VAR to the string FIELD of the
			// JSON object on the last command's stdout.
			"jsonvar": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: jsonvar VAR FIELD")
				}
				var m map[string]any
				ts.Check(json.Unmarshal([]byte(ts.ReadFile("stdout")), &m))
				v, ok := m[args[1]].(string)
				if !ok {
					ts.Fatalf("no string field %s in stdout", args[1])
				}
				ts.Setenv(args[0], v)
			},
		},
	})
}

func startRA(env *testscript.Env) error {
	ctx := context.Background()
	t := env.T().(testing.TB)
	db := filepath.Join(env.WorkDir, "registration.db")
	st, err := registration.OpenSQLite(ctx, db)
	if err != nil {
		return err
	}
	env.Defer(func() { st.Close() })
	if err := registration.SeedDemo(ctx, st, time.Now(), nil); err != nil {
		return err
	}
	eng, err := policy.New(ctx, policy.Config{Source: policy.FSSource(policies.FS),
		Queries: map[string]string{ra.Query: "data.spine.ra.decision"}})
	if err != nil {
		return err
	}
	env.Defer(eng.Close)
	ca, err := cardca.New(ctx, cardca.Config{Cert: testkeys.Cert(t, "subca"), Signer: testkeys.Key(t, "subca"),
		CRLURL: "http://authd.test/v1/pki/crl"}, st)
	if err != nil {
		return err
	}
	mem := sessions.NewMemory(sessions.Config{})
	env.Defer(func() { mem.Close() })
	svc, err := ra.New(ra.Deps{Store: st, Sessions: mem, Policy: eng, Catalogue: registration.DefaultCatalogue(), CA: ca})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	srv := httptest.NewServer(mux)
	env.Defer(srv.Close)
	env.Setenv("RACTL_AUTHD", srv.URL)
	env.Setenv("DB", db)
	for file, s := range map[string][2]string{
		"agent.tok":         {"555000000013", registration.DemoCarolAgentProfile},
		"carol-sponsor.tok": {"555000000013", registration.DemoCarolSponsorProfile},
		"sponsor.tok":       {"555000000014", registration.DemoDanSponsorProfile},
		"manager.tok":       {registration.DemoRAManagerUID, "555000001001"},
		"lee.tok":           {registration.DemoSmartcardAdminUID, registration.DemoLeeUnlockProfile},
		"clinician.tok":     {"555000000011", registration.DemoAliceTrustProfile},
	} {
		tok, _, err := mem.Create(ctx, sessions.Session{UserID: s[0], CardID: "CARD-" + s[0], CertSerial: "01",
			WorkstationID: "ws-ractl", RoleProfileID: s[1]})
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(env.WorkDir, file), []byte(tok.Encode()+"\n"), 0o600); err != nil {
			return err
		}
	}
	return nil
}
