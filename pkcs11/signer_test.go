package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/testkeys"
)

func sha256Opts() crypto.SignerOpts { return crypto.SHA256 }

// signAndVerify signs a random digest with s and checks the signature with
// s.Public(), the certificate's key.
func signAndVerify(t *testing.T, s crypto.Signer, opts crypto.SignerOpts) {
	t.Helper()
	if err := signVerify(s, opts); err != nil {
		t.Fatal(err)
	}
}

func signVerify(s crypto.Signer, opts crypto.SignerOpts) error {
	h := opts.HashFunc()
	hh := h.New()
	hh.Write([]byte("challenge " + rand.Text()))
	digest := hh.Sum(nil)
	sig, err := s.Sign(rand.Reader, digest, opts)
	if err != nil {
		return fmt.Errorf("Sign(%T %v): %w", opts, h, err)
	}
	switch pub := s.Public().(type) {
	case *rsa.PublicKey:
		if pss, ok := opts.(*rsa.PSSOptions); ok {
			// Verify with the exact salt length the signer was asked for.
			err = rsa.VerifyPSS(pub, h, digest, sig, pss)
		} else {
			err = rsa.VerifyPKCS1v15(pub, h, digest, sig)
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(pub, digest, sig) {
			err = errors.New("ecdsa.VerifyASN1 failed")
		}
	default:
		err = fmt.Errorf("public key %T", pub)
	}
	if err != nil {
		return fmt.Errorf("verify (%T %v): %w", opts, h, err)
	}
	return nil
}

func TestSign(t *testing.T) {
	tests := []struct {
		name, label string
		opts        crypto.SignerOpts
	}{
		{"RSA PKCS#1 v1.5 SHA-256", "alice-rsa", crypto.SHA256},
		{"RSA PKCS#1 v1.5 SHA-384", "alice-rsa", crypto.SHA384},
		{"RSA PKCS#1 v1.5 SHA-512", "alice-rsa", crypto.SHA512},
		{"RSA-PSS SHA-256 salt=hash", "alice-rsa", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"RSA-PSS SHA-256 salt=20", "alice-rsa", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 20}},
		{"RSA-PSS SHA-256 salt=auto", "alice-rsa", &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthAuto}},
		{"RSA-PSS SHA-512 salt=hash", "alice-rsa", &rsa.PSSOptions{Hash: crypto.SHA512, SaltLength: rsa.PSSSaltLengthEqualsHash}},
		{"ECDSA P-256 SHA-256", "alice-ec", crypto.SHA256},
		{"ECDSA P-256 SHA-384 (truncated)", "alice-ec", crypto.SHA384},
	}
	toks := map[string]*pkcs11.Token{"alice-rsa": loggedIn(t, "alice-rsa"), "alice-ec": loggedIn(t, "alice-ec")}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := toks[tc.label].Signer(t.Context())
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			want := testkeys.Cert(t, "card-555000000011-"+tc.label[len("alice-"):])
			if pub, ok := s.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(want.PublicKey) {
				t.Fatalf("Public() is not the certificate's key")
			}
			signAndVerify(t, s, tc.opts)
		})
	}
}

func TestSignErrors(t *testing.T) {
	rsaTok, ecTok := loggedIn(t, "alice-rsa"), loggedIn(t, "alice-ec")
	rsaS, err := rsaTok.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ecS, err := ecTok.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		s      crypto.Signer
		digest []byte
		opts   crypto.SignerOpts
	}{
		{"RSA SHA-1", rsaS, make([]byte, 20), crypto.SHA1},
		{"RSA digest too short", rsaS, make([]byte, 31), crypto.SHA256},
		{"RSA-PSS salt too long", rsaS, make([]byte, 32), &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: 223}},
		{"RSA-PSS SHA-1", rsaS, make([]byte, 20), &rsa.PSSOptions{Hash: crypto.SHA1}},
		{"ECDSA SHA-1", ecS, make([]byte, 20), crypto.SHA1},
		{"ECDSA no hash", ecS, make([]byte, 32), crypto.Hash(0)},
		{"nil opts", ecS, make([]byte, 32), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.s.Sign(rand.Reader, tc.digest, tc.opts)
			wantKind(t, err, pkcs11.ErrUnsupported)
		})
	}
}

// A Signer can be made before Login (the agent asks for the PIN then);
// signing needs the login.
func TestSignerBeforeLogin(t *testing.T) {
	tok := openToken(t, "alice-ec")
	s, err := tok.Signer(t.Context())
	if err != nil {
		t.Fatalf("Signer before login: %v", err)
	}
	_, err = s.Sign(rand.Reader, make([]byte, 32), crypto.SHA256)
	wantKind(t, err, pkcs11.ErrNotLoggedIn)
	if err := tok.Login(t.Context(), mustPIN(userPIN)); err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s, crypto.SHA256)
	if err := tok.Logout(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err = s.Sign(rand.Reader, make([]byte, 32), crypto.SHA256)
	wantKind(t, err, pkcs11.ErrNotLoggedIn)
}

func TestSignContextCancelled(t *testing.T) {
	tok := loggedIn(t, "alice-ec")
	s, err := tok.Signer(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = s.(*pkcs11.Signer).SignContext(ctx, make([]byte, 32), crypto.SHA256)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("SignContext with a cancelled context: %v", err)
	}
	if _, err := tok.AuthCertificate(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("AuthCertificate with a cancelled context: %v", err)
	}
}

// Several goroutines share one Token: signatures, certificate reads and
// info reads interleave without corrupting the session.
func TestConcurrentSign(t *testing.T) {
	for _, label := range []string{"alice-rsa", "alice-ec"} {
		t.Run(label, func(t *testing.T) {
			tok := loggedIn(t, label)
			s, err := tok.Signer(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 5 {
						var opts crypto.SignerOpts = crypto.SHA256
						if label == "alice-rsa" && (g+i)%2 == 1 {
							opts = &rsa.PSSOptions{Hash: crypto.SHA256, SaltLength: rsa.PSSSaltLengthEqualsHash}
						}
						if err := signVerify(s, opts); err != nil {
							t.Error(err)
						}
						if _, err := tok.AuthCertificate(t.Context()); err != nil {
							t.Errorf("AuthCertificate: %v", err)
						}
						_ = tok.Info()
					}
				})
			}
			wg.Wait()
		})
	}
}
