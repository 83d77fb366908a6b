package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/pgtest"
)

// TestRAKillMidStream: authd is killed with SIGKILL while RA operations
// stream in. After the crash every acknowledged action is in the database
// with its audit entry, nothing is half done (no person without their
// registration record and identity check, no edit without its entry, no
// entry without its change), the chain verifies, and a restarted authd
// carries on from it.
func TestRAKillMidStream(t *testing.T) {
	t.Run("SQLite", func(t *testing.T) {
		dir := t.TempDir()
		db := filepath.Join(dir, "authd.db")
		seedDB(t, db, time.Now())
		killMidStream(t, dir, sqliteStore(db), func() (registration.Store, error) {
			return registration.OpenSQLite(context.Background(), db)
		})
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		dir := t.TempDir()
		dsn := pgtest.New(t).DSN(t)
		dsnFile := filepath.Join(dir, "registration.dsn")
		if err := os.WriteFile(dsnFile, []byte(dsn+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		open := func() (registration.Store, error) { return registration.OpenPostgres(context.Background(), dsn) }
		st, err := open()
		if err != nil {
			t.Fatal(err)
		}
		if err := registration.SeedDemo(context.Background(), st, time.Now(), demoCards(t)); err != nil {
			t.Fatal(err)
		}
		st.Close()
		killMidStream(t, dir, "{driver: postgres, postgres: {dsn_file: "+dsnFile+", max_conns: 8}}", open)
	})
}

func killMidStream(t *testing.T, dir, store string, open func() (registration.Store, error)) {
	addr := freeAddr(t)
	cfg := raConfig(t, dir, addr, store, false, "")
	var out bytes.Buffer
	cmd := exec.Command(filepath.Join(binDir, "authd"), "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	url := "http://" + addr
	waitReady(t, url, &out)
	carolCard := makeToken(t, "kill-carol", "card-555000000013-rsa")
	agent, _ := loginToFile(t, url, carolCard, registration.DemoCarolAgentProfile)

	// Each worker registers people and edits each once; what authd
	// acknowledged is noted.
	type state struct{ registered, updated bool }
	var mu sync.Mutex
	acked := map[string]*state{} // guarded by mu
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				uid := fmt.Sprintf("5559%02d%06d", w, i)
				st, _ := post(client, "POST", url+"/v1/ra/people", agent, map[string]any{"uid": uid, "name": "Kill Test " + uid,
					"org": "RZZ", "evidence": map[string]any{"document_type": "passport", "document_ref": "K" + uid}})
				if st == 0 {
					return // authd is gone
				}
				if st != 201 {
					t.Errorf("register %s: %d", uid, st)
					return
				}
				mu.Lock()
				acked[uid] = &state{registered: true}
				mu.Unlock()
				n.Add(1)
				st, _ = post(client, "PATCH", url+"/v1/ra/people/"+uid, agent, map[string]any{"version": 1, "name": "Kill Edited " + uid, "reason": "edit"})
				if st == 0 {
					return
				}
				if st != 200 {
					t.Errorf("update %s: %d", uid, st)
					return
				}
				mu.Lock()
				acked[uid].updated = true
				mu.Unlock()
				n.Add(1)
			}
		})
	}
	// Kill once the stream is well under way, without warning.
	deadline := time.Now().Add(20 * time.Second)
	for n.Load() < 60 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killed = true
	cmd.Wait()
	close(stop)
	wg.Wait()
	if n.Load() < 20 {
		t.Fatalf("only %d operations acknowledged before the kill", n.Load())
	}

	ctx := context.Background()
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	entries, err := allAudit(st)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.VerifyAudit(ctx); err != nil {
		t.Fatalf("audit chain after the crash: %v", err)
	}
	done := map[string]map[string]int{} // uid → action → count
	for _, e := range entries {
		if e.Outcome == registration.AuditDone && e.SubjectUID != "" {
			if done[e.SubjectUID] == nil {
				done[e.SubjectUID] = map[string]int{}
			}
			done[e.SubjectUID][e.Action]++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for uid, s := range acked {
		if s.registered && done[uid]["register_person"] != 1 {
			t.Errorf("acknowledged registration of %s has %d audit entries", uid, done[uid]["register_person"])
		}
		if s.updated && done[uid]["update_person"] != 1 {
			t.Errorf("acknowledged edit of %s has %d audit entries", uid, done[uid]["update_person"])
		}
	}
	// Everything in the database, acknowledged or not, is whole.
	people, err := st.FindPeople(ctx, registration.PersonFilter{Name: "Kill", Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	more, err := st.FindPeople(ctx, registration.PersonFilter{ODS: "RZZ", Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range append(people, more...) {
		if len(p.UID) != 12 || p.UID[:4] != "5559" || seen[p.UID] {
			continue
		}
		seen[p.UID] = true
		checks, err := st.IdentityChecks(ctx, p.UID)
		if err != nil || len(checks) != 1 {
			t.Errorf("%s is stored without its identity check: %v %v", p.UID, checks, err)
		}
		if done[p.UID]["register_person"] != 1 {
			t.Errorf("%s is stored without its registration entry", p.UID)
		}
		if done[p.UID]["update_person"] != p.Version-1 {
			t.Errorf("%s at version %d has %d edit entries", p.UID, p.Version, done[p.UID]["update_person"])
		}
	}
	for uid, actions := range done {
		if len(uid) == 12 && uid[:4] == "5559" && actions["register_person"] > 0 && !seen[uid] {
			t.Errorf("audit entry for %s, who is not stored", uid)
		}
	}
	for uid := range acked {
		if !seen[uid] {
			t.Errorf("acknowledged registration of %s was lost", uid)
		}
	}
	t.Logf("%d operations acknowledged before SIGKILL; %d people stored; %d audit entries", n.Load(), len(seen), len(entries))
	st.Close()

	// A restarted authd opens the same database and continues the chain.
	url = startAuthd(t, cfg, addr)
	agent, _ = loginToFile(t, url, carolCard, registration.DemoCarolAgentProfile)
	if code, body := post(client, "POST", url+"/v1/ra/people", agent, map[string]any{"uid": "555899999999", "name": "After Restart",
		"org": "RZZ", "evidence": map[string]any{"document_type": "passport", "document_ref": "R1"}}); code != 201 {
		t.Fatalf("register after restart: %d %s", code, body)
	}
	st, err = open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if m, err := st.VerifyAudit(ctx); err != nil || m <= int64(len(entries)) {
		t.Fatalf("audit chain after the restart: %d entries, %v", m, err)
	}
}

func waitReady(t *testing.T, url string, out *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("authd not ready: %v\n%s", err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends a JSON request; status 0 means no answer came.
func post(c *http.Client, method, url, token string, body any) (int, string) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, url, bytes.NewReader(b))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.String()
}

func allAudit(st registration.Store) ([]registration.AuditEntry, error) {
	var out []registration.AuditEntry
	after := int64(0)
	for {
		page, err := st.AuditEntries(context.Background(), registration.AuditFilter{AfterSeq: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return out, nil
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}
