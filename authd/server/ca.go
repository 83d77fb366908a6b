package server

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/carespine/spineauth/authd/caserve"
	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
)

// caParts are the card CA and its endpoints, built from the ca section.
type caParts struct {
	ca     *cardca.CA
	serve  *caserve.Service
	module *pkcs11.Module // the CA key's library, when the key is on a token
	token  *pkcs11.Token
}

func (p *caParts) Close() error {
	var errs []error
	if p.token != nil {
		errs = append(errs, p.token.Close())
	}
	if p.module != nil {
		errs = append(errs, p.module.Close())
	}
	return errors.Join(errs...)
}

// buildCA loads the CA certificate and key (a PEM file, or a key on a
// PKCS#11 token, logged in with the PIN from pin_file or pin_env), and
// makes the CA and its endpoints. Its revocations make v drop the cached
// CRL of the CA's distribution point.
func buildCA(ctx context.Context, c config.CA, store cardca.Store, v *certverify.Verifier,
	now func() time.Time, log *slog.Logger, reg prometheus.Registerer) (_ *caParts, err error) {
	p := &caParts{}
	defer func() {
		if err != nil {
			_ = p.Close() // the token session and library, if opened
		}
	}()
	certs, err := readCerts([]string{c.CertFile})
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("ca.cert_file: want one certificate: %v", err)
	}
	cert := certs[0]
	var signer crypto.Signer
	if c.KeyFile != "" {
		if signer, err = pemSigner(c.CertFile, c.KeyFile); err != nil {
			return nil, fmt.Errorf("ca.key_file: %w", err)
		}
	} else if signer, err = p.tokenSigner(ctx, c.PKCS11); err != nil {
		return nil, fmt.Errorf("ca.pkcs11 (%v): %w", c.PKCS11, err)
	}
	var policies []x509.OID
	for _, s := range c.Policies {
		oid, err := x509.ParseOID(s)
		if err != nil {
			return nil, fmt.Errorf("ca.policies: %w", err)
		}
		policies = append(policies, oid)
	}
	crlURL := c.CRLURL()
	p.ca, err = cardca.New(ctx, cardca.Config{
		Cert: cert, Signer: signer,
		CRLURL: crlURL, OCSPURL: c.OCSPURL(), CAIssuersURL: c.CAIssuersURL(),
		Policies:      policies,
		Validity:      c.Validity,
		RenewalWindow: c.RenewalWindow,
		CRLValidity:   c.CRLValidity,
		Now:           now,
		Logger:        log,
		OnRevoke: func(context.Context, []registration.IssuedCert) {
			v.ForgetCRL(crlURL) // this node's logins see the revocation at once
		},
	}, store)
	if err != nil {
		return nil, err
	}
	responder := caserve.Responder{Cert: cert, Signer: signer}
	if c.OCSPResponder.CertFile != "" {
		rc, err := readCerts([]string{c.OCSPResponder.CertFile})
		if err != nil || len(rc) != 1 {
			return nil, fmt.Errorf("ca.ocsp_responder.cert_file: want one certificate: %v", err)
		}
		rs, err := pemSigner(c.OCSPResponder.CertFile, c.OCSPResponder.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("ca.ocsp_responder: %w", err)
		}
		responder = caserve.Responder{Cert: rc[0], Signer: rs}
	}
	p.serve, err = caserve.New(caserve.Config{
		CA: p.ca, Responder: responder, OCSPValidity: c.OCSPValidity,
		Now: now, Logger: log, Registry: reg,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// pemSigner reads a PEM private key (PKCS#8, PKCS#1 or SEC 1) through
// the TLS loader, which also checks that it belongs to the certificate.
func pemSigner(certFile, keyFile string) (crypto.Signer, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	s, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the key in %s cannot sign", keyFile)
	}
	return s, nil
}

// tokenSigner opens the CA key on a PKCS#11 token and logs in; the
// session stays open for the life of the server.
func (p *caParts) tokenSigner(ctx context.Context, c config.CAPKCS11) (crypto.Signer, error) {
	pin, err := readCAPIN(c)
	if err != nil {
		return nil, err
	}
	id, err := hex.DecodeString(c.KeyID)
	if err != nil {
		return nil, fmt.Errorf("key_id: %w", err)
	}
	if p.module, err = pkcs11.Open(c.Module); err != nil {
		return nil, err
	}
	if p.token, err = p.module.OpenToken(ctx, pkcs11.Selector{Label: c.Token}); err != nil {
		return nil, err
	}
	if err := p.token.Login(ctx, pin); err != nil {
		return nil, err
	}
	return p.token.KeySigner(ctx, id)
}

// readCAPIN reads the HSM PIN from its file (first line) or variable.
func readCAPIN(c config.CAPKCS11) (pkcs11.PIN, error) {
	var s string
	if c.PINFile != "" {
		b, err := os.ReadFile(c.PINFile)
		if err != nil {
			return pkcs11.PIN{}, fmt.Errorf("pin_file: %w", err)
		}
		s, _, _ = strings.Cut(string(b), "\n")
		s = strings.TrimRight(s, "\r")
	} else {
		s = os.Getenv(c.PINEnv)
		if s == "" {
			return pkcs11.PIN{}, fmt.Errorf("pin_env: $%s is empty", c.PINEnv)
		}
	}
	return pkcs11.NewPIN(s)
}
