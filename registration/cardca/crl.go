package cardca

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/carespine/spineauth/registration"
)

// crlAttempts bounds the retries when other nodes store CRL numbers
// first.
const crlAttempts = 4

// CRL returns the CA's current CRL: the stored one while it reflects
// every revocation and less than half of CRLValidity has passed since its
// thisUpdate; otherwise a new one (a higher number, thisUpdate now, nextUpdate
// now + CRLValidity, every revoked certificate not yet expired), stored
// before it is returned. Nodes sharing the store serve the same CRL: a
// node that loses the race for a number uses the winner's.
func (ca *CA) CRL(ctx context.Context) (*registration.CRLRecord, error) {
	if c, fresh, err := ca.storedCRL(ctx); err != nil || fresh {
		return c, err
	}
	ca.crlMu.Lock()
	defer ca.crlMu.Unlock()
	for range crlAttempts {
		latest, fresh, err := ca.storedCRL(ctx)
		if err != nil || fresh {
			return latest, err
		}
		c, err := ca.makeCRL(ctx, latest)
		if errors.Is(err, registration.ErrConflict) {
			continue // another node stored this number: look again
		}
		return c, err
	}
	return nil, fmt.Errorf("cardca: CRL: gave up after %d numbers were taken by other nodes", crlAttempts)
}

// storedCRL returns the latest stored CRL (nil when none) and whether it
// can be served as it is.
//
// The last CRL this node served is kept in memory: while the revocation
// counter has not moved and the CRL is fresh, a request costs one read of
// the counter, whatever the size of the CRL. (Another node may meanwhile
// have issued a newer CRL with the same entries; either may be served.)
func (ca *CA) storedCRL(ctx context.Context) (*registration.CRLRecord, bool, error) {
	n, err := ca.store.Revocations(ctx, ca.issuer)
	if err != nil {
		return nil, false, fmt.Errorf("cardca: CRL: %w", err)
	}
	if c := ca.cachedCRL(); c != nil && ca.fresh(c, n) {
		return c, true, nil
	}
	c, err := ca.store.LatestCRL(ctx, ca.issuer)
	if errors.Is(err, registration.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("cardca: CRL: %w", err)
	}
	fresh := ca.fresh(c, n)
	if fresh {
		ca.cacheCRL(c)
	}
	return c, fresh, nil
}

// fresh reports whether c reflects n revocations and is young enough.
func (ca *CA) fresh(c *registration.CRLRecord, n int64) bool {
	now := ca.now()
	return c.Revocations == n && now.Before(c.ThisUpdate.Add(ca.cfg.CRLValidity/2)) &&
		now.Before(c.NextUpdate) && !now.Before(c.ThisUpdate.Add(-time.Minute))
}

func (ca *CA) cachedCRL() *registration.CRLRecord {
	ca.cacheMu.Lock()
	defer ca.cacheMu.Unlock()
	return ca.lastCRL
}

func (ca *CA) cacheCRL(c *registration.CRLRecord) {
	ca.cacheMu.Lock()
	defer ca.cacheMu.Unlock()
	if ca.lastCRL == nil || c.Number > ca.lastCRL.Number {
		ca.lastCRL = c
	}
}

// makeCRL signs and stores the CRL after latest (nil: the first).
func (ca *CA) makeCRL(ctx context.Context, latest *registration.CRLRecord) (*registration.CRLRecord, error) {
	now := ca.now().UTC().Truncate(time.Second)
	certs, n, err := ca.store.RevokedCerts(ctx, ca.issuer, now)
	if err != nil {
		return nil, fmt.Errorf("cardca: CRL: %w", err)
	}
	// The number is the time in seconds, or one more than the latest if
	// that is higher: it always grows, and it is above the numbers of any
	// earlier series of CRLs by the same key (1, 2, 3, ...), which a
	// relying party that still holds one would otherwise prefer as the
	// newer CRL (RFC 5280 5.2.3).
	number := now.Unix()
	if latest != nil {
		number = max(number, latest.Number+1)
		if now.Before(latest.ThisUpdate) {
			now = latest.ThisUpdate // never go back in time, whatever the clock says
		}
	}
	entries := make([]x509.RevocationListEntry, 0, len(certs))
	for _, c := range certs {
		serial, ok := new(big.Int).SetString(c.Serial, 16)
		if !ok {
			return nil, fmt.Errorf("cardca: CRL: stored serial %q is not hex", c.Serial)
		}
		entries = append(entries, x509.RevocationListEntry{
			SerialNumber:   serial,
			RevocationTime: c.RevokedAt.UTC(),
			ReasonCode:     int(c.Reason), // 0 (unspecified) leaves the extension out, as RFC 5280 asks
		})
	}
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(number),
		ThisUpdate:                now,
		NextUpdate:                now.Add(ca.cfg.CRLValidity),
		RevokedCertificateEntries: entries,
	}
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, ca.cfg.Cert, ca.cfg.Signer)
	if err != nil {
		return nil, fmt.Errorf("cardca: signing the CRL: %w", err)
	}
	parsed, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("cardca: signed CRL does not parse: %w", err)
	}
	if err := parsed.CheckSignatureFrom(ca.cfg.Cert); err != nil {
		return nil, fmt.Errorf("cardca: signed CRL does not verify: %w", err)
	}
	rec := registration.CRLRecord{Issuer: ca.issuer, Number: number, ThisUpdate: tmpl.ThisUpdate,
		NextUpdate: tmpl.NextUpdate, Revocations: n, DER: der}
	if err := ca.store.StoreCRL(ctx, rec); err != nil {
		return nil, err
	}
	ca.log.InfoContext(ctx, "CRL issued", "number", number, "entries", len(entries), "next_update", tmpl.NextUpdate)
	ca.cacheCRL(&rec)
	return &rec, nil
}
