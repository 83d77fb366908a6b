package certverify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"sync"
)

// Limits on path building, so that a hostile pool of intermediates cannot
// make one verification unbounded.
const (
	maxPathDepth = 12 // certificates in a path, trust anchor excluded
	maxPaths     = 32 // complete candidate paths tried per verification
	maxSigChecks = 256
)

// certPath is a candidate certification path. certs[0] is the target (leaf)
// and certs[len-1] is the certificate issued by the trust anchor; RFC 5280's
// certificate i (1..n) is certs[n-i].
type certPath struct {
	certs  []*x509.Certificate
	anchor *x509.Certificate
}

func (p certPath) n() int { return len(p.certs) }

// at returns RFC 5280's certificate i (1-based, counted from the anchor).
func (p certPath) at(i int) *x509.Certificate { return p.certs[len(p.certs)-i] }

// issuerOf returns the certificate that issued certs[idx] in this path.
func (p certPath) issuerOf(idx int) *x509.Certificate {
	if idx+1 < len(p.certs) {
		return p.certs[idx+1]
	}
	return p.anchor
}

// pathBuilder finds candidate paths from a target certificate to one of the
// trust anchors through a pool of untrusted certificates, by issuer/subject
// name matching (RFC 5280 7.1), ordered by key identifier agreement, and
// pruned by signature verification.
type pathBuilder struct {
	roots []*x509.Certificate
	pool  []*x509.Certificate
	sigs  *sigCache

	sigChecks int
	// lastErr remembers why the search came up empty, for the caller.
	lastErr error
}

// errNoPath is the cause when no chain to an anchor exists at all.
var errNoPath = errors.New("no certification path to a trust anchor")

// build calls visit for each complete candidate path, best first, until
// visit returns true or the candidates are exhausted. It returns an error
// describing why no path could be built when visit was never called.
func (b *pathBuilder) build(leaf *x509.Certificate, visit func(certPath) bool) error {
	visited := 0
	var walk func(chain []*x509.Certificate) bool
	walk = func(chain []*x509.Certificate) bool {
		c := chain[len(chain)-1]
		for _, r := range b.candidates(c, b.roots) {
			if !b.signedBy(c, r) {
				continue
			}
			visited++
			if visit(certPath{certs: chain, anchor: r}) || visited >= maxPaths {
				return true
			}
		}
		if len(chain) >= maxPathDepth {
			b.lastErr = fmt.Errorf("path longer than %d certificates", maxPathDepth)
			return false
		}
		for _, ic := range b.candidates(c, b.pool) {
			if containsCert(chain, ic) || b.isRoot(ic) {
				continue
			}
			if !b.signedBy(c, ic) {
				continue
			}
			next := make([]*x509.Certificate, len(chain), len(chain)+1)
			copy(next, chain)
			if walk(append(next, ic)) {
				return true
			}
		}
		return false
	}
	walk([]*x509.Certificate{leaf})
	if visited > 0 {
		return nil
	}
	if b.lastErr != nil {
		return fmt.Errorf("%w: %w", errNoPath, b.lastErr)
	}
	return fmt.Errorf("%w: issuer %q not found", errNoPath, describeName(leaf.RawIssuer))
}

// candidates returns the certificates in set whose subject matches c's
// issuer, those whose subject key identifier agrees with c's authority key
// identifier first and those that disagree last.
func (b *pathBuilder) candidates(c *x509.Certificate, set []*x509.Certificate) []*x509.Certificate {
	var match, unknown, mismatch []*x509.Certificate
	for _, p := range set {
		if !namesEqual(p.RawSubject, c.RawIssuer) {
			continue
		}
		switch {
		case len(c.AuthorityKeyId) == 0 || len(p.SubjectKeyId) == 0:
			unknown = append(unknown, p)
		case bytes.Equal(c.AuthorityKeyId, p.SubjectKeyId):
			match = append(match, p)
		default:
			mismatch = append(mismatch, p)
		}
	}
	return append(append(match, unknown...), mismatch...)
}

func (b *pathBuilder) signedBy(child, parent *x509.Certificate) bool {
	if b.sigChecks >= maxSigChecks {
		b.lastErr = errors.New("too many candidate issuers")
		return false
	}
	b.sigChecks++
	if dsaInherits(parent.PublicKey) {
		// The parent's DSA parameters come from its own issuer, not known
		// yet: resolveDSAParams checks this signature once the path is.
		return true
	}
	err := b.sigs.check(parent, child)
	if err != nil {
		b.lastErr = fmt.Errorf("signature of %q by %q does not verify: %w",
			describeName(child.RawSubject), describeName(parent.RawSubject), err)
		return false
	}
	return true
}

func (b *pathBuilder) isRoot(c *x509.Certificate) bool { return containsCert(b.roots, c) }

func containsCert(set []*x509.Certificate, c *x509.Certificate) bool {
	for _, s := range set {
		if s == c || bytes.Equal(s.Raw, c.Raw) {
			return true
		}
	}
	return false
}

// describeName renders a DER Name for messages; it never fails.
func describeName(raw []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) != 0 {
		return fmt.Sprintf("%x", raw)
	}
	var n pkix.Name
	n.FillFromRDNSequence(&rdns)
	return n.String()
}

// sigCache remembers signature verification results so that the CA
// certificates of a path and the CRLs in hand are not re-verified on every
// login. Certificates are keyed by content hash (a client presents a new
// copy each time); CRLs by identity (they are long-lived objects held by
// the configuration or the fetcher's cache, and hashing a large CRL would
// cost more than verifying it). Bounded: a map is emptied when full. A nil
// *sigCache verifies every time. A check made with a DSA key whose
// parameters come from the path is never remembered: the keys identify
// certificates, and one certificate's key can be completed differently on
// different paths (dsaparams.go).
type sigCache struct {
	mu      sync.Mutex
	entries map[sigKey]error    // guarded by mu
	crls    map[crlSigKey]error // guarded by mu
}

type sigKey struct{ child, parent [sha256.Size]byte }

type crlSigKey struct {
	crl    *x509.RevocationList
	signer *x509.Certificate
}

const sigCacheMax = 1 << 14

func (s *sigCache) check(parent, child *x509.Certificate) error {
	if s == nil || inheritsDSAParams(parent) {
		return checkCertSignature(parent, child)
	}
	k := sigKey{sha256.Sum256(child.Raw), sha256.Sum256(parent.Raw)}
	return cached(s, &s.entries, k, func() error { return checkCertSignature(parent, child) })
}

// checkCRL verifies crl's signature with signer's key.
func (s *sigCache) checkCRL(signer *x509.Certificate, crl *x509.RevocationList) error {
	verify := func() error {
		return checkSignature(signer, crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature)
	}
	if s == nil || inheritsDSAParams(signer) {
		return verify()
	}
	return cached(s, &s.crls, crlSigKey{crl, signer}, verify)
}

func cached[K comparable](s *sigCache, m *map[K]error, k K, verify func() error) error {
	s.mu.Lock()
	err, ok := (*m)[k]
	s.mu.Unlock()
	if ok {
		return err
	}
	err = verify()
	s.mu.Lock()
	if *m == nil || len(*m) >= sigCacheMax {
		*m = make(map[K]error)
	}
	(*m)[k] = err
	s.mu.Unlock()
	return err
}
