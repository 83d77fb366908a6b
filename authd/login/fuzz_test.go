package login_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/carespine/spineauth/authd/login"
)

// The login API parses untrusted input: the JSON bodies of POST /v1/login
// and PUT /v1/session/role, and the Authorization header. These tests and
// fuzz targets hold it to strict decoding and safe refusals.

// TestLoginBadRequest covers each rule of Request.validate. A request
// refused as malformed does not use up its challenge.
func TestLoginBadRequest(t *testing.T) {
	big := func(n int) []byte { return bytes.Repeat([]byte{0x30}, n) }
	tests := []struct {
		name string
		edit func(r *login.Request)
	}{
		{"challenge_id empty", func(r *login.Request) { r.ChallengeID = "" }},
		{"challenge_id short", func(r *login.Request) { r.ChallengeID = r.ChallengeID[:31] }},
		{"challenge_id long", func(r *login.Request) { r.ChallengeID += "0" }},
		{"challenge_id not hex", func(r *login.Request) { r.ChallengeID = "zz" + r.ChallengeID[2:] }},
		{"certificate empty", func(r *login.Request) { r.Certificate = nil }},
		{"certificate too long", func(r *login.Request) { r.Certificate = big(16<<10 + 1) }},
		{"chain too long", func(r *login.Request) { r.Chain = slices.Repeat(r.Chain[:1], 9) }},
		{"chain certificate empty", func(r *login.Request) { r.Chain = append(r.Chain, nil) }},
		{"chain certificate too long", func(r *login.Request) { r.Chain = [][]byte{big(16<<10 + 1)} }},
		{"signature empty", func(r *login.Request) { r.Signature = nil }},
		{"signature too long", func(r *login.Request) { r.Signature = big(2<<10 + 1) }},
		{"workstation_id empty", func(r *login.Request) { r.WorkstationID = "" }},
		{"workstation_id too long", func(r *login.Request) { r.WorkstationID = strings.Repeat("w", 65) }},
		{"workstation_id with a space", func(r *login.Request) { r.WorkstationID = "ws 1" }},
		{"workstation_id with markup", func(r *login.Request) { r.WorkstationID = "<script>" }},
		{"workstation_id not ASCII", func(r *login.Request) { r.WorkstationID = "wsé" }},
		{"role_profile_id short", func(r *login.Request) { r.RoleProfileID = rpNurse[1:] }},
		{"role_profile_id not digits", func(r *login.Request) { r.RoleProfileID = "10000000000x" }},
	}
	e := newEnv(t)
	req := e.request(t, e.challenge(t), aliceRSA, signPKCS1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := *req
			bad.Chain = slices.Clone(req.Chain)
			tt.edit(&bad)
			got := wantError(t, e.post(t, &bad), http.StatusBadRequest, login.CodeBadRequest)
			for _, echo := range []string{"<script>", "wsé", "10000000000x"} {
				if strings.Contains(got.Message, echo) {
					t.Errorf("message %q echoes the request", got.Message)
				}
			}
		})
	}
	if w := e.post(t, req); w.Code != http.StatusOK {
		t.Fatalf("the challenge did not survive malformed requests: %d %s", w.Code, w.Body)
	}
}

// marker is request content that no error message may repeat.
const marker = "SECRETMARKER"

// TestLoginStrictJSON: the body of POST /v1/login is decoded strictly and
// bounded; a refused body does not use up the challenge it names.
func TestLoginStrictJSON(t *testing.T) {
	e := newEnv(t)
	req := e.request(t, e.challenge(t), aliceRSA, signPKCS1)
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	base := string(b)
	open := base[:len(base)-1] // without the closing brace
	set := func(field, value string) string {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		m[field] = json.RawMessage(value)
		out, _ := json.Marshal(m)
		return string(out)
	}
	tests := []struct {
		name   string
		body   string
		status int
		msg    string // the message must contain this
	}{
		{"empty body", "", http.StatusBadRequest, "empty or truncated"},
		{"whitespace only", " \r\n\t", http.StatusBadRequest, "empty or truncated"},
		{"not JSON", marker, http.StatusBadRequest, "syntax error"},
		{"truncated", base[:len(base)/2], http.StatusBadRequest, "empty or truncated"},
		{"top-level array", `["` + marker + `"]`, http.StatusBadRequest, "wrong type"},
		{"top-level string", `"` + marker + `"`, http.StatusBadRequest, "wrong type"},
		{"null", "null", http.StatusBadRequest, "challenge_id"},
		{"unknown field", open + `,"extra":"` + marker + `"}`, http.StatusBadRequest, "unknown field"},
		{"trailing object", base + `{}`, http.StatusBadRequest, "trailing data"},
		{"trailing garbage", base + " " + marker, http.StatusBadRequest, "trailing data"},
		{"two requests", base + "\n" + base, http.StatusBadRequest, "trailing data"},
		{"challenge_id a number", set("challenge_id", "12345"), http.StatusBadRequest, "field challenge_id has the wrong type"},
		{"chain a string", set("chain", `"`+marker+`"`), http.StatusBadRequest, "field chain has the wrong type"},
		{"chain of numbers", set("chain", `[1,2]`), http.StatusBadRequest, "wrong type"},
		{"certificate not base64", set("certificate", `"`+marker+`!!"`), http.StatusBadRequest, "base64"},
		{"signature not base64", set("signature", `"`+marker+`*"`), http.StatusBadRequest, "base64"},
		{"signature an object", set("signature", `{"a":"`+marker+`"}`), http.StatusBadRequest, "field signature has the wrong type"},
		{"role_profile_id an array", set("role_profile_id", `["`+marker+`"]`), http.StatusBadRequest, "wrong type"},
		{"workstation_id a bool", set("workstation_id", "true"), http.StatusBadRequest, "wrong type"},
		{"too large", `{"challenge_id":"` + strings.Repeat("a", 256<<10) + `"}`, http.StatusRequestEntityTooLarge, "too large"},
		{"too large chain", set("chain", `["`+strings.Repeat("MIIB", 64<<10)+`"]`), http.StatusRequestEntityTooLarge, "too large"},
	}
	sig := base64.StdEncoding.EncodeToString(req.Signature)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := wantError(t, e.do("POST", "/v1/login", []byte(tt.body)), tt.status, login.CodeBadRequest)
			if !strings.Contains(got.Message, tt.msg) {
				t.Errorf("message %q, want it to mention %q", got.Message, tt.msg)
			}
			if strings.Contains(got.Message, marker) || strings.Contains(got.Message, sig[:16]) {
				t.Errorf("message %q echoes the request", got.Message)
			}
		})
	}
	if w := e.post(t, req); w.Code != http.StatusOK {
		t.Fatalf("the challenge did not survive malformed bodies: %d %s", w.Code, w.Body)
	}
}

// TestErrorsDoNotEchoInput: refusals must not repeat what the client sent
// (it may hold a token or signature). bug names how each case once leaked.
func TestErrorsDoNotEchoInput(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		body   string
		bug    string
	}{
		{"unknown field name on login", "POST", "/v1/login", `{"` + marker + `":1}`,
			"safeJSONError returns the decoder's `json: unknown field \"<name>\"`, which repeats the request"},
		{"unknown field name on role", "PUT", "/v1/session/role", `{"` + marker + `":1}`,
			"as above, through the same decode"},
		{"role_profile_id on role", "PUT", "/v1/session/role", `{"role_profile_id":"<` + marker + `>"}`,
			"SelectRole puts the unvalidated id into its message"},
		{"trailing data on role", "PUT", "/v1/session/role", `{"role_profile_id":"100000000002"}` + marker, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			tok := e.login(t, aliceRSA, "").SessionToken
			w := e.do(tt.method, tt.path, []byte(tt.body), "Authorization: "+bearer(tok))
			var got apiError
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code < 400 || got.Error == "" {
				t.Fatalf("not a refusal: %d %s", w.Code, w.Body)
			}
			echoed := strings.Contains(got.Message, marker) || strings.Contains(e.logs.String(), marker)
			if echoed {
				t.Errorf("message or log echoes the request (%s): %q", tt.bug, got.Message)
			}
		})
	}
}

// TestMain shortens the minimisation of new inputs from the default
// minute to a few seconds unless -fuzzminimizetime is given: the seeds of
// FuzzLoginRequest are whole signed requests of a few KB, and minimising
// each new input of that size left the workers idle for most of a short
// -fuzztime run.
func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.fuzzminimizetime" })
	if !given {
		if err := flag.Set("test.fuzzminimizetime", "3s"); err != nil {
			panic(err)
		}
	}
	os.Exit(m.Run())
}

// liveChallenge in a fuzzed body is replaced by the id of a fresh, live
// challenge, so that inputs reach certificate parsing and proof checking.
const liveChallenge = "ffffffffffffffffffffffffffffffff"

// refusalStatus is the HTTP status of each code a fuzzed login may get.
var refusalStatus = map[login.Code][]int{
	login.CodeBadRequest:            {http.StatusBadRequest, http.StatusRequestEntityTooLarge},
	login.CodeChallengeUnknown:      {http.StatusUnauthorized},
	login.CodeBadSignature:          {http.StatusUnauthorized},
	login.CodeCertUntrusted:         {http.StatusUnauthorized},
	login.CodeCertExpired:           {http.StatusUnauthorized},
	login.CodeCertRevoked:           {http.StatusUnauthorized},
	login.CodeCertUsage:             {http.StatusUnauthorized},
	login.CodeCertMalformed:         {http.StatusUnauthorized},
	login.CodeRevocationUnavailable: {http.StatusUnauthorized},
	login.CodeCardNotActive:         {http.StatusUnauthorized},
	login.CodeUserUnknown:           {http.StatusUnauthorized},
	login.CodeUserNotActive:         {http.StatusUnauthorized},
	login.CodeRoleProfileInvalid:    {http.StatusUnauthorized},
}

func FuzzLoginRequest(f *testing.F) {
	e := newEnv(f, discardLogs)
	for _, card := range []string{aliceRSA, aliceEC, "card-revoked"} {
		req := e.request(f, e.challenge(f), card, signPKCS1)
		req.ChallengeID = liveChallenge
		req.RoleProfileID = rpNurse
		b, _ := json.Marshal(req)
		f.Add(b)
		req.Chain = nil
		b, _ = json.Marshal(req)
		f.Add(append(b, "{}"...))
	}
	for _, s := range []string{"", "{}", "null", "[]", `{"challenge_id":"` + liveChallenge + `"}`,
		`{"challenge_id":"` + liveChallenge + `","certificate":"MAA=","chain":["MAA="],"signature":"AQ==","workstation_id":"w"}`,
		`{"challenge_id":"` + liveChallenge + `","certificate":"MAA=","signature":"AQ==","workstation_id":"w","x":1}`,
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		var id string
		if bytes.Contains(body, []byte(liveChallenge)) {
			id = e.challenge(t).ChallengeID
			body = bytes.ReplaceAll(body, []byte(liveChallenge), []byte(id))
			defer e.store.Take(ctx, id) // whatever happened, drop it
		}
		w := httptest.NewRecorder()
		e.mux.ServeHTTP(w, httptest.NewRequest("POST", "/v1/login", bytes.NewReader(body)))
		if w.Code == http.StatusOK {
			t.Fatalf("a fuzzed login succeeded: %s", w.Body)
		}
		var got apiError
		dec := json.NewDecoder(w.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil || got.Message == "" {
			t.Fatalf("status %d: not a JSON refusal (%v)", w.Code, err)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("Content-Type %q", ct)
		}
		if st, ok := refusalStatus[got.Error]; !ok || !slices.Contains(st, w.Code) {
			t.Fatalf("unexpected refusal %d %s: %s", w.Code, got.Error, got.Message)
		}
	})
}

func FuzzBearerToken(f *testing.F) {
	e := newEnv(f, discardLogs)
	tok := e.login(f, aliceRSA, "").SessionToken
	// "TOKEN" in a fuzzed header stands for the real token.
	const placeholder = "TOKEN"
	for _, s := range []string{"Bearer TOKEN", "bearer TOKEN ", "BEARER  TOKEN\t", "Bearer\tTOKEN", "Bearer TOKEN=",
		"Bearer TOKENTOKEN", "Basic TOKEN", "TOKEN", "", "Bearer ", "Bearer " + strings.Repeat("A", 43),
		"Bearer " + strings.Repeat("_", 42) + "8", "Bearer \x85TOKEN\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		header = strings.ReplaceAll(header, placeholder, tok)
		r := httptest.NewRequest("GET", "/v1/session", nil)
		r.Header["Authorization"] = []string{header}
		w := httptest.NewRecorder()
		e.mux.ServeHTTP(w, r)
		scheme, rest := "", ""
		if len(header) > len("Bearer ") {
			scheme, rest = header[:len("Bearer ")], header[len("Bearer "):]
		}
		real := strings.EqualFold(scheme, "Bearer ") && strings.TrimSpace(rest) == tok
		switch {
		case w.Code == http.StatusOK && !real:
			t.Fatalf("a session for header %q", header)
		case w.Code == http.StatusOK:
			return
		case real:
			t.Fatalf("the real token was refused: %d %s", w.Code, w.Body)
		}
		var got apiError
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusUnauthorized ||
			got.Error != login.CodeSessionInvalid {
			t.Fatalf("header %q: %d %s", header, w.Code, w.Body)
		}
		if strings.Contains(got.Message, tok) || (len(header) > 8 && strings.Contains(got.Message, header)) {
			t.Fatalf("message %q echoes the header", got.Message)
		}
	})
}
