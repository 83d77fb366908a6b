package login_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/login"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/testkeys"
)

func TestChallengeFormat(t *testing.T) {
	tests := []struct {
		name string
		opts []option
		ttl  time.Duration
	}{
		{"default TTL", nil, time.Minute},
		{"short TTL", []option{func(s *settings) { s.ttl = 10 * time.Second }}, 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			w := e.do("POST", "/v1/login/challenge", nil)
			if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			if keys := slices.Sorted(maps.Keys(raw)); !slices.Equal(keys, []string{"challenge_id", "expires_at", "to_sign"}) {
				t.Fatalf("keys %v", keys)
			}
			var c login.Challenge
			if err := json.Unmarshal(w.Body.Bytes(), &c); err != nil {
				t.Fatal(err)
			}
			if !c.ExpiresAt.Equal(start.Add(tt.ttl)) {
				t.Errorf("expires_at %v, want %v", c.ExpiresAt, start.Add(tt.ttl))
			}
			text := string(c.ToSign)
			if !strings.HasPrefix(text, login.ChallengePrefix) {
				t.Fatalf("to_sign %q lacks the prefix", text)
			}
			lines := strings.Split(strings.TrimPrefix(text, login.ChallengePrefix), "\n")
			want := []string{"audience: " + audience, "challenge: " + c.ChallengeID, "nonce: ",
				"expires: " + c.ExpiresAt.UTC().Format(time.RFC3339), ""}
			if len(lines) != len(want) {
				t.Fatalf("to_sign %q: want %d lines", text, len(want)-1)
			}
			for i, w := range want {
				if !strings.HasPrefix(lines[i], w) || (w == "" && lines[i] != "") {
					t.Errorf("to_sign line %d is %q, want it to start %q", i, lines[i], w)
				}
			}
			nonce, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(lines[2], "nonce: "))
			if err != nil || len(nonce) != 32 {
				t.Errorf("nonce %q: %d bytes, %v", lines[2], len(nonce), err)
			}
			other := e.challenge(t)
			if other.ChallengeID == c.ChallengeID || bytes.Equal(other.ToSign, c.ToSign) ||
				lines[2] == strings.Split(string(other.ToSign), "\n")[3] {
				t.Error("two challenges share an id, bytes or nonce")
			}
		})
	}
}

func TestChallengeStoreDown(t *testing.T) {
	e := newEnv(t)
	e.store.failOn("Put")
	got := wantError(t, e.do("POST", "/v1/login/challenge", nil), http.StatusServiceUnavailable, login.CodeUnavailable)
	if strings.Contains(got.Message, errStoreDown.Error()) {
		t.Errorf("message %q shows the cause", got.Message)
	}
}

func TestLoginSucceeds(t *testing.T) {
	tests := []struct {
		name     string
		card     string
		sign     signer
		role     string
		edit     func(e *env, r *login.Request)
		uid      string
		profiles []string
		selected string
	}{
		{"RSA PKCS#1 v1.5", aliceRSA, signPKCS1, "", nil, aliceUID, []string{rpClinician, rpNurse}, ""},
		{"RSA PSS with auto salt", aliceRSA, signPSS(rsa.PSSSaltLengthAuto), "", nil, aliceUID, []string{rpClinician, rpNurse}, ""},
		{"RSA PSS with hash-length salt", aliceRSA, signPSS(rsa.PSSSaltLengthEqualsHash), "", nil, aliceUID, []string{rpClinician, rpNurse}, ""},
		{"ECDSA P-256", aliceEC, signPKCS1, "", nil, aliceUID, []string{rpClinician, rpNurse}, ""},
		{"only current profile is selected", bobRSA, signPKCS1, "", nil, bobUID, []string{rpBob}, rpBob},
		{"role profile asked for", aliceEC, signPKCS1, rpNurse, nil, aliceUID, []string{rpClinician, rpNurse}, rpNurse},
		{"no chain offered", aliceRSA, signPKCS1, "", func(_ *env, r *login.Request) { r.Chain = nil },
			aliceUID, []string{rpClinician, rpNurse}, ""},
		{"answered a second before expiry", aliceRSA, signPKCS1, "", func(e *env, _ *login.Request) { e.clk.Advance(59 * time.Second) },
			aliceUID, []string{rpClinician, rpNurse}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			req := e.request(t, e.challenge(t), tt.card, tt.sign)
			req.RoleProfileID = tt.role
			if tt.edit != nil {
				tt.edit(e, req)
			}
			w := e.post(t, req)
			if w.Code != http.StatusOK || w.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			keys := []string{"expires_at", "role_profiles", "session_token", "user"}
			if tt.selected != "" {
				keys = append(keys, "selected_role_profile_id")
			}
			if got := slices.Sorted(maps.Keys(raw)); !slices.Equal(got, slices.Sorted(slices.Values(keys))) {
				t.Errorf("response keys %v, want %v", got, keys)
			}
			var resp login.Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
				t.Fatal(err)
			}
			if _, err := sessions.ParseToken(resp.SessionToken); err != nil {
				t.Errorf("session token: %v", err)
			}
			if want := e.clk.Now().Add(sessions.DefaultLifetime); !resp.ExpiresAt.Equal(want) {
				t.Errorf("expires_at %v, want %v", resp.ExpiresAt, want)
			}
			name := e.dir.people[tt.uid].Name
			if resp.User != (login.User{UID: tt.uid, Name: name}) {
				t.Errorf("user %+v", resp.User)
			}
			var ids []string
			for _, p := range resp.RoleProfiles {
				ids = append(ids, p.ID)
			}
			if !slices.Equal(ids, tt.profiles) || resp.SelectedRoleProfileID != tt.selected {
				t.Errorf("profiles %v selected %q, want %v %q", ids, resp.SelectedRoleProfileID, tt.profiles, tt.selected)
			}
			// The token is a live session with the same selection.
			g := e.do("GET", "/v1/session", nil, "Authorization: Bearer "+resp.SessionToken)
			var v login.SessionView
			if err := json.Unmarshal(g.Body.Bytes(), &v); g.Code != http.StatusOK || err != nil {
				t.Fatalf("GET /v1/session: %d %s", g.Code, g.Body)
			}
			if v.User.UID != tt.uid || v.SelectedRoleProfileID != tt.selected || v.WorkstationID != workstation {
				t.Errorf("session view %+v", v)
			}
		})
	}
}

func TestLoginResponseProfiles(t *testing.T) {
	e := newEnv(t)
	req := e.request(t, e.challenge(t), aliceRSA, signPKCS1)
	w := e.post(t, req)
	var raw struct {
		RoleProfiles []map[string]json.RawMessage `json:"role_profiles"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || len(raw.RoleProfiles) != 2 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	for i, wantKeys := range [][]string{
		{"activities", "id", "job_role", "job_role_name", "org", "start", "workgroups"},
		{"activities", "end", "id", "job_role", "job_role_name", "org", "start", "workgroups"},
	} {
		if got := slices.Sorted(maps.Keys(raw.RoleProfiles[i])); !slices.Equal(got, wantKeys) {
			t.Errorf("profile %d keys %v, want %v", i, got, wantKeys)
		}
	}
	var resp login.Response
	if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
		t.Fatal(err)
	}
	end := start.AddDate(0, 0, 30)
	want := []login.RoleProfile{{
		ID: rpClinician, ODS: "Y12345", JobRole: "S8000:G8000:R8000", JobRoleName: "Clinical Practitioner Access Role",
		// B0825 includes B0820; B8028 includes B0370, which includes B0820.
		Activities: []string{"B0370", "B0820", "B0825", "B8028"}, Workgroups: []string{"wg-Y12345"}, Start: start.AddDate(0, -1, 0),
	}, {
		ID: rpNurse, ODS: "Y23456", JobRole: "S8000:G8000:R8001", JobRoleName: "Nurse Access Role",
		Activities: []string{"B0264", "B0820"}, Workgroups: []string{"wg-Y23456"}, Start: start.AddDate(0, -1, 0), End: &end,
	}}
	for i := range want {
		g, w := resp.RoleProfiles[i], want[i]
		if g.ID != w.ID || g.ODS != w.ODS || g.JobRole != w.JobRole || g.JobRoleName != w.JobRoleName ||
			!slices.Equal(g.Activities, w.Activities) || !slices.Equal(g.Workgroups, w.Workgroups) ||
			!g.Start.Equal(w.Start) || (g.End == nil) != (w.End == nil) || (g.End != nil && !g.End.Equal(*w.End)) {
			t.Errorf("profile %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// refusal is a login the service must refuse. Each runs in a fresh env:
// setup shapes it, then a challenge is answered with card (default
// Alice's RSA card) and edit may change the request before it is posted.
type refusal struct {
	name   string
	card   string
	opts   []option
	setup  func(e *env)
	edit   func(tb testing.TB, e *env, r *login.Request)
	status int
	code   login.Code
}

func runRefusals(t *testing.T, tests []refusal) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			if tt.setup != nil {
				tt.setup(e)
			}
			card := tt.card
			if card == "" {
				card = aliceRSA
			}
			req := e.request(t, e.challenge(t), card, signPKCS1)
			if tt.edit != nil {
				tt.edit(t, e, req)
			}
			got := wantError(t, e.post(t, req), tt.status, tt.code)
			if sig := base64.StdEncoding.EncodeToString(req.Signature); len(req.Signature) > 8 && strings.Contains(got.Message, sig) {
				t.Errorf("message %q echoes the signature", got.Message)
			}
		})
	}
}

func TestLoginRefusesChallenge(t *testing.T) {
	const unauth = http.StatusUnauthorized
	runRefusals(t, []refusal{
		{name: "unknown", edit: func(_ testing.TB, _ *env, r *login.Request) { r.ChallengeID = strings.Repeat("0f", 16) },
			status: unauth, code: login.CodeChallengeUnknown},
		{name: "reused after a login", edit: func(tb testing.TB, e *env, r *login.Request) {
			if w := e.post(tb, r); w.Code != http.StatusOK {
				tb.Fatalf("first use: %d %s", w.Code, w.Body)
			}
		}, status: unauth, code: login.CodeChallengeUnknown},
		{name: "reused after a failed attempt", edit: func(tb testing.TB, e *env, r *login.Request) {
			bad := *r
			bad.Signature = bytes.Clone(r.Signature)
			bad.Signature[10] ^= 0x40
			wantError(tb, e.post(tb, &bad), unauth, login.CodeBadSignature)
		}, status: unauth, code: login.CodeChallengeUnknown},
		{name: "expired", edit: func(_ testing.TB, e *env, _ *login.Request) { e.clk.Advance(time.Minute) },
			status: unauth, code: login.CodeChallengeUnknown},
		{name: "expired by the service's clock, not the store's", opts: []option{frozenChallengeStore},
			edit:   func(_ testing.TB, e *env, _ *login.Request) { e.clk.Advance(time.Minute) },
			status: unauth, code: login.CodeChallengeUnknown},
		{name: "issued for another audience", edit: func(tb testing.TB, e *env, r *login.Request) {
			other := newEnv(tb, withAudience("https://elsewhere.test"), withChallenges(e.store))
			*r = *e.request(tb, other.challenge(tb), aliceRSA, signPKCS1)
		}, status: unauth, code: login.CodeChallengeUnknown},
		{name: "challenge store down", edit: func(_ testing.TB, e *env, _ *login.Request) { e.store.failOn("Take") },
			status: http.StatusServiceUnavailable, code: login.CodeUnavailable},
	})
}

func TestLoginRefusesProof(t *testing.T) {
	const unauth = http.StatusUnauthorized
	runRefusals(t, []refusal{
		{name: "signed by another card's key", edit: func(tb testing.TB, e *env, r *login.Request) {
			r.Signature = signPKCS1(tb, testkeys.Key(tb, bobRSA), e.challengeBytes(tb, r))
		}, status: unauth, code: login.CodeBadSignature},
		{name: "signature over other bytes", edit: func(tb testing.TB, e *env, r *login.Request) {
			r.Signature = signPKCS1(tb, testkeys.Key(tb, aliceRSA), append(e.challengeBytes(tb, r), '!'))
		}, status: unauth, code: login.CodeBadSignature},
		{name: "signature made for another challenge", edit: func(tb testing.TB, e *env, r *login.Request) {
			r.ChallengeID = e.challenge(tb).ChallengeID
		}, status: unauth, code: login.CodeBadSignature},
		{name: "garbage signature", edit: func(_ testing.TB, _ *env, r *login.Request) { r.Signature = bytes.Repeat([]byte{1}, 256) },
			status: unauth, code: login.CodeBadSignature},
		{name: "ECDSA signature truncated", card: aliceEC, edit: func(_ testing.TB, _ *env, r *login.Request) {
			r.Signature = r.Signature[:len(r.Signature)-1]
		}, status: unauth, code: login.CodeBadSignature},
		{name: "certificate is not DER", edit: func(_ testing.TB, _ *env, r *login.Request) { r.Certificate = []byte("not a certificate") },
			status: unauth, code: login.CodeCertMalformed},
		{name: "chain certificate is not DER", edit: func(_ testing.TB, _ *env, r *login.Request) { r.Chain = [][]byte{{0x30, 0x03, 1, 2, 3}} },
			status: unauth, code: login.CodeCertMalformed},
	})
}

// challengeBytes returns the to_sign of r's challenge and leaves the
// challenge live (it takes it from the store and puts it back), so that a
// case can sign something else.
func (e *env) challengeBytes(tb testing.TB, r *login.Request) []byte {
	tb.Helper()
	c, err := e.store.Take(tb.Context(), r.ChallengeID)
	if err != nil {
		tb.Fatal(err)
	}
	if err := e.store.Put(tb.Context(), *c); err != nil {
		tb.Fatal(err)
	}
	return c.ToSign
}

func TestLoginRefusesCertificate(t *testing.T) {
	const unauth = http.StatusUnauthorized
	notca := func(_ testing.TB, _ *env, r *login.Request) {
		r.Chain = [][]byte{testkeys.Cert(t, "notca").Raw}
	}
	runRefusals(t, []refusal{
		{name: "expired", card: "card-expired", status: unauth, code: login.CodeCertExpired},
		{name: "not yet valid", card: "card-notyetvalid", status: unauth, code: login.CodeCertExpired},
		{name: "revoked RSA", card: "card-revoked", status: unauth, code: login.CodeCertRevoked},
		{name: "revoked EC", card: "card-revoked-ec", status: unauth, code: login.CodeCertRevoked},
		{name: "foreign issuer", card: "card-foreign", status: unauth, code: login.CodeCertUntrusted},
		{name: "tampered certificate", card: "card-tampered", status: unauth, code: login.CodeCertUntrusted},
		{name: "issuer is not a CA", card: "card-via-notca", edit: notca, status: unauth, code: login.CodeCertUntrusted},
		{name: "key usage", card: "card-wrongku", status: unauth, code: login.CodeCertUsage},
		{name: "extended key usage", card: "card-wrongeku", status: unauth, code: login.CodeCertUsage},
		{name: "no card policy", card: "card-nopolicy", status: unauth, code: login.CodeCertUsage},
		{name: "stale CRL", opts: []option{withCRLs("root", "auth-stale")}, status: unauth, code: login.CodeRevocationUnavailable},
		{name: "no CRL for the sub-CA", opts: []option{withCRLs("root")}, status: unauth, code: login.CodeRevocationUnavailable},
	})
}

func TestLoginRefusesRegistration(t *testing.T) {
	const unauth = http.StatusUnauthorized
	setCard := func(st registration.CardStatus) func(e *env) {
		return func(e *env) {
			e.dir.edit(func(d *fakeDirectory) {
				c := d.cards[fingerprint(t, aliceRSA)]
				c.Status = st
				d.cards[c.CertFingerprint] = c
			})
		}
	}
	setPerson := func(st registration.PersonStatus) func(e *env) {
		return func(e *env) {
			e.dir.edit(func(d *fakeDirectory) { p := d.people[aliceUID]; p.Status = st; d.people[aliceUID] = p })
		}
	}
	role := func(id string) func(testing.TB, *env, *login.Request) {
		return func(_ testing.TB, _ *env, r *login.Request) { r.RoleProfileID = id }
	}
	runRefusals(t, []refusal{
		{name: "card not registered", setup: func(e *env) {
			e.dir.edit(func(d *fakeDirectory) { delete(d.cards, fingerprint(t, aliceRSA)) })
		}, status: unauth, code: login.CodeCardNotActive},
		{name: "card suspended", setup: setCard(registration.CardSuspended), status: unauth, code: login.CodeCardNotActive},
		{name: "card cancelled", setup: setCard(registration.CardCancelled), status: unauth, code: login.CodeCardNotActive},
		{name: "certificate names another user than the card's owner", card: danRSA, setup: func(e *env) {
			e.dir.addCard(t, danRSA, aliceUID, registration.CardActive)
		}, status: unauth, code: login.CodeUserUnknown},
		{name: "owner not registered", card: danRSA, setup: func(e *env) {
			e.dir.addCard(t, danRSA, danUID, registration.CardActive)
		}, status: unauth, code: login.CodeUserUnknown},
		{name: "user suspended", setup: setPerson(registration.PersonSuspended), status: unauth, code: login.CodeUserNotActive},
		{name: "user closed", setup: setPerson(registration.PersonClosed), status: unauth, code: login.CodeUserNotActive},
		{name: "ended role profile", edit: role(rpEnded), status: unauth, code: login.CodeRoleProfileInvalid},
		{name: "role profile not started", edit: role(rpFuture), status: unauth, code: login.CodeRoleProfileInvalid},
		{name: "role profile lapsed", edit: role(rpLapsed), status: unauth, code: login.CodeRoleProfileInvalid},
		{name: "another user's role profile", edit: role(rpBob), status: unauth, code: login.CodeRoleProfileInvalid},
		{name: "pending role profile", card: bobRSA, edit: role(rpBobPending), status: unauth, code: login.CodeRoleProfileInvalid},
		{name: "registration store down", setup: func(e *env) { e.dir.edit(func(d *fakeDirectory) { d.err = errStoreDown }) },
			status: http.StatusServiceUnavailable, code: login.CodeUnavailable},
		{name: "session store down", setup: func(e *env) { e.store.failOn("Create") },
			status: http.StatusServiceUnavailable, code: login.CodeUnavailable},
	})
}

// sessionCase is one request to a session endpoint made with the token
// of a fresh login by Alice (no role selected).
type sessionCase struct {
	name   string
	body   string
	setup  func(tb testing.TB, e *env, tok string)
	header func(tok string) string // the Authorization header; "" sends none
	status int
	code   login.Code // "" for success
	check  func(tb testing.TB, e *env, tok string, body []byte)
}

func bearer(tok string) string { return "Bearer " + tok }

func runSessionCases(t *testing.T, method, path string, tests []sessionCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tok := e.login(t, aliceRSA, "").SessionToken
			if tt.setup != nil {
				tt.setup(t, e, tok)
			}
			header := bearer
			if tt.header != nil {
				header = tt.header
			}
			var headers []string
			if h := header(tok); h != "" {
				headers = append(headers, "Authorization: "+h)
			}
			w := e.do(method, path, []byte(tt.body), headers...)
			if tt.code != "" {
				wantError(t, w, tt.status, tt.code)
				return
			}
			if w.Code != tt.status {
				t.Fatalf("got %d %s, want %d", w.Code, w.Body, tt.status)
			}
			if tt.check != nil {
				tt.check(t, e, tok, w.Body.Bytes())
			}
		})
	}
}

// view decodes a SessionView strictly.
func view(tb testing.TB, body []byte) login.SessionView {
	tb.Helper()
	var v login.SessionView
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		tb.Fatalf("%v: %s", err, body)
	}
	return v
}

func getView(tb testing.TB, e *env, tok string) login.SessionView {
	tb.Helper()
	w := e.do("GET", "/v1/session", nil, "Authorization: "+bearer(tok))
	if w.Code != http.StatusOK {
		tb.Fatalf("GET /v1/session: %d %s", w.Code, w.Body)
	}
	return view(tb, w.Body.Bytes())
}

func advance(d time.Duration) func(testing.TB, *env, string) {
	return func(_ testing.TB, e *env, _ string) { e.clk.Advance(d) }
}

// Refusals every session endpoint shares.
func commonSessionRefusals() []sessionCase {
	const unauth = http.StatusUnauthorized
	header := func(h string) func(string) string { return func(string) string { return h } }
	return []sessionCase{
		{name: "no Authorization", header: header(""), status: unauth, code: login.CodeSessionInvalid},
		{name: "Basic scheme", header: func(tok string) string { return "Basic " + tok }, status: unauth, code: login.CodeSessionInvalid},
		{name: "Bearer without token", header: header("Bearer  "), status: unauth, code: login.CodeSessionInvalid},
		{name: "token truncated", header: func(tok string) string { return bearer(tok[:42]) }, status: unauth, code: login.CodeSessionInvalid},
		{name: "token padded", header: func(tok string) string { return bearer(tok + "=") }, status: unauth, code: login.CodeSessionInvalid},
		{name: "token twice", header: func(tok string) string { return bearer(tok + " " + tok) }, status: unauth, code: login.CodeSessionInvalid},
		{name: "unknown token", header: func(string) string {
			tok, _ := sessions.NewToken()
			return bearer(tok.Encode())
		}, status: unauth, code: login.CodeSessionInvalid},
		{name: "after logout", setup: func(tb testing.TB, e *env, tok string) {
			if w := e.do("DELETE", "/v1/session", nil, "Authorization: "+bearer(tok)); w.Code != http.StatusNoContent {
				tb.Fatalf("logout: %d %s", w.Code, w.Body)
			}
		}, status: unauth, code: login.CodeSessionInvalid},
		{name: "session store down", setup: func(_ testing.TB, e *env, _ string) { e.store.failOn("Get", "Delete") },
			status: http.StatusServiceUnavailable, code: login.CodeUnavailable},
	}
}

func TestSessionGet(t *testing.T) {
	const unauth = http.StatusUnauthorized
	runSessionCases(t, "GET", "/v1/session", append(commonSessionRefusals(), []sessionCase{
		{name: "bearer token", status: http.StatusOK, check: func(tb testing.TB, e *env, _ string, body []byte) {
			v := view(tb, body)
			if len(v.SessionID) != 16 || v.WorkstationID != workstation || v.User.UID != aliceUID ||
				len(v.RoleProfiles) != 2 || v.SelectedRoleProfileID != "" {
				tb.Errorf("view %+v", v)
			}
			if now := e.clk.Now(); !v.ExpiresAt.Equal(now.Add(sessions.DefaultLifetime)) ||
				!v.IdleExpiresAt.Equal(now.Add(sessions.DefaultIdleTimeout)) {
				tb.Errorf("expires %v, idle expires %v", v.ExpiresAt, v.IdleExpiresAt)
			}
		}},
		{name: "scheme in lower case and trailing space", header: func(tok string) string { return "bearer " + tok + " " },
			status: http.StatusOK},
		{name: "use slides the idle time-out", setup: advance(20 * time.Minute), status: http.StatusOK,
			check: func(tb testing.TB, e *env, tok string, body []byte) {
				e.clk.Advance(20 * time.Minute)
				if v := getView(tb, e, tok); !v.IdleExpiresAt.Equal(e.clk.Now().Add(sessions.DefaultIdleTimeout)) {
					tb.Errorf("idle expires %v", v.IdleExpiresAt)
				}
			}},
		{name: "idle too long", setup: advance(sessions.DefaultIdleTimeout), status: unauth, code: login.CodeSessionExpired},
		{name: "idle too long, asked again", setup: func(tb testing.TB, e *env, tok string) {
			e.clk.Advance(sessions.DefaultIdleTimeout)
			e.do("GET", "/v1/session", nil, "Authorization: "+bearer(tok))
		}, status: unauth, code: login.CodeSessionInvalid},
		{name: "past the absolute end", setup: func(tb testing.TB, e *env, tok string) {
			for range sessions.DefaultLifetime/(20*time.Minute) - 1 {
				e.clk.Advance(20 * time.Minute)
				e.do("GET", "/v1/session", nil, "Authorization: "+bearer(tok))
			}
			e.clk.Advance(20 * time.Minute)
		}, status: unauth, code: login.CodeSessionExpired},
		{name: "registration store down", setup: func(_ testing.TB, e *env, _ string) {
			e.dir.edit(func(d *fakeDirectory) { d.err = errStoreDown })
		}, status: http.StatusServiceUnavailable, code: login.CodeUnavailable},
	}...))
}

func TestSessionSelectRole(t *testing.T) {
	const forbidden = http.StatusForbidden
	body := func(id string) string { return `{"role_profile_id":"` + id + `"}` }
	selects := func(id string) func(testing.TB, *env, string, []byte) {
		return func(tb testing.TB, e *env, tok string, b []byte) {
			if v := view(tb, b); v.SelectedRoleProfileID != id {
				tb.Errorf("selected %q, want %q", v.SelectedRoleProfileID, id)
			}
			if v := getView(tb, e, tok); v.SelectedRoleProfileID != id {
				tb.Errorf("GET after PUT: selected %q, want %q", v.SelectedRoleProfileID, id)
			}
		}
	}
	tests := commonSessionRefusals()
	for i := range tests {
		tests[i].body = body(rpNurse)
	}
	runSessionCases(t, "PUT", "/v1/session/role", append(tests, []sessionCase{
		{name: "current profile", body: body(rpNurse), status: http.StatusOK, check: selects(rpNurse)},
		{name: "switch profile", body: body(rpClinician), status: http.StatusOK,
			setup: func(tb testing.TB, e *env, tok string) {
				e.do("PUT", "/v1/session/role", []byte(body(rpNurse)), "Authorization: "+bearer(tok))
			}, check: selects(rpClinician)},
		{name: "ended profile", body: body(rpEnded), status: forbidden, code: login.CodeRoleProfileInvalid},
		{name: "profile not started", body: body(rpFuture), status: forbidden, code: login.CodeRoleProfileInvalid},
		{name: "profile lapsed", body: body(rpLapsed), status: forbidden, code: login.CodeRoleProfileInvalid},
		{name: "another user's profile", body: body(rpBob), status: forbidden, code: login.CodeRoleProfileInvalid},
		{name: "empty body", status: http.StatusBadRequest, code: login.CodeBadRequest},
		{name: "unknown field", body: `{"role_profile_id":"` + rpNurse + `","x":1}`, status: http.StatusBadRequest, code: login.CodeBadRequest},
		{name: "trailing data", body: body(rpNurse) + "{}", status: http.StatusBadRequest, code: login.CodeBadRequest},
		{name: "wrong type", body: `{"role_profile_id":100000000002}`, status: http.StatusBadRequest, code: login.CodeBadRequest},
		{name: "too large", body: `{"role_profile_id":"` + strings.Repeat("1", 256<<10) + `"}`,
			status: http.StatusRequestEntityTooLarge, code: login.CodeBadRequest},
		{name: "session expired", body: body(rpNurse), setup: advance(sessions.DefaultIdleTimeout),
			status: http.StatusUnauthorized, code: login.CodeSessionExpired},
		{name: "registration store down", body: body(rpNurse), setup: func(_ testing.TB, e *env, _ string) {
			e.dir.edit(func(d *fakeDirectory) { d.err = errStoreDown })
		}, status: http.StatusServiceUnavailable, code: login.CodeUnavailable},
	}...))
}

func TestSessionLogout(t *testing.T) {
	var other string // a second session of Alice's
	runSessionCases(t, "DELETE", "/v1/session", append(commonSessionRefusals(), []sessionCase{
		{name: "logout", status: http.StatusNoContent, check: func(tb testing.TB, e *env, tok string, body []byte) {
			if len(body) != 0 {
				tb.Errorf("body %q", body)
			}
			wantError(tb, e.do("GET", "/v1/session", nil, "Authorization: "+bearer(tok)),
				http.StatusUnauthorized, login.CodeSessionInvalid)
		}},
		{name: "only this session ends", status: http.StatusNoContent, setup: func(tb testing.TB, e *env, _ string) {
			other = e.login(tb, aliceRSA, "").SessionToken
		}, check: func(tb testing.TB, e *env, _ string, _ []byte) { getView(tb, e, other) }},
		{name: "expired", setup: advance(sessions.DefaultIdleTimeout), status: http.StatusUnauthorized, code: login.CodeSessionInvalid},
	}...))
}
