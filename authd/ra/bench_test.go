package ra_test

import (
	"fmt"
	"testing"

	"github.com/carespine/spineauth/registration"
)

// BenchmarkRA: RA API calls end to end in process over HTTP on loopback
// (session, policy, store reads, the audited write or read), on SQLite.
func BenchmarkRA(b *testing.B) {
	r := newRig(b)
	agent := r.session(carol, registration.DemoCarolAgentProfile, "CARD-CAROL")
	b.Run("RegisterPerson", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			body := register(fmt.Sprintf("Bench Person %d", i), "RZZ")
			body["uid"] = fmt.Sprintf("5557%08d", i)
			if a := r.call("POST", "/v1/ra/people", agent, body); a.status != 201 {
				b.Fatalf("%d %s", a.status, a.raw)
			}
		}
	})
	b.Run("ViewPerson", func(b *testing.B) {
		for b.Loop() {
			if a := r.call("GET", "/v1/ra/people/"+bob, agent, nil); a.status != 200 {
				b.Fatalf("%d %s", a.status, a.raw)
			}
		}
	})
	b.Run("RefusedByPolicy", func(b *testing.B) {
		for b.Loop() {
			if a := r.call("POST", "/v1/ra/people/"+carol+"/role-profiles", agent,
				map[string]any{"org": "RZZ", "job_role": "S8000:G8000:R8001", "reason": "me"}); a.status != 403 {
				b.Fatalf("%d %s", a.status, a.raw)
			}
		}
	})
}
