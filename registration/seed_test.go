package registration_test

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/testkeys"
)

// negativeCards are the test PKI's negative card fixtures by owner.
var negativeCards = map[string]string{
	"555000000090": "card-expired",
	"555000000091": "card-notyetvalid",
	"555000000092": "card-revoked",
	"555000000093": "card-revoked-ec",
	"555000000094": "card-foreign",
	"555000000095": "card-wrongku",
	"555000000096": "card-wrongeku",
	"555000000097": "card-nopolicy",
	"555000000098": "card-via-notca",
	"555000000099": "card-via-revokedsubca",
}

// fixtureCards maps every card fixture but card-tampered to its owner.
func fixtureCards(t testing.TB) (map[string][]*x509.Certificate, map[string]string) {
	cards := map[string][]*x509.Certificate{}
	owner := map[string]string{} // fixture name -> uid
	for _, u := range testkeys.Users {
		for _, name := range []string{u.CardRSA(), u.CardEC()} {
			cards[u.UID] = append(cards[u.UID], testkeys.Cert(t, name))
			owner[name] = u.UID
		}
	}
	for uid, name := range negativeCards {
		cards[uid] = append(cards[uid], testkeys.Cert(t, name))
		owner[name] = uid
	}
	return cards, owner
}

func TestSeedDemoWithTestPKI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, _ := openTemp(t)
	cards, owner := fixtureCards(t)
	now := time.Date(2026, 1, 15, 9, 0, 0, 0, time.UTC)
	if err := registration.SeedDemo(ctx, s, now, cards); err != nil {
		t.Fatal(err)
	}

	for name, uid := range owner {
		c, err := s.CardByFingerprint(ctx, registration.Fingerprint(testkeys.Cert(t, name).Raw))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want := registration.CardActive
		if uid == "555000000092" || uid == "555000000093" {
			want = registration.CardCancelled
		}
		if c.UID != uid || c.Status != want || !strings.HasPrefix(c.ID, "C") {
			t.Errorf("%s: card %+v, want owner %s, status %s", name, c, uid, want)
		}
		if _, err := s.Person(ctx, uid); err != nil {
			t.Errorf("%s: owner: %v", name, err)
		}
	}
	// card-tampered is Alice's serial with a broken signature: not a card.
	_, err := s.CardByFingerprint(ctx, registration.Fingerprint(testkeys.Cert(t, "card-tampered").Raw))
	if !errors.Is(err, registration.ErrNotFound) {
		t.Errorf("card-tampered: %v, want ErrNotFound", err)
	}

	// Every demo role profile uses codes the default catalogue knows.
	cat := registration.DefaultCatalogue()
	uids := []string{"555000000010"}
	for _, u := range testkeys.Users {
		uids = append(uids, u.UID)
	}
	for uid := range negativeCards {
		uids = append(uids, uid)
	}
	for _, uid := range uids {
		rps, err := s.RoleProfilesOf(ctx, uid)
		if err != nil || len(rps) == 0 {
			t.Errorf("%s: %d profiles, %v", uid, len(rps), err)
		}
		for _, rp := range rps {
			if _, ok := cat.JobRole(rp.JobRole); !ok {
				t.Errorf("profile %s: job role %s not in the catalogue", rp.ID, rp.JobRole)
			}
			for _, a := range rp.Activities {
				if _, ok := cat.Activity(a); !ok {
					t.Errorf("profile %s: activity %s not in the catalogue", rp.ID, a)
				}
			}
		}
	}
}

func TestSeedDemoRefusesTamperedBesideAlice(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	alice := testkeys.Users[0]
	cards := map[string][]*x509.Certificate{alice.UID: {
		testkeys.Cert(t, alice.CardRSA()), testkeys.Cert(t, "card-tampered"),
	}}
	err := registration.SeedDemo(context.Background(), s, time.Now(), cards)
	if !errors.Is(err, registration.ErrInvalid) {
		t.Fatalf("SeedDemo: %v, want ErrInvalid (same card ID twice)", err)
	}
}
