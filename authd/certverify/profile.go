package certverify

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"time"
)

// Checks from RFC 5280's certificate profile (section 4) that a relying
// party can apply without harming interoperability: each refuses a
// certificate that no conforming CA could have issued and whose meaning is
// therefore unclear. Key identifiers are required as 4.2.1.1 and 4.2.1.2
// say (they are what path building relies on). Rules that only concern
// issuing practice (serial number length and sign) are not enforced, and
// neither is the criticality of policyConstraints (4.2.1.11), which NIST's
// PKITS certificates leave non-critical and expect to be honoured.

var (
	oidExtBasicConstraints = asn1.ObjectIdentifier{2, 5, 29, 19}
)

func extensionOf(c *x509.Certificate, id asn1.ObjectIdentifier) (value []byte, critical, ok bool) {
	for _, e := range c.Extensions {
		if e.Id.Equal(id) {
			return e.Value, e.Critical, true
		}
	}
	return nil, false, false
}

// hasKeyUsage reports whether c has a key usage extension, even one with
// no bits set (which crypto/x509 cannot tell from an absent one).
func hasKeyUsage(c *x509.Certificate) bool {
	_, _, ok := extensionOf(c, crlOIDKeyUsage)
	return ok
}

// canSignCerts is 6.1.4 (n): with a key usage extension, keyCertSign must
// be set.
func canSignCerts(c *x509.Certificate) bool {
	return !hasKeyUsage(c) || c.KeyUsage&x509.KeyUsageCertSign != 0
}

// checkProfile applies the section 4 rules to any certificate of a path.
func checkProfile(c *x509.Certificate, sigs *sigCache) error {
	isCA := c.BasicConstraintsValid && c.IsCA
	// 4.2.1.9: keyCertSign only with cA.
	if hasKeyUsage(c) && c.KeyUsage&x509.KeyUsageCertSign != 0 && !isCA {
		return errors.New("keyUsage asserts keyCertSign but basicConstraints does not assert cA (RFC 5280 4.2.1.9)")
	}
	if c.Version >= 3 {
		// 4.2.1.2: every CA certificate has a subject key identifier.
		if isCA && len(c.SubjectKeyId) == 0 {
			return errors.New("CA certificate without a subjectKeyIdentifier (RFC 5280 4.2.1.2)")
		}
		// 4.2.1.1: every certificate but a self-signed one names its
		// issuer's key.
		if len(c.AuthorityKeyId) == 0 && !selfSigned(c, sigs) {
			return errors.New("certificate without an authorityKeyIdentifier keyIdentifier (RFC 5280 4.2.1.1)")
		}
	}
	// 4.2.1.12: at least one purpose.
	if ekus, present := extKeyUsages(c); present && len(ekus) == 0 && len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return errors.New("extKeyUsage lists no purpose (RFC 5280 4.2.1.12)")
	}
	// 4.1.2.6, 4.2.1.6: an empty subject needs a critical subjectAltName.
	if nameIsEmpty(c.RawSubject) {
		_, critical, ok := extensionOf(c, ncOIDSubjectAltName)
		if !ok || !critical {
			return errors.New("empty subject without a critical subjectAltName (RFC 5280 4.1.2.6)")
		}
		if isCA {
			return errors.New("CA certificate with an empty subject (RFC 5280 4.1.2.6)")
		}
	}
	return nil
}

// checkAnchor applies to a trust anchor given as a certificate what a
// relying party can check of it (RFC 5280 6.1.1 (d) leaves the anchor's
// treatment to the implementation; RFC 5937 describes using its
// constraints): it must be within its validity, carry no unrecognised
// critical extension, and, when it is a v3 certificate, be a CA with a
// critical basicConstraints and keyCertSign.
// depth is the anchor's position in the path (the number of certificates
// below it).
func checkAnchor(a *x509.Certificate, at time.Time, depth int, sigs *sigCache) *Error {
	if at.Before(a.NotBefore) || at.After(a.NotAfter) {
		return newError(ReasonExpired, depth, nil, "trust anchor %q is outside its validity (%s to %s)",
			describeName(a.RawSubject), a.NotBefore.UTC().Format(time.RFC3339), a.NotAfter.UTC().Format(time.RFC3339))
	}
	if oid, ok := unhandledCritical(a); ok {
		return newError(ReasonUntrusted, depth, nil, "trust anchor %q has an unrecognised critical extension %s",
			describeName(a.RawSubject), oid)
	}
	if nameIsEmpty(a.RawSubject) {
		return newError(ReasonUntrusted, depth, nil, "trust anchor has an empty subject")
	}
	if a.Version < 3 {
		return nil // v1/v2 anchors carry no extensions: trusted as configured
	}
	if _, critical, ok := extensionOf(a, oidExtBasicConstraints); !ok || !critical || !a.IsCA {
		return newError(ReasonUntrusted, depth, nil,
			"trust anchor %q lacks a critical basicConstraints with cA (RFC 5280 4.2.1.9)", describeName(a.RawSubject))
	}
	if !canSignCerts(a) {
		return newError(ReasonUntrusted, depth, nil,
			"trust anchor %q may not sign certificates (keyUsage lacks keyCertSign)", describeName(a.RawSubject))
	}
	if err := checkProfile(a, sigs); err != nil {
		return newError(ReasonUntrusted, depth, err, "trust anchor %q is malformed", describeName(a.RawSubject))
	}
	return nil
}

// anchorPathLen is the anchor's pathLenConstraint, if it has one.
func anchorPathLen(a *x509.Certificate) (int, bool) {
	if a.BasicConstraintsValid && (a.MaxPathLen > 0 || a.MaxPathLenZero) {
		return a.MaxPathLen, true
	}
	return 0, false
}

// selfSigned reports whether c is self-issued and verifies with its own key.
func selfSigned(c *x509.Certificate, sigs *sigCache) bool {
	return namesEqual(c.RawSubject, c.RawIssuer) && sigs.check(c, c) == nil
}
