package registration_test

import (
	"context"
	"testing"

	"github.com/carespine/spineauth/registration"
)

// BenchmarkAuditAppend: one audit entry appended to the chain in its own
// transaction (a login's cost on SQLite), and the chain verified.
func BenchmarkAuditAppend(b *testing.B) {
	ctx := context.Background()
	s, err := registration.OpenSQLite(ctx, b.TempDir()+"/bench.db")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e := registration.AuditEntry{ActorUID: "555000000011", Action: "login", SubjectUID: "555000000011",
		Target: "C0123456789AB", Details: `{"session":"0123456789abcdef","workstation":"ws-01"}`}
	b.Run("Append", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.AppendAudit(ctx, e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("VerifyPerEntry", func(b *testing.B) {
		head, err := s.AuditHead(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.VerifyAudit(ctx); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(head.Seq), "ns/entry")
	})
}
