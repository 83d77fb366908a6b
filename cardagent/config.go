package cardagent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DaemonConfig is the configuration file of the daemon form
// (`cardagent watch --config FILE`). Decoding is strict: an unknown key is
// an error. It holds no secret: the PIN comes from the user, the session
// token from authd.
type DaemonConfig struct {
	// AuthdURL is authd's base URL. Plain http only for a loopback host.
	AuthdURL string `yaml:"authd_url"`
	// CAFile is a PEM file of the CA that issued authd's TLS certificate
	// (default: the system's roots).
	CAFile string `yaml:"ca_file"`
	// Module is the absolute path of the PKCS#11 library that reads the
	// cards (OpenSC's opensc-pkcs11.so).
	Module string `yaml:"module"`
	// Socket is the absolute path of the local API's Unix socket (mode
	// 0600: only this user's applications may ask for the session).
	Socket string `yaml:"socket"`
	// WorkstationID is sent to authd at login (default: the host name).
	WorkstationID string `yaml:"workstation_id"`
	// Refresh is the longest time between two session checks at authd; a
	// check also refreshes the idle time-out, and the agent checks at
	// least twice per idle time-out whatever this says.
	Refresh time.Duration `yaml:"refresh"`
	// RetryMin and RetryMax bound the back-off (with jitter) when authd
	// cannot be reached.
	RetryMin time.Duration `yaml:"retry_min"`
	RetryMax time.Duration `yaml:"retry_max"`
	// TokenWait is how long, after a card is inserted, the PKCS#11 library
	// may take to show its token.
	TokenWait time.Duration `yaml:"token_wait"`
	// PINTries is how many wrong PINs lock the cards (default 3): with it
	// the agent can tell the tries left when the card only reports its
	// last try.
	PINTries int `yaml:"pin_tries"`
	// RequestTimeout bounds one request to authd.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	Log            LogConfig     `yaml:"log"`
}

// LogConfig is the log section.
type LogConfig struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // json | text
}

const maxConfigSize = 64 << 10

// LoadDaemonConfig reads, decodes strictly, applies defaults and validates
// the file at path. Relative paths in it are relative to its directory.
func LoadDaemonConfig(path string) (*DaemonConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxConfigSize)
	}
	c, err := ParseDaemonConfig(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseDaemonConfig decodes strictly, resolves relative paths against dir,
// applies defaults and validates.
func ParseDaemonConfig(data []byte, dir string) (*DaemonConfig, error) {
	var c DaemonConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	c.resolve(dir)
	c.setDefaults()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

func (c *DaemonConfig) resolve(dir string) {
	abs := func(p *string) {
		if *p != "" && !filepath.IsAbs(*p) && dir != "" {
			*p = filepath.Join(dir, *p)
		}
	}
	abs(&c.CAFile)
	abs(&c.Socket)
	// Module stays as written: a relative library path is refused, not
	// resolved (see pkcs11.Open).
}

func (c *DaemonConfig) setDefaults() {
	if c.WorkstationID == "" {
		c.WorkstationID, _ = os.Hostname()
	}
	if c.Refresh == 0 {
		c.Refresh = 5 * time.Minute
	}
	if c.RetryMin == 0 {
		c.RetryMin = 250 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 30 * time.Second
	}
	if c.TokenWait == 0 {
		c.TokenWait = 5 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.PINTries == 0 {
		c.PINTries = 3
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "json"
	}
}

// Validate reports every problem at once.
func (c *DaemonConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if u, err := url.Parse(c.AuthdURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		bad("authd_url: %q is not an http(s) URL without user, query or fragment", c.AuthdURL)
	} else if u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		bad("authd_url: plain http is only allowed to a loopback host; use https")
	} else if u.Scheme == "http" && c.CAFile != "" {
		bad("ca_file: set, but authd_url is plain http")
	}
	if c.CAFile != "" {
		if _, err := os.Stat(c.CAFile); err != nil {
			bad("ca_file: %v", err)
		}
	}
	switch {
	case c.Module == "":
		bad("module: required (the PKCS#11 library, e.g. /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so)")
	case !filepath.IsAbs(c.Module):
		bad("module: %q is not an absolute path", c.Module)
	default:
		if _, err := os.Stat(c.Module); err != nil {
			bad("module: %v", err)
		}
	}
	switch {
	case c.Socket == "":
		bad("socket: required (the local API's Unix socket path)")
	case len(c.Socket) > 100:
		bad("socket: %q is longer than a Unix socket path may be", c.Socket)
	default:
		if fi, err := os.Stat(filepath.Dir(c.Socket)); err != nil || !fi.IsDir() {
			bad("socket: directory %s does not exist", filepath.Dir(c.Socket))
		}
	}
	if c.WorkstationID == "" || len(c.WorkstationID) > 128 || strings.ContainsFunc(c.WorkstationID, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		bad("workstation_id: %q must be 1-128 printable characters", c.WorkstationID)
	}
	if c.Refresh < time.Second || c.Refresh > time.Hour {
		bad("refresh: %s is outside 1s..1h", c.Refresh)
	}
	if c.RetryMin < 10*time.Millisecond || c.RetryMin > c.RetryMax {
		bad("retry_min: %s is outside 10ms..retry_max", c.RetryMin)
	}
	if c.RetryMax > 10*time.Minute {
		bad("retry_max: %s is longer than 10m", c.RetryMax)
	}
	if c.TokenWait < 0 || c.TokenWait > time.Minute {
		bad("token_wait: %s is outside 0..1m", c.TokenWait)
	}
	if c.RequestTimeout < 100*time.Millisecond || c.RequestTimeout > time.Minute {
		bad("request_timeout: %s is outside 100ms..1m", c.RequestTimeout)
	}
	if c.PINTries < 1 || c.PINTries > 15 {
		bad("pin_tries: %d is outside 1..15", c.PINTries)
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
	return errors.Join(errs...)
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
