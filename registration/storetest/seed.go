package storetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// demoCert makes a self-signed certificate named like a card of uid.
func demoCert(t *testing.T, key *ecdsa.PrivateKey, serial int64, cn string) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).Lsh(big.NewInt(serial), 100), // 16 octets, like the test PKI
		Subject:      pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"People"}, CommonName: cn},
		NotBefore:    time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:     time.Date(2044, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	ok(t, err)
	cert, err := x509.ParseCertificate(der)
	ok(t, err)
	return cert
}

func testSeedDemo(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ok(t, err)
	const alice, bob, dan, rhys = "555000000011", "555000000012", "555000000014", "555000000092"
	aliceRSA := demoCert(t, key, 1, alice+"_Alice Carter")
	aliceEC := demoCert(t, key, 2, alice+"_Alice Carter")
	rhysCard := demoCert(t, key, 3, rhys+"_Rhys Revoked")
	cards := map[string][]*x509.Certificate{alice: {aliceRSA, aliceEC}, rhys: {rhysCard}}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

	t.Run("World", func(t *testing.T) {
		s := open(t)
		ok(t, registration.SeedDemo(ctx, s, now, cards))

		for _, ods := range []string{registration.DemoPracticeODS, registration.DemoTrustODS} {
			_, err := s.Organisation(ctx, ods)
			ok(t, err)
		}
		current := func(uid string) []string {
			t.Helper()
			rps, err := s.RoleProfilesOf(ctx, uid)
			ok(t, err)
			var ids []string
			for _, rp := range rps {
				if rp.Current(now) {
					ids = append(ids, rp.ID)
				}
			}
			return ids
		}
		same(t, current(alice), []string{registration.DemoAlicePracticeProfile, registration.DemoAliceTrustProfile})
		same(t, current(bob), []string{registration.DemoBobTrustProfile})
		same(t, current(dan), []string{registration.DemoDanTrustProfile, registration.DemoDanPracticeProfile, registration.DemoDanSponsorProfile})

		ended, err := s.RoleProfile(ctx, registration.DemoBobEndedProfile)
		ok(t, err)
		same(t, ended.Status, registration.RoleProfileEnded)
		pending, err := s.RoleProfile(ctx, registration.DemoDanPendingProfile)
		ok(t, err)
		same(t, pending.Status, registration.RoleProfilePending)
		sponsor, err := s.RoleProfile(ctx, registration.DemoCarolSponsorProfile)
		ok(t, err)
		if !slices.Contains(sponsor.Activities, "B1300") {
			t.Errorf("sponsor profile lacks B1300: %v", sponsor.Activities)
		}
		dans, err := s.RoleProfile(ctx, registration.DemoDanTrustProfile)
		ok(t, err)
		if !slices.Contains(dans.Activities, "B0015") || !slices.Contains(dans.Activities, "B0016") {
			t.Errorf("privacy officer lacks B0015/B0016: %v", dans.Activities)
		}

		c, err := s.CardByFingerprint(ctx, registration.Fingerprint(aliceEC.Raw))
		ok(t, err)
		serial, err := registration.SerialHex(aliceEC.SerialNumber)
		ok(t, err)
		same(t, []string{c.UID, string(c.Status), c.ID, c.CertSerial},
			[]string{alice, "active", registration.CardIDFromSerial(serial), serial})
		aliceCards, err := s.CardsOf(ctx, alice)
		ok(t, err)
		same(t, len(aliceCards), 2)
		c, err = s.CardByFingerprint(ctx, registration.Fingerprint(rhysCard.Raw))
		ok(t, err)
		same(t, c.Status, registration.CardCancelled)
		_, err = s.Person(ctx, "555000000090")
		ok(t, err)

		wantKind(t, registration.SeedDemo(ctx, s, now, cards), registration.ErrExists)
	})
	t.Run("NoCards", func(t *testing.T) {
		s := open(t)
		ok(t, registration.SeedDemo(ctx, s, now, nil))
		cs, err := s.CardsOf(ctx, alice)
		ok(t, err)
		same(t, len(cs), 0)
	})
	bad := []struct {
		name  string
		cards map[string][]*x509.Certificate
	}{
		{"WrongName", map[string][]*x509.Certificate{bob: {aliceRSA}}},
		{"NotADemoPerson", map[string][]*x509.Certificate{"123456789012": {aliceRSA}}},
		{"MalformedUID", map[string][]*x509.Certificate{"alice": {aliceRSA}}},
		{"SameCertTwice", map[string][]*x509.Certificate{alice: {aliceRSA, aliceRSA}}},
		{"NilCert", map[string][]*x509.Certificate{alice: {nil}}},
	}
	for _, tc := range bad {
		t.Run("Invalid/"+tc.name, func(t *testing.T) {
			s := open(t)
			wantKind(t, registration.SeedDemo(ctx, s, now, tc.cards), registration.ErrInvalid)
			_, err := s.Person(ctx, alice)
			wantKind(t, err, registration.ErrNotFound) // refused before any write
		})
	}
}
