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
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/testkeys"
)

// The registration authority end to end with real binaries: authd
// processes with the card CA, cardagent logging in with SoftHSM tokens,
// and ractl driving the RA API.

// raConfig writes an authd configuration on a fixed loopback address,
// with the store section store (a YAML flow mapping) and, if withCA, a
// card CA whose key is the test PKI's sub-CA key file (the CA puts the
// address in the certificates' CRL and OCSP URLs). ocspResponder, if set,
// overrides the certificates' OCSP URL (a dead one forces the CRL).
func raConfig(t *testing.T, dir, addr, store string, withCA bool, ocspResponder string) string {
	t.Helper()
	pki := testkeys.Dir()
	ca := ""
	if withCA {
		ca = fmt.Sprintf("ca:\n  cert_file: %[1]s/subca.pem\n  key_file: %[1]s/subca.key\n  public_url: http://%[2]s\n", pki, addr)
	}
	if ocspResponder == "" {
		ocspResponder = `""`
	}
	y := fmt.Sprintf(`listen: %[1]s
audience: https://authd.test
store: %[2]s
pdp: {decision_log: %[3]s/decisions.db}
sessions: {backend: memory}
log: {level: debug, format: text}
pki:
  roots: [%[4]s/root.pem]
  intermediates: [%[4]s/subca.pem]
  crls: [%[4]s/root.crl, %[4]s/auth.crl]
  revocation:
    mode: hard-fail
    network: true
    ocsp_responder: %[5]s
    timeout: 2s
  login:
    key_usage: [digitalSignature]
    ext_key_usage: [1.3.6.1.5.5.7.3.2]
    required_policies: [1.3.6.1.4.1.58888.1.1.1]
%[6]s`, addr, store, dir, pki, ocspResponder, ca)
	path := filepath.Join(dir, "authd.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// sqliteStore is the store section for a SQLite file.
func sqliteStore(db string) string { return "{path: " + db + "}" }

// tokenSeq keeps token labels unique within the test process (-count).
var tokenSeq atomic.Int64

// makeToken makes a SoftHSM token for a test PKI card, or a blank one when
// fixture is empty, and returns its label: base and a number unique in
// this process. Only subprocesses (cardagent, ractl) open the module.
func makeToken(t *testing.T, base, fixture string) string {
	t.Helper()
	label := fmt.Sprintf("%s-%d", base, tokenSeq.Add(1))
	env := &softhsm.Env{Dir: filepath.Dir(hsmConf), ConfPath: hsmConf}
	pin, _ := pkcs11.NewPIN(testPIN)
	so, _ := pkcs11.NewPIN(testSOPIN)
	var err error
	if fixture == "" {
		err = env.InitToken(context.Background(), label, pin, so)
	} else {
		err = env.CreateToken(context.Background(), label, pin, so,
			testkeys.PEM(t, fixture+".key"), testkeys.PEM(t, fixture+".pem"))
	}
	if err != nil {
		t.Fatal(err)
	}
	return label
}

// runRactl runs the ractl binary with a session token file and returns
// stdout, stderr and the exit code.
func runRactl(t *testing.T, url, tokenFile string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir, "ractl"), append([]string{"--authd", url, "--token-file", tokenFile}, args...)...)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+hsmConf)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func mustRactl(t *testing.T, url, tokenFile string, args ...string) string {
	t.Helper()
	out, errOut, code := runRactl(t, url, tokenFile, args...)
	if code != 0 {
		t.Fatalf("ractl %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// loginToFile logs in with a card token through cardagent, selecting a
// role profile, and writes the session token to a file.
func loginToFile(t *testing.T, url, token, roleProfile string) (string, string) {
	t.Helper()
	extra := []string{}
	if roleProfile != "" {
		extra = append(extra, "--role-profile", roleProfile)
	}
	resp, stderr, err := cardagentLogin(t, url, token, testPIN, extra...)
	if err != nil {
		t.Fatalf("cardagent login with %s: %v\n%s", token, err, stderr)
	}
	tok := resp["session_token"].(string)
	file := filepath.Join(t.TempDir(), token+".tok")
	if err := os.WriteFile(file, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	return tok, file
}

func TestRAEndToEnd(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "authd.db")
	seedDB(t, db, time.Now())
	addr := freeAddr(t)
	url := startAuthd(t, raConfig(t, dir, addr, sqliteStore(db), true, ""), addr)
	// A second node on the same database whose OCSP responder is
	// unreachable: it must establish revocation from the CRL.
	dir2 := t.TempDir()
	addr2 := freeAddr(t)
	url2 := startAuthd(t, raConfig(t, dir2, addr2, sqliteStore(db), false, "http://"+freeAddr(t)+"/v1/pki/ocsp"), addr2)

	carolCard := makeToken(t, "ra-carol", "card-555000000013-rsa")
	danCard := makeToken(t, "ra-dan", "card-555000000014-ec")
	niaCard := makeToken(t, "ra-nia", "")
	_, agent := loginToFile(t, url, carolCard, registration.DemoCarolAgentProfile)
	_, carolSponsor := loginToFile(t, url, carolCard, registration.DemoCarolSponsorProfile)
	_, sponsor := loginToFile(t, url, danCard, registration.DemoDanSponsorProfile)

	// Register, with the identity evidence checked.
	const nia = "555000000600"
	out := mustRactl(t, url, agent, "person", "register", "--uid", nia, "--name", "Nia Roberts", "--org", "RZZ",
		"--doc-type", "passport", "--doc-ref", "P12345678", "--reason", "new starter")
	if !strings.Contains(out, "identity: passport P12345678 checked by 555000000013") {
		t.Fatalf("register: %s", out)
	}
	// Request a role profile; the requester cannot approve it, a sponsor can.
	out = mustRactl(t, url, agent, "--json", "role", "request", nia, "--org", "RZZ", "--job-role", "S8000:G8000:R8001", "--reason", "ward 7")
	var rp struct{ ID, Status string }
	if err := json.Unmarshal([]byte(out), &rp); err != nil || rp.Status != "pending" {
		t.Fatalf("request: %v %s", err, out)
	}
	if _, errOut, code := runRactl(t, url, carolSponsor, "role", "approve", rp.ID); code != 1 || !strings.Contains(errOut, "refused: approval_by_requester") {
		t.Fatalf("self-approval: exit %d %s", code, errOut)
	}
	if _, errOut, code := runRactl(t, url, agent, "role", "request", "555000000013", "--org", "RZZ", "--job-role", "S8000:G8000:R8001", "--reason", "me"); code != 1 || !strings.Contains(errOut, "refused: self_grant_forbidden") {
		t.Fatalf("self-grant: exit %d %s", code, errOut)
	}
	mustRactl(t, url, sponsor, "role", "approve", rp.ID, "--reason", "confirmed with the ward manager")

	// Issue a card on a fresh token: the key is made on the token, the
	// certificate comes from authd's CA and is written back.
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte(testPIN), 0o600); err != nil {
		t.Fatal(err)
	}
	out = mustRactl(t, url, agent, "--json", "card", "issue", nia, "--module", hsmModule, "--token", niaCard, "--pin-file", pinFile)
	var issued struct {
		Card struct{ ID, UID string } `json:"card"`
	}
	if err := json.Unmarshal([]byte(out), &issued); err != nil || issued.Card.UID != nia {
		t.Fatalf("issue: %v %s", err, out)
	}

	// The new user logs in with it. (Not yet on the second node: a CRL
	// it had cached would stand until its next update.)
	niaTok, _ := loginToFile(t, url, niaCard, "")
	if st, code := call(t, "GET", url+"/v1/session", niaTok, nil, nil); st != 200 {
		t.Fatalf("new user's session: %d %s", st, code)
	}

	// Wrong PINs, then an unlock: authorised and audited by authd, the PIN
	// reset on the card with its SO PIN; the new PIN logs in.
	for range 2 {
		if _, stderr, err := cardagentLogin(t, url, niaCard, "999999"); err == nil || !strings.Contains(stderr, "PIN") {
			t.Fatalf("wrong PIN: %v %s", err, stderr)
		}
	}
	soFile, newPINFile := filepath.Join(t.TempDir(), "so"), filepath.Join(t.TempDir(), "newpin")
	if err := os.WriteFile(soFile, []byte(testSOPIN), 0o600); err != nil {
		t.Fatal(err)
	}
	const newPIN = "135790"
	if err := os.WriteFile(newPINFile, []byte(newPIN), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runRactl(t, url, sponsor, "card", "unlock", issued.Card.ID, "--reason", "forgot PIN",
		"--module", hsmModule, "--token", niaCard, "--so-pin-file", soFile, "--new-pin-file", newPINFile); code != 1 || !strings.Contains(errOut, "refused: activity_not_permitted") {
		t.Fatalf("unlock by a sponsor: exit %d %s", code, errOut)
	}
	out = mustRactl(t, url, agent, "card", "unlock", issued.Card.ID, "--reason", "forgot PIN",
		"--module", hsmModule, "--token", niaCard, "--so-pin-file", soFile, "--new-pin-file", newPINFile)
	if !strings.Contains(out, "unlocked") {
		t.Fatalf("unlock: %s", out)
	}
	if _, stderr, err := cardagentLogin(t, url, niaCard, testPIN); err == nil {
		t.Fatalf("the old PIN still works after the reset: %s", stderr)
	}
	if _, stderr, err := cardagentLogin(t, url, niaCard, newPIN); err != nil {
		t.Fatalf("login with the new PIN: %v %s", err, stderr)
	}

	// Cancel: revoked, and the new user's sessions end at once.
	out = mustRactl(t, url, agent, "card", "cancel", issued.Card.ID, "--reason", "card lost", "--revocation-reason", "keyCompromise")
	if !strings.Contains(out, "sessions ended: 2") {
		t.Fatalf("cancel: %s", out)
	}
	if st, code := call(t, "GET", url+"/v1/session", niaTok, nil, nil); st != 401 || code != "session_invalid" {
		t.Fatalf("the cancelled card's session: %d %s", st, code)
	}
	// A fresh login is refused as revoked: through authd's OCSP responder
	// on the first node, through its CRL on the second.
	for _, node := range []string{url, url2} {
		_, stderr, err := cardagentLogin(t, node, niaCard, newPIN)
		if err == nil || !strings.Contains(stderr, "cert_revoked") {
			t.Fatalf("login at %s after cancellation: %v %s; want cert_revoked", node, err, stderr)
		}
	}
	if !metricAt(t, url, `authd_ocsp_responses_total{status="revoked"}`) {
		t.Error("the first node's refusal did not come through an OCSP revoked answer")
	}

	// The history tells the story, and every step is in the audit chain
	// (logins included).
	out = mustRactl(t, url, agent, "person", "history", nia)
	for _, want := range []string{"register_person done by 555000000013", "request_role_profile done",
		"approve_role_profile denied by 555000000013", "approve_role_profile done by 555000000014",
		"issue_card done", "login done by " + nia, "unlock_card denied by 555000000014", "unlock_card done by 555000000013",
		"cancel_card done by 555000000013", "login denied by " + nia} {
		if !strings.Contains(out, want) {
			t.Errorf("history lacks %q:\n%s", want, out)
		}
	}
	st, err := registration.OpenSQLite(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.VerifyAudit(context.Background()); err != nil || n < 10 {
		t.Fatalf("audit chain: %d entries, %v", n, err)
	}
}

func metricAt(t *testing.T, url, prefix string) bool {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return strings.Contains(buf.String(), prefix)
}
