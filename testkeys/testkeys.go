package testkeys

import (
	"crypto"
	"crypto/x509"
	"embed"
	"encoding/pem"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"testing"
)

// files is the committed output of testkeys/cmd/genpki.
//
//go:embed pki
var files embed.FS

// User is one of the demo users who hold cards in the test PKI.
type User struct {
	UID  string // 12-digit user ID, the card number
	Name string // display name, as in the certificate CN
	Role string // what the demo data makes them: clinician, nurse, ra_agent, privacy_officer
}

// Users are the four demo users. Each has two good cards issued by subca:
// CardRSA (RSA-2048) and CardEC (ECDSA P-256).
var Users = []User{
	{UID: "555000000011", Name: "Alice Carter", Role: "clinician"},
	{UID: "555000000012", Name: "Bob Singh", Role: "nurse"},
	{UID: "555000000013", Name: "Carol Jones", Role: "ra_agent"},
	{UID: "555000000014", Name: "Dan Okafor", Role: "privacy_officer"},
}

// CN is the common name of the user's card certificates: <uid>_<name>.
func (u User) CN() string { return u.UID + "_" + u.Name }

// CardRSA is the fixture name of the user's RSA-2048 card.
func (u User) CardRSA() string { return "card-" + u.UID + "-rsa" }

// CardEC is the fixture name of the user's ECDSA P-256 card.
func (u User) CardEC() string { return "card-" + u.UID + "-ec" }

// Cert returns the certificate in pki/<name>.pem, which must hold exactly
// one. Names are fixture names such as "root", "subca", "card-expired".
func Cert(t testing.TB, name string) *x509.Certificate {
	t.Helper()
	der := onePEM(t, name+".pem", "CERTIFICATE")
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("testkeys: %s.pem: %v", name, err)
	}
	return c
}

// Key returns the private key in pki/<name>.key (PKCS#8).
func Key(t testing.TB, name string) crypto.Signer {
	t.Helper()
	der := onePEM(t, name+".key", "PRIVATE KEY")
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatalf("testkeys: %s.key: %v", name, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		t.Fatalf("testkeys: %s.key: %T is not a crypto.Signer", name, k)
	}
	return s
}

// CRL returns the CRL in pki/<name>.crl, e.g. "auth", "root", "auth-stale".
func CRL(t testing.TB, name string) *x509.RevocationList {
	t.Helper()
	der := onePEM(t, name+".crl", "X509 CRL")
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("testkeys: %s.crl: %v", name, err)
	}
	return crl
}

// PEM returns the raw bytes of a file in pki/, for tests that hand files
// to a command. A name without an extension means <name>.pem; otherwise
// it is the file's path under pki/, e.g. "root.key", "auth.crl",
// "ocsp/index.txt" (the files under http/ are DER, despite the name).
func PEM(t testing.TB, name string) []byte {
	t.Helper()
	if path.Ext(name) == "" {
		name += ".pem"
	}
	return readFile(t, name)
}

// Dir returns the absolute path of testkeys/pki in the source tree, for
// tests that need the fixtures as real files. It panics when the source
// tree is not where this package was compiled from (a binary built with
// -trimpath or moved elsewhere); use PEM and write the bytes out instead.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		panic("testkeys: cannot locate the source tree (built with -trimpath?)")
	}
	dir := filepath.Join(filepath.Dir(file), "pki")
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		panic("testkeys: " + dir + " is not a directory")
	}
	return dir
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	if !fs.ValidPath(name) {
		t.Fatalf("testkeys: invalid fixture name %q", name)
	}
	b, err := files.ReadFile("pki/" + name)
	if err != nil {
		t.Fatalf("testkeys: no fixture %s: %v", name, err)
	}
	return b
}

// onePEM returns the DER of the single PEM block of type typ in file.
func onePEM(t testing.TB, file, typ string) []byte {
	t.Helper()
	block, rest := pem.Decode(readFile(t, file))
	if block == nil || block.Type != typ {
		t.Fatalf("testkeys: %s: want one PEM block %q", file, typ)
	}
	if extra, _ := pem.Decode(rest); extra != nil {
		t.Fatalf("testkeys: %s: more than one PEM block", file)
	}
	return block.Bytes
}
