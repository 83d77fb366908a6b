// Package pin holds the card passcode type behind pkcs11.PIN.
//
// It lives in an internal package so that only the card layer
// (github.com/carespine/spineauth/pkcs11 and its sub-packages) can read the
// digits back, through Reveal: code outside pkcs11/ can make, compare and
// pass PINs, but has no way to print, log or store one.
//
// It must not: reveal a PIN through any formatting, logging or marshalling
// path, or let a PIN be compared in variable time.
package pin
