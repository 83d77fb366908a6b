package cardca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
	"github.com/carespine/spineauth/testkeys"
)

var cardPolicy = mustOID("1.3.6.1.4.1.58888.1.1.1")

func mustOID(s string) x509.OID {
	o, err := x509.ParseOID(s)
	if err != nil {
		panic(err)
	}
	return o
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	ca    *cardca.CA
	store *registration.SQLite
	clock *clock
}

func newFixture(t testing.TB, edit func(*cardca.Config)) *fixture {
	t.Helper()
	ctx := context.Background()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
	st, err := registration.OpenSQLite(ctx, filepath.Join(t.TempDir(), "reg.db"), registration.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, p := range []registration.Person{
		{UID: "555000000021", Name: "Grace Hopper", Status: registration.PersonActive},
		{UID: "555000000022", Name: "Sam Suspended", Status: registration.PersonSuspended},
		{UID: "555000000023", Name: "Maximiliana Wolfeschlegelsteinhausenbergerdorff-Smith", Status: registration.PersonActive},
	} {
		if err := st.CreatePerson(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	cfg := cardca.Config{
		Cert:         testkeys.Cert(t, "subca"),
		Signer:       testkeys.Key(t, "subca"),
		CRLURL:       "http://authd.test/v1/pki/crl",
		OCSPURL:      "http://authd.test/v1/pki/ocsp",
		CAIssuersURL: "http://authd.test/v1/pki/ca.crt",
		Policies:     []x509.OID{cardPolicy},
		Now:          clk.Now,
	}
	if edit != nil {
		edit(&cfg)
	}
	ca, err := cardca.New(ctx, cfg, st)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ca: ca, store: st, clock: clk}
}

func newKey(t testing.TB, rsaKey bool) crypto.PublicKey {
	t.Helper()
	if rsaKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k.Public()
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public()
}

// verifier is authd's certificate verifier with the login policy, using
// the CA's own CRL (no network).
func (f *fixture) verifier(t *testing.T) *certverify.Verifier {
	t.Helper()
	crl, err := f.ca.CRL(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseRevocationList(crl.DER)
	if err != nil {
		t.Fatal(err)
	}
	v, err := certverify.New(certverify.Config{
		Roots:         []*x509.Certificate{testkeys.Cert(t, "root")},
		Intermediates: []*x509.Certificate{testkeys.Cert(t, "subca")},
		CRLs:          []*x509.RevocationList{testkeys.CRL(t, "root"), parsed},
		Revocation:    certverify.RevocationConfig{Check: true},
		Login: certverify.LoginPolicy{
			KeyUsage:         x509.KeyUsageDigitalSignature,
			ExtKeyUsage:      []x509.OID{mustOID("1.3.6.1.5.5.7.3.2")},
			RequiredPolicies: []x509.OID{cardPolicy},
		},
		Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestIssueCard(t *testing.T) {
	for _, rsaKey := range []bool{true, false} {
		f := newFixture(t, nil)
		ctx := context.Background()
		pub := newKey(t, rsaKey)
		got, err := f.ca.IssueCard(ctx, "555000000021", pub)
		if err != nil {
			t.Fatalf("IssueCard: %v", err)
		}
		c := got.Cert
		if c.Subject.String() != "CN=555000000021_Grace Hopper,OU=People,O=nhs" {
			t.Errorf("subject %s", c.Subject)
		}
		if c.SerialNumber.BitLen() < 120 || len(c.SubjectKeyId) != 20 {
			t.Errorf("serial %d bits, SKI %d bytes", c.SerialNumber.BitLen(), len(c.SubjectKeyId))
		}
		if want := f.clock.Now().Add(cardca.DefaultValidity); !c.NotAfter.Equal(want) {
			t.Errorf("NotAfter %s, want %s", c.NotAfter, want)
		}
		if len(c.CRLDistributionPoints) != 1 || c.CRLDistributionPoints[0] != "http://authd.test/v1/pki/crl" ||
			len(c.OCSPServer) != 1 || c.OCSPServer[0] != "http://authd.test/v1/pki/ocsp" {
			t.Errorf("URLs %v %v", c.CRLDistributionPoints, c.OCSPServer)
		}
		if c.IsCA || !c.BasicConstraintsValid {
			t.Error("not an end-entity certificate")
		}
		if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(c.PublicKey) {
			t.Error("certificate is not for the key given")
		}
		if _, err := f.verifier(t).Verify(ctx, c, nil); err != nil {
			t.Fatalf("authd's verifier with the login policy refuses the new card: %v", err)
		}
		// The card is recorded and found the way the login path looks.
		card, err := f.store.CardByFingerprint(ctx, registration.Fingerprint(c.Raw))
		if err != nil || card.ID != got.Card.ID || card.UID != "555000000021" || card.Status != registration.CardActive {
			t.Fatalf("stored card %+v, %v", card, err)
		}
		rec, err := f.ca.Lookup(ctx, c.SerialNumber)
		if err != nil || rec.Revoked() || rec.CardID != card.ID {
			t.Fatalf("Lookup %+v %v", rec, err)
		}
	}
}

func TestIssueRefusals(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	pub := newKey(t, false)
	if _, err := f.ca.IssueCard(ctx, "555000000021", pub); err != nil {
		t.Fatal(err)
	}
	ed, _, _ := ed25519.GenerateKey(rand.Reader)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	tests := []struct {
		name   string
		uid    string
		pub    crypto.PublicKey
		reason cardca.Reason
		kind   error
	}{
		{"key reused", "555000000021", pub, cardca.ReasonKeyReused, registration.ErrExists},
		{"ed25519", "555000000021", ed, cardca.ReasonKeyUnsupported, nil},
		{"RSA-1024", "555000000021", small.Public(), cardca.ReasonKeyUnsupported, nil},
		{"P-224", "555000000021", p224.Public(), cardca.ReasonKeyUnsupported, nil},
		{"suspended person", "555000000022", newKey(t, false), cardca.ReasonPersonNotActive, nil},
		{"name too long for a CN", "555000000023", newKey(t, false), cardca.ReasonNameTooLong, nil},
		{"unknown person", "555000000029", newKey(t, false), "", registration.ErrNotFound},
		{"malformed uid", "5550", newKey(t, false), "", registration.ErrInvalid},
		{"private key", "555000000021", testkeys.Key(t, "card-555000000012-ec"), cardca.ReasonKeyUnsupported, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.ca.IssueCard(ctx, tc.uid, tc.pub)
			if err == nil {
				t.Fatal("issued")
			}
			if got := cardca.ReasonOf(err); got != tc.reason {
				t.Errorf("reason %q, want %q (%v)", got, tc.reason, err)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Errorf("error %v does not match %v", err, tc.kind)
			}
		})
	}
}

func TestRenewal(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	first, err := f.ca.IssueCard(ctx, "555000000021", newKey(t, false))
	if err != nil {
		t.Fatal(err)
	}
	id := first.Card.ID

	_, err = f.ca.RenewCard(ctx, id, newKey(t, false))
	if cardca.ReasonOf(err) != cardca.ReasonRenewalNotOpen {
		t.Fatalf("renewal at once: %v, want renewal_not_open", err)
	}
	f.clock.Add(cardca.DefaultValidity - cardca.DefaultRenewalWindow - time.Hour)
	_, err = f.ca.RenewCard(ctx, id, newKey(t, false))
	if cardca.ReasonOf(err) != cardca.ReasonRenewalNotOpen {
		t.Fatalf("renewal an hour before the window: %v, want renewal_not_open", err)
	}
	f.clock.Add(2 * time.Hour)
	_, err = f.ca.RenewCard(ctx, id, first.Cert.PublicKey)
	if cardca.ReasonOf(err) != cardca.ReasonKeyReused {
		t.Fatalf("renewal with the same key: %v, want key_reused", err)
	}
	second, err := f.ca.RenewCard(ctx, id, newKey(t, true))
	if err != nil {
		t.Fatalf("renewal inside the window: %v", err)
	}
	if second.Card.ID != id || second.Record.Replaces != first.Record.Serial {
		t.Fatalf("renewal %+v", second.Record)
	}
	card, err := f.store.CardByFingerprint(ctx, registration.Fingerprint(second.Cert.Raw))
	if err != nil || card.ID != id || !card.CertNotAfter.Equal(second.Cert.NotAfter) {
		t.Fatalf("card after renewal %+v %v", card, err)
	}
	if _, err := f.store.CardByFingerprint(ctx, registration.Fingerprint(first.Cert.Raw)); !errors.Is(err, registration.ErrNotFound) {
		t.Fatalf("the old certificate still finds the card: %v", err)
	}
	old, err := f.ca.Lookup(ctx, first.Cert.SerialNumber)
	if err != nil || !old.Revoked() || old.Reason != registration.ReasonSuperseded {
		t.Fatalf("old certificate %+v %v, want revoked as superseded", old, err)
	}
	v := f.verifier(t)
	if _, err := v.Verify(ctx, second.Cert, nil); err != nil {
		t.Fatalf("renewed certificate: %v", err)
	}
	var ce *certverify.Error
	if _, err := v.Verify(ctx, first.Cert, nil); !errors.As(err, &ce) || ce.Reason != certverify.ReasonRevoked {
		t.Fatalf("superseded certificate: %v, want cert_revoked", err)
	}

	// Expired: replaced, not renewed.
	f.clock.Add(cardca.DefaultValidity + time.Hour)
	_, err = f.ca.RenewCard(ctx, id, newKey(t, false))
	if cardca.ReasonOf(err) != cardca.ReasonCertExpired {
		t.Fatalf("renewal after expiry: %v, want certificate_expired", err)
	}
	// Cancelled: no renewal.
	if _, err := f.ca.CancelCard(ctx, id, registration.ReasonCessationOfOperation); err != nil {
		t.Fatal(err)
	}
	_, err = f.ca.RenewCard(ctx, id, newKey(t, false))
	if cardca.ReasonOf(err) != cardca.ReasonCardNotActive {
		t.Fatalf("renewal of a cancelled card: %v, want card_not_active", err)
	}
	if _, err := f.ca.RenewCard(ctx, "CNOSUCHCARD", newKey(t, false)); !errors.Is(err, registration.ErrNotFound) {
		t.Fatalf("renewal of an unknown card: %v", err)
	}
}

func TestRevocationAndCRL(t *testing.T) {
	var hooked []string
	f := newFixture(t, func(c *cardca.Config) {
		c.OnRevoke = func(_ context.Context, certs []registration.IssuedCert) {
			for _, c := range certs {
				hooked = append(hooked, c.Serial)
			}
		}
	})
	ctx := context.Background()
	a, err := f.ca.IssueCard(ctx, "555000000021", newKey(t, false))
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.ca.IssueCard(ctx, "555000000021", newKey(t, true))
	if err != nil {
		t.Fatal(err)
	}
	crl1, err := f.ca.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := f.ca.CRL(ctx); again.Number != crl1.Number {
		t.Fatalf("an unchanged CRL was regenerated: %d then %d", crl1.Number, again.Number)
	}
	f.clock.Add(time.Minute)

	revoked, err := f.ca.CancelCard(ctx, a.Card.ID, registration.ReasonKeyCompromise)
	if err != nil || len(revoked) != 1 || revoked[0].Serial != a.Record.Serial {
		t.Fatalf("CancelCard: %+v %v", revoked, err)
	}
	if again, err := f.ca.CancelCard(ctx, a.Card.ID, registration.ReasonUnspecified); err != nil || len(again) != 0 {
		t.Fatalf("CancelCard again: %+v %v, want nothing revoked and no error", again, err)
	}
	card, _ := f.store.Card(ctx, a.Card.ID)
	if card.Status != registration.CardCancelled {
		t.Fatalf("card status %s", card.Status)
	}
	crl2, err := f.ca.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if crl2.Number <= crl1.Number {
		t.Fatalf("CRL number %d after a revocation, want above %d", crl2.Number, crl1.Number)
	}
	if crl1.Number < f.clock.Now().Unix()-120 {
		t.Fatalf("first CRL number %d is below the time in seconds: an older series by this key could supersede it", crl1.Number)
	}
	parsed, err := x509.ParseRevocationList(crl2.DER)
	if err != nil {
		t.Fatal(err)
	}
	if err := parsed.CheckSignatureFrom(f.ca.Certificate()); err != nil {
		t.Fatal(err)
	}
	if len(parsed.RevokedCertificateEntries) != 1 ||
		parsed.RevokedCertificateEntries[0].SerialNumber.Cmp(a.Cert.SerialNumber) != 0 ||
		parsed.RevokedCertificateEntries[0].ReasonCode != int(registration.ReasonKeyCompromise) ||
		!parsed.NextUpdate.Equal(parsed.ThisUpdate.Add(cardca.DefaultCRLValidity)) {
		t.Fatalf("CRL %+v", parsed.RevokedCertificateEntries)
	}

	// Revoke is idempotent: the first reason and time stand.
	r1, err := f.ca.Revoke(ctx, b.Cert.SerialNumber, registration.ReasonAffiliationChanged)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Add(time.Minute)
	r2, err := f.ca.Revoke(ctx, b.Cert.SerialNumber, registration.ReasonKeyCompromise)
	if err != nil || !r2.RevokedAt.Equal(r1.RevokedAt) || r2.Reason != registration.ReasonAffiliationChanged {
		t.Fatalf("second Revoke %+v %v", r2, err)
	}
	if len(hooked) != 2 {
		t.Fatalf("OnRevoke saw %v, want the two revocations once each", hooked)
	}
	crl3, _ := f.ca.CRL(ctx)
	if crl3.Number <= crl2.Number {
		t.Fatalf("CRL number %d, want above %d", crl3.Number, crl2.Number)
	}

	// Half the validity later the CRL is reissued even without changes.
	f.clock.Add(cardca.DefaultCRLValidity/2 + time.Second)
	crl4, _ := f.ca.CRL(ctx)
	if crl4.Number <= crl3.Number || !crl4.ThisUpdate.After(crl3.ThisUpdate) {
		t.Fatalf("CRL not refreshed before nextUpdate: %d %s", crl4.Number, crl4.ThisUpdate)
	}
	if _, err := f.ca.Revoke(ctx, a.Cert.SerialNumber.Add(a.Cert.SerialNumber, a.Cert.SerialNumber), 0); !errors.Is(err, registration.ErrNotFound) {
		t.Fatalf("revoking an unknown serial: %v", err)
	}
	if _, err := f.ca.Revoke(ctx, b.Cert.SerialNumber, registration.RevocationReason(2)); !errors.Is(err, registration.ErrInvalid) {
		t.Fatalf("cACompromise for a card: %v", err)
	}
}

// Two CAs (two authd nodes) on one database agree on CRL numbers.
func TestCRLSharedBetweenNodes(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	other, err := cardca.New(ctx, cardca.Config{
		Cert: testkeys.Cert(t, "subca"), Signer: testkeys.Key(t, "subca"),
		CRLURL: "http://authd.test/v1/pki/crl", Now: f.clock.Now,
	}, f.store)
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.ca.IssueCard(ctx, "555000000021", newKey(t, false))
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := f.ca.CRL(ctx)
	if c2, _ := other.CRL(ctx); c2.Number != c1.Number {
		t.Fatalf("node 2 serves CRL %d, node 1 %d", c2.Number, c1.Number)
	}
	if _, err := f.ca.Revoke(ctx, a.Cert.SerialNumber, registration.ReasonKeyCompromise); err != nil {
		t.Fatal(err)
	}
	c2, err := other.CRL(ctx)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseRevocationList(c2.DER)
	if len(parsed.RevokedCertificateEntries) != 1 {
		t.Fatalf("node 2's CRL after node 1 revoked: %d entries", len(parsed.RevokedCertificateEntries))
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	st, err := registration.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	tests := map[string]cardca.Config{
		"not a CA":   {Cert: testkeys.Cert(t, "card-555000000011-ec"), Signer: testkeys.Key(t, "card-555000000011-ec"), CRLURL: "http://x/crl"},
		"wrong key":  {Cert: testkeys.Cert(t, "subca"), Signer: testkeys.Key(t, "root"), CRLURL: "http://x/crl"},
		"no CRL URL": {Cert: testkeys.Cert(t, "subca"), Signer: testkeys.Key(t, "subca")},
		"window":     {Cert: testkeys.Cert(t, "subca"), Signer: testkeys.Key(t, "subca"), CRLURL: "http://x/crl", Validity: 48 * time.Hour, RenewalWindow: 72 * time.Hour},
	}
	for name, cfg := range tests {
		if _, err := cardca.New(context.Background(), cfg, st); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// clashingStore says the first card ID is taken, as a real clash of
// 48-bit card IDs would.
type clashingStore struct {
	*registration.SQLite
	clashes int
}

func (s *clashingStore) RecordNewCard(ctx context.Context, card registration.Card, cert registration.IssuedCert) error {
	if s.clashes > 0 {
		s.clashes--
		return fmt.Errorf("card %s: %w", card.ID, registration.ErrExists)
	}
	return s.SQLite.RecordNewCard(ctx, card, cert)
}

func TestIssueRetriesACardIDClash(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	for clashes, wantOK := range map[int]bool{1: true, 2: true, 3: false} {
		st := &clashingStore{SQLite: f.store, clashes: clashes}
		ca, err := cardca.New(ctx, cardca.Config{Cert: testkeys.Cert(t, "subca"), Signer: testkeys.Key(t, "subca"),
			CRLURL: "http://authd.test/v1/pki/crl", Now: f.clock.Now}, st)
		if err != nil {
			t.Fatal(err)
		}
		_, err = ca.IssueCard(ctx, "555000000021", newKey(t, false))
		if (err == nil) != wantOK {
			t.Errorf("%d clashes: %v, want success %v", clashes, err, wantOK)
		}
		if !wantOK && !errors.Is(err, registration.ErrExists) {
			t.Errorf("%d clashes: %v, want ErrExists", clashes, err)
		}
	}
}
