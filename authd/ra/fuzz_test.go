package ra_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/carespine/spineauth/registration"
)

// FuzzRARequest sends arbitrary bodies and path values to every RA
// endpoint as an RA agent: whatever comes in, the answer is JSON, never a
// panic or a 500, and a refusal carries an error code.
func FuzzRARequest(f *testing.F) {
	routes := []struct{ method, pattern string }{
		{"POST", "/v1/ra/people"},
		{"GET", "/v1/ra/people?name=%s"},
		{"GET", "/v1/ra/people/%s"},
		{"PATCH", "/v1/ra/people/%s"},
		{"GET", "/v1/ra/people/%s/history"},
		{"POST", "/v1/ra/people/%s/role-profiles"},
		{"GET", "/v1/ra/role-profiles/pending"},
		{"POST", "/v1/ra/role-profiles/%s/approve"},
		{"POST", "/v1/ra/role-profiles/%s/end"},
		{"POST", "/v1/ra/people/%s/cards"},
		{"POST", "/v1/ra/cards/%s/renew"},
		{"POST", "/v1/ra/cards/%s/cancel"},
		{"POST", "/v1/ra/cards/%s/unlock"},
		{"GET", "/v1/ra/audit?after=%s"},
	}
	f.Add(uint8(0), "", []byte(`{"name":"A B","org":"RZZ","evidence":{"document_type":"passport","document_ref":"P1"}}`))
	f.Add(uint8(3), "555000000012", []byte(`{"version":1,"name":"X","reason":"r"}`))
	f.Add(uint8(5), "555000000012", []byte(`{"org":"RZZ","job_role":"S8000:G8000:R8001","reason":"r","activities":["B9999"]}`))
	f.Add(uint8(7), registration.DemoDanPendingProfile, []byte(`{}`))
	f.Add(uint8(9), "555000000012", []byte(`{"public_key":"AAAA"}`))
	f.Add(uint8(11), "C0", []byte(`{"reason":"x","revocation_reason":"nope"}`))
	f.Add(uint8(13), "-1", []byte(nil))
	f.Add(uint8(2), "../../v1/session", []byte(`[`))

	r := newRig(f)
	token := r.session("555000000013", registration.DemoCarolAgentProfile, "CARD-CAROL")
	f.Fuzz(func(t *testing.T, route uint8, value string, body []byte) {
		rt := routes[int(route)%len(routes)]
		path := strings.Replace(rt.pattern, "%s", url.PathEscape(value), 1)
		if strings.Contains(rt.pattern, "?") {
			path = strings.Replace(rt.pattern, "%s", url.QueryEscape(value), 1)
		}
		req, err := http.NewRequest(rt.method, r.srv.URL+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
				return // the mux's own answer to a path that is no route
			}
			t.Fatalf("%s %s: %d, not JSON: %v", rt.method, path, resp.StatusCode, err)
		}
		if resp.StatusCode >= 500 && resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d %v", rt.method, path, resp.StatusCode, m)
		}
		if resp.StatusCode >= 400 {
			if code, _ := m["error"].(string); code == "" {
				t.Fatalf("%s %s: %d without an error code: %v", rt.method, path, resp.StatusCode, m)
			}
		}
	})
}
