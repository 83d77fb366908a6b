// Package sessions keeps authd's login state: the sessions that a smartcard
// login opens and the single-use login challenges that precede it.
//
// A session is named by a Token, 32 random bytes handed to the workstation as
// a bearer token. Stores index a session by the token's SHA-256 only, so a
// copy of the store (a Redis dump, a heap profile of the in-memory map) does
// not let anyone act as a logged-in clinician. A session ends at the first of:
// its absolute end (Config.Lifetime after login, 10 hours by default), an idle
// period longer than its IdleTimeout (30 minutes by default; every Get slides
// it), an explicit Delete (logout), or DeleteUser / DeleteCard (the card was
// pulled out, cancelled, or the user was suspended).
//
// Login challenges (Challenge) live at most 60 seconds and Take hands each one
// out once, across every authd node sharing the store.
//
// Two backends implement Store and ChallengeStore: Memory, for a single authd
// process, and Redis, for many authd nodes sharing a Redis server, Sentinel
// group or Cluster through go-redis's UniversalClient. Both pass the same
// conformance suite, sessions/sessionstest.
//
// This package must not store a token (only its hash), log a token, or hand
// one out in any form but Token.Encode: Token's String, GoString, Format,
// LogValue and MarshalText all print a redacted placeholder. Session.ID, the
// first 8 bytes of the hash in hex, is the identifier to use in logs and audit
// records. Time comes from Config.Now, never from the Redis server, so tests
// can drive expiry with a fake clock.
package sessions
