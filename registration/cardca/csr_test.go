package cardca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/carespine/spineauth/registration/cardca"
)

func TestPublicKeyFromCSR(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, k)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := cardca.PublicKeyFromCSR(der)
	if err != nil {
		t.Fatal(err)
	}
	if !k.PublicKey.Equal(pub) {
		t.Fatal("wrong key")
	}
	tampered := append([]byte(nil), der...)
	tampered[len(tampered)-3] ^= 0x40 // inside the signature
	for name, in := range map[string][]byte{"tampered": tampered, "empty": nil, "garbage": []byte("CSR")} {
		if _, err := cardca.PublicKeyFromCSR(in); cardca.ReasonOf(err) != cardca.ReasonKeyUnsupported {
			t.Errorf("%s: %v, want key_unsupported", name, err)
		}
	}
}
