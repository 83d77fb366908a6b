package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCASection(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr []string
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "no CA by default",
			yaml: "",
			check: func(t *testing.T, c *Config) {
				if c.CA.Enabled() {
					t.Error("CA enabled without a ca section")
				}
			},
		},
		{
			name: "defaults from the audience and the login policy",
			yaml: "audience: https://authd.example\npki: {login: {required_policies: [1.2.3.4]}}\nca: {cert_file: ca.pem, key_file: ca.key}\n",
			check: func(t *testing.T, c *Config) {
				ca := c.CA
				if ca.Validity != 2*365*24*time.Hour || ca.RenewalWindow != 90*24*time.Hour || ca.CRLValidity != 24*time.Hour || ca.OCSPValidity != 0 {
					t.Errorf("durations %+v", ca)
				}
				if ca.CRLURL() != "https://authd.example/v1/pki/crl" || ca.OCSPURL() != "https://authd.example/v1/pki/ocsp" {
					t.Errorf("URLs %s %s", ca.CRLURL(), ca.OCSPURL())
				}
				if len(ca.Policies) != 1 || ca.Policies[0] != "1.2.3.4" {
					t.Errorf("policies %v", ca.Policies)
				}
			},
		},
		{
			name: "pkcs11 key",
			yaml: "ca:\n  cert_file: ca.pem\n  public_url: http://127.0.0.1:8089/\n  pkcs11: {module: /usr/lib/softhsm/libsofthsm2.so, token: ca, key_id: 0a0b, pin_env: CA_PIN}\n",
			check: func(t *testing.T, c *Config) {
				if c.CA.PKCS11.KeyID != "0a0b" || c.CA.CRLURL() != "http://127.0.0.1:8089/v1/pki/crl" {
					t.Errorf("%+v %s", c.CA.PKCS11, c.CA.CRLURL())
				}
			},
		},
		{
			name:    "no key",
			yaml:    "ca: {cert_file: ca.pem}\n",
			wantErr: []string{"ca: the CA key is required"},
		},
		{
			name:    "section without a certificate",
			yaml:    "ca: {key_file: ca.key}\n",
			wantErr: []string{"ca: cert_file is required"},
		},
		{
			name: "every problem at once",
			yaml: "ca:\n  cert_file: ca.pem\n  key_file: ca.key\n  public_url: ftp://x\n  policies: [x.y]\n  validity: 30m\n  renewal_window: 1h\n  crl_validity: 1s\n  ocsp_validity: -1s\n" +
				"  pkcs11: {module: libsofthsm2.so, key_id: zz, pin_env: A, pin_file: b}\n  ocsp_responder: {cert_file: r.pem}\n",
			wantErr: []string{
				"ca: key_file and pkcs11 are exclusive",
				`ca.pkcs11.module: "libsofthsm2.so" must be an absolute path`,
				"ca.pkcs11.token: the token label is required",
				`ca.pkcs11.key_id: "zz"`,
				"ca.pkcs11: exactly one of pin_file and pin_env",
				`ca.public_url: "ftp://x"`,
				`ca.policies[0]: "x.y"`,
				"ca.validity: 30m0s",
				"ca.renewal_window: 1h0m0s",
				"ca.crl_validity: 1s",
				"ca.ocsp_validity: -1s",
				"ca.ocsp_responder: cert_file and key_file go together",
			},
		},
		{name: "unknown field", yaml: "ca: {cert_file: a, key_file: b, pin: 1234}\n", wantErr: []string{"field pin not found"}},
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
						t.Errorf("error does not mention %q:\n%v", w, err)
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

func TestCAPathsResolved(t *testing.T) {
	c, err := Parse([]byte("ca:\n  cert_file: ca.pem\n  pkcs11: {module: /m.so, token: t, key_id: 01, pin_file: pin}\n  ocsp_responder: {cert_file: r.pem, key_file: /abs/r.key}\n"))
	if err != nil {
		t.Fatal(err)
	}
	c.resolve("/etc/authd")
	for _, p := range [][2]string{
		{c.CA.CertFile, "/etc/authd/ca.pem"}, {c.CA.PKCS11.PINFile, "/etc/authd/pin"},
		{c.CA.OCSPResponder.CertFile, "/etc/authd/r.pem"}, {c.CA.OCSPResponder.KeyFile, "/abs/r.key"},
	} {
		if filepath.Clean(p[0]) != p[1] {
			t.Errorf("path %q, want %q", p[0], p[1])
		}
	}
}
