package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files written by certs, under --dir.
const (
	caCertFile     = "ca.pem"
	serverCertFile = "server.pem"
	serverKeyFile  = "server.key"
	clientCertFile = "client.pem"
	clientKeyFile  = "client.key"
)

// runCerts writes a throwaway service CA, a server certificate for the
// loopback addresses (used by both authd and OPA) and a client
// certificate (clientAuth) that the load generator presents to both. The
// CA's key is never written: nothing else is ever issued under it.
func runCerts(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("certs", stderr)
	dir := fs.String("dir", "", "directory to write ca.pem, server.{pem,key}, client.{pem,key}")
	validity := fs.Duration("validity", 7*24*time.Hour, "certificate lifetime")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("certs: --dir is required")
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if err := writeCerts(*dir, time.Now(), *validity); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "certs: wrote %s/{%s,%s,%s,%s,%s}\n", *dir, caCertFile, serverCertFile, serverKeyFile, clientCertFile, clientKeyFile)
	return nil
}

func writeCerts(dir string, now time.Time, validity time.Duration) error {
	notBefore, notAfter := now.Add(-time.Hour), now.Add(validity)
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"pdpbench"}, CommonName: "pdpbench throwaway service CA"},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, ca, err := issue(caTmpl, caKey, nil, caKey)
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	if err := writePEM(filepath.Join(dir, caCertFile), "CERTIFICATE", caDER, 0o644); err != nil {
		return err
	}
	leaves := []struct {
		certFile, keyFile string
		tmpl              *x509.Certificate
	}{
		{serverCertFile, serverKeyFile, &x509.Certificate{
			Subject:     pkix.Name{Organization: []string{"pdpbench"}, CommonName: "127.0.0.1"},
			DNSNames:    []string{"localhost"},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}},
		{clientCertFile, clientKeyFile, &x509.Certificate{
			// The PDP names its caller by this CN in the decision log.
			Subject:     pkix.Name{Organization: []string{"pdpbench"}, CommonName: "pdpbench-load"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
	}
	for _, l := range leaves {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		l.tmpl.NotBefore, l.tmpl.NotAfter = notBefore, notAfter
		l.tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		der, _, err := issue(l.tmpl, key, ca, caKey)
		if err != nil {
			return fmt.Errorf("%s: %w", l.certFile, err)
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, l.keyFile), "PRIVATE KEY", pkcs8, 0o600); err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, l.certFile), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// issue signs tmpl (self-signed when parent is nil) with a fresh serial.
func issue(tmpl *x509.Certificate, key *ecdsa.PrivateKey, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) ([]byte, *x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl.SerialNumber = serial.Add(serial, big.NewInt(1))
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return der, c, err
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place, with mode from the start (a key is never world-readable,
// not even for a moment).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
