// Package cardagent is the workstation side of card login: it reads the
// card through PKCS#11, asks the user for the PIN, proves possession of
// the card's key to authd and holds the session. cmd/cardagent's main only
// calls Main.
//
// It must not write the PIN or the session token anywhere but where the
// user asked (the token is printed by `cardagent login` because that is
// its job), and must not keep a session authd has ended.
package cardagent
