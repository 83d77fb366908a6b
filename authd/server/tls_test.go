package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serviceTLS is a throwaway PKI for authd's TLS and the spine services
// that call the PDP: one CA issuing the server certificate (127.0.0.1)
// and a client certificate for a service.
type serviceTLS struct {
	caFile, certFile, keyFile string
	ca                        *x509.Certificate
	caKey                     *ecdsa.PrivateKey
	service                   tls.Certificate
}

func newServiceTLS(t testing.TB) *serviceTLS {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Spine Services CA", Organization: []string{"nhs"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	s := &serviceTLS{ca: ca, caKey: caKey, caFile: filepath.Join(dir, "ca.pem"),
		certFile: filepath.Join(dir, "server.pem"), keyFile: filepath.Join(dir, "server.key")}
	writePEM(t, s.caFile, "CERTIFICATE", caDER)
	srvDER, srvKey := s.issue(t, "authd.test", x509.ExtKeyUsageServerAuth)
	writePEM(t, s.certFile, "CERTIFICATE", srvDER)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	writePEM(t, s.keyFile, "PRIVATE KEY", keyDER)
	s.service = s.clientCert(t, "scr-service")
	return s
}

func (s *serviceTLS) issue(t testing.TB, cn string, eku x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{"Services"}, Organization: []string{"nhs"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{eku},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.ca, key.Public(), s.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return der, key
}

func (s *serviceTLS) clientCert(t testing.TB, cn string) tls.Certificate {
	der, key := s.issue(t, cn, x509.ExtKeyUsageClientAuth)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// client is an HTTPS client trusting the CA, presenting certs.
func (s *serviceTLS) client(certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(s.ca)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, Certificates: certs, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// withPDP serves TLS and authenticates PDP callers with the service CA.
func withPDP(s *serviceTLS, extra string) func(*rigConfig) {
	return func(rc *rigConfig) {
		rc.scheme = "https"
		rc.client = s.client()
		rc.extra += fmt.Sprintf("tls:\n  cert_file: %s\n  key_file: %s\npdp:\n  client_cas: [%s]\n%s", s.certFile, s.keyFile, s.caFile, extra)
	}
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
