// Package ra is the registration authority's HTTP API under /v1/ra/:
// registering people (with the identity evidence checked), finding them,
// editing them with optimistic versioning, requesting, approving and
// ending role profiles, listing pending approvals, issuing, renewing,
// cancelling and unlocking cards, a person's history and the audit trail.
//
// Callers are RA staff, authenticated by the bearer session token of
// their own card login. Every action is decided by the Rego policy
// data.spine.ra.decision (rego/ra) with the session's selected role
// profile; a refusal answers 403 with the policy's reason codes. Every
// action, allowed or refused, is audited: an allowed change and its audit
// entry are written in one store transaction (registration.RA), a refusal
// is appended on its own, and a read of personal data (a record, a
// history, a search, the pending list, the audit trail) is answered only
// once its entry is written.
//
// It must not: act without a policy decision (an error evaluating the
// policy refuses); trust the caller for facts it can look up (the actor's
// role profile, the person's organisations, who requested a profile); let
// an ended role profile or a cancelled card keep a session (their
// sessions end when the change commits); or log or echo a session token.
package ra
