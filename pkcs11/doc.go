// Package pkcs11 is the card access of the workstation agent (cardagent)
// and of RA tooling: it finds smartcard tokens through a PKCS#11 library
// (OpenSC's opensc-pkcs11.so for real and virtual cards, SoftHSM2 in
// tests), reads the authentication certificate, logs the user in with
// their PIN and signs login challenges with the card's private key as a
// crypto.Signer. RA operations (PIN reset with the SO PIN, PIN change) are
// here too.
//
// Shape: Open loads a library (a *Module, one per library per process);
// Module.OpenToken picks a token by label, slot or serial and holds a
// session on it (a *Token); Token.Login, Token.AuthCertificate and
// Token.Signer do the login; Token.Close ends it. Every failure is an
// *Error or *PINError matching one of the Err* kinds with errors.Is, whose
// text a user can understand (ErrPINIncorrect with tries left,
// ErrPINLocked, ErrTokenRemoved, ...); the PKCS#11 return value is
// available with errors.As on a github.com/miekg/pkcs11 Error.
//
// Provisioning for the RA (provision.go): GenerateKey makes a key pair on
// the token (never extractable) and returns the public key for the CA;
// WriteCertificate stores the issued certificate beside it; DeleteObjects
// removes a replaced key pair; KeySigner signs with a key chosen by
// CKA_ID (a fresh key, or a CA key on an HSM).
//
// Only module.go, session.go and session_provision.go call the PKCS#11
// library (cgo, through github.com/miekg/pkcs11); everything else is
// plain Go.
//
// It must not: log, store, return or put in an error message a PIN (the
// PIN type cannot be printed, and only this package can read its digits);
// read or export private key material (keys are used through their
// handles, and only their public attributes are read); keep a PIN to log in
// again later; or load a PKCS#11 library from a relative path. It does not
// log at all: callers log the errors it returns.
//
// Sub-package softhsm provisions SoftHSM2 tokens from PEM files for tests
// and `authd dev`.
package pkcs11
