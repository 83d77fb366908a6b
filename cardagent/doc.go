// Package cardagent is the workstation side of card login: it reads the
// card through PKCS#11, asks the user for the PIN, proves possession of
// the card's key to authd and holds the session. cmd/cardagent's main only
// calls Main.
//
// Two forms:
//
//   - `cardagent login` logs in once from a token and prints the session
//     (for scripts and tests).
//   - `cardagent` (or `cardagent watch`) is the daemon. An Agent follows
//     PC/SC reader events (package pkcs11/pcsc); for each inserted card it
//     finds the card's PKCS#11 token by reader name (OpenSC names each slot
//     after its reader: ModuleTokens), asks for the PIN through a Prompter
//     (the terminal, or lines on a file descriptor for scripts and tests),
//     logs in to authd, lets the user choose among several role profiles,
//     and checks the session at authd often enough to keep it from idling
//     out. When the card is removed it ends the session at authd at once
//     (DELETE /v1/session), retrying while authd cannot be reached. A 401
//     from authd drops the session: the agent never keeps one authd has
//     ended. Unreachable authd (no answer, 5xx, 429) is retried with
//     exponential back-off and jitter, keeping the session meanwhile.
//
// The local API (LocalAPI) is HTTP on a Unix socket of mode 0600: GET
// /v1/sessions lists the cards and their sessions (with the token, for
// the user's own applications), GET /v1/events long-polls numbered events
// (session started, role selected, session ended with its reason), PUT
// /v1/sessions/role selects a role profile, GET /metrics serves the
// agent's Prometheus metrics.
//
// Configuration (DaemonConfig) is one strict YAML file: authd_url,
// ca_file, module, socket, workstation_id, refresh, retry_min, retry_max,
// token_wait, pin_tries, request_timeout, log.
//
// It must not write the PIN or the session token anywhere but where the
// user asked (the token is printed by `cardagent login` because that is
// its job, and served on the 0600 socket because that is the local API's);
// logs redact them by key and never receive them by value. It must not
// keep a session authd has ended, nor a session for a card that has left
// its reader, and must not take a PIN from argv or the environment in the
// daemon form.
package cardagent
