package certverify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	encasn1 "encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// ocspPKI is a root, an issuing sub-CA with a leaf and delegated
// responders, and an unrelated CA, for OCSP tests.
type ocspPKI struct {
	root, ca, leaf *testCA
	other          *testCA // another CA
	delegated      *testCA // issued by ca, id-kp-OCSPSigning
	noEKU          *testCA // issued by ca, clientAuth only
	anyEKU         *testCA // issued by ca, anyExtendedKeyUsage only
	expired        *testCA // issued by ca, OCSPSigning, expired at testEpoch
	foreign        *testCA // issued by other, OCSPSigning
	rogue          *testCA // self-signed, OCSPSigning, same name as delegated
}

func responderTemplate(cn string, eku ...x509.ExtKeyUsage) *x509.Certificate {
	tmpl := leafTemplate(cn)
	tmpl.ExtKeyUsage = eku
	return tmpl
}

// newOCSPPKI builds the PKI; the leaf names ocspURLs in its AIA.
func newOCSPPKI(t testing.TB, ocspURLs ...string) *ocspPKI {
	t.Helper()
	p := &ocspPKI{}
	p.root = issue(t, nil, caTemplate("OCSP Test Root"), nil)
	p.ca = issue(t, p.root, caTemplate("OCSP Test Sub-CA"), nil)
	p.other = issue(t, nil, caTemplate("Other CA"), nil)
	leaf := leafTemplate("123456789012_Test User")
	leaf.OCSPServer = ocspURLs
	p.leaf = issue(t, p.ca, leaf, nil)
	p.delegated = issue(t, p.ca, responderTemplate("OCSP Responder", x509.ExtKeyUsageOCSPSigning), nil)
	p.noEKU = issue(t, p.ca, responderTemplate("No EKU Responder", x509.ExtKeyUsageClientAuth), nil)
	p.anyEKU = issue(t, p.ca, responderTemplate("Any EKU Responder", x509.ExtKeyUsageAny), nil)
	exp := responderTemplate("Expired Responder", x509.ExtKeyUsageOCSPSigning)
	exp.NotBefore, exp.NotAfter = testEpoch.AddDate(-2, 0, 0), testEpoch.AddDate(0, 0, -1)
	p.expired = issue(t, p.ca, exp, nil)
	p.foreign = issue(t, p.other, responderTemplate("OCSP Responder", x509.ExtKeyUsageOCSPSigning), nil)
	p.rogue = issue(t, nil, responderTemplate("OCSP Responder", x509.ExtKeyUsageOCSPSigning), nil)
	return p
}

// ocspSpec describes a response to build; zero fields get defaults: good,
// about the leaf, issued by ca, signed by ca without embedded certificate,
// thisUpdate an hour before testEpoch and nextUpdate an hour after.
type ocspSpec struct {
	status         int
	revokedAt      time.Time
	reason         int
	thisUpdate     time.Time
	nextUpdate     time.Time
	noNextUpdate   bool
	serial         *big.Int
	idIssuer       *x509.Certificate // whose hashes go in the CertID
	signer         *testCA
	embed          bool              // embed the signer's certificate
	signerCertName *x509.Certificate // names the responder; default signer.cert
	exts           []pkix.Extension  // responseExtensions
}

func makeOCSPResponse(t testing.TB, p *ocspPKI, s ocspSpec) []byte {
	t.Helper()
	if s.thisUpdate.IsZero() {
		s.thisUpdate = testEpoch.Add(-time.Hour)
	}
	if s.nextUpdate.IsZero() && !s.noNextUpdate {
		s.nextUpdate = testEpoch.Add(time.Hour)
	}
	if s.serial == nil {
		s.serial = p.leaf.cert.SerialNumber
	}
	if s.idIssuer == nil {
		s.idIssuer = p.ca.cert
	}
	if s.signer == nil {
		s.signer = p.ca
	}
	if s.signerCertName == nil {
		s.signerCertName = s.signer.cert
	}
	tmpl := ocsp.Response{
		Status:           s.status,
		SerialNumber:     s.serial,
		ThisUpdate:       s.thisUpdate,
		NextUpdate:       s.nextUpdate,
		RevokedAt:        s.revokedAt,
		RevocationReason: s.reason,
	}
	if s.embed {
		tmpl.Certificate = s.signer.cert
	}
	der, err := ocsp.CreateResponse(s.idIssuer, s.signerCertName, tmpl, s.signer.key)
	if err != nil {
		t.Fatalf("create OCSP response: %v", err)
	}
	if len(s.exts) > 0 {
		der = addResponseExtensions(t, der, s.exts, s.signer.key)
	}
	return der
}

// addResponseExtensions adds responseExtensions to a response made by
// ocsp.CreateResponse (which cannot) and signs it again with key (P-256,
// ecdsa-with-SHA256 as CreateResponse chose). It uses encoding/asn1, not
// the cryptobyte code under test.
func addResponseExtensions(t testing.TB, der []byte, exts []pkix.Extension, key crypto.Signer) []byte {
	t.Helper()
	var outer struct {
		Status encasn1.Enumerated
		Bytes  struct {
			Type     encasn1.ObjectIdentifier
			Response []byte
		} `asn1:"explicit,tag:0"`
	}
	var basic struct {
		TBS   encasn1.RawValue
		Alg   encasn1.RawValue
		Sig   encasn1.BitString
		Certs []encasn1.RawValue `asn1:"explicit,tag:0,optional"`
	}
	if _, err := encasn1.Unmarshal(der, &outer); err != nil {
		t.Fatal(err)
	}
	if _, err := encasn1.Unmarshal(outer.Bytes.Response, &basic); err != nil {
		t.Fatal(err)
	}
	extsDER, err := encasn1.Marshal(exts)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, _ := encasn1.Marshal(encasn1.RawValue{Class: encasn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: extsDER})
	tbs, _ := encasn1.Marshal(encasn1.RawValue{Tag: encasn1.TagSequence, IsCompound: true, Bytes: slices.Concat(basic.TBS.Bytes, wrapped)})
	digest := sha256.Sum256(tbs)
	sig, err := key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	basic.TBS = encasn1.RawValue{FullBytes: tbs}
	basic.Sig = encasn1.BitString{Bytes: sig, BitLength: 8 * len(sig)}
	if outer.Bytes.Response, err = encasn1.Marshal(basic); err != nil {
		t.Fatal(err)
	}
	out, err := encasn1.Marshal(outer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ocspTestRequest is what the test responder saw.
type ocspTestRequest struct {
	req   *ocsp.Request
	nonce []byte // the nonce extension's extnValue; nil if absent
}

var testNonceOID = encasn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}

// requestNonce returns the extnValue of the nonce extension in a DER
// OCSPRequest (which ocsp.ParseRequest does not expose), or nil; ok is
// false if the request cannot be parsed. It uses encoding/asn1, not the
// cryptobyte code under test.
func requestNonce(der []byte) (nonce []byte, ok bool) {
	var req struct {
		TBS struct {
			Version       int              `asn1:"explicit,tag:0,default:0,optional"`
			RequestorName encasn1.RawValue `asn1:"explicit,tag:1,optional"`
			RequestList   []encasn1.RawValue
			Extensions    []pkix.Extension `asn1:"explicit,tag:2,optional"`
		}
	}
	if rest, err := encasn1.Unmarshal(der, &req); err != nil || len(rest) > 0 {
		return nil, false
	}
	for _, e := range req.TBS.Extensions {
		if e.Id.Equal(testNonceOID) {
			return e.Value, true
		}
	}
	return nil, true
}

// ocspResponder is an httptest OCSP responder whose answer tests set.
type ocspResponder struct {
	*httptest.Server
	requests atomic.Int64
	mu       sync.Mutex
	answer   func(r ocspTestRequest) (int, []byte) // guarded by mu
	last     ocspTestRequest                       // guarded by mu
}

func newOCSPResponder(t *testing.T) *ocspResponder {
	t.Helper()
	s := &ocspResponder{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/ocsp-request" {
			t.Errorf("OCSP request %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		req, err := ocsp.ParseRequest(body)
		if err != nil {
			t.Errorf("responder cannot parse request: %v", err)
			w.Write(ocsp.MalformedRequestErrorResponse)
			return
		}
		nonce, ok := requestNonce(body)
		if !ok {
			t.Errorf("responder cannot parse request extensions")
		}
		tr := ocspTestRequest{req: req, nonce: nonce}
		s.mu.Lock()
		s.last = tr
		answer := s.answer
		s.mu.Unlock()
		status, resp := answer(tr)
		w.Header().Set("Content-Type", "application/ocsp-response")
		w.WriteHeader(status)
		w.Write(resp)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ocspResponder) setAnswer(f func(r ocspTestRequest) (int, []byte)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answer = f
}

func (s *ocspResponder) lastRequest() ocspTestRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// newTestOCSPClient returns a client on a fixed clock at testEpoch.
func newTestOCSPClient(t *testing.T, mod func(*ocspConfig)) *ocspClient {
	t.Helper()
	cfg := ocspConfig{fetchConfig: fetchConfig{Now: func() time.Time { return testEpoch }, Timeout: 2 * time.Second}}
	if mod != nil {
		mod(&cfg)
	}
	o := newOCSPClient(cfg)
	t.Cleanup(o.Close)
	return o
}

func wrappedNonce(n []byte) []byte { return append([]byte{0x04, byte(len(n))}, n...) }

func TestOCSPCheck(t *testing.T) {
	srv := newOCSPResponder(t)
	p := newOCSPPKI(t, srv.URL)
	revokedAt := testEpoch.Add(-48 * time.Hour).Truncate(time.Second)
	spec := func(s ocspSpec) func(ocspTestRequest) (int, []byte) {
		return func(ocspTestRequest) (int, []byte) { return 200, makeOCSPResponse(t, p, s) }
	}
	echo := func(value func(r ocspTestRequest) []byte) func(ocspTestRequest) (int, []byte) {
		return func(r ocspTestRequest) (int, []byte) {
			var exts []pkix.Extension
			if v := value(r); v != nil {
				exts = []pkix.Extension{{Id: testNonceOID, Value: v}}
			}
			return 200, makeOCSPResponse(t, p, ocspSpec{exts: exts})
		}
	}
	big2MiB := make([]byte, 2<<20)

	tests := []struct {
		name    string
		nonce   bool
		answer  func(ocspTestRequest) (int, []byte)
		want    revStatus
		wantErr []error
	}{
		{name: "good", answer: spec(ocspSpec{}), want: statusGood},
		{name: "revoked", answer: spec(ocspSpec{status: ocsp.Revoked, revokedAt: revokedAt, reason: ocsp.KeyCompromise}), want: statusRevoked},
		{name: "unknown", answer: spec(ocspSpec{status: ocsp.Unknown}), wantErr: []error{errOCSPCertUnknown}},
		{name: "signed by issuer with its certificate embedded", answer: spec(ocspSpec{embed: true}), want: statusGood},
		{name: "delegated responder with OCSPSigning", answer: spec(ocspSpec{signer: p.delegated, embed: true}), want: statusGood},
		{name: "delegated responder without OCSPSigning", answer: spec(ocspSpec{signer: p.noEKU, embed: true}), wantErr: []error{errOCSPUnauthorised}},
		{name: "delegated responder with anyExtendedKeyUsage", answer: spec(ocspSpec{signer: p.anyEKU, embed: true}), wantErr: []error{errOCSPUnauthorised}},
		{name: "delegated responder expired", answer: spec(ocspSpec{signer: p.expired, embed: true}), wantErr: []error{errOCSPUnauthorised}},
		{name: "responder of another CA", answer: spec(ocspSpec{signer: p.foreign, embed: true}), wantErr: []error{errOCSPUnauthorised}},
		{name: "self-signed rogue responder", answer: spec(ocspSpec{signer: p.rogue, embed: true}), wantErr: []error{errOCSPUnauthorised}},
		{name: "unauthorised key without certificate", answer: spec(ocspSpec{signer: p.rogue, signerCertName: p.ca.cert}), wantErr: []error{errOCSPSignature}},
		{name: "delegated responder not embedded", answer: spec(ocspSpec{signer: p.delegated}), wantErr: []error{errOCSPSignature}},
		{name: "other serial", answer: spec(ocspSpec{serial: big.NewInt(999999)}), wantErr: []error{errOCSPCertID}},
		{name: "same serial of another CA", answer: spec(ocspSpec{idIssuer: p.other.cert}), wantErr: []error{errOCSPCertID}},
		{name: "stale", answer: spec(ocspSpec{thisUpdate: testEpoch.Add(-2 * time.Hour), nextUpdate: testEpoch.Add(-time.Minute)}), wantErr: []error{errOCSPStale}},
		{name: "thisUpdate in the future", answer: spec(ocspSpec{thisUpdate: testEpoch.Add(time.Hour), nextUpdate: testEpoch.Add(2 * time.Hour)}), wantErr: []error{errOCSPNotYetValid}},
		{name: "thisUpdate within clock skew", answer: spec(ocspSpec{thisUpdate: testEpoch.Add(time.Minute)}), want: statusGood},
		{name: "no nextUpdate, recent", answer: spec(ocspSpec{noNextUpdate: true, thisUpdate: testEpoch.Add(-time.Minute)}), want: statusGood},
		{name: "no nextUpdate, old", answer: spec(ocspSpec{noNextUpdate: true, thisUpdate: testEpoch.Add(-2 * time.Hour)}), wantErr: []error{errOCSPStale}},
		{name: "critical unknown response extension", answer: spec(ocspSpec{exts: []pkix.Extension{{Id: encasn1.ObjectIdentifier{1, 2, 3, 4}, Critical: true, Value: []byte{5, 0}}}}), wantErr: []error{errOCSPMalformed}},
		{name: "tryLater", answer: func(ocspTestRequest) (int, []byte) { return 200, ocsp.TryLaterErrorResponse }, wantErr: []error{errOCSPResponseStatus}},
		{name: "unauthorized", answer: func(ocspTestRequest) (int, []byte) { return 200, ocsp.UnauthorizedErrorResponse }, wantErr: []error{errOCSPResponseStatus}},
		{name: "HTTP 500", answer: func(ocspTestRequest) (int, []byte) { return 500, nil }, wantErr: []error{errOCSPUnavailable, errFetchHTTPStatus}},
		{name: "garbage", answer: func(ocspTestRequest) (int, []byte) { return 200, []byte("<html>hi</html>") }, wantErr: []error{errOCSPMalformed}},
		{name: "over size cap", answer: func(ocspTestRequest) (int, []byte) { return 200, big2MiB }, wantErr: []error{errOCSPUnavailable, errFetchTooLarge}},
		{name: "nonce echoed", nonce: true, answer: echo(func(r ocspTestRequest) []byte { return r.nonce }), want: statusGood},
		{name: "nonce missing", nonce: true, answer: echo(func(ocspTestRequest) []byte { return nil }), wantErr: []error{errOCSPNonce}},
		{name: "nonce wrong", nonce: true, answer: echo(func(ocspTestRequest) []byte { return wrappedNonce(make([]byte, 32)) }), wantErr: []error{errOCSPNonce}},
		{name: "nonce echoed unwrapped", nonce: true, answer: echo(func(r ocspTestRequest) []byte { return r.nonce[2:] }), wantErr: []error{errOCSPNonce}},
		{name: "nonce in response not asked for", answer: echo(func(ocspTestRequest) []byte { return wrappedNonce([]byte{1, 2, 3}) }), want: statusGood},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.setAnswer(tc.answer)
			o := newTestOCSPClient(t, func(c *ocspConfig) { c.Nonce = tc.nonce })
			before := srv.requests.Load()
			res := o.check(context.Background(), p.leaf.cert, p.ca.cert, testEpoch)
			if n := srv.requests.Load() - before; n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			req := srv.lastRequest()
			if req.req.SerialNumber.Cmp(p.leaf.cert.SerialNumber) != 0 {
				t.Errorf("request serial %v, want %v", req.req.SerialNumber, p.leaf.cert.SerialNumber)
			}
			if tc.nonce != (req.nonce != nil) {
				t.Errorf("request nonce %x, want one: %v", req.nonce, tc.nonce)
			}
			if tc.nonce && len(req.nonce) != 2+32 {
				t.Errorf("request nonce extnValue is %d bytes, want 34", len(req.nonce))
			}
			if len(tc.wantErr) > 0 {
				if res.status != statusUnknown {
					t.Fatalf("status %v, want unknown (err %v)", res.status, res.err)
				}
				for _, want := range tc.wantErr {
					if !errors.Is(res.err, want) {
						t.Errorf("err = %v, want %v", res.err, want)
					}
				}
				return
			}
			if res.status != tc.want || res.err != nil {
				t.Fatalf("status %v (err %v), want %v", res.status, res.err, tc.want)
			}
			if tc.want == statusRevoked && (!res.revokedAt.Equal(revokedAt) || res.reason != ocsp.KeyCompromise) {
				t.Errorf("revoked at %v reason %d, want %v reason %d", res.revokedAt, res.reason, revokedAt, ocsp.KeyCompromise)
			}
		})
	}
}

func TestOCSPRequestMatchesLibrary(t *testing.T) {
	p := newOCSPPKI(t)
	id, err := newOCSPCertID(p.leaf.cert, p.ca.cert)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ocsp.CreateRequest(p.leaf.cert, p.ca.cert, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := marshalOCSPRequest(id, nil); !bytes.Equal(got, want) {
		t.Fatalf("request without nonce differs from ocsp.CreateRequest:\n got %x\nwant %x", got, want)
	}
	nonce := bytes.Repeat([]byte{0xab}, 32)
	withNonce := marshalOCSPRequest(id, nonce)
	if _, err := ocsp.ParseRequest(withNonce); err != nil {
		t.Fatalf("library cannot parse request with nonce: %v", err)
	}
	got, ok := requestNonce(withNonce)
	if !ok || !bytes.Equal(got, wrappedNonce(nonce)) {
		t.Fatalf("nonce extnValue %x, want OCTET STRING wrapping the nonce", got)
	}
}

func TestOCSPCache(t *testing.T) {
	srv := newOCSPResponder(t)
	p := newOCSPPKI(t, srv.URL)
	ctx := context.Background()
	tests := []struct {
		name         string
		spec         ocspSpec
		want         revStatus
		wantRequests int64 // for three checks
	}{
		{name: "good is cached", spec: ocspSpec{}, want: statusGood, wantRequests: 1},
		{name: "revoked is cached", spec: ocspSpec{status: ocsp.Revoked, revokedAt: testEpoch.Add(-time.Hour)}, want: statusRevoked, wantRequests: 1},
		{name: "no nextUpdate is not cached", spec: ocspSpec{noNextUpdate: true}, want: statusGood, wantRequests: 3},
		{name: "unknown is not cached", spec: ocspSpec{status: ocsp.Unknown}, want: statusUnknown, wantRequests: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.setAnswer(func(ocspTestRequest) (int, []byte) { return 200, makeOCSPResponse(t, p, tc.spec) })
			o := newTestOCSPClient(t, nil)
			before := srv.requests.Load()
			for i := range 3 {
				if res := o.check(ctx, p.leaf.cert, p.ca.cert, testEpoch); res.status != tc.want {
					t.Fatalf("check %d: status %v (err %v), want %v", i, res.status, res.err, tc.want)
				}
			}
			if n := srv.requests.Load() - before; n != tc.wantRequests {
				t.Fatalf("%d requests for 3 checks, want %d", n, tc.wantRequests)
			}
		})
	}
	t.Run("expires at nextUpdate", func(t *testing.T) {
		clock := newFetchClock(testEpoch)
		srv.setAnswer(func(ocspTestRequest) (int, []byte) {
			now := clock.Now()
			return 200, makeOCSPResponse(t, p, ocspSpec{thisUpdate: now, nextUpdate: now.Add(time.Hour)})
		})
		o := newTestOCSPClient(t, func(c *ocspConfig) { c.Now = clock.Now })
		before := srv.requests.Load()
		for _, now := range []time.Time{testEpoch, testEpoch.Add(59 * time.Minute), testEpoch.Add(time.Hour + time.Second)} {
			clock.Set(now)
			if res := o.check(ctx, p.leaf.cert, p.ca.cert, now); res.status != statusGood {
				t.Fatalf("at %v: status %v (err %v)", now, res.status, res.err)
			}
		}
		if n := srv.requests.Load() - before; n != 2 {
			t.Fatalf("%d requests, want 2 (one before, one after nextUpdate)", n)
		}
	})
}

// deadURL returns the URL of a server that has been shut down.
func deadURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	return u
}

func TestOCSPResponderUnreachable(t *testing.T) {
	hang := make(chan struct{})
	hanging := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer hanging.Close()
	defer close(hang)

	tests := []struct {
		name string
		url  string
	}{
		{name: "connection refused", url: deadURL(t)},
		{name: "timeout", url: hanging.URL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newOCSPPKI(t, tc.url)
			o := newTestOCSPClient(t, func(c *ocspConfig) { c.Timeout = 100 * time.Millisecond })
			start := time.Now()
			res := o.check(context.Background(), p.leaf.cert, p.ca.cert, testEpoch)
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("check took %v", took)
			}
			if res.status != statusUnknown || !errors.Is(res.err, errOCSPUnavailable) {
				t.Fatalf("status %v err %v, want unknown with errOCSPUnavailable", res.status, res.err)
			}
		})
	}
}

func TestOCSPResponderSelection(t *testing.T) {
	srv := newOCSPResponder(t)
	dead := deadURL(t)
	pki := newOCSPPKI(t, dead)
	srv.setAnswer(func(ocspTestRequest) (int, []byte) { return 200, makeOCSPResponse(t, pki, ocspSpec{}) })

	t.Run("override replaces AIA", func(t *testing.T) {
		o := newTestOCSPClient(t, func(c *ocspConfig) { c.Responder = srv.URL })
		if res := o.check(context.Background(), pki.leaf.cert, pki.ca.cert, testEpoch); res.status != statusGood {
			t.Fatalf("status %v err %v", res.status, res.err)
		}
	})
	t.Run("second AIA URL after a dead one", func(t *testing.T) {
		leaf := leafTemplate("second")
		leaf.OCSPServer = []string{dead, "ldap://nope.example/", srv.URL}
		cert := issue(t, pki.ca, leaf, nil).cert
		srv.setAnswer(func(ocspTestRequest) (int, []byte) {
			return 200, makeOCSPResponse(t, pki, ocspSpec{serial: cert.SerialNumber})
		})
		o := newTestOCSPClient(t, nil)
		if res := o.check(context.Background(), cert, pki.ca.cert, testEpoch); res.status != statusGood {
			t.Fatalf("status %v err %v", res.status, res.err)
		}
	})
	t.Run("no responder URL", func(t *testing.T) {
		cert := issue(t, pki.ca, leafTemplate("no AIA"), nil).cert
		o := newTestOCSPClient(t, nil)
		before := srv.requests.Load()
		res := o.check(context.Background(), cert, pki.ca.cert, testEpoch)
		if res.status != statusUnknown || !errors.Is(res.err, errOCSPNoResponder) {
			t.Fatalf("status %v err %v, want errOCSPNoResponder", res.status, res.err)
		}
		if srv.requests.Load() != before {
			t.Fatal("a request was made")
		}
	})
	t.Run("closed client", func(t *testing.T) {
		o := newTestOCSPClient(t, func(c *ocspConfig) { c.Responder = srv.URL })
		o.Close()
		o.Close()
		if res := o.check(context.Background(), pki.leaf.cert, pki.ca.cert, testEpoch); !errors.Is(res.err, errOCSPClosed) {
			t.Fatalf("status %v err %v, want errOCSPClosed", res.status, res.err)
		}
	})
}

// FuzzOCSPResponse feeds arbitrary bytes through processOCSPResponse. It
// must not panic, and must never report good unless the signed part of the
// response (ResponseData) is one an authorised key signed: a mutation can
// only leave the unsigned wrapping (or the signature encoding) different.
func FuzzOCSPResponse(f *testing.F) {
	p := newOCSPPKI(f)
	authorisedGood := [][]byte{
		makeOCSPResponse(f, p, ocspSpec{}),
		makeOCSPResponse(f, p, ocspSpec{embed: true}),
		makeOCSPResponse(f, p, ocspSpec{signer: p.delegated, embed: true}),
		makeOCSPResponse(f, p, ocspSpec{exts: []pkix.Extension{{Id: testNonceOID, Value: wrappedNonce([]byte{1})}}}),
	}
	var goodTBS [][]byte
	for _, der := range authorisedGood {
		resp, err := ocsp.ParseResponse(der, nil)
		if err != nil {
			f.Fatal(err)
		}
		goodTBS = append(goodTBS, resp.TBSResponseData)
		f.Add(der)
	}
	f.Add(makeOCSPResponse(f, p, ocspSpec{status: ocsp.Revoked, revokedAt: testEpoch.Add(-time.Hour)}))
	f.Add(makeOCSPResponse(f, p, ocspSpec{signer: p.rogue, embed: true}))
	f.Add(makeOCSPResponse(f, p, ocspSpec{signer: p.noEKU, embed: true}))
	f.Add(makeOCSPResponse(f, p, ocspSpec{signer: p.rogue, signerCertName: p.ca.cert}))
	f.Add(ocsp.TryLaterErrorResponse)
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		ans, err := processOCSPResponse(data, p.leaf.cert, p.ca.cert, nil, testEpoch)
		if err != nil {
			if ans != nil {
				t.Fatal("answer returned with an error")
			}
			return
		}
		if ans.status != statusGood {
			return
		}
		resp, perr := ocsp.ParseResponse(data, nil)
		if perr != nil {
			t.Fatalf("good from bytes the library cannot parse: %v", perr)
		}
		for _, tbs := range goodTBS {
			if bytes.Equal(resp.TBSResponseData, tbs) {
				return
			}
		}
		t.Fatalf("good from a response whose signed data no authorised key signed: %x", data)
	})
}

// TestOCSPOpenSSLResponder checks interoperability with `openssl ocsp` as
// a responder (run offline: -reqin/-respout): it must accept our request
// with a nonce, and its answer (issuer-signed with the issuer's certificate
// embedded, nonce echoed verbatim, nextUpdate only with -nmin) must verify.
func TestOCSPOpenSSLResponder(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	now := time.Now().Truncate(time.Second)
	valid := func(tmpl *x509.Certificate) *x509.Certificate {
		tmpl.NotBefore, tmpl.NotAfter = now.Add(-time.Hour), now.AddDate(1, 0, 0)
		return tmpl
	}
	root := issue(t, nil, valid(caTemplate("OpenSSL Test Root")), nil)
	ca := issue(t, root, valid(caTemplate("OpenSSL Test Sub-CA")), nil)
	good := issue(t, ca, valid(leafTemplate("good")), nil).cert
	revoked := issue(t, ca, valid(leafTemplate("revoked")), nil).cert

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(ca.key)
	if err != nil {
		t.Fatal(err)
	}
	caPEM := write("ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}))
	keyPEM := write("ca.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	exp := now.AddDate(1, 0, 0).UTC().Format("060102150405Z")
	revAt := now.Add(-30 * time.Minute).UTC()
	index := write("index.txt", []byte(fmt.Sprintf("V\t%s\t\t%X\tunknown\t/CN=good\nR\t%s\t%s,keyCompromise\t%X\tunknown\t/CN=revoked\n",
		exp, good.SerialNumber.Bytes(), exp, revAt.Format("060102150405Z"), revoked.SerialNumber.Bytes())))

	tests := []struct {
		name  string
		cert  *x509.Certificate
		args  []string
		want  revStatus
		nonce bool
	}{
		{name: "good with nonce, no nextUpdate", cert: good, want: statusGood, nonce: true},
		{name: "good with nextUpdate", cert: good, args: []string{"-nmin", "10"}, want: statusGood},
		{name: "revoked with nonce", cert: revoked, want: statusRevoked, nonce: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := newOCSPCertID(tc.cert, ca.cert)
			if err != nil {
				t.Fatal(err)
			}
			var nonce []byte
			if tc.nonce {
				nonce = make([]byte, ocspNonceLen)
				rand.Read(nonce)
			}
			req := write("req.der", marshalOCSPRequest(id, nonce))
			resp := filepath.Join(dir, "resp.der")
			args := append([]string{"ocsp", "-index", index, "-CA", caPEM, "-rsigner", caPEM, "-rkey", keyPEM,
				"-reqin", req, "-respout", resp}, tc.args...)
			if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
				t.Fatalf("openssl ocsp: %v\n%s", err, out)
			}
			der, err := os.ReadFile(resp)
			if err != nil {
				t.Fatal(err)
			}
			ans, err := processOCSPResponse(der, tc.cert, ca.cert, nonce, time.Now())
			if err != nil {
				t.Fatalf("OpenSSL response refused: %v", err)
			}
			if ans.status != tc.want {
				t.Fatalf("status %v, want %v", ans.status, tc.want)
			}
			if tc.want == statusRevoked && (ans.reason != ocsp.KeyCompromise || !ans.revokedAt.Equal(revAt)) {
				t.Errorf("revoked %v reason %d, want %v reason %d", ans.revokedAt, ans.reason, revAt, ocsp.KeyCompromise)
			}
			if hasNext := !ans.nextUpdate.IsZero(); hasNext != (len(tc.args) > 0) {
				t.Errorf("nextUpdate %v with args %v", ans.nextUpdate, tc.args)
			}
		})
	}
}

// TestOCSPResponderDownIsSkipped shows that a responder that failed is not
// asked again until DownFor has passed, so a hanging responder costs one
// timeout, not one per login.
func TestOCSPResponderDownIsSkipped(t *testing.T) {
	var hits atomic.Int64
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "overloaded", http.StatusServiceUnavailable)
	}))
	defer failing.Close()
	p := newOCSPPKI(t, failing.URL)
	now := testEpoch
	o := newTestOCSPClient(t, func(c *ocspConfig) {
		c.Now = func() time.Time { return now }
		c.DownFor = time.Minute
	})
	for i := range 3 {
		res := o.check(context.Background(), p.leaf.cert, p.ca.cert, testEpoch)
		if res.status != statusUnknown || !errors.Is(res.err, errOCSPUnavailable) {
			t.Fatalf("check %d: %v %v, want unknown/unavailable", i, res.status, res.err)
		}
	}
	if n := hits.Load(); n != 1 {
		t.Fatalf("%d requests within DownFor, want 1", n)
	}
	now = now.Add(time.Minute)
	o.check(context.Background(), p.leaf.cert, p.ca.cert, testEpoch)
	if n := hits.Load(); n != 2 {
		t.Fatalf("%d requests after DownFor, want 2", n)
	}
}
