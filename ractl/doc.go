// Package ractl is the registration authority's command-line client of
// authd's RA API (/v1/ra/...): register and find people, edit them, ask
// for, approve and end role profiles, issue, renew, cancel and unlock
// cards (making the key pair on the card through PKCS#11 and writing the
// certificate back), show a person's history, and verify the audit chain.
//
// The caller is an RA member logged in with their own card: their session
// token comes from a file (--token-file) or the RACTL_TOKEN environment
// variable, never from the command line, and is never printed. Card PINs
// come from files too.
//
// Exit status: 0 done; 1 refused (by policy, with its reason codes on
// stderr, or by a conflict) or failed, including a broken audit chain;
// 2 bad usage.
//
// It must not: decide anything itself (authd's policy does), print a
// token or PIN, or export a card's private key (keys are generated on
// the card and never leave it).
package ractl
