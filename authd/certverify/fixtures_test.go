package certverify

import (
	"context"
	"crypto/x509"
	"errors"
	"testing"
	"time"

	"github.com/carespine/spineauth/testkeys"
)

// fixtureAt is a time inside every good fixture's validity.
var fixtureAt = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// cardLoginPolicy is the test deployment's login requirement.
func cardLoginPolicy() LoginPolicy {
	return LoginPolicy{
		KeyUsage:         x509.KeyUsageDigitalSignature,
		ExtKeyUsage:      []x509.OID{OIDClientAuth},
		RequiredPolicies: []x509.OID{mustOID("1.3.6.1.4.1.58888.1.1.1")},
	}
}

// TestFixtures runs every committed test-PKI fixture through the verifier
// with the login policy and file CRLs, as the login path will.
func TestFixtures(t *testing.T) {
	type tc struct {
		name    string
		leaf    string
		inters  []string
		crls    []string
		noLogin bool
		soft    bool
		want    Reason
		depth   int
		how     []string // revocation sources when valid
	}
	std := []string{"root", "auth"}
	tests := []tc{
		{name: "expired", leaf: "card-expired", crls: std, want: ReasonExpired},
		{name: "not yet valid", leaf: "card-notyetvalid", crls: std, want: ReasonExpired},
		{name: "revoked rsa", leaf: "card-revoked", crls: std, want: ReasonRevoked},
		{name: "revoked ec", leaf: "card-revoked-ec", crls: std, want: ReasonRevoked},
		{name: "foreign root", leaf: "card-foreign", crls: std, want: ReasonUntrusted, depth: -1},
		{name: "wrong key usage", leaf: "card-wrongku", crls: std, want: ReasonUsage},
		{name: "wrong key usage, RFC 5280 only", leaf: "card-wrongku", crls: std, noLogin: true, how: []string{"crl", "crl"}},
		{name: "wrong EKU", leaf: "card-wrongeku", crls: std, want: ReasonUsage},
		{name: "missing policy", leaf: "card-nopolicy", crls: std, want: ReasonUsage},
		{name: "intermediate without CA:true", leaf: "card-via-notca", inters: []string{"notca"}, crls: std, want: ReasonUntrusted, depth: 1},
		{name: "tampered signature", leaf: "card-tampered", crls: std, want: ReasonUntrusted, depth: -1},
		{name: "revoked intermediate", leaf: "card-via-revokedsubca", inters: []string{"revoked-subca"}, crls: std, want: ReasonRevoked, depth: 1},
		{name: "stale CRL", leaf: "card-555000000011-rsa", crls: []string{"root", "auth-stale"}, want: ReasonRevocationUnavailable},
		{name: "stale CRL, soft-fail", leaf: "card-555000000011-rsa", crls: []string{"root", "auth-stale"}, soft: true, how: []string{"unknown", "crl"}},
		{name: "CRL signed by the wrong key", leaf: "card-555000000011-rsa", crls: []string{"root", "auth-wrongkey"}, want: ReasonRevocationUnavailable},
		{name: "no CRL for the sub-CA", leaf: "card-555000000011-rsa", crls: []string{"auth"}, want: ReasonRevocationUnavailable, depth: 1},
	}
	for _, u := range testkeys.Users {
		for _, kind := range []string{"rsa", "ec"} {
			tests = append(tests, tc{name: u.Name + " " + kind, leaf: "card-" + u.UID + "-" + kind, crls: std, how: []string{"crl", "crl"}})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{
				Roots:         []*x509.Certificate{testkeys.Cert(t, "root")},
				Intermediates: []*x509.Certificate{testkeys.Cert(t, "subca")},
				Revocation:    RevocationConfig{Check: true, SoftFail: tt.soft},
				Login:         cardLoginPolicy(),
			}
			if tt.noLogin {
				cfg.Login = LoginPolicy{}
			}
			for _, n := range tt.inters {
				cfg.Intermediates = append(cfg.Intermediates, testkeys.Cert(t, n))
			}
			for _, n := range tt.crls {
				cfg.CRLs = append(cfg.CRLs, testkeys.CRL(t, n))
			}
			v, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			res, err := v.VerifyAt(context.Background(), testkeys.Cert(t, tt.leaf), nil, fixtureAt)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				if len(res.Chain) != 3 {
					t.Fatalf("chain of %d certificates, want 3", len(res.Chain))
				}
				for i, want := range tt.how {
					if res.Revocation[i] != want {
						t.Errorf("revocation[%d] = %q, want %q", i, res.Revocation[i], want)
					}
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want %s, got %v", tt.want, err)
			}
			if e.Reason != tt.want || e.Depth != tt.depth {
				t.Errorf("got %s at depth %d (%v), want %s at depth %d", e.Reason, e.Depth, err, tt.want, tt.depth)
			}
		})
	}
}
