package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// devTLS is the throwaway TLS PKI of `authd dev`: one CA that issues the
// server's certificate (127.0.0.1, localhost) and the client certificate
// of a demo spine service allowed to call the PDP.
type devTLS struct {
	ca, serverCert, serverKey, serviceCert, serviceKey string
}

// makeDevTLS writes the dev TLS files under dir on first run.
func makeDevTLS(dir string) (*devTLS, error) {
	d := &devTLS{
		ca:          filepath.Join(dir, "dev-ca.pem"),
		serverCert:  filepath.Join(dir, "server.pem"),
		serverKey:   filepath.Join(dir, "server.key"),
		serviceCert: filepath.Join(dir, "scr-service.pem"),
		serviceKey:  filepath.Join(dir, "scr-service.key"),
	}
	if fileExists(d.serviceKey) {
		return d, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "authd dev CA (throwaway)", Organization: []string{"spineauth dev"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	issue := func(certPath, keyPath string, tmpl *x509.Certificate) error {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
		if err != nil {
			return err
		}
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = serial, now.Add(-time.Hour), now.AddDate(1, 0, 0)
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
		if err != nil {
			return err
		}
		kder, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		return errors.Join(writePEMFile(certPath, "CERTIFICATE", der), writePEMFile(keyPath, "PRIVATE KEY", kder))
	}
	err = errors.Join(
		writePEMFile(d.ca, "CERTIFICATE", caDER),
		issue(d.serverCert, d.serverKey, &x509.Certificate{
			Subject:     pkix.Name{CommonName: "authd dev"},
			DNSNames:    []string{"localhost"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}),
		issue(d.serviceCert, d.serviceKey, &x509.Certificate{
			Subject:     pkix.Name{CommonName: "scr-service", OrganizationalUnit: []string{"Services"}, Organization: []string{"spineauth dev"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("dev TLS: %w", err)
	}
	return d, nil
}

func writePEMFile(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}
