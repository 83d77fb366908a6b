// Package cardca is the card CA: it signs card authentication certificates
// from the authentication sub-CA, renews and revokes them, and produces
// the CRL authd publishes. The registration authority calls it after the
// card has made its key pair (package pkcs11: Token.GenerateKey) and
// before writing the certificate to the card (Token.WriteCertificate).
//
// Shape: New(ctx, Config, Store) → *CA, with
//
//	IssueCard(ctx, uid, pub)        a new card and its first certificate
//	RenewCard(ctx, cardID, pub)     a new certificate for a new key, inside the renewal window
//	CancelCard(ctx, cardID, reason) the card cancelled, its certificates revoked
//	Revoke(ctx, serial, reason)     one certificate revoked (idempotent)
//	Lookup(ctx, serial)             what the OCSP responder answers
//	CRL(ctx)                        the current CRL, regenerated when out of date
//
// Certificates follow the login profile authd checks: subject
// CN=<uid>_<Name>, OU=People, O=nhs (the name from the registration
// store), keyUsage digitalSignature, EKU clientAuth, the configured policy
// OIDs, a CRL distribution point and an AIA OCSP URL at authd's own
// endpoints, a random 126-bit serial, an RFC 7093 key identifier and a
// configurable validity (default 2 years, never past the CA's own).
// Every issue, renewal and revocation is stored durably (registration's
// CAStore) before it is returned; revocations bump a counter that makes
// every authd node regenerate its CRL on the next request.
//
// Refusals are *Error with a stable Reason (renewal_not_open,
// certificate_expired, card_not_active, person_not_active, key_reused,
// key_unsupported); a missing card or person is registration.ErrNotFound,
// bad input registration.ErrInvalid.
//
// It must not: sign a certificate for a private key it was handed (it
// takes public keys only), issue a certificate whose record was not
// stored, certify a key twice, reveal the CA key (a crypto.Signer from a
// PEM file or a PKCS#11 token), or decide who may ask it (the RA layer's
// policy does that).
package cardca
