package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/pgtest"
)

// TestPostgresStore runs authd on the PostgreSQL registration store (a
// schema of its own on a real server, the DSN read from a file): card
// logins, decisions, and an emergency access whose alert is in PostgreSQL
// before the answer; the DSN's password reaches no log line.
func TestPostgresStore(t *testing.T) {
	t.Parallel()
	const secret = "pg-Secret-7f3a9" // loopback trust: the server never checks it
	dsn := pgtest.New(t).DSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), secret)
	dsnFile := filepath.Join(t.TempDir(), "registration.dsn")
	if err := os.WriteFile(dsnFile, []byte(u.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := newServiceTLS(t)
	r := newRig(t, withPDP(st, ""), func(rc *rigConfig) {
		rc.store = "driver: postgres\npostgres:\n  dsn_file: " + dsnFile + "\n  max_conns: 4\n"
	})
	p := &pdpRig{rig: r, tls: st, service: st.client(st.service)}
	if _, ok := r.srv.Store().(*registration.Postgres); !ok {
		t.Fatalf("store is %T, want *registration.Postgres", r.srv.Store())
	}

	resp, err := p.client.Get(p.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var ready map[string]string
	err = json.NewDecoder(resp.Body).Decode(&ready)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || ready["store"] != "ok" {
		t.Fatalf("readyz: %d %v %v", resp.StatusCode, ready, err)
	}

	alice := p.session(t, "card-555000000011-ec", registration.DemoAlicePracticeProfile)
	if st, got := p.evaluate(t, question(alice, registration.DemoPatientRegistered, "scr", "direct_care", "")); st != 200 || !got.Decision {
		t.Fatalf("registered patient, direct care: %d %+v", st, got)
	}
	st2, got := p.evaluate(t, question(alice, registration.DemoPatientNoRelationship, "scr", "direct_care", ""))
	if st2 != 200 || got.Decision || len(got.Context.ReasonCodes) == 0 || got.Context.ReasonCodes[0] != "no_legitimate_relationship" {
		t.Fatalf("no relationship: %d %+v", st2, got)
	}
	st2, got = p.evaluate(t, question(alice, registration.DemoPatientNoRelationship, "scr", "emergency", "unconscious in A&E"))
	if st2 != 200 || !got.Decision || len(got.Context.Obligations) != 1 || got.Context.Obligations[0].AlertID == "" {
		t.Fatalf("emergency access: %d %+v", st2, got)
	}

	// The alert is a row of the test's schema in PostgreSQL.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var alertType, uid string
	if err := conn.QueryRow(ctx, `SELECT alert_type, uid FROM alerts WHERE id = $1`, got.Context.Obligations[0].AlertID).
		Scan(&alertType, &uid); err != nil {
		t.Fatalf("alert %s in PostgreSQL: %v", got.Context.Obligations[0].AlertID, err)
	}
	if alertType != "emergency_access" || uid != "555000000011" {
		t.Fatalf("alert row: %s %s", alertType, uid)
	}

	if logs := r.logText(); !strings.Contains(logs, "opened PostgreSQL store") || strings.Contains(logs, secret) {
		t.Fatalf("logs: opened line missing or password shown:\n%s", logs)
	}
}
