package pkcs11_test

import (
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/carespine/spineauth/pkcs11"
)

// The workstation agent's login: open the card, show who it belongs to,
// ask for the PIN, sign the server's challenge.
func Example() {
	ctx := context.Background()
	mod, err := pkcs11.Open("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mod.Close()

	tok, err := mod.OpenToken(ctx, pkcs11.Selector{}) // the only card present
	if err != nil {
		fmt.Println(err) // e.g. "pkcs11: open token: no card found: ..."
		return
	}
	defer tok.Close()

	cert, err := tok.AuthCertificate(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("card of", cert.Subject.CommonName)

	pin, err := pkcs11.NewPIN("123456") // typed by the user
	if err != nil {
		fmt.Println(err)
		return
	}
	err = tok.Login(ctx, pin)
	var pe *pkcs11.PINError
	switch {
	case errors.As(err, &pe) && pe.RetriesLeft > 0:
		fmt.Printf("wrong PIN, %d tries left\n", pe.RetriesLeft)
		return
	case errors.Is(err, pkcs11.ErrPINLocked):
		fmt.Println("card locked: see your RA")
		return
	case errors.Is(err, pkcs11.ErrTokenRemoved):
		fmt.Println("card removed")
		return
	case err != nil:
		fmt.Println(err)
		return
	}

	signer, err := tok.Signer(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	digest := sha256.Sum256([]byte("to_sign from /v1/login/challenge"))
	sig, err := signer.Sign(nil, digest[:], crypto.SHA256)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(sig) > 0)
}

// The RA's side of a new card: a key pair made on the card, its public
// key certified by the card CA (registration/cardca), the certificate
// written beside the key. The private key never leaves the card.
func ExampleToken_GenerateKey() {
	ctx := context.Background()
	mod, err := pkcs11.Open("/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer mod.Close()
	tok, err := mod.OpenToken(ctx, pkcs11.Selector{Label: "new card"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tok.Close()
	pin, _ := pkcs11.NewPIN("123456")
	if err := tok.Login(ctx, pin); err != nil {
		fmt.Println(err)
		return
	}
	kp, err := tok.GenerateKey(ctx, pkcs11.KeySpec{Type: pkcs11.ECP256, Label: "Authentication"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// issued, err := ca.IssueCard(ctx, uid, kp.Public) on the RA's side
	var cert *x509.Certificate // issued.Cert
	if err := tok.WriteCertificate(ctx, kp.ID, "Authentication", cert); err != nil {
		fmt.Println(err)
	}
}
