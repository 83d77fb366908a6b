package server

import (
	"crypto/x509"
	"fmt"
	"os"

	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/authd/config"
)

// verifierConfig reads the PKI files of c. Unlike the cert verify command,
// a configured file that does not parse is an error: an operator's trust
// configuration must be exactly what they wrote.
func verifierConfig(p config.PKI) (certverify.Config, error) {
	var cfg certverify.Config
	var err error
	if cfg.Roots, err = readCerts(p.Roots); err != nil {
		return cfg, err
	}
	if len(cfg.Roots) == 0 {
		return cfg, fmt.Errorf("pki.roots: at least one trust anchor is required")
	}
	if cfg.Intermediates, err = readCerts(p.Intermediates); err != nil {
		return cfg, err
	}
	for _, path := range p.CRLs {
		data, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("pki.crls: %w", err)
		}
		crls, bad, err := certverify.ParseCRLs(data)
		if err != nil || len(bad) > 0 {
			return cfg, fmt.Errorf("pki.crls: %s: %v", path, firstErr(err, bad))
		}
		cfg.CRLs = append(cfg.CRLs, crls...)
	}
	r := p.Revocation
	cfg.Revocation = certverify.RevocationConfig{
		Check:         r.Mode != config.ModeOff,
		Network:       r.Mode != config.ModeOff && *r.Network,
		SoftFail:      r.Mode == config.ModeSoftFail,
		OCSPResponder: r.OCSPResponder,
		OCSPNonce:     *r.OCSPNonce,
		Timeout:       r.Timeout,
	}
	if cfg.Login, err = LoginPolicy(p.Login); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// LoginPolicy turns the pki.login section into the verifier's form.
func LoginPolicy(l config.Login) (certverify.LoginPolicy, error) {
	var p certverify.LoginPolicy
	ku, ok := certverify.ParseKeyUsage(l.KeyUsage)
	if !ok {
		return p, fmt.Errorf("pki.login.key_usage: unknown key usage in %v", l.KeyUsage)
	}
	p.KeyUsage = ku
	for _, s := range l.ExtKeyUsage {
		oid, err := x509.ParseOID(s)
		if err != nil {
			return p, fmt.Errorf("pki.login.ext_key_usage: %w", err)
		}
		p.ExtKeyUsage = append(p.ExtKeyUsage, oid)
	}
	for _, s := range l.RequiredPolicies {
		oid, err := x509.ParseOID(s)
		if err != nil {
			return p, fmt.Errorf("pki.login.required_policies: %w", err)
		}
		p.RequiredPolicies = append(p.RequiredPolicies, oid)
	}
	return p, nil
}

func readCerts(paths []string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("pki: %w", err)
		}
		certs, bad, err := certverify.ParseCertificates(data)
		if err != nil || len(bad) > 0 {
			return nil, fmt.Errorf("pki: %s: %v", path, firstErr(err, bad))
		}
		out = append(out, certs...)
	}
	return out, nil
}

func firstErr(err error, bad []error) error {
	if err != nil {
		return err
	}
	return bad[0]
}

// certPool reads PEM CA files into a pool.
func certPool(paths []string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	certs, err := readCerts(paths)
	if err != nil {
		return nil, err
	}
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}
