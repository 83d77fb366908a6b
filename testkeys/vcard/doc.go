// Package vcard is a virtual PIV smartcard for tests and demos: enough of
// the NIST SP 800-73-4 card edge for OpenSC's PIV driver (opensc-pkcs11.so,
// pkcs11-tool, pkcs15-tool, piv-tool) to use it like a real card, plugged
// into pcscd through the vpcd reader driver (Debian vsmartcard-vpcd).
//
// # The card edge
//
//   - SELECT of the PIV AID (a right-truncated AID of at least the RID
//     selects it too) answers the application property template.
//   - GET DATA (CB 3F FF) returns the discovery object, CHUID (with the
//     card's GUID, which OpenSC uses as serial number), CCC, key history and
//     the certificates of 9A, 9C, 9D and 9E; an absent object is 6A82.
//   - Long answers come in parts (61xx, GET RESPONSE) for short Le, or whole
//     for extended Le; long commands may be chained (CLA 10).
//   - VERIFY (P2=80) with a retry counter: three wrong PINs block it (63C2,
//     63C1, 63C0, then 6983); empty data reports 63Cx or 9000; P1=FF
//     forgets the verification. CHANGE REFERENCE DATA for the PIN (80) and
//     PUK (81); RESET RETRY COUNTER with the PUK and a new PIN (three wrong
//     PUKs block the PUK too).
//   - GENERAL AUTHENTICATE: raw RSA-2048 on the block the host padded
//     (PKCS#1 v1.5 or PSS signatures, decryption), ECDSA P-256/P-384, ECDH
//     with the 9D key; 9A, 9C, 9D need the PIN, 9E does not. With key 9B it
//     authenticates the host with the card management key (3DES or AES-128,
//     external or mutual form, SP 800-73-4 appendix A).
//   - GENERATE ASYMMETRIC KEY PAIR (RSA-2048, P-256, P-384) and PUT DATA are
//     refused (6982) until the management key has been proved since the last
//     power-on.
//
// Every APDU is parsed strictly (ISO 7816-3 short and extended cases); a
// malformed one gets its status word (6700, 6A80, 6A86, 6D00, 6E00, ...),
// never a panic. Transmit is the whole card: bytes in, bytes out.
//
// # State
//
// The card's memory (keys, certificates and other data objects, PIN, PUK,
// retry counters, management key) is a State, saved as JSON with mode 0600,
// atomically (temporary file, sync, rename), before the card answers a
// command that changed it: a spent PIN try is on disk before the PIN is
// compared, so a lock survives a restart. The security status (PIN
// verified, management key proved) lives only until power-off or reset.
//
// # In a reader
//
//	card, _ := vcard.Open("card.json", vcard.Options{Logger: log})
//	card.Insert(ctx, d.Readers[0].Addr) // pcscd sees a card
//	card.Remove()                       // and its removal
//
// The vpcd protocol: the card is a TCP client of the driver; every message
// is a 2-byte big-endian length and a payload; a 1-byte payload is a control
// code (0 power off, 1 power on, 2 reset, 4 get ATR), anything else an APDU
// whose answer goes back the same way. Closing the connection removes the
// card. Package testkeys/pcsctest starts a private pcscd with two vpcd
// readers for a test.
//
// The command `vcard` (cmd/vcard, Main here) makes state files (`vcard init`
// from a certificate and key such as testkeys/pki's card fixtures), runs a
// card in a reader with insert/remove on stdin or signals (`vcard run`),
// and shows a card (`vcard status`, never a secret).
//
// # What it must not do
//
// This is test tooling: its keys sit in a plain file, RSA uses math/big
// (not constant time), and the default management key is public. It must
// never be imported by production code nor hold a real person's keys. PINs,
// PUKs and keys never reach its logs (APDUs are logged by header and status
// word only).
package vcard
