package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/carespine/spineauth/authd/certverify"
)

// maxFileSize bounds the configuration file.
const maxFileSize = 1 << 20

// Config is authd's configuration.
type Config struct {
	PKI PKI `yaml:"pki"`
}

// PKI configures certificate verification for logins.
type PKI struct {
	Roots         []string   `yaml:"roots"`         // PEM/DER files of trust anchors
	Intermediates []string   `yaml:"intermediates"` // PEM/DER files of untrusted CA certificates
	CRLs          []string   `yaml:"crls"`          // PEM/DER CRL files
	Revocation    Revocation `yaml:"revocation"`
	Login         Login      `yaml:"login"`
}

// Revocation configures how revocation status is obtained.
type Revocation struct {
	// Mode is "hard-fail" (default: unknown status refuses), "soft-fail"
	// (unknown status is logged and accepted) or "off".
	Mode          string        `yaml:"mode"`
	Network       *bool         `yaml:"network"` // fetch CRL DPs and ask OCSP; default true
	OCSPResponder string        `yaml:"ocsp_responder"`
	OCSPNonce     *bool         `yaml:"ocsp_nonce"` // default true
	Timeout       time.Duration `yaml:"timeout"`    // default 5s
}

// Login is what a login certificate must carry beyond a valid path.
type Login struct {
	KeyUsage         []string `yaml:"key_usage"`         // RFC 5280 names, e.g. digitalSignature
	ExtKeyUsage      []string `yaml:"ext_key_usage"`     // dotted OIDs, e.g. 1.3.6.1.5.5.7.3.2
	RequiredPolicies []string `yaml:"required_policies"` // dotted OIDs
}

// Revocation modes.
const (
	ModeHardFail = "hard-fail"
	ModeSoftFail = "soft-fail"
	ModeOff      = "off"
)

// Load reads, decodes strictly, applies defaults and validates the file at
// path. Relative file names inside it are resolved against its directory.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxFileSize)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	c.resolve(filepath.Dir(path))
	return c, nil
}

// Parse decodes strictly, applies defaults and validates.
func Parse(data []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *Config) setDefaults() {
	r := &c.PKI.Revocation
	if r.Mode == "" {
		r.Mode = ModeHardFail
	}
	if r.Network == nil {
		r.Network = ptr(true)
	}
	if r.OCSPNonce == nil {
		r.OCSPNonce = ptr(true)
	}
	if r.Timeout == 0 {
		r.Timeout = 5 * time.Second
	}
}

func ptr[T any](v T) *T { return &v }

// Validate reports every problem in c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	r := c.PKI.Revocation
	switch r.Mode {
	case ModeHardFail, ModeSoftFail, ModeOff:
	default:
		bad("pki.revocation.mode: %q is not one of hard-fail, soft-fail, off", r.Mode)
	}
	if r.Timeout < 0 || r.Timeout > time.Minute {
		bad("pki.revocation.timeout: %s is outside 0..1m", r.Timeout)
	}
	for i, s := range c.PKI.Login.ExtKeyUsage {
		if !validOID(s) {
			bad("pki.login.ext_key_usage[%d]: %q is not a dotted OID", i, s)
		}
	}
	for i, s := range c.PKI.Login.RequiredPolicies {
		if !validOID(s) {
			bad("pki.login.required_policies[%d]: %q is not a dotted OID", i, s)
		}
	}
	for i, s := range c.PKI.Login.KeyUsage {
		if _, ok := certverify.ParseKeyUsage([]string{s}); !ok {
			bad("pki.login.key_usage[%d]: %q is not an RFC 5280 key usage name", i, s)
		}
	}
	return errors.Join(errs...)
}

func (c *Config) resolve(dir string) {
	for _, list := range []*[]string{&c.PKI.Roots, &c.PKI.Intermediates, &c.PKI.CRLs} {
		for i, p := range *list {
			if !filepath.IsAbs(p) {
				(*list)[i] = filepath.Join(dir, p)
			}
		}
	}
}
