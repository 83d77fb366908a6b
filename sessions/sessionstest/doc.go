// Package sessionstest is the conformance suite for sessions.Store and
// sessions.ChallengeStore: every backend runs RunStoreTests and
// RunChallengeTests from its own tests, so they all behave alike.
//
// It is for tests only and must not be imported by production code. The
// suite drives time through a fake Clock, so backends must take all their
// time from the now function they are given.
package sessionstest
