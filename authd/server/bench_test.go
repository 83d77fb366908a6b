package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"testing"

	"github.com/carespine/spineauth/authd/login"
	"github.com/carespine/spineauth/testkeys"
)

// BenchmarkLogin measures the server side of a card login in process: a
// challenge is issued and stored, then the signed answer is checked
// (proof of possession, certificate path and revocation against CRLs in
// hand, card and owner lookup in SQLite, role profiles) and a session is
// issued (memory store). The client's signing is not timed.
// BenchmarkLoginSignatureOnly is the peer: the one public-key operation
// per login that nothing can cache, the proof-of-possession check.
// Session checks are measured in package sessions (BenchmarkGet).
func BenchmarkLogin(b *testing.B) {
	for _, card := range []string{"card-555000000011-rsa", "card-555000000011-ec"} {
		b.Run(card, func(b *testing.B) {
			r := newRig(b)
			svc := r.srv.Login
			cert, key := testkeys.Cert(b, card), testkeys.Key(b, card)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				ch, err := svc.NewChallenge(ctx)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				sig, err := login.SignChallenge(key, ch.ToSign)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := svc.Login(ctx, &login.Request{ChallengeID: ch.ChallengeID, Certificate: cert.Raw,
					Signature: sig, WorkstationID: "bench"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLoginSignatureOnly(b *testing.B) {
	for _, card := range []string{"card-555000000011-rsa", "card-555000000011-ec"} {
		b.Run(card, func(b *testing.B) {
			cert, key := testkeys.Cert(b, card), testkeys.Key(b, card)
			msg := []byte("spineauth-login-v1\naudience: https://authd.test\n")
			sig, err := login.SignChallenge(key, msg)
			if err != nil {
				b.Fatal(err)
			}
			d := sha256.Sum256(msg)
			for b.Loop() {
				switch k := cert.PublicKey.(type) {
				case *rsa.PublicKey:
					err = rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig)
				case *ecdsa.PublicKey:
					if !ecdsa.VerifyASN1(k, d[:], sig) {
						b.Fatal("verify")
					}
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
