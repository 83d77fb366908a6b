package registration_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/carespine/spineauth/registration"
)

// TestAuditTamperDetected changes, deletes and reorders audit rows behind
// the store's back, through SQL, and expects VerifyAudit to name the first
// bad row each time.
func TestAuditTamperDetected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name    string
		sql     string
		wantSeq int64
	}{
		{"reason changed", `UPDATE audit_log SET reason = 'nothing to see' WHERE seq = 3`, 3},
		{"actor changed, hash recomputed without the chain", `UPDATE audit_log SET actor_uid = '555000000099' WHERE seq = 2`, 2},
		{"row deleted", `DELETE FROM audit_log WHERE seq = 4`, 4},
		{"tail deleted", `DELETE FROM audit_log WHERE seq = 5`, 5},
		{"head rewound", `UPDATE audit_head SET seq = 4`, 4},
		{"head deleted", `DELETE FROM audit_head`, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, path := openTemp(t)
			for i := range 5 {
				_, err := s.AppendAudit(ctx, registration.AuditEntry{Action: "login", ActorUID: "555000000011",
					Reason: "entry " + string(rune('a'+i))})
				if err != nil {
					t.Fatal(err)
				}
			}
			if n, err := s.VerifyAudit(ctx); err != nil || n != 5 {
				t.Fatalf("before tampering: %d, %v", n, err)
			}
			db, err := sql.Open("sqlite", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			_, err = s.VerifyAudit(ctx)
			var ce *registration.AuditChainError
			if !errors.As(err, &ce) || ce.Seq != tc.wantSeq {
				t.Fatalf("VerifyAudit = %v, want the chain broken at seq %d", err, tc.wantSeq)
			}
		})
	}
}
