package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"slices"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/login"
	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/testkeys"
)

// BenchmarkLogin measures the server side of a card login in process: a
// challenge is issued and stored, then the signed answer is checked
// (proof of possession, certificate path and revocation against CRLs in
// hand, card and owner lookup in SQLite, role profiles) and a session is
// issued (memory store). The client's signing is not timed.
// BenchmarkLoginSignatureOnly is the peer: the one public-key operation
// per login that nothing can cache, the proof-of-possession check.
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

// BenchmarkSessionCheck measures GET-session work (lookup, expiry checks,
// idle-timer touch) on the memory and Redis stores, in parallel, and
// reports the 99th percentile latency.
func BenchmarkSessionCheck(b *testing.B) {
	for _, backend := range []string{"memory", "redis"} {
		b.Run(backend, func(b *testing.B) {
			st := benchStore(b, backend)
			tok, _, err := st.Create(context.Background(), sessions.Session{
				UserID: "555000000011", CardID: "C1", CertSerial: "01", WorkstationID: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			lat := make(chan []time.Duration, 64)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					if _, err := st.Get(context.Background(), tok); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
				}
				lat <- mine
			})
			close(lat)
			var all []time.Duration
			for l := range lat {
				all = append(all, l...)
			}
			slices.Sort(all)
			if len(all) > 0 {
				b.ReportMetric(float64(all[len(all)*99/100].Nanoseconds()), "p99-ns")
			}
		})
	}
}

func benchStore(b *testing.B, backend string) sessions.Store {
	cfg := sessions.Config{Lifetime: 10 * time.Hour, IdleTimeout: 30 * time.Minute, Now: time.Now}
	if backend == "memory" {
		m := sessions.NewMemory(cfg)
		b.Cleanup(func() { m.Close() })
		return m
	}
	client := redisClient(b)
	r := sessions.NewRedis(client, cfg, redisPrefix(b, client))
	b.Cleanup(func() { r.Close() })
	return r
}
