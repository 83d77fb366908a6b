// Package login is the card login protocol of authd: single-use,
// audience-bound challenges; proof of possession of the card's key; the
// certificate check (chain and revocation, through certverify); mapping
// the certificate to a registered card and its owner; role profile
// selection; and the session that results. It also serves the session
// endpoints (GET, PUT role, DELETE).
//
// It must not: accept a challenge twice or after it expired, issue a
// session on any doubt (every refusal carries a stable code), or write a
// session token, signature or key material to a log.
package login
