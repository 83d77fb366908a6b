package caserve_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"testing"

	"golang.org/x/crypto/ocsp"

	"github.com/carespine/spineauth/authd/caserve"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/testkeys"
)

func pemCert(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// FuzzParseOCSPRequest feeds arbitrary bodies to the request parser and
// to the whole responder path: neither may panic, a parsed request must
// be self-consistent, and every input gets a response that parses as an
// OCSP response.
func FuzzParseOCSPRequest(f *testing.F) {
	subca := testkeys.Cert(f, "subca")
	for _, name := range []string{"card-555000000011-ec", "card-revoked"} {
		for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
			req, err := ocsp.CreateRequest(testkeys.Cert(f, name), subca, &ocsp.RequestOptions{Hash: h})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(req)
		}
	}
	// A request with a nonce, as authd's verifier sends it.
	f.Add([]byte("\x30\x6b\x30\x69\x30\x42\x30\x40\x30\x3e\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00\x04\x14" +
		"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x04\x14" +
		"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x02\x03\x01\x00\x01" +
		"\xa2\x23\x30\x21\x30\x1f\x06\x09\x2b\x06\x01\x05\x05\x07\x30\x01\x02\x04\x12\x04\x10" +
		"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"))
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte{})

	svc, err := caserve.New(caserve.Config{CA: staticCA{subca}, Responder: caserve.Responder{Cert: subca, Signer: testkeys.Key(f, "subca")}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, der []byte) {
		req, err := caserve.ParseOCSPRequest(der)
		if err == nil {
			if req.Serial == nil || len(req.CertID) == 0 || len(req.IssuerNameHash) != req.HashAlg.Size() ||
				len(req.IssuerKeyHash) != req.HashAlg.Size() {
				t.Fatalf("inconsistent request %+v", req)
			}
		}
		resp, status := svc.Respond(context.Background(), der)
		if _, err := ocsp.ParseResponse(resp, nil); err != nil {
			if _, isStatus := err.(ocsp.ResponseError); !isStatus {
				t.Fatalf("response (%s) does not parse: %v", status, err)
			}
		}
		if err != nil && status != "malformed" {
			t.Fatalf("unparsable request answered %s", status)
		}
	})
}

// staticCA knows no certificate: every well-formed request for the test
// sub-CA is unknown, which still signs a response.
type staticCA struct{ cert *x509.Certificate }

func (c staticCA) Certificate() *x509.Certificate { return c.cert }
func (c staticCA) CRL(context.Context) (*registration.CRLRecord, error) {
	return nil, registration.ErrNotFound
}
func (c staticCA) Lookup(context.Context, *big.Int) (*registration.IssuedCert, error) {
	return nil, registration.ErrNotFound
}
