package server_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"syscall"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/login"
	"github.com/carespine/spineauth/authd/pdp"
	"github.com/carespine/spineauth/registration"
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

// BenchmarkEvaluate measures one PDP decision in process, as the HTTP
// handler makes it after decoding: session lookup (memory), role profile
// and patient facts (SQLite), the input document, the policy, and the
// decision log entry. Its peer, BenchmarkEvaluatePolicyOnly, is the policy
// evaluation alone on the same input documents: what OPA's own server
// does per decision besides HTTP.
func BenchmarkEvaluate(b *testing.B) {
	r, reqs := benchDecisions(b)
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := 0
		for pb.Next() {
			if resp := r.srv.PDP.Evaluate(ctx, "bench", reqs[i%len(reqs)]); resp.Context.ID == "" {
				b.Error("no decision id")
				return
			}
			i++
		}
	})
}

func BenchmarkEvaluatePolicyOnly(b *testing.B) {
	r, reqs := benchDecisions(b)
	inputs := make([]any, len(reqs))
	for i, req := range reqs {
		in, err := r.srv.PDP.Input(context.Background(), req)
		if err != nil {
			b.Fatal(err)
		}
		inputs[i] = in.Value() // as the PDP passes it
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		i := 0
		for pb.Next() {
			if _, err := r.srv.Policy().Eval(ctx, pdp.AccessQuery, inputs[i%len(inputs)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// benchDecisions logs Alice in with her practice role and returns
// questions about the demo patients: allowed, dissent, sealed, locked and
// no relationship.
func benchDecisions(b *testing.B) (*rig, []pdp.EvaluationRequest) {
	r := newRig(b)
	ctx := context.Background()
	card := "card-555000000011-rsa"
	cert, key := testkeys.Cert(b, card), testkeys.Key(b, card)
	ch, err := r.srv.Login.NewChallenge(ctx)
	if err != nil {
		b.Fatal(err)
	}
	sig, err := login.SignChallenge(key, ch.ToSign)
	if err != nil {
		b.Fatal(err)
	}
	sess, err := r.srv.Login.Login(ctx, &login.Request{ChallengeID: ch.ChallengeID, Certificate: cert.Raw,
		Signature: sig, WorkstationID: "bench", RoleProfileID: registration.DemoAlicePracticeProfile})
	if err != nil {
		b.Fatal(err)
	}
	var reqs []pdp.EvaluationRequest
	for _, nhs := range []string{registration.DemoPatientRegistered, registration.DemoPatientDissent,
		registration.DemoPatientSealed, registration.DemoPatientLocked, registration.DemoPatientNoRelationship} {
		reqs = append(reqs, pdp.EvaluationRequest{
			Subject:  &pdp.Entity{Type: "session", ID: sess.SessionToken},
			Action:   &pdp.Action{Name: "view"},
			Resource: &pdp.Entity{Type: "patient_record", ID: nhs, Properties: map[string]any{"section": "scr"}},
			Context:  map[string]any{"purpose": "direct_care"},
		})
	}
	return r, reqs
}

// reportCPU reports the process's CPU time (user and system, all threads:
// background GC and the decision log's writer included) per operation
// from now until the returned function runs. On a shared machine it is
// steadier than wall time, which counts the waits for a core.
func reportCPU(b *testing.B) func() {
	start := cpuTime(b)
	return func() {
		b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEvaluateBatch is BenchmarkEvaluate with the questions asked as
// batches of 10 (EvaluateBatch); ns/op and cpu-ns/op are per batch.
func BenchmarkEvaluateBatch(b *testing.B) {
	r, reqs := benchDecisions(b)
	batch := make([]pdp.EvaluationRequest, 10)
	for i := range batch {
		batch[i] = reqs[i%len(reqs)]
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if out := r.srv.PDP.EvaluateBatch(ctx, "bench", batch); len(out) != len(batch) || out[0].Context.ID == "" {
				b.Error("batch not answered")
				return
			}
		}
	})
}

// BenchmarkEvaluateBatchEmergency is BenchmarkEvaluateBatch with every
// question an emergency access with a reason: each allowed one stores an
// alert, and each is logged durably, before the batch is answered.
func BenchmarkEvaluateBatchEmergency(b *testing.B) {
	r, reqs := benchDecisions(b)
	batch := make([]pdp.EvaluationRequest, 10)
	for i := range batch {
		batch[i] = reqs[i%len(reqs)]
		batch[i].Context = map[string]any{"purpose": "emergency", "reason": "collapsed in reception"}
	}
	b.ReportAllocs()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			out := r.srv.PDP.EvaluateBatch(ctx, "bench", batch)
			if len(out) != len(batch) || len(out[0].Context.Obligations) != 1 || out[0].Context.Obligations[0].AlertID == "" {
				b.Errorf("batch not answered with alerts: %+v", out)
				return
			}
		}
	})
}
