// Package pdp is authd's policy decision point: the OpenID AuthZEN
// evaluation endpoints that spine services call before they show or change
// a record, and the endpoints through which they record legitimate
// relationships and consent. It turns a request into a policy input from
// facts it looks up itself (the session and its role profile, the
// patient's relationships, consent and seals), evaluates the Rego policy,
// stores the alerts a decision requires and the decision itself, and
// answers.
//
// It must not answer allow when anything is unknown or broken: an unknown,
// expired or ended session, a malformed NHS number, a failing store or
// policy, or an alert that could not be stored are all denials with a
// reason code. It must not trust the caller for facts it can look up, and
// must not log or record a session token.
package pdp
