package caserve_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"

	"github.com/carespine/spineauth/authd/caserve"
	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
	"github.com/carespine/spineauth/testkeys"
)

func mustOID(s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

var cardPolicy = mustOID("1.3.6.1.4.1.58888.1.1.1")

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rig is a card CA with its endpoints served on a loopback port.
type rig struct {
	url   string
	store *registration.SQLite
	ca    *cardca.CA // certificates with CRL DP and OCSP URL
	crlCA *cardca.CA // the same CA, issuing certificates with a CRL DP only
	svc   *caserve.Service
	clock *clock
}

func newRig(t testing.TB, responder *caserve.Responder) *rig {
	t.Helper()
	ctx := context.Background()
	var handler http.Handler = http.NotFoundHandler()
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := handler
		mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	clk := &clock{t: time.Now().UTC().Truncate(time.Second)}
	st, err := registration.OpenSQLite(ctx, filepath.Join(t.TempDir(), "reg.db"), registration.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.CreatePerson(ctx, registration.Person{UID: "555000000021", Name: "Grace Hopper", Status: registration.PersonActive}); err != nil {
		t.Fatal(err)
	}
	cfg := cardca.Config{
		Cert:     testkeys.Cert(t, "subca"),
		Signer:   testkeys.Key(t, "subca"),
		CRLURL:   srv.URL + caserve.PathCRL,
		OCSPURL:  srv.URL + caserve.PathOCSP,
		Policies: []x509.OID{cardPolicy},
		Now:      clk.Now,
	}
	ca, err := cardca.New(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	cfg.OCSPURL = ""
	crlCA, err := cardca.New(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	r := caserve.Responder{Cert: testkeys.Cert(t, "subca"), Signer: testkeys.Key(t, "subca")}
	if responder != nil {
		r = *responder
	}
	svc, err := caserve.New(caserve.Config{CA: ca, Responder: r, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	mu.Lock()
	handler = svc.Wrap(mux)
	mu.Unlock()
	return &rig{url: srv.URL, store: st, ca: ca, crlCA: crlCA, svc: svc, clock: clk}
}

func issue(t testing.TB, ca *cardca.CA) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ca.IssueCard(context.Background(), "555000000021", k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return got.Cert
}

// verifier is authd's verifier as `authd cert verify` runs it with the
// network allowed: the root and its CRL given, the card's revocation from
// the URLs in it.
func (r *rig) verifier(t *testing.T) *certverify.Verifier {
	t.Helper()
	v, err := certverify.New(certverify.Config{
		Roots:         []*x509.Certificate{testkeys.Cert(t, "root")},
		Intermediates: []*x509.Certificate{testkeys.Cert(t, "subca")},
		// auth.crl is an older CRL series by the same CA key, as a
		// deployment may still hold: it must not hide a revocation.
		CRLs:       []*x509.RevocationList{testkeys.CRL(t, "root"), testkeys.CRL(t, "auth")},
		Revocation: certverify.RevocationConfig{Check: true, Network: true, OCSPNonce: true, Timeout: 5 * time.Second},
		Login: certverify.LoginPolicy{
			KeyUsage:         x509.KeyUsageDigitalSignature,
			ExtKeyUsage:      []x509.OID{mustOID("1.3.6.1.5.5.7.3.2")},
			RequiredPolicies: []x509.OID{cardPolicy},
		},
		Now: r.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func wantRevoked(t *testing.T, err error) {
	t.Helper()
	var ce *certverify.Error
	if !errors.As(err, &ce) || ce.Reason != certverify.ReasonRevoked {
		t.Fatalf("verification: %v, want cert_revoked", err)
	}
}

// The verifier the login path uses accepts a new card through authd's
// OCSP responder (with a nonce) and refuses it as soon as it is revoked.
func TestVerifierThroughOCSP(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	cert := issue(t, r.ca)
	v := r.verifier(t)
	res, err := v.Verify(ctx, cert, nil)
	if err != nil {
		t.Fatalf("new card: %v", err)
	}
	if res.Revocation[0] != "ocsp" {
		t.Fatalf("card status from %q, want ocsp", res.Revocation[0])
	}
	if _, err := r.ca.Revoke(ctx, cert.SerialNumber, registration.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(ctx, cert, nil) // the same verifier: no nextUpdate, nothing cached
	wantRevoked(t, err)
	if !strings.Contains(err.Error(), "keyCompromise") {
		t.Errorf("error %v does not give the reason", err)
	}
}

// The same through the CRL distribution point alone.
func TestVerifierThroughCRL(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	cert := issue(t, r.crlCA)
	if len(cert.OCSPServer) != 0 {
		t.Fatal("the CRL-only CA put an OCSP URL in")
	}
	v := r.verifier(t)
	res, err := v.Verify(ctx, cert, nil)
	if err != nil {
		t.Fatalf("new card: %v", err)
	}
	if res.Revocation[0] != "crl" {
		t.Fatalf("card status from %q, want crl", res.Revocation[0])
	}
	if _, err := r.crlCA.Revoke(ctx, cert.SerialNumber, registration.ReasonAffiliationChanged); err != nil {
		t.Fatal(err)
	}
	// The verifier cached the CRL until its nextUpdate; authd drops it
	// when its own CA revokes (server wiring, OnRevoke).
	v.ForgetCRL(cert.CRLDistributionPoints[0])
	_, err = v.Verify(ctx, cert, nil)
	wantRevoked(t, err)
	// A fresh verifier (another node, `authd cert verify`) too.
	_, err = r.verifier(t).Verify(ctx, cert, nil)
	wantRevoked(t, err)
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func postOCSP(t *testing.T, url string, body []byte) []byte {
	t.Helper()
	resp, err := http.Post(url, "application/ocsp-request", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/ocsp-response" {
		t.Fatalf("POST: %d %s", resp.StatusCode, ct)
	}
	b, _ := io.ReadAll(resp.Body)
	return b
}

func TestCRLEndpoint(t *testing.T) {
	r := newRig(t, nil)
	ctx := context.Background()
	cert := issue(t, r.ca)
	resp, body := get(t, r.url+caserve.PathCRL)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pkix-crl" {
		t.Fatalf("GET crl: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	crl1, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := crl1.CheckSignatureFrom(testkeys.Cert(t, "subca")); err != nil {
		t.Fatal(err)
	}
	if len(crl1.RevokedCertificateEntries) != 0 || !crl1.NextUpdate.After(r.clock.Now()) {
		t.Fatalf("first CRL: %d entries, nextUpdate %s", len(crl1.RevokedCertificateEntries), crl1.NextUpdate)
	}
	if _, err := r.ca.Revoke(ctx, cert.SerialNumber, registration.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	_, body = get(t, r.url+caserve.PathCRL)
	crl2, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatal(err)
	}
	if crl2.Number.Cmp(crl1.Number) <= 0 || len(crl2.RevokedCertificateEntries) != 1 ||
		crl2.RevokedCertificateEntries[0].SerialNumber.Cmp(cert.SerialNumber) != 0 ||
		crl2.RevokedCertificateEntries[0].ReasonCode != 1 {
		t.Fatalf("CRL after revocation: number %v, entries %+v", crl2.Number, crl2.RevokedCertificateEntries)
	}
	resp, body = get(t, r.url+caserve.PathCA)
	if resp.StatusCode != 200 || !bytes.Equal(body, testkeys.Cert(t, "subca").Raw) {
		t.Fatalf("GET ca.crt: %d", resp.StatusCode)
	}
}

// ocspRequest builds a request with x/crypto/ocsp (no nonce).
func ocspRequest(t *testing.T, cert, issuer *x509.Certificate, h crypto.Hash) []byte {
	t.Helper()
	req, err := ocsp.CreateRequest(cert, issuer, &ocsp.RequestOptions{Hash: h})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestOCSPAnswers(t *testing.T) {
	delegated := &caserve.Responder{Cert: testkeys.Cert(t, "ocsp"), Signer: testkeys.Key(t, "ocsp")}
	for name, responder := range map[string]*caserve.Responder{"CA": nil, "delegated": delegated} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, responder)
			ctx := context.Background()
			subca := testkeys.Cert(t, "subca")
			good := issue(t, r.ca)
			revoked := issue(t, r.ca)
			if _, err := r.ca.Revoke(ctx, revoked.SerialNumber, registration.ReasonPrivilegeWithdrawn); err != nil {
				t.Fatal(err)
			}
			parse := func(der []byte, cert *x509.Certificate) *ocsp.Response {
				t.Helper()
				resp, err := ocsp.ParseResponseForCert(der, cert, subca)
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				return resp
			}
			// POST, SHA-1 CertID.
			resp := parse(postOCSP(t, r.url+caserve.PathOCSP, ocspRequest(t, good, subca, crypto.SHA1)), good)
			if resp.Status != ocsp.Good || resp.SerialNumber.Cmp(good.SerialNumber) != 0 || !resp.NextUpdate.IsZero() {
				t.Fatalf("good: %+v", resp)
			}
			if (responder != nil) != (resp.Certificate != nil) {
				t.Fatalf("embedded responder certificate %v with delegated %v", resp.Certificate != nil, responder != nil)
			}
			// GET, SHA-256 CertID, the request URL-encoded.
			req := ocspRequest(t, revoked, subca, crypto.SHA256)
			enc := strings.NewReplacer("+", "%2B", "/", "%2F", "=", "%3D").Replace(base64.StdEncoding.EncodeToString(req))
			hr, body := get(t, r.url+caserve.PathOCSP+"/"+enc)
			if hr.StatusCode != 200 {
				t.Fatalf("GET: %d", hr.StatusCode)
			}
			resp = parse(body, revoked)
			if resp.Status != ocsp.Revoked || resp.RevocationReason != ocsp.PrivilegeWithdrawn || resp.RevokedAt.IsZero() {
				t.Fatalf("revoked: %+v", resp)
			}
			// Unknown: a certificate of this CA it has no record of.
			alice := testkeys.Cert(t, "card-555000000011-ec")
			resp = parse(postOCSP(t, r.url+caserve.PathOCSP, ocspRequest(t, alice, subca, crypto.SHA1)), alice)
			if resp.Status != ocsp.Unknown {
				t.Fatalf("unrecorded certificate: status %d, want unknown", resp.Status)
			}
			// Another CA's certificate: unauthorized.
			foreign := testkeys.Cert(t, "card-foreign")
			_, err := ocsp.ParseResponse(postOCSP(t, r.url+caserve.PathOCSP, ocspRequest(t, foreign, testkeys.Cert(t, "foreign-root"), crypto.SHA1)), nil)
			var re ocsp.ResponseError
			if !errors.As(err, &re) || re.Status != ocsp.Unauthorized {
				t.Fatalf("foreign certificate: %v, want unauthorized", err)
			}
			// Garbage: malformedRequest.
			_, err = ocsp.ParseResponse(postOCSP(t, r.url+caserve.PathOCSP, []byte("not a request")), nil)
			if !errors.As(err, &re) || re.Status != ocsp.Malformed {
				t.Fatalf("garbage: %v, want malformed", err)
			}
			// The verifier accepts the delegated responder too.
			if _, err := r.verifier(t).Verify(ctx, good, nil); err != nil {
				t.Fatalf("verifier: %v", err)
			}
		})
	}
}

func TestOCSPBadHTTP(t *testing.T) {
	r := newRig(t, nil)
	resp, err := http.Post(r.url+caserve.PathOCSP, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("wrong content type: %d", resp.StatusCode)
	}
	hr, body := get(t, r.url+caserve.PathOCSP+"/not*base64!")
	_, err = ocsp.ParseResponse(body, nil)
	var re ocsp.ResponseError
	if hr.StatusCode != 200 || !errors.As(err, &re) || re.Status != ocsp.Malformed {
		t.Fatalf("bad GET: %d %v", hr.StatusCode, err)
	}
}

// OpenSSL's OCSP client agrees: good, then revoked with its reason.
func TestOpenSSLClient(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed (scripts/setup.sh installs it)")
	}
	r := newRig(t, nil)
	ctx := context.Background()
	cert := issue(t, r.ca)
	dir := t.TempDir()
	certFile := filepath.Join(dir, "card.pem")
	if err := os.WriteFile(certFile, pemCert(cert), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() string {
		out, err := exec.Command("openssl", "ocsp", "-issuer", filepath.Join(testkeys.Dir(), "subca.pem"),
			"-cert", certFile, "-url", r.url+caserve.PathOCSP, "-CAfile", filepath.Join(testkeys.Dir(), "root.pem")).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl ocsp: %v\n%s", err, out)
		}
		return string(out)
	}
	if out := run(); !strings.Contains(out, "Response verify OK") || !strings.Contains(out, "card.pem: good") {
		t.Fatalf("openssl before revocation:\n%s", out)
	}
	if _, err := r.ca.Revoke(ctx, cert.SerialNumber, registration.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	if out := run(); !strings.Contains(out, "card.pem: revoked") || !strings.Contains(out, "Reason: keyCompromise") {
		t.Fatalf("openssl after revocation:\n%s", out)
	}
}
