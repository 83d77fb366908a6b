package caserve_test

import (
	"context"
	"crypto"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/carespine/spineauth/testkeys"
)

// BenchmarkOCSPRespond: parse a request, look the serial up in SQLite and
// sign the answer with the sub-CA's P-256 key (no HTTP).
func BenchmarkOCSPRespond(b *testing.B) {
	r := newRig(b, nil)
	cert := issue(b, r.ca)
	req, err := ocsp.CreateRequest(cert, testkeys.Cert(b, "subca"), &ocsp.RequestOptions{Hash: crypto.SHA1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		if _, status := r.svc.Respond(ctx, req); status != "good" {
			b.Fatal(status)
		}
	}
}
