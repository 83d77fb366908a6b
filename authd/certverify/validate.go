package certverify

import (
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"time"
)

// pathOutcome is what a structurally valid path yields.
type pathOutcome struct {
	// policies is the user-constrained policy set (RFC 5280 6.1.6).
	policies []x509.OID
	// path is the path validated, with the DSA keys that inherit their
	// parameters completed (resolveDSAParams).
	path certPath
}

// validatePath runs the RFC 5280 6.1 basic path validation algorithm over
// p at time at, except revocation (6.1.3 (a)(3)), which the caller checks
// once the path is otherwise valid. Signatures were verified while the path
// was built (6.1.3 (a)(1)), except those made with a DSA key that inherits
// its parameters, which are checked here; the others are not re-checked.
// sigs (which may be nil) remembers the self-signature checks the profile
// rules need.
func validatePath(p certPath, at time.Time, popts policyOptions, sigs *sigCache) (*pathOutcome, error) {
	n := p.n()
	// Validity is to the second (RFC 5280 4.1.2.5).
	at = at.Truncate(time.Second)
	if err := checkAnchor(p.anchor, at, n, sigs); err != nil {
		return nil, err
	}
	p, err := resolveDSAParams(p)
	if err != nil {
		return nil, err
	}
	// 6.1.2 initialisation, with the anchor's own constraints applied as
	// RFC 5937 describes: its name constraints and path length.
	var (
		workingIssuer = p.anchor.RawSubject
		maxPathLength = n
		names         nameConstraintState
		policy        = newPolicyValidator(popts, n)
	)
	if pl, ok := anchorPathLen(p.anchor); ok && pl < maxPathLength {
		maxPathLength = pl
	}
	anchorNC, err := certNameConstraints(p.anchor)
	if err != nil {
		return nil, newError(ReasonUntrusted, n, err, "trust anchor %q has an unusable name constraints extension",
			describeName(p.anchor.RawSubject))
	}
	if anchorNC != nil {
		names.add(anchorNC)
	}
	for i := 1; i <= n; i++ {
		c := p.at(i)
		depth := n - i // our depth: 0 is the leaf
		selfIssued := namesEqual(c.RawSubject, c.RawIssuer)

		// 6.1.3 (a)(2) validity.
		if at.Before(c.NotBefore) {
			return nil, newError(ReasonExpired, depth, nil, "certificate %q is not valid until %s",
				describeName(c.RawSubject), c.NotBefore.UTC().Format(time.RFC3339))
		}
		if at.After(c.NotAfter) {
			return nil, newError(ReasonExpired, depth, nil, "certificate %q expired at %s",
				describeName(c.RawSubject), c.NotAfter.UTC().Format(time.RFC3339))
		}
		// 6.1.3 (a)(4) name chaining.
		if !namesEqual(c.RawIssuer, workingIssuer) {
			return nil, newError(ReasonUntrusted, depth, nil, "issuer of %q does not match the subject of its issuer",
				describeName(c.RawSubject))
		}
		// 6.1.3 (b)(c) name constraints; self-issued intermediates are exempt.
		if !selfIssued || i == n {
			if err := names.check(c); err != nil {
				return nil, newError(ReasonUntrusted, depth, err, "certificate %q violates name constraints",
					describeName(c.RawSubject))
			}
		}
		// 6.1.3 (d)-(f) and, for i < n, 6.1.4 (a)(b)(h)(i)(j): policies.
		if err := policy.processCert(c, i, selfIssued); err != nil {
			return nil, newError(ReasonUntrusted, depth, err, "certificate policy processing failed at %q",
				describeName(c.RawSubject))
		}
		// 6.1.4 (o) and 6.1.5 (f): unrecognised critical extensions.
		if oid, ok := unhandledCritical(c); ok {
			return nil, newError(ReasonUntrusted, depth, nil, "certificate %q has an unrecognised critical extension %s",
				describeName(c.RawSubject), oid)
		}
		if err := checkProfile(c, sigs); err != nil {
			return nil, newError(ReasonUntrusted, depth, err, "certificate %q is malformed", describeName(c.RawSubject))
		}
		// A name constraints extension must be well formed, critical and in
		// a CA certificate (RFC 5280 4.2.1.10), the leaf included.
		nc, err := certNameConstraints(c)
		if err != nil {
			return nil, newError(ReasonUntrusted, depth, err, "certificate %q has an unusable name constraints extension",
				describeName(c.RawSubject))
		}
		if i == n {
			break
		}
		// 6.1.4 preparation for certificate i+1.
		workingIssuer = c.RawSubject // (c); (d)-(f): build time and resolveDSAParams
		// (g) name constraints.
		if nc != nil {
			names.add(nc)
		}
		// (k) basic constraints: only v3 certificates with cA=TRUE may issue.
		if c.Version != 3 || !c.BasicConstraintsValid || !c.IsCA {
			return nil, newError(ReasonUntrusted, depth, nil, "certificate %q is not a CA certificate but issued another",
				describeName(c.RawSubject))
		}
		// (l) path length.
		if !selfIssued {
			if maxPathLength <= 0 {
				return nil, newError(ReasonUntrusted, depth, nil, "path length constraint exceeded at %q",
					describeName(c.RawSubject))
			}
			maxPathLength--
		}
		// (m)
		if c.MaxPathLen > 0 || (c.MaxPathLen == 0 && c.MaxPathLenZero) {
			if c.MaxPathLen < maxPathLength {
				maxPathLength = c.MaxPathLen
			}
		}
		// (n) key usage.
		if !canSignCerts(c) {
			return nil, newError(ReasonUntrusted, depth, nil, "certificate %q may not sign certificates (keyUsage lacks keyCertSign)",
				describeName(c.RawSubject))
		}
	}
	// 6.1.5 wrap-up: policy (a)(b)(g).
	pols, err := policy.finish(p.at(n))
	if err != nil {
		return nil, newError(ReasonUntrusted, 0, err, "no acceptable certificate policy")
	}
	return &pathOutcome{policies: pols, path: p}, nil
}

// unhandledCritical returns the first critical extension of c that neither
// crypto/x509 nor this package processes.
func unhandledCritical(c *x509.Certificate) (asn1.ObjectIdentifier, bool) {
	for _, oid := range c.UnhandledCriticalExtensions {
		// Processed here although crypto/x509 lists them as unhandled when
		// they hold name forms it does not model (directoryName, ...).
		if oid.Equal(ncOIDSubjectAltName) || oid.Equal(ncOIDNameConstraints) {
			continue
		}
		return oid, true
	}
	return nil, false
}

// pathString renders a path for logs, leaf first.
func pathString(p certPath) string {
	s := ""
	for _, c := range p.certs {
		s += fmt.Sprintf("%q <- ", describeName(c.RawSubject))
	}
	return s + fmt.Sprintf("anchor %q", describeName(p.anchor.RawSubject))
}
