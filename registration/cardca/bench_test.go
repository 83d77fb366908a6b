package cardca_test

import (
	"context"
	"crypto"
	"testing"
)

// BenchmarkIssueCard: sign (P-256 sub-CA key in memory) and record a new
// card and its certificate in SQLite.
func BenchmarkIssueCard(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	keys := make([]crypto.PublicKey, b.N)
	for i := range keys {
		keys[i] = newKey(b, false)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := f.ca.IssueCard(ctx, "555000000021", keys[i]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCRLUnchanged: the per-request cost of serving the current CRL
// (two reads) when nothing was revoked.
func BenchmarkCRLUnchanged(b *testing.B) {
	f := newFixture(b, nil)
	ctx := context.Background()
	if _, err := f.ca.CRL(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := f.ca.CRL(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
