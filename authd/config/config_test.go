package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string // substrings that must all appear; nil means success
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "empty file gets defaults",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				r := c.PKI.Revocation
				if r.Mode != ModeHardFail || !*r.Network || !*r.OCSPNonce || r.Timeout != 5*time.Second {
					t.Errorf("defaults: %+v", r)
				}
			},
		},
		{
			name: "explicit values kept",
			yaml: "pki:\n  revocation:\n    mode: soft-fail\n    network: false\n    timeout: 2s\n",
			check: func(t *testing.T, c *Config) {
				r := c.PKI.Revocation
				if r.Mode != ModeSoftFail || *r.Network || r.Timeout != 2*time.Second {
					t.Errorf("values: %+v", r)
				}
			},
		},
		{name: "unknown field", yaml: "pki:\n  rootz: [a.pem]\n", wantErr: []string{"field rootz not found"}},
		{name: "wrong type", yaml: "pki:\n  roots: a.pem\n", wantErr: []string{"cannot unmarshal"}},
		{
			name: "every problem reported at once",
			yaml: "pki:\n  revocation:\n    mode: maybe\n    timeout: 2h\n  login:\n    key_usage: [digitalSignature, flying]\n    ext_key_usage: [clientAuth]\n    required_policies: [1.2.x]\n",
			wantErr: []string{
				`pki.revocation.mode: "maybe"`,
				"pki.revocation.timeout: 2h0m0s",
				`pki.login.key_usage[1]: "flying"`,
				`pki.login.ext_key_usage[0]: "clientAuth"`,
				`pki.login.required_policies[0]: "1.2.x"`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.yaml))
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("want an error, got none")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestLoadResolvesRelativePaths(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "authd.yaml")
	if err := os.WriteFile(path, []byte("pki:\n  roots: [ca/root.pem, /abs/root.pem]\n  crls: [x.crl]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.PKI.Roots[0], filepath.Join(dir, "ca/root.pem"); got != want {
		t.Errorf("relative root: %q, want %q", got, want)
	}
	if got := c.PKI.Roots[1]; got != "/abs/root.pem" {
		t.Errorf("absolute root changed: %q", got)
	}
	if got, want := c.PKI.CRLs[0], filepath.Join(dir, "x.crl"); got != want {
		t.Errorf("relative CRL: %q, want %q", got, want)
	}
}

func TestLoadRefusesOversizedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	if err := os.WriteFile(path, make([]byte, maxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("want a size error, got %v", err)
	}
}
