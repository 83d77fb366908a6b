package testkeys

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io/fs"
	"math/big"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// verifyAt is a time at which every long-lived fixture is current.
var verifyAt = time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// fixtures lists the files under pki/, as paths relative to it.
func fixtures(t *testing.T) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(files, "pki", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, "pki/"))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// stem is a fixture file name without its extension.
func stem(name string) string { return strings.TrimSuffix(name, path.Ext(name)) }

func TestEveryFixtureParses(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			switch {
			case name == "README.md" || strings.HasPrefix(name, "ocsp/"):
				// Checked by TestReadmeCoversEveryFixture and TestOCSPIndex.
			case strings.HasPrefix(name, "http/ca/"):
				if _, err := x509.ParseCertificate(PEM(t, name)); err != nil {
					t.Fatal(err)
				}
				if want := Cert(t, stem(path.Base(name))).Raw; !bytes.Equal(PEM(t, name), want) {
					t.Errorf("not the DER of %s.pem", stem(path.Base(name)))
				}
			case strings.HasPrefix(name, "http/crl/"):
				if !bytes.Equal(PEM(t, name), CRL(t, stem(path.Base(name))).Raw) {
					t.Errorf("not the DER of %s", path.Base(name))
				}
			case name == "chain.pem":
				if !bytes.Equal(Cert(t, "chain").Raw, Cert(t, "subca").Raw) {
					t.Error("chain.pem is not subca.pem")
				}
			case path.Ext(name) == ".pem":
				Cert(t, stem(name))
			case path.Ext(name) == ".key":
				Key(t, stem(name))
			case path.Ext(name) == ".crl":
				CRL(t, stem(name))
			default:
				t.Errorf("unexpected file")
			}
		})
	}
}

// subjectString renders a certificate's subject in its encoded order (most
// specific first), which pkix.Name.String does not promise.
func subjectString(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	var rdns pkix.RDNSequence
	if _, err := asn1.Unmarshal(c.RawSubject, &rdns); err != nil {
		t.Fatal(err)
	}
	return rdns.String()
}

var cardSubject = regexp.MustCompile(`^CN=([0-9]{12})_([A-Z][a-z]+(?: [A-Z][a-z]+)+),OU=People,O=nhs$`)

func TestCardSubjects(t *testing.T) {
	for _, name := range fixtures(t) {
		if !strings.HasPrefix(name, "card-") || path.Ext(name) != ".pem" {
			continue
		}
		c := Cert(t, stem(name))
		if s := subjectString(t, c); !cardSubject.MatchString(s) {
			t.Errorf("%s: subject %q is not CN=<12 digits>_<Name>,OU=People,O=nhs", name, s)
		}
	}
}

func TestUsers(t *testing.T) {
	if len(Users) != 4 {
		t.Fatalf("%d users, want 4", len(Users))
	}
	for _, u := range Users {
		for _, name := range []string{u.CardRSA(), u.CardEC()} {
			c := Cert(t, name)
			if want := "CN=" + u.CN() + ",OU=People,O=nhs"; subjectString(t, c) != want {
				t.Errorf("%s: subject %q, want %q", name, subjectString(t, c), want)
			}
		}
		if k, ok := Key(t, u.CardRSA()).(*rsa.PrivateKey); !ok || k.N.BitLen() != 2048 {
			t.Errorf("%s: want an RSA-2048 key", u.CardRSA())
		}
		if k, ok := Key(t, u.CardEC()).(*ecdsa.PrivateKey); !ok || k.Curve != elliptic.P256() {
			t.Errorf("%s: want a P-256 key", u.CardEC())
		}
	}
}

func TestKeysMatchCertificates(t *testing.T) {
	for _, name := range fixtures(t) {
		if path.Ext(name) != ".key" {
			continue
		}
		pub := Cert(t, stem(name)).PublicKey
		k, ok := Key(t, stem(name)).Public().(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !k.Equal(pub) {
			t.Errorf("%s does not match %s.pem", name, stem(name))
		}
	}
}

func TestSerialsAreUnique(t *testing.T) {
	seen := map[string]string{}
	for _, name := range fixtures(t) {
		if path.Ext(name) != ".pem" || name == "chain.pem" || name == "card-tampered.pem" {
			continue // copies of other certificates
		}
		c := Cert(t, stem(name))
		if n := len(c.SerialNumber.Bytes()); n != 16 || c.SerialNumber.Sign() <= 0 {
			t.Errorf("%s: serial is not 16 positive octets", name)
		}
		if other, dup := seen[c.SerialNumber.String()]; dup {
			t.Errorf("%s and %s share a serial", name, other)
		}
		seen[c.SerialNumber.String()] = name
	}
}

// verifyOpts trusts root and offers the sub-CAs as intermediates.
func verifyOpts(t *testing.T, intermediates ...string) x509.VerifyOptions {
	t.Helper()
	opts := x509.VerifyOptions{
		Roots:         x509.NewCertPool(),
		Intermediates: x509.NewCertPool(),
		CurrentTime:   verifyAt,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	opts.Roots.AddCert(Cert(t, "root"))
	for _, name := range intermediates {
		opts.Intermediates.AddCert(Cert(t, name))
	}
	return opts
}

// TestGoodCardsVerify is a sanity check with Go's verifier; the project's
// own verifier is tested in authd/certverify.
func TestGoodCardsVerify(t *testing.T) {
	for _, u := range Users {
		for _, name := range []string{u.CardRSA(), u.CardEC()} {
			chains, err := Cert(t, name).Verify(verifyOpts(t, "subca"))
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if got := len(chains[0]); got != 3 {
				t.Errorf("%s: chain of %d, want leaf, subca, root", name, got)
			}
		}
	}
}

// TestNegativeCards checks that each negative fixture differs from a good
// card in the way README.md says, and that Go's verifier refuses the ones
// it can judge.
func TestNegativeCards(t *testing.T) {
	alice := Cert(t, Users[0].CardRSA())
	tests := []struct {
		name       string
		via        []string // intermediates offered
		goRefuses  bool     // x509.Verify (clientAuth, at verifyAt) must fail
		difference func(t *testing.T, c *x509.Certificate)
	}{
		{"card-expired", []string{"subca"}, true, func(t *testing.T, c *x509.Certificate) {
			if !c.NotBefore.Equal(date(2025, 1, 1)) || !c.NotAfter.Equal(date(2025, 6, 1)) {
				t.Errorf("validity %v - %v", c.NotBefore, c.NotAfter)
			}
		}},
		{"card-notyetvalid", []string{"subca"}, true, func(t *testing.T, c *x509.Certificate) {
			if !c.NotBefore.Equal(date(2044, 6, 1)) || !c.NotAfter.Equal(date(2044, 12, 1)) {
				t.Errorf("validity %v - %v", c.NotBefore, c.NotAfter)
			}
		}},
		{"card-revoked", []string{"subca"}, false, nil},    // see TestCRLs
		{"card-revoked-ec", []string{"subca"}, false, nil}, // see TestCRLs
		{"card-foreign", []string{"subca"}, true, func(t *testing.T, c *x509.Certificate) {
			if err := c.CheckSignatureFrom(Cert(t, "foreign-root")); err != nil {
				t.Errorf("not issued by foreign-root: %v", err)
			}
		}},
		{"card-wrongku", []string{"subca"}, false, func(t *testing.T, c *x509.Certificate) {
			if c.KeyUsage != x509.KeyUsageKeyEncipherment {
				t.Errorf("key usage %b", c.KeyUsage)
			}
		}},
		{"card-wrongeku", []string{"subca"}, true, func(t *testing.T, c *x509.Certificate) {
			if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection}) {
				t.Errorf("EKU %v", c.ExtKeyUsage)
			}
		}},
		{"card-nopolicy", []string{"subca"}, false, func(t *testing.T, c *x509.Certificate) {
			if len(c.Policies) != 0 || len(c.PolicyIdentifiers) != 0 {
				t.Errorf("has policies %v", c.Policies)
			}
		}},
		{"card-via-notca", []string{"notca"}, true, func(t *testing.T, c *x509.Certificate) {
			n := Cert(t, "notca")
			if !n.BasicConstraintsValid || n.IsCA {
				t.Error("notca must carry basicConstraints CA:false")
			}
			if err := c.CheckSignatureFrom(n); err == nil {
				t.Error("Go should refuse a signature from a non-CA")
			}
		}},
		{"card-tampered", []string{"subca"}, true, func(t *testing.T, c *x509.Certificate) {
			if !bytes.Equal(c.RawTBSCertificate, alice.RawTBSCertificate) || bytes.Equal(c.Signature, alice.Signature) {
				t.Error("want Alice's RSA card with a different signature")
			}
		}},
		// Go's verifier does not check revocation; see TestCRLs.
		{"card-via-revokedsubca", []string{"revoked-subca"}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Cert(t, tt.name)
			if tt.difference != nil {
				tt.difference(t, c)
			}
			_, err := c.Verify(verifyOpts(t, tt.via...))
			if tt.goRefuses && err == nil {
				t.Error("Go's verifier accepted it")
			}
			if !tt.goRefuses && err != nil {
				t.Errorf("Go's verifier refused it: %v", err)
			}
		})
	}
}

func TestCAs(t *testing.T) {
	root, subca := Cert(t, "root"), Cert(t, "subca")
	if err := root.CheckSignatureFrom(root); err != nil || !root.IsCA {
		t.Errorf("root is not a self-signed CA: %v", err)
	}
	if !subca.IsCA || subca.MaxPathLen != 0 || !subca.MaxPathLenZero {
		t.Error("subca must be CA:true, pathlen 0")
	}
	if subca.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("subca key usage %b", subca.KeyUsage)
	}
	if !slices.Equal(subca.CRLDistributionPoints, []string{"http://127.0.0.1:8089/crl/root.crl"}) ||
		!slices.Equal(subca.IssuingCertificateURL, []string{"http://127.0.0.1:8089/ca/root.crt"}) {
		t.Errorf("subca URLs %v %v", subca.CRLDistributionPoints, subca.IssuingCertificateURL)
	}
	if !bytes.Equal(subca.AuthorityKeyId, root.SubjectKeyId) || len(subca.SubjectKeyId) == 0 {
		t.Error("subca AKI/SKI")
	}
	card := Cert(t, Users[0].CardEC())
	if !slices.Equal(card.OCSPServer, []string{"http://127.0.0.1:8089/ocsp"}) ||
		!slices.Equal(card.IssuingCertificateURL, []string{"http://127.0.0.1:8089/ca/subca.crt"}) ||
		!slices.Equal(card.CRLDistributionPoints, []string{"http://127.0.0.1:8089/crl/auth.crl"}) {
		t.Error("card URLs")
	}
	if len(card.Policies) != 1 || card.Policies[0].String() != "1.3.6.1.4.1.58888.1.1.1" {
		t.Errorf("card policies %v", card.Policies)
	}

	ocsp := Cert(t, "ocsp")
	if err := ocsp.CheckSignatureFrom(subca); err != nil {
		t.Errorf("ocsp not issued by subca: %v", err)
	}
	if !slices.Equal(ocsp.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning}) ||
		ocsp.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Error("ocsp usages")
	}
	noCheck := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	if !slices.ContainsFunc(ocsp.Extensions, func(e pkix.Extension) bool {
		return e.Id.Equal(noCheck) && bytes.Equal(e.Value, asn1.NullBytes)
	}) {
		t.Error("ocsp lacks id-pkix-ocsp-nocheck")
	}
}

// serials returns the serials a CRL lists, with their reason codes.
func serials(crl *x509.RevocationList) map[string]int {
	m := map[string]int{}
	for _, e := range crl.RevokedCertificateEntries {
		m[e.SerialNumber.String()] = e.ReasonCode
	}
	return m
}

func serialOf(t *testing.T, name string) string { return Cert(t, name).SerialNumber.String() }

func TestCRLs(t *testing.T) {
	const keyCompromise, caCompromise = 1, 2
	revokedCards := map[string]int{
		serialOf(t, "card-revoked"):    keyCompromise,
		serialOf(t, "card-revoked-ec"): keyCompromise,
	}
	tests := []struct {
		name     string
		signedBy string // certificate whose key signed it
		number   int64
		next     time.Time
		revoked  map[string]int
	}{
		{"root", "root", 1, date(2045, 1, 1), map[string]int{serialOf(t, "revoked-subca"): caCompromise}},
		{"auth", "subca", 2, date(2045, 1, 1), revokedCards},
		{"auth-stale", "subca", 1, date(2025, 2, 1), revokedCards},
		{"auth-wrongkey", "foreign-root", 3, date(2045, 1, 1), map[string]int{}},
		{"revoked-subca", "revoked-subca", 1, date(2045, 1, 1), map[string]int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			crl, signer := CRL(t, tt.name), Cert(t, tt.signedBy)
			if err := crl.CheckSignatureFrom(signer); err != nil {
				t.Errorf("signature does not verify against %s: %v", tt.signedBy, err)
			}
			if !bytes.Equal(crl.AuthorityKeyId, signer.SubjectKeyId) {
				t.Error("AKI is not the signer's SKI")
			}
			if crl.Number.Cmp(big.NewInt(tt.number)) != 0 {
				t.Errorf("number %v, want %d", crl.Number, tt.number)
			}
			if !crl.ThisUpdate.Equal(date(2025, 1, 1)) || !crl.NextUpdate.Equal(tt.next) {
				t.Errorf("updates %v, %v", crl.ThisUpdate, crl.NextUpdate)
			}
			if got := serials(crl); !mapsEqual(got, tt.revoked) {
				t.Errorf("revoked %v, want %v", got, tt.revoked)
			}
		})
	}

	// The forgery names subca but its signature fails against subca.
	forged, subca := CRL(t, "auth-wrongkey"), Cert(t, "subca")
	if !bytes.Equal(forged.RawIssuer, subca.RawSubject) {
		t.Error("auth-wrongkey.crl does not carry subca's name")
	}
	if err := forged.CheckSignatureFrom(subca); err == nil {
		t.Error("auth-wrongkey.crl verifies against subca")
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestOCSPIndex checks that ocsp/index.txt lists exactly the certificates
// subca issued, with the right status, expiry, serial and subject.
func TestOCSPIndex(t *testing.T) {
	subca := Cert(t, "subca")
	want := map[string]*x509.Certificate{} // serial hex -> certificate
	for _, name := range fixtures(t) {
		if path.Ext(name) != ".pem" || strings.Contains(name, "/") {
			continue
		}
		c := Cert(t, stem(name))
		if bytes.Equal(c.RawIssuer, subca.RawSubject) && c.CheckSignatureFrom(subca) == nil {
			want[strings.ToUpper(c.SerialNumber.Text(16))] = c
		}
	}
	revoked := map[string]bool{}
	for _, name := range []string{"card-revoked", "card-revoked-ec"} {
		revoked[strings.ToUpper(Cert(t, name).SerialNumber.Text(16))] = true
	}

	lines := strings.Split(strings.TrimSuffix(string(PEM(t, "ocsp/index.txt")), "\n"), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d index lines, want %d", len(lines), len(want))
	}
	for _, line := range lines {
		f := strings.Split(line, "\t")
		if len(f) != 6 {
			t.Errorf("%q: want 6 tab-separated fields", line)
			continue
		}
		c := want[f[3]]
		if c == nil {
			t.Errorf("%q: serial not issued by subca", line)
			continue
		}
		delete(want, f[3])
		wantStatus, wantRev := "V", ""
		if revoked[f[3]] {
			wantStatus, wantRev = "R", "250101000000Z,keyCompromise"
		}
		if f[0] != wantStatus || f[2] != wantRev {
			t.Errorf("%s: status %q %q, want %q %q", f[3], f[0], f[2], wantStatus, wantRev)
		}
		if exp := c.NotAfter.UTC().Format("060102150405Z"); f[1] != exp {
			t.Errorf("%s: expiry %q, want %q", f[3], f[1], exp)
		}
		// Every certificate subca issues has exactly O, OU, CN, in that order.
		oneLine := "/O=" + strings.Join(c.Subject.Organization, "+") +
			"/OU=" + strings.Join(c.Subject.OrganizationalUnit, "+") + "/CN=" + c.Subject.CommonName
		if f[4] != "unknown" || f[5] != oneLine {
			t.Errorf("%s: file %q subject %q, want unknown %q", f[3], f[4], f[5], oneLine)
		}
	}
	for serial := range want {
		t.Errorf("%s is not in the index", serial)
	}
	if got := string(PEM(t, "ocsp/index.txt.attr")); got != "unique_subject = no\n" {
		t.Errorf("index.txt.attr = %q", got)
	}
}

// TestReadmeCoversEveryFixture keeps pki/README.md honest: every fixture
// name (for .pem/.key pairs) or file path is mentioned in backquotes.
func TestReadmeCoversEveryFixture(t *testing.T) {
	readme := string(PEM(t, "README.md"))
	for _, name := range fixtures(t) {
		if name == "README.md" {
			continue
		}
		mention := name
		if ext := path.Ext(name); ext == ".pem" || ext == ".key" {
			mention = stem(name)
		}
		if !strings.Contains(readme, "`"+mention+"`") && !strings.Contains(readme, "`"+name+"`") {
			t.Errorf("README.md does not mention `%s`", mention)
		}
	}
}

func TestLoaders(t *testing.T) {
	if got := PEM(t, "root"); !bytes.Equal(got, PEM(t, "root.pem")) {
		t.Error(`PEM("root") != PEM("root.pem")`)
	}
	if b, _ := pem.Decode(PEM(t, "auth.crl")); b == nil || b.Type != "X509 CRL" {
		t.Error(`PEM("auth.crl") is not a PEM CRL`)
	}
	if !strings.HasSuffix(Dir(), "testkeys/pki") && !strings.HasSuffix(Dir(), `testkeys\pki`) {
		t.Errorf("Dir() = %q", Dir())
	}
}
