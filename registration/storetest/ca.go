package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/registration"
)

// The card CA's records (registration.CAStore). The certificates here are
// random bytes: the store checks fingerprints, not X.509.

const (
	issuerA = "aa00000000000000000000000000000000000000000000000000000000000001"
	issuerB = "bb00000000000000000000000000000000000000000000000000000000000002"
)

// caStore opens a store and requires it to keep the CA's records too.
func caStore(t *testing.T, open func(t *testing.T) registration.Store) interface {
	registration.Store
	registration.CAStore
} {
	t.Helper()
	s := open(t)
	cs, isCA := s.(interface {
		registration.Store
		registration.CAStore
	})
	if !isCA {
		t.Fatalf("%T does not implement registration.CAStore", s)
	}
	world(t, cs)
	ok(t, cs.EnsureIssuer(context.Background(), issuerA, "CN=Test Authentication Sub-CA,OU=CAs,O=nhs"))
	ok(t, cs.EnsureIssuer(context.Background(), issuerA, "CN=Test Authentication Sub-CA,OU=CAs,O=nhs")) // idempotent
	return cs
}

// fakeCert is an issued certificate of holderUID with random DER.
func fakeCert(t *testing.T, serial string, issuedAt time.Time) registration.IssuedCert {
	t.Helper()
	der := make([]byte, 600)
	if _, err := rand.Read(der); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return registration.IssuedCert{
		Issuer: issuerA, Serial: serial, CardID: registration.CardIDFromSerial(serial), UID: holderUID,
		Fingerprint: sha256.Sum256(der), KeyHash: sha256.Sum256(key),
		NotBefore: issuedAt.Add(-5 * time.Minute), NotAfter: issuedAt.Add(2 * 365 * 24 * time.Hour),
		IssuedAt: issuedAt, DER: der,
	}
}

func cardFor(c registration.IssuedCert) registration.Card {
	return registration.Card{ID: c.CardID, UID: c.UID, CertSerial: c.Serial, CertFingerprint: c.Fingerprint,
		CertNotAfter: c.NotAfter, Status: registration.CardActive, IssuedAt: c.IssuedAt}
}

func storedCert(c registration.IssuedCert) registration.IssuedCert {
	c.NotBefore, c.NotAfter, c.IssuedAt = us(c.NotBefore), us(c.NotAfter), us(c.IssuedAt)
	if !c.RevokedAt.IsZero() {
		c.RevokedAt = us(c.RevokedAt)
	}
	return c
}

func testCA(t *testing.T, open func(t *testing.T) registration.Store) {
	ctx := context.Background()
	t.Run("NewCard", func(t *testing.T) {
		s := caStore(t, open)
		c := fakeCert(t, "0a1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		ok(t, s.RecordNewCard(ctx, cardFor(c), c))
		got, err := s.IssuedCert(ctx, issuerA, c.Serial)
		ok(t, err)
		same(t, *got, storedCert(c))
		card, err := s.CardByFingerprint(ctx, c.Fingerprint)
		ok(t, err)
		same(t, card.ID, c.CardID)
		list, err := s.CardCertificates(ctx, c.CardID)
		ok(t, err)
		same(t, len(list), 1)

		again := fakeCert(t, "1a1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		again.KeyHash = c.KeyHash
		err = s.RecordNewCard(ctx, cardFor(again), again)
		wantKind(t, err, registration.ErrExists)
		if !errors.Is(err, registration.ErrKeyReused) {
			t.Fatalf("reused key: %v, want ErrKeyReused", err)
		}
		if _, err := s.Card(ctx, again.CardID); !errors.Is(err, registration.ErrNotFound) {
			t.Fatalf("a refused card was stored: %v", err)
		}
		unknown := fakeCert(t, "2a1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		unknown.UID = "900000000099"
		wantKind(t, s.RecordNewCard(ctx, cardFor(unknown), unknown), registration.ErrInvalid)
		other := fakeCert(t, "3a1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		other.Issuer = issuerB
		wantKind(t, s.RecordNewCard(ctx, cardFor(other), other), registration.ErrInvalid)
		mismatch := fakeCert(t, "4a1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		card2 := cardFor(mismatch)
		card2.CertSerial = "ff"
		wantKind(t, s.RecordNewCard(ctx, card2, mismatch), registration.ErrInvalid)
		bad := fakeCert(t, "5a1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		bad.DER[0] ^= 1 // fingerprint no longer matches
		wantKind(t, s.RecordNewCard(ctx, cardFor(bad), bad), registration.ErrInvalid)
		_, err = s.IssuedCert(ctx, issuerA, "99")
		wantKind(t, err, registration.ErrNotFound)
		_, err = s.IssuedCert(ctx, "nothex", "99")
		wantKind(t, err, registration.ErrInvalid)
	})

	t.Run("Renewal", func(t *testing.T) {
		s := caStore(t, open)
		first := fakeCert(t, "0b1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		ok(t, s.RecordNewCard(ctx, cardFor(first), first))
		second := fakeCert(t, "1b1b2c3d4e5f60718293a4b5c6d7e8f9", t0.Add(time.Hour))
		second.CardID, second.Replaces = first.CardID, first.Serial
		ok(t, s.RecordRenewal(ctx, second))
		card, err := s.Card(ctx, first.CardID)
		ok(t, err)
		if card.CertSerial != second.Serial || card.CertFingerprint != second.Fingerprint || !card.CertNotAfter.Equal(us(second.NotAfter)) {
			t.Fatalf("card after renewal %+v", card)
		}
		old, err := s.IssuedCert(ctx, issuerA, first.Serial)
		ok(t, err)
		if old.Reason != registration.ReasonSuperseded || !old.RevokedAt.Equal(us(second.IssuedAt)) {
			t.Fatalf("replaced certificate %+v", old)
		}
		n, err := s.Revocations(ctx, issuerA)
		ok(t, err)
		same(t, n, int64(1))

		stale := fakeCert(t, "2b1b2c3d4e5f60718293a4b5c6d7e8f9", t0.Add(2*time.Hour))
		stale.CardID, stale.Replaces = first.CardID, first.Serial
		wantKind(t, s.RecordRenewal(ctx, stale), registration.ErrConflict)
		none := fakeCert(t, "3b1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		none.Replaces = "0b"
		wantKind(t, s.RecordRenewal(ctx, none), registration.ErrNotFound)
		missing := fakeCert(t, "4b1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		missing.CardID = first.CardID
		wantKind(t, s.RecordRenewal(ctx, missing), registration.ErrInvalid) // no Replaces

		_, err = s.CancelCard(ctx, first.CardID, registration.ReasonUnspecified, t0.Add(3*time.Hour))
		ok(t, err)
		late := fakeCert(t, "5b1b2c3d4e5f60718293a4b5c6d7e8f9", t0.Add(4*time.Hour))
		late.CardID, late.Replaces = first.CardID, second.Serial
		wantKind(t, s.RecordRenewal(ctx, late), registration.ErrConflict)
	})

	t.Run("ConcurrentRenewals", func(t *testing.T) {
		s := caStore(t, open)
		first := fakeCert(t, "0c1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		ok(t, s.RecordNewCard(ctx, cardFor(first), first))
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := fakeCert(t, "1c1b2c3d4e5f60718293a4b5c6d7e8f"+string("0123456789"[i]), t0.Add(time.Hour))
				c.CardID, c.Replaces = first.CardID, first.Serial
				errs[i] = s.RecordRenewal(ctx, c)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, registration.ErrConflict):
				t.Fatalf("a losing renewal failed with %v, want ErrConflict", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d renewals of one certificate succeeded, want 1", won)
		}
		list, err := s.CardCertificates(ctx, first.CardID)
		ok(t, err)
		same(t, len(list), 2)
		cnt, err := s.Revocations(ctx, issuerA)
		ok(t, err)
		same(t, cnt, int64(1))
	})

	t.Run("RevokeAndCancel", func(t *testing.T) {
		s := caStore(t, open)
		a := fakeCert(t, "0d1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		b := fakeCert(t, "1d1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		expired := fakeCert(t, "2d1b2c3d4e5f60718293a4b5c6d7e8f9", t0)
		expired.NotAfter = t0.Add(time.Hour)
		for _, c := range []registration.IssuedCert{a, b, expired} {
			ok(t, s.RecordNewCard(ctx, cardFor(c), c))
		}
		got, changed, err := s.RevokeCert(ctx, issuerA, a.Serial, registration.ReasonKeyCompromise, t0.Add(time.Minute))
		ok(t, err)
		if !changed || got.Reason != registration.ReasonKeyCompromise || !got.RevokedAt.Equal(us(t0.Add(time.Minute))) {
			t.Fatalf("RevokeCert %+v %v", got, changed)
		}
		got, changed, err = s.RevokeCert(ctx, issuerA, a.Serial, registration.ReasonUnspecified, t0.Add(time.Hour))
		ok(t, err)
		if changed || got.Reason != registration.ReasonKeyCompromise || !got.RevokedAt.Equal(us(t0.Add(time.Minute))) {
			t.Fatalf("second RevokeCert %+v %v: the first revocation must stand", got, changed)
		}
		_, _, err = s.RevokeCert(ctx, issuerA, "0d", registration.ReasonKeyCompromise, t0)
		wantKind(t, err, registration.ErrNotFound)
		_, _, err = s.RevokeCert(ctx, issuerA, a.Serial, registration.RevocationReason(2), t0)
		wantKind(t, err, registration.ErrInvalid)

		revoked, err := s.CancelCard(ctx, b.CardID, registration.ReasonAffiliationChanged, t0.Add(2*time.Minute))
		ok(t, err)
		if len(revoked) != 1 || revoked[0].Serial != b.Serial {
			t.Fatalf("CancelCard revoked %+v", revoked)
		}
		card, err := s.Card(ctx, b.CardID)
		ok(t, err)
		same(t, card.Status, registration.CardCancelled)
		revoked, err = s.CancelCard(ctx, b.CardID, registration.ReasonAffiliationChanged, t0.Add(3*time.Minute))
		ok(t, err)
		same(t, len(revoked), 0)
		_, err = s.CancelCard(ctx, "CNOSUCHCARD", registration.ReasonUnspecified, t0)
		wantKind(t, err, registration.ErrNotFound)
		_, _, err = s.RevokeCert(ctx, issuerA, expired.Serial, registration.ReasonUnspecified, t0.Add(4*time.Minute))
		ok(t, err)

		// The CRL's view two hours on: the expired one has left.
		list, n, err := s.RevokedCerts(ctx, issuerA, t0.Add(2*time.Hour))
		ok(t, err)
		same(t, n, int64(3))
		if len(list) != 2 || list[0].Serial != a.Serial || list[1].Serial != b.Serial {
			t.Fatalf("RevokedCerts %+v", list)
		}
		list, _, err = s.RevokedCerts(ctx, issuerA, t0)
		ok(t, err)
		same(t, len(list), 3)
	})

	t.Run("CRLs", func(t *testing.T) {
		s := caStore(t, open)
		_, err := s.LatestCRL(ctx, issuerA)
		wantKind(t, err, registration.ErrNotFound)
		crl := registration.CRLRecord{Issuer: issuerA, Number: 1700000000, ThisUpdate: t0, NextUpdate: t0.Add(24 * time.Hour),
			Revocations: 0, DER: []byte("crl one")}
		ok(t, s.StoreCRL(ctx, crl))
		wantKind(t, s.StoreCRL(ctx, crl), registration.ErrConflict)
		older := crl
		older.Number = 5
		wantKind(t, s.StoreCRL(ctx, older), registration.ErrConflict)
		next := crl
		next.Number, next.Revocations, next.DER = crl.Number+60, 2, []byte("crl two")
		ok(t, s.StoreCRL(ctx, next))
		got, err := s.LatestCRL(ctx, issuerA)
		ok(t, err)
		want := next
		want.ThisUpdate, want.NextUpdate = us(next.ThisUpdate), us(next.NextUpdate)
		same(t, *got, want)
		bad := next
		bad.Number, bad.NextUpdate = next.Number+1, next.ThisUpdate
		wantKind(t, s.StoreCRL(ctx, bad), registration.ErrInvalid)
		unknown := next
		unknown.Issuer, unknown.Number = issuerB, 1
		wantKind(t, s.StoreCRL(ctx, unknown), registration.ErrInvalid)
	})
}
