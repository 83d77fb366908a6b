// Package testkeys is the project's committed test PKI and the helpers that
// load it in tests.
//
// The fixtures live in testkeys/pki (see pki/README.md for what each one is
// and the verification outcome expected of it). They are made by
//
//	go run ./testkeys/cmd/genpki -out testkeys/pki
//
// and embedded into this package, so tests load them by name without caring
// about the working directory:
//
//	root := testkeys.Cert(t, "root")
//	card := testkeys.Cert(t, testkeys.Users[0].CardEC())
//	key := testkeys.Key(t, testkeys.Users[0].CardEC())
//	crl := testkeys.CRL(t, "auth")
//
// Tests that need real files (a CLI under test, `openssl ocsp`) use Dir, or
// write PEM's bytes where they like.
//
// Every private key here is public: it is committed to the repository. This
// package must never be imported by production code, and nothing it holds
// may be trusted outside tests and demos.
package testkeys
