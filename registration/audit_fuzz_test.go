package registration_test

import (
	"errors"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// FuzzAuditChain: ractl verifies audit entries that come from the network.
// Whatever the entries, the verifier never panics; a chain built with
// ComputeHash verifies, and changing any one field of one entry breaks it
// at that entry.
func FuzzAuditChain(f *testing.F) {
	f.Add("login", "555000000011", "a reason", `{"k":"v"}`, int64(1_700_000_000_000_000), uint8(3), uint8(1))
	f.Add("", "", "", "", int64(0), uint8(0), uint8(0))
	f.Add("register_person", "\x00", "é\u202e", "{", int64(-5), uint8(200), uint8(7))
	f.Fuzz(func(t *testing.T, action, uid, reason, details string, at int64, n, which uint8) {
		count := int(n%6) + 1
		v := registration.NewAuditVerifier()
		prev := registration.ZeroHash
		entries := make([]registration.AuditEntry, count)
		for i := range entries {
			e := registration.AuditEntry{Seq: int64(i + 1), ID: "0123456789abcdef", At: time.UnixMicro(at + int64(i)).UTC(),
				ActorUID: uid, Action: action, Outcome: registration.AuditDone, SubjectUID: uid, Reason: reason,
				Details: details, PrevHash: prev}
			e.Hash = e.ComputeHash()
			prev = e.Hash
			entries[i] = e
			if err := v.Add(e); err != nil {
				t.Fatalf("a well-built chain fails at %d: %v", i+1, err)
			}
		}
		if err := v.Finish(int64(count), prev); err != nil {
			t.Fatalf("Finish: %v", err)
		}
		// Tamper with one field of one entry.
		k := int(which) % count
		bad := append([]registration.AuditEntry(nil), entries...)
		switch which % 4 {
		case 0:
			bad[k].Reason += "x"
		case 1:
			bad[k].ActorUID += "1"
		case 2:
			bad[k].At = bad[k].At.Add(time.Microsecond)
		case 3:
			bad[k].Details += " "
		}
		v = registration.NewAuditVerifier()
		var err error
		for _, e := range bad {
			if err = v.Add(e); err != nil {
				break
			}
		}
		var ce *registration.AuditChainError
		if !errors.As(err, &ce) || ce.Seq != int64(k+1) {
			t.Fatalf("tampered entry %d: got %v", k+1, err)
		}
	})
}
