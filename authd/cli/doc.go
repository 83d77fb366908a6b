// Package cli is the authd command line: it parses arguments, loads
// configuration and wires the daemon's parts together. cmd/authd's main
// only calls Main.
//
// It must not write anything secret to its output streams.
package cli
