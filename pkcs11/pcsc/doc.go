// Package pcsc watches PC/SC smartcard readers through pcscd (over
// github.com/ebfe/scard): which readers there are, and when a card is
// inserted into or removed from one, or a reader is plugged in or
// unplugged. Watch turns SCardGetStatusChange, with the
// `\\?PnP?\Notification` pseudo-reader for reader changes, into a channel
// of typed Events: it blocks in pcscd rather than polling, ends through
// SCardCancel when its context ends, and when pcscd goes away (a restart,
// an upgrade) it reports every card and reader as gone, then reconnects
// with back-off and reports what it finds again.
//
// Only scard.go calls the PC/SC library; the event logic in watch.go is
// plain Go over a small interface.
//
// It must not: talk to cards (no APDUs: card access is PKCS#11's job, in
// the parent package), keep state a caller could mistake for the truth
// once pcscd is gone (a lost service is reported as every card removed:
// fail closed), or poll in a loop.
package pcsc
