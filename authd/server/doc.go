// Package server builds a running authd from a configuration: the
// certificate verifier, the registration store, the session and challenge
// stores, the login service, health checks and metrics, behind one HTTP
// server with time-outs and graceful shutdown.
//
// It must not start serving with a configuration that failed validation,
// or fall back silently to a weaker setting (plain HTTP off loopback, no
// revocation) than the one configured.
package server
