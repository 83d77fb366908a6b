package config

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// CA configures the card CA (registration/cardca) and the CRL and OCSP
// endpoints authd serves for it (authd/caserve). Without cert_file authd
// runs no CA.
//
//	ca:
//	  cert_file: subca.pem          # the authentication sub-CA
//	  key_file: subca.key           # development: its PEM key; or
//	  pkcs11:                       # production: the key on an HSM
//	    module: /usr/lib/softhsm/libsofthsm2.so
//	    token: spine-ca
//	    key_id: 0a1b2c              # CKA_ID of the CA key, hex
//	    pin_file: /run/secrets/ca-pin   # or pin_env: CA_PIN
//	  public_url: https://authd.example # base of the CRL and OCSP URLs in certificates (default: audience)
//	  policies: [1.3.6.1.4.1.58888.1.1.1] # default: pki.login.required_policies
//	  validity: 17520h              # 2 years
//	  renewal_window: 2160h         # 90 days
//	  crl_validity: 24h
//	  ocsp_validity: 0s             # 0: answers without nextUpdate
//	  ocsp_responder: {cert_file: ocsp.pem, key_file: ocsp.key} # optional delegated signer
type CA struct {
	CertFile      string        `yaml:"cert_file"`
	KeyFile       string        `yaml:"key_file"`
	PKCS11        CAPKCS11      `yaml:"pkcs11"`
	PublicURL     string        `yaml:"public_url"`
	Policies      []string      `yaml:"policies"`
	Validity      time.Duration `yaml:"validity"`
	RenewalWindow time.Duration `yaml:"renewal_window"`
	CRLValidity   time.Duration `yaml:"crl_validity"`
	OCSPValidity  time.Duration `yaml:"ocsp_validity"`
	OCSPResponder KeyPair       `yaml:"ocsp_responder"`
}

// CAPKCS11 names a CA key on a PKCS#11 token. The PIN comes from a file
// or an environment variable, never from this file.
type CAPKCS11 struct {
	Module  string `yaml:"module"` // absolute path of the PKCS#11 library
	Token   string `yaml:"token"`  // token label
	KeyID   string `yaml:"key_id"` // CKA_ID of the key, hex
	PINFile string `yaml:"pin_file"`
	PINEnv  string `yaml:"pin_env"`
}

// KeyPair is a certificate and its PEM key.
type KeyPair struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether a card CA is configured.
func (c CA) Enabled() bool { return c.CertFile != "" }

// CRLURL, OCSPURL and CAIssuersURL are the URLs put in card
// certificates.
func (c CA) CRLURL() string       { return strings.TrimRight(c.PublicURL, "/") + "/v1/pki/crl" }
func (c CA) OCSPURL() string      { return strings.TrimRight(c.PublicURL, "/") + "/v1/pki/ocsp" }
func (c CA) CAIssuersURL() string { return strings.TrimRight(c.PublicURL, "/") + "/v1/pki/ca.crt" }

func (c *Config) setCADefaults() {
	ca := &c.CA
	if !ca.Enabled() {
		return
	}
	if ca.PublicURL == "" {
		ca.PublicURL = c.Audience
	}
	if ca.Policies == nil {
		ca.Policies = append([]string(nil), c.PKI.Login.RequiredPolicies...)
	}
	if ca.Validity == 0 {
		ca.Validity = 2 * 365 * 24 * time.Hour
	}
	if ca.RenewalWindow == 0 {
		ca.RenewalWindow = 90 * 24 * time.Hour
	}
	if ca.CRLValidity == 0 {
		ca.CRLValidity = 24 * time.Hour
	}
}

func (c *Config) validateCA(bad func(string, ...any)) {
	ca := c.CA
	if !ca.Enabled() {
		if ca.KeyFile != "" || ca.PKCS11 != (CAPKCS11{}) || ca.PublicURL != "" || ca.OCSPResponder != (KeyPair{}) {
			bad("ca: cert_file is required when the ca section is used")
		}
		return
	}
	p := ca.PKCS11
	usesHSM := p != (CAPKCS11{})
	switch {
	case ca.KeyFile == "" && !usesHSM:
		bad("ca: the CA key is required: key_file (development) or pkcs11")
	case ca.KeyFile != "" && usesHSM:
		bad("ca: key_file and pkcs11 are exclusive")
	}
	if usesHSM {
		if !filepath.IsAbs(p.Module) {
			bad("ca.pkcs11.module: %q must be an absolute path", p.Module)
		}
		if p.Token == "" {
			bad("ca.pkcs11.token: the token label is required")
		}
		if id, err := hex.DecodeString(p.KeyID); err != nil || len(id) == 0 || len(id) > 64 {
			bad("ca.pkcs11.key_id: %q is not 1 to 64 bytes of hex", p.KeyID)
		}
		if (p.PINFile == "") == (p.PINEnv == "") {
			bad("ca.pkcs11: exactly one of pin_file and pin_env is required")
		}
	}
	if u, err := url.Parse(ca.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" {
		bad("ca.public_url: %q is not an http(s) URL", ca.PublicURL)
	}
	for i, s := range ca.Policies {
		if !validOID(s) {
			bad("ca.policies[%d]: %q is not a dotted OID", i, s)
		}
	}
	if ca.Validity < time.Hour || ca.Validity > 5*365*24*time.Hour {
		bad("ca.validity: %s is outside 1h..43800h (5 years)", ca.Validity)
	}
	if ca.RenewalWindow < 0 || ca.RenewalWindow >= ca.Validity {
		bad("ca.renewal_window: %s must be below the validity %s", ca.RenewalWindow, ca.Validity)
	}
	if ca.CRLValidity < time.Minute || ca.CRLValidity > 30*24*time.Hour {
		bad("ca.crl_validity: %s is outside 1m..720h", ca.CRLValidity)
	}
	if ca.OCSPValidity < 0 || ca.OCSPValidity > 7*24*time.Hour {
		bad("ca.ocsp_validity: %s is outside 0..168h", ca.OCSPValidity)
	}
	if (ca.OCSPResponder.CertFile == "") != (ca.OCSPResponder.KeyFile == "") {
		bad("ca.ocsp_responder: cert_file and key_file go together")
	}
}

func (c *Config) resolveCA(dir string) {
	for _, p := range []*string{&c.CA.CertFile, &c.CA.KeyFile, &c.CA.PKCS11.PINFile,
		&c.CA.OCSPResponder.CertFile, &c.CA.OCSPResponder.KeyFile} {
		*p = resolvePath(dir, *p)
	}
}

// String describes the CA key's source without secrets, for logs.
func (p CAPKCS11) String() string {
	return fmt.Sprintf("pkcs11 %s token %q key %s", p.Module, p.Token, p.KeyID)
}
