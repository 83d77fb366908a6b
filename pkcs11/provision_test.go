package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/softhsm"
	"github.com/carespine/spineauth/testkeys"
	p11 "github.com/miekg/pkcs11"
)

// issueFor makes a card certificate for pub signed by the test sub-CA, as
// the card CA would (the CA itself is tested in registration/cardca).
func issueFor(t *testing.T, pub crypto.PublicKey, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"People"}, CommonName: cn},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, testkeys.Cert(t, "subca"), pub, testkeys.Key(t, "subca"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// TestGenerateKeyWriteCertificate: a key pair made on the token signs
// through KeySigner before it has a certificate; once the certificate is
// written, the login path (AuthCertificate, Signer) finds the pair; the
// private key cannot be read.
func TestGenerateKeyWriteCertificate(t *testing.T) {
	for _, tc := range []struct {
		label string
		typ   pkcs11.KeyType
	}{{"provision-rsa", pkcs11.RSA2048}, {"provision-ec", pkcs11.ECP256}} {
		t.Run(tc.typ.String(), func(t *testing.T) {
			ctx := t.Context()
			tok := openToken(t, tc.label)
			_, err := tok.GenerateKey(ctx, pkcs11.KeySpec{Type: tc.typ, Label: "Authentication"})
			wantKind(t, err, pkcs11.ErrNotLoggedIn) // a private object needs the user logged in
			if err := tok.Login(ctx, mustPIN(userPIN)); err != nil {
				t.Fatal(err)
			}
			kp, err := tok.GenerateKey(ctx, pkcs11.KeySpec{Type: tc.typ, Label: "Authentication"})
			if err != nil {
				t.Fatalf("GenerateKey: %v", err)
			}
			if len(kp.ID) != 20 || kp.Public == nil {
				t.Fatalf("key pair %x %T", kp.ID, kp.Public)
			}
			_, err = tok.GenerateKey(ctx, pkcs11.KeySpec{Type: tc.typ, ID: kp.ID})
			wantKind(t, err, pkcs11.ErrKeyExists)

			ks, err := tok.KeySigner(ctx, kp.ID)
			if err != nil {
				t.Fatalf("KeySigner: %v", err)
			}
			if ks.Certificate() != nil {
				t.Fatal("KeySigner found a certificate before one was written")
			}
			if !kp.Public.(interface{ Equal(crypto.PublicKey) bool }).Equal(ks.Public()) {
				t.Fatal("KeySigner's public key is not the generated one")
			}
			signAndVerify(t, ks, sha256Opts())

			// No certificate yet: nothing for the login path.
			_, err = tok.AuthCertificate(ctx)
			wantKind(t, err, pkcs11.ErrNoCertificate)

			// A certificate for another key is refused.
			other := issueFor(t, testkeys.Cert(t, "card-555000000012-ec").PublicKey, "555000000012_Bob Singh")
			if err := tok.WriteCertificate(ctx, kp.ID, "Authentication", other); err == nil {
				t.Fatal("WriteCertificate accepted a certificate for another key")
			}
			cert := issueFor(t, kp.Public, "555000000021_Grace Hopper")
			if err := tok.WriteCertificate(ctx, kp.ID, "Authentication", cert); err != nil {
				t.Fatalf("WriteCertificate: %v", err)
			}
			err = tok.WriteCertificate(ctx, kp.ID, "Authentication", cert)
			wantKind(t, err, pkcs11.ErrKeyExists)

			// The login path, on a fresh session and before login, as
			// cardagent does it.
			if err := tok.Logout(ctx); err != nil {
				t.Fatal(err)
			}
			fresh := openToken(t, tc.label)
			got, err := fresh.AuthCertificate(ctx)
			if err != nil {
				t.Fatalf("AuthCertificate: %v", err)
			}
			sameCert(t, got, cert)
			if err := fresh.Login(ctx, mustPIN(userPIN)); err != nil {
				t.Fatal(err)
			}
			s, err := fresh.Signer(ctx)
			if err != nil {
				t.Fatal(err)
			}
			signAndVerify(t, s, sha256Opts())

			checkPrivateKeyLocked(t, fresh.Info().Slot, kp.ID, tc.typ == pkcs11.RSA2048)
		})
	}
}

// checkPrivateKeyLocked reads the private key's attributes through a
// second handle on the library (logged in: login state is per token).
func checkPrivateKeyLocked(t *testing.T, slot uint, id []byte, rsaKey bool) {
	t.Helper()
	path, err := softhsm.ModulePath()
	if err != nil {
		t.Fatal(err)
	}
	c := p11.New(path)
	if c == nil {
		t.Fatal("cannot load the library a second time")
	}
	defer c.Destroy()
	_ = c.Initialize() // already initialised by module
	sh, err := c.OpenSession(slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseSession(sh)
	if err := c.FindObjectsInit(sh, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY), p11.NewAttribute(p11.CKA_ID, id)}); err != nil {
		t.Fatal(err)
	}
	hs, _, err := c.FindObjects(sh, 4)
	_ = c.FindObjectsFinal(sh)
	if err != nil || len(hs) != 1 {
		t.Fatalf("private key: %d found, %v", len(hs), err)
	}
	// The secret parts: CKA_VALUE of an EC key, the private exponent and
	// primes of an RSA key.
	secret := []uint{p11.CKA_VALUE}
	if len(id) > 0 && rsaKey {
		secret = []uint{p11.CKA_PRIVATE_EXPONENT, p11.CKA_PRIME_1, p11.CKA_PRIME_2}
	}
	for _, a := range secret {
		_, err = c.GetAttributeValue(sh, hs[0], []*p11.Attribute{p11.NewAttribute(a, nil)})
		var rv p11.Error
		if !errors.As(err, &rv) || rv != p11.CKR_ATTRIBUTE_SENSITIVE {
			t.Errorf("reading attribute %#x of the private key: %v, want CKR_ATTRIBUTE_SENSITIVE", a, err)
		}
	}
	as, err := c.GetAttributeValue(sh, hs[0], []*p11.Attribute{
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil), p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_TOKEN, nil), p11.NewAttribute(p11.CKA_LOCAL, nil),
		p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil)})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 1, 1, 1, 1} // extractable false; sensitive, token, local, never extractable true
	for i, a := range as {
		if len(a.Value) != 1 || a.Value[0] != want[i] {
			t.Errorf("attribute %#x = %v, want %d", a.Type, a.Value, want[i])
		}
	}
}

// TestRenewOnToken: a second key pair beside the first, its certificate
// written, the old objects deleted: the login path finds the new pair.
func TestRenewOnToken(t *testing.T) {
	ctx := t.Context()
	tok := loggedIn(t, "provision-renew")
	var ids [][]byte
	var certs []*x509.Certificate
	for range 2 {
		kp, err := tok.GenerateKey(ctx, pkcs11.KeySpec{Type: pkcs11.ECP256, Label: "Authentication"})
		if err != nil {
			t.Fatal(err)
		}
		cert := issueFor(t, kp.Public, "555000000021_Grace Hopper")
		if err := tok.WriteCertificate(ctx, kp.ID, "Authentication", cert); err != nil {
			t.Fatal(err)
		}
		ids, certs = append(ids, kp.ID), append(certs, cert)
	}
	n, err := tok.DeleteObjects(ctx, ids[0])
	if err != nil || n != 3 {
		t.Fatalf("DeleteObjects: %d, %v; want the private key, public key and certificate", n, err)
	}
	if n, err := tok.DeleteObjects(ctx, ids[0]); err != nil || n != 0 {
		t.Fatalf("DeleteObjects again: %d, %v", n, err)
	}
	got, err := tok.AuthCertificate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sameCert(t, got, certs[1])
	s, err := tok.Signer(ctx)
	if err != nil {
		t.Fatal(err)
	}
	signAndVerify(t, s, sha256Opts())
	if _, err := tok.KeySigner(ctx, ids[0]); !errors.Is(err, pkcs11.ErrNoKey) {
		t.Fatalf("KeySigner of the deleted key: %v, want ErrNoKey", err)
	}
}

// TestUnlockRestoresPIN: a user PIN reset with the SO PIN (the RA's
// unlock) lets the new PIN log in and clears the wrong-PIN count.
func TestUnlockRestoresPIN(t *testing.T) {
	ctx := context.Background()
	tok := openToken(t, "provision-renew")
	for range 2 {
		if err := tok.Login(ctx, mustPIN("999999")); !errors.Is(err, pkcs11.ErrPINIncorrect) {
			t.Fatalf("wrong PIN: %v", err)
		}
	}
	if info, _ := tok.Refresh(ctx); !info.PINCountLow {
		t.Fatalf("no count-low flag after wrong PINs: %+v", info)
	}
	if err := tok.InitPIN(ctx, mustPIN(soPIN), mustPIN("135790")); err != nil {
		t.Fatalf("InitPIN: %v", err)
	}
	info, err := tok.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.PINCountLow || info.PINFinalTry || info.PINLocked || !info.UserPINInitialized {
		t.Fatalf("flags after unlock: %+v", info)
	}
	if err := tok.Login(ctx, mustPIN(userPIN)); !errors.Is(err, pkcs11.ErrPINIncorrect) {
		t.Fatalf("old PIN after reset: %v", err)
	}
	if err := tok.Login(ctx, mustPIN("135790")); err != nil {
		t.Fatalf("new PIN: %v", err)
	}
	// Back to the shared PIN for other tests.
	if err := tok.ChangePIN(ctx, mustPIN("135790"), mustPIN(userPIN)); err != nil {
		t.Fatal(err)
	}
}
