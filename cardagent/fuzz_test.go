package cardagent

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

// The agent reads untrusted input in two places: authd's answers (which a
// network attacker or a broken proxy may shape) and requests on the local
// API. These fuzz targets hold their parsers to safe refusals.

// FuzzDecodeAnswer: any status and body decode without panicking into
// either a valid answer, an *APIError with a well-formed code, or a
// *BadAnswerError.
func FuzzDecodeAnswer(f *testing.F) {
	f.Add(200, 0, []byte(`{"challenge_id":"ab","to_sign":"aGVsbG8=","expires_at":"2026-01-01T00:00:00Z"}`))
	f.Add(200, 1, []byte(`{"session_token":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","expires_at":"2026-01-01T00:00:00Z","user":{"uid":"555000000011","name":"A"},"role_profiles":[{"id":"555000001101"}],"selected_role_profile_id":"555000001101"}`))
	f.Add(200, 2, []byte(`{"session_id":"x","user":{"uid":"1"},"role_profiles":[],"selected_role_profile_id":"9"}`))
	f.Add(401, 2, []byte(`{"error":"session_invalid","message":"no"}`))
	f.Add(502, 3, []byte(`<html>bad gateway</html>`))
	f.Add(204, 3, []byte(``))
	f.Fuzz(func(t *testing.T, status, kind int, body []byte) {
		if status < 100 || status > 599 {
			return
		}
		var out any
		switch kind % 4 {
		case 0:
			out = &ChallengeResponse{}
		case 1:
			out = &LoginResponse{}
		case 2:
			out = &SessionView{}
		default:
			out = nil
		}
		err := decodeAnswer(status, "status", body, out)
		if status >= 300 {
			ae, ok := err.(*APIError)
			if !ok {
				t.Fatalf("status %d: %T %v, want *APIError", status, err, err)
			}
			if !validCode(ae.Code) && ae.Code != "http_error" || len(ae.Message) > 512 || ae.Status != status {
				t.Fatalf("APIError %+v", ae)
			}
			if retryable(err) != (status >= 500 || status == 429) {
				t.Fatalf("retryable(%d) wrong", status)
			}
			return
		}
		if err != nil {
			if _, ok := err.(*BadAnswerError); !ok {
				t.Fatalf("%T %v, want *BadAnswerError", err, err)
			}
			if retryable(err) {
				t.Fatal("a malformed answer is retryable")
			}
			return
		}
		if v, ok := out.(interface{ validate() error }); ok {
			if err := v.validate(); err != nil {
				t.Fatalf("accepted an invalid answer: %v", err)
			}
		}
	})
}

// FuzzParseRoleRequest: the local API's role request is accepted only as
// one strict JSON object with a reader and a 12-digit role profile ID.
func FuzzParseRoleRequest(f *testing.F) {
	f.Add([]byte(`{"reader":"Virtual PCD 00 00","role_profile_id":"555000001101"}`))
	f.Add([]byte(`{"reader":"r","role_profile_id":"555000001101"} {}`))
	f.Add([]byte(`{"reader":"r","role_profile_id":"55500000110١"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rr, err := parseRoleRequest(body)
		if err != nil {
			if rr != (roleRequest{}) {
				t.Fatal("a refused request returned values")
			}
			return
		}
		if rr.Reader == "" || len(rr.Reader) > 256 || len(rr.RoleProfileID) != 12 || strings.Trim(rr.RoleProfileID, "0123456789") != "" {
			t.Fatalf("accepted %+v", rr)
		}
		again, err := json.Marshal(rr)
		if err != nil {
			t.Fatal(err)
		}
		if rr2, err := parseRoleRequest(again); err != nil || rr2 != rr {
			t.Fatalf("round trip: %+v %v", rr2, err)
		}
	})
}

// FuzzParseEventsQuery: any query string is refused or gives a wait
// within bounds.
func FuzzParseEventsQuery(f *testing.F) {
	f.Add("after=3&timeout=30s")
	f.Add("after=18446744073709551615&timeout=5m")
	f.Add("timeout=-1s")
	f.Add("after=1&after=2")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		eq, err := parseEventsQuery(q)
		if err != nil {
			return
		}
		if eq.timeout < 0 || eq.timeout > maxWait {
			t.Fatalf("timeout %v", eq.timeout)
		}
		_ = time.Duration(eq.after)
	})
}

// FuzzPickRole: whatever the user types picks one of the offered role
// profiles, nothing, or is refused.
func FuzzPickRole(f *testing.F) {
	f.Add("1")
	f.Add("555000001102")
	f.Add(" 2 \n")
	f.Add("-1")
	profiles := []RoleProfile{{ID: "555000001101"}, {ID: "555000001102"}}
	f.Fuzz(func(t *testing.T, answer string) {
		id, err := pickRole(answer, profiles)
		if err != nil || id == "" {
			return
		}
		if id != profiles[0].ID && id != profiles[1].ID {
			t.Fatalf("picked %q", id)
		}
	})
}
