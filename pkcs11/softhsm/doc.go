// Package softhsm makes SoftHSM2 tokens from PEM files, for tests and for
// `authd dev`: a private SoftHSM2 configuration and token directory (Env),
// and tokens holding a card's key and certificate under one CKA_ID, as a
// real card holds them.
//
// It drives the Debian tools softhsm2-util and OpenSC's pkcs11-tool; it
// has no cgo. When they are missing its errors match ErrNotInstalled and
// say to run scripts/setup.sh.
//
// It must not: leave private key files behind (keys go through a
// owner-only temporary file that is removed), or put a PIN or key in an
// error. The tools take PINs on their command line only, where other local
// users can see them while the tool runs: never use it to provision
// production cards.
package softhsm
