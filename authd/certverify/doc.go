// Package certverify decides whether a card certificate is genuine, current
// and not revoked. It is the one verifier behind both the login path and the
// `authd cert verify` command.
//
// It implements RFC 5280 section 6.1 (basic path validation: signatures,
// validity, name chaining, basic constraints, key usage, name constraints,
// certificate policies) and section 6.3 (CRL validation, including indirect
// and delta CRLs), path building from a pool of untrusted intermediates, and
// OCSP (RFC 6960) as a second revocation source. A deployment's login
// requirements (key usage, extended key usage, required policy OIDs) are
// checked on top of RFC 5280 when configured.
//
// Every refusal is an *Error carrying a stable Reason that callers map to
// their own error codes; the human message never contains key material.
//
// It must not: trust anything that was not configured as a trust anchor,
// treat a certificate whose revocation status could not be established as
// good when hard-fail is configured (the default), or reach the network when
// the caller has not allowed it.
package certverify
