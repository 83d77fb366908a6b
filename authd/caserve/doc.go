// Package caserve publishes the card CA's revocation data from authd: the
// CRL (GET /v1/pki/crl, DER, application/pkix-crl, regenerated after every
// revocation and before its nextUpdate), an OCSP responder (RFC 6960,
// POST /v1/pki/ocsp and GET /v1/pki/ocsp/<base64 request>: good, revoked
// with time and reason, or unknown, signed by the CA or a delegated
// responder, the request's nonce echoed) and the CA certificate
// (GET /v1/pki/ca.crt, for the certificates' caIssuers URL).
//
// Card certificates issued by registration/cardca name these endpoints,
// so authd's own verifier (authd/certverify) checks logins against them,
// and so can anyone else.
//
// It must not: answer good for a certificate the CA has no record of
// (that is unknown), answer for another CA's certificates (unauthorized),
// let a store failure look like a status (internalError, so relying
// parties fall back to the CRL), or accept a request it cannot parse in
// full (malformedRequest). It reads the CA's records; it never changes
// them.
package caserve
