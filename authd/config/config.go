package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
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
	// Listen is the address of the HTTP API (default 127.0.0.1:8089).
	Listen string `yaml:"listen"`
	// Audience names this service in login challenges, normally its
	// public URL (default http://<listen>).
	Audience string   `yaml:"audience"`
	TLS      TLS      `yaml:"tls"`
	Store    Store    `yaml:"store"`
	Sessions Sessions `yaml:"sessions"`
	// Catalogue is an RBAC catalogue file; empty means the built-in one.
	Catalogue string `yaml:"catalogue"`
	Log       Log    `yaml:"log"`
	PKI       PKI    `yaml:"pki"`
	PDP       PDP    `yaml:"pdp"`
	// CA is the card CA and its CRL and OCSP endpoints (ca.go).
	CA CA `yaml:"ca"`
}

// PDP configures the policy decision point.
type PDP struct {
	// PolicyDir is a directory of Rego policies and data, watched and
	// reloaded on change; empty means the policies built into authd.
	PolicyDir string `yaml:"policy_dir"`
	// RunPolicyTests runs the *_test.rego files on every load and refuses
	// a policy set whose tests fail (default true).
	RunPolicyTests *bool `yaml:"run_policy_tests"`
	// DecisionLog is the SQLite file of the decision log (default
	// decisions.db beside the config).
	DecisionLog string `yaml:"decision_log"`
	// ClientCAs are PEM files of the CAs that issue spine services'
	// client certificates; callers of the PDP must present one (mutual
	// TLS, so tls must be configured).
	ClientCAs []string `yaml:"client_cas"`
	// Data is merged under data for the policies, e.g.
	// {spine: {config: {emergency: {override_dissent: true}}}}.
	Data map[string]any `yaml:"data"`
}

// TLS configures HTTPS. Without it authd serves plain HTTP, which is only
// allowed on a loopback address.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Store configures the registration store.
type Store struct {
	Driver   string   `yaml:"driver"`   // sqlite (default) | postgres
	Path     string   `yaml:"path"`     // SQLite file (default authd.db beside the config)
	Postgres Postgres `yaml:"postgres"` // for driver postgres (store.go)
}

// Sessions configures the session and challenge stores.
type Sessions struct {
	Backend     string        `yaml:"backend"`      // memory (default) | redis
	Lifetime    time.Duration `yaml:"lifetime"`     // absolute, default 10h
	IdleTimeout time.Duration `yaml:"idle_timeout"` // default 30m
	Redis       Redis         `yaml:"redis"`
}

// Redis configures a Redis backend: one address for a single node,
// several for Cluster, or MasterName with Sentinel addresses.
type Redis struct {
	Addrs       []string `yaml:"addrs"`
	MasterName  string   `yaml:"master_name"`
	DB          int      `yaml:"db"`
	PasswordEnv string   `yaml:"password_env"` // name of the environment variable holding the password
	KeyPrefix   string   `yaml:"key_prefix"`   // default "spineauth:"
}

// Log configures logging.
type Log struct {
	Level  string `yaml:"level"`  // debug | info (default) | warn | error
	Format string `yaml:"format"` // json (default) | text
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
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8089"
	}
	if c.Audience == "" {
		scheme := "http"
		if c.TLS.CertFile != "" {
			scheme = "https"
		}
		c.Audience = scheme + "://" + c.Listen
	}
	if c.Store.Driver == "" {
		c.Store.Driver = "sqlite"
	}
	if c.Store.Path == "" && c.Store.Driver == "sqlite" {
		c.Store.Path = "authd.db"
	}
	c.Store.Postgres.setDefaults(c.Store.Driver)
	if c.Sessions.Backend == "" {
		c.Sessions.Backend = "memory"
	}
	if c.Sessions.Lifetime == 0 {
		c.Sessions.Lifetime = 10 * time.Hour
	}
	if c.Sessions.IdleTimeout == 0 {
		c.Sessions.IdleTimeout = 30 * time.Minute
	}
	if c.Sessions.Redis.KeyPrefix == "" {
		c.Sessions.Redis.KeyPrefix = "spineauth:"
	}
	if c.PDP.RunPolicyTests == nil {
		c.PDP.RunPolicyTests = ptr(true)
	}
	if c.PDP.DecisionLog == "" {
		c.PDP.DecisionLog = "decisions.db"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
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
	c.setCADefaults()
}

func ptr[T any](v T) *T { return &v }

// Validate reports every problem in c at once.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		bad("listen: %q is not host:port: %v", c.Listen, err)
	} else if c.TLS.CertFile == "" && !isLoopback(host) {
		bad("listen: plain HTTP is only allowed on a loopback address; configure tls.cert_file and tls.key_file to listen on %q", c.Listen)
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls: cert_file and key_file go together")
	}
	if u, err := url.Parse(c.Audience); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("audience: %q is not an http(s) URL", c.Audience)
	}
	errs = append(errs, c.Store.validate()...)
	switch c.Sessions.Backend {
	case "memory":
	case "redis":
		if len(c.Sessions.Redis.Addrs) == 0 {
			bad("sessions.redis.addrs: at least one address is required for the redis backend")
		}
	default:
		bad("sessions.backend: %q is not one of memory, redis", c.Sessions.Backend)
	}
	if c.Sessions.Lifetime < time.Minute || c.Sessions.Lifetime > 24*time.Hour {
		bad("sessions.lifetime: %s is outside 1m..24h", c.Sessions.Lifetime)
	}
	if c.Sessions.IdleTimeout < time.Minute || c.Sessions.IdleTimeout > c.Sessions.Lifetime {
		bad("sessions.idle_timeout: %s is outside 1m..lifetime", c.Sessions.IdleTimeout)
	}
	if len(c.PDP.ClientCAs) > 0 && c.TLS.CertFile == "" {
		bad("pdp.client_cas: callers authenticate with client certificates, so tls.cert_file and tls.key_file are required")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level: %q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text":
	default:
		bad("log.format: %q is not one of json, text", c.Log.Format)
	}
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
	c.validateCA(bad)
	return errors.Join(errs...)
}

func (c *Config) resolve(dir string) {
	for _, list := range []*[]string{&c.PKI.Roots, &c.PKI.Intermediates, &c.PKI.CRLs} {
		for i, p := range *list {
			(*list)[i] = resolvePath(dir, p)
		}
	}
	for i, p := range c.PDP.ClientCAs {
		c.PDP.ClientCAs[i] = resolvePath(dir, p)
	}
	for _, p := range []*string{&c.Store.Path, &c.Store.Postgres.DSNFile, &c.Catalogue, &c.TLS.CertFile, &c.TLS.KeyFile, &c.PDP.PolicyDir, &c.PDP.DecisionLog} {
		*p = resolvePath(dir, *p)
	}
	c.resolveCA(dir)
}

func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
