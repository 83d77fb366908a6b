package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// Instants shared by the fixtures; README.md ("Validity") explains them.
var (
	longStart  = utcDate(2025, 1, 1) // NotBefore, CRL thisUpdate, revocation time
	caNotAfter = utcDate(2045, 1, 1) // CAs; also CRL nextUpdate
	eeNotAfter = utcDate(2044, 1, 1) // end entities
)

// baseURL is where certificates say their CRLs, issuers and OCSP responder
// live. Tests that exercise network revocation serve testkeys/pki/http (and
// an OCSP responder at /ocsp) on this address.
const baseURL = "http://127.0.0.1:8089"

// cardPolicyArcs is the test-only "spine card authentication policy" OID.
// It sits under a private enterprise arc that this project has not
// registered; it must never appear in a production certificate.
var cardPolicyArcs = []uint64{1, 3, 6, 1, 4, 1, 58888, 1, 1, 1}

// oidOCSPNoCheck is id-pkix-ocsp-nocheck (RFC 6960 section 4.2.2.2.1).
var oidOCSPNoCheck = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}

// RFC 5280 CRLReason values used here.
const (
	reasonKeyCompromise = 1
	reasonCACompromise  = 2
)

type keyType string

const (
	keyRSA  keyType = "rsa"  // RSA-2048
	keyEC   keyType = "ec"   // ECDSA P-256
	keyP384 keyType = "p384" // ECDSA P-384
)

// ca is an issuer: its certificate and key, and the URLs that the
// certificates it issues carry (ocsp may be empty).
type ca struct {
	cert           *x509.Certificate
	key            crypto.Signer
	crl, aia, ocsp string
}

// pki accumulates the output: file name (slash-separated, relative to the
// output directory) to contents, and the OCSP index of subca's certificates.
type pki struct {
	files    map[string][]byte
	index    []indexEntry
	policy   x509.OID
	policyID asn1.ObjectIdentifier
}

// cardSpec describes one card certificate. A card is issued like a good
// card; edit, when set, applies the one way this fixture differs.
type cardSpec struct {
	name    string // fixture name without extension
	uid     string // 12-digit user ID
	person  string // display name in the CN
	kt      keyType
	issuer  *ca
	edit    func(*x509.Certificate)
	revoked bool // in auth.crl and revoked in the OCSP index
	indexed bool // issued by subca, so listed in the OCSP index
}

// generate builds the whole PKI in memory.
func generate(ctx context.Context) (map[string][]byte, error) {
	policy, err := x509.OIDFromInts(cardPolicyArcs)
	if err != nil {
		return nil, err
	}
	policyID := make(asn1.ObjectIdentifier, len(cardPolicyArcs))
	for i, a := range cardPolicyArcs {
		policyID[i] = int(a)
	}
	p := &pki{files: map[string][]byte{}, policy: policy, policyID: policyID}

	// Trust anchors and intermediates.
	root, err := p.issueCA("root", nil, caName("Test Root Authority"), keyP384, true)
	if err != nil {
		return nil, err
	}
	root.crl, root.aia = baseURL+"/crl/root.crl", baseURL+"/ca/root.crt"
	subca, err := p.issueCA("subca", root, caName("Test Authentication Sub-CA"), keyEC, true)
	if err != nil {
		return nil, err
	}
	subca.crl, subca.aia, subca.ocsp = baseURL+"/crl/auth.crl", baseURL+"/ca/subca.crt", baseURL+"/ocsp"
	revokedSubca, err := p.issueCA("revoked-subca", root, caName("Test Revoked Authentication Sub-CA"), keyEC, true)
	if err != nil {
		return nil, err
	}
	revokedSubca.crl, revokedSubca.aia = baseURL+"/crl/revoked-subca.crl", baseURL+"/ca/revoked-subca.crt"
	notca, err := p.issueCA("notca", root, caName("Test Not-a-CA Intermediate"), keyEC, false)
	if err != nil {
		return nil, err
	}
	notca.crl, notca.aia = baseURL+"/crl/notca.crl", baseURL+"/ca/notca.crt"
	foreign, err := p.issueCA("foreign-root", nil,
		pkix.Name{Organization: []string{"elsewhere"}, CommonName: "Foreign Root Authority"}, keyEC, true)
	if err != nil {
		return nil, err
	}
	foreign.crl, foreign.aia = baseURL+"/crl/foreign-root.crl", baseURL+"/ca/foreign-root.crt"

	if err := p.issueOCSPResponder(subca); err != nil {
		return nil, err
	}

	// Cards.
	var cards []*cardSpec
	for _, u := range demoUsers {
		for _, kt := range []keyType{keyRSA, keyEC} {
			cards = append(cards, &cardSpec{
				name: "card-" + u.uid + "-" + string(kt), uid: u.uid, person: u.name, kt: kt, issuer: subca,
			})
		}
	}
	cards = append(cards, negativeCards(subca, foreign, notca, revokedSubca)...)
	var revoked []x509.RevocationListEntry
	for _, c := range cards {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c.indexed = c.issuer == subca
		cert, err := p.issueCard(c)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.name, err)
		}
		if c.revoked {
			revoked = append(revoked, x509.RevocationListEntry{
				SerialNumber: cert.SerialNumber, RevocationTime: longStart, ReasonCode: reasonKeyCompromise,
			})
		}
	}
	if err := p.tamper("card-tampered", "card-"+demoUsers[0].uid+"-rsa"); err != nil {
		return nil, err
	}

	// CRLs. Numbers increase in the order an issuer would have made them.
	crls := []struct {
		name       string
		issuer     *x509.Certificate
		key        crypto.Signer
		number     int64
		next       time.Time
		revoked    []x509.RevocationListEntry
		servedFrom string // path under http/, or "" when not served
	}{
		{"root", root.cert, root.key, 1, caNotAfter, []x509.RevocationListEntry{{
			SerialNumber: revokedSubca.cert.SerialNumber, RevocationTime: longStart, ReasonCode: reasonCACompromise,
		}}, "crl/root.crl"},
		{"auth-stale", subca.cert, subca.key, 1, utcDate(2025, 2, 1), revoked, ""},
		{"auth", subca.cert, subca.key, 2, caNotAfter, revoked, "crl/auth.crl"},
		// Forged: subca's name, foreign-root's key and key identifier, and
		// an empty list, as someone trying to un-revoke a card would make it.
		{"auth-wrongkey", impostor(subca.cert, foreign), foreign.key, 3, caNotAfter, nil, ""},
		{"revoked-subca", revokedSubca.cert, revokedSubca.key, 1, caNotAfter, nil, "crl/revoked-subca.crl"},
	}
	for _, c := range crls {
		der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{
			Number: big.NewInt(c.number), ThisUpdate: longStart, NextUpdate: c.next,
			RevokedCertificateEntries: c.revoked,
		}, c.issuer, c.key)
		if err != nil {
			return nil, fmt.Errorf("%s.crl: %w", c.name, err)
		}
		p.files[c.name+".crl"] = pemBytes("X509 CRL", der)
		if c.servedFrom != "" {
			p.files["http/"+c.servedFrom] = der
		}
	}

	// Convenience files: the intermediate chain, DER copies of the CA
	// certificates at their caIssuers paths, and the OCSP database.
	p.files["chain.pem"] = pemBytes("CERTIFICATE", subca.cert.Raw)
	for name, c := range map[string]*ca{"root": root, "subca": subca, "revoked-subca": revokedSubca} {
		p.files["http/ca/"+name+".crt"] = c.cert.Raw
	}
	index, err := renderIndex(p.index)
	if err != nil {
		return nil, err
	}
	p.files["ocsp/index.txt"] = index
	p.files["ocsp/index.txt.attr"] = []byte("unique_subject = no\n")
	return p.files, nil
}

// demoUsers must match testkeys.Users (the testkeys tests check it). The
// generator cannot import testkeys: that package embeds this program's output.
var demoUsers = []struct{ uid, name string }{
	{"555000000011", "Alice Carter"},
	{"555000000012", "Bob Singh"},
	{"555000000013", "Carol Jones"},
	{"555000000014", "Dan Okafor"},
}

// negativeCards are the cards that a verifier must refuse, or accept only
// without the login policy. README.md gives the expected outcome of each.
func negativeCards(subca, foreign, notca, revokedSubca *ca) []*cardSpec {
	return []*cardSpec{
		{name: "card-expired", uid: "555000000090", person: "Eve Expired", kt: keyEC, issuer: subca,
			edit: func(c *x509.Certificate) { c.NotBefore, c.NotAfter = longStart, utcDate(2025, 6, 1) }},
		{name: "card-notyetvalid", uid: "555000000091", person: "Nina Notyet", kt: keyEC, issuer: subca,
			edit: func(c *x509.Certificate) { c.NotBefore, c.NotAfter = utcDate(2044, 6, 1), utcDate(2044, 12, 1) }},
		{name: "card-revoked", uid: "555000000092", person: "Rhys Revoked", kt: keyRSA, issuer: subca, revoked: true},
		{name: "card-revoked-ec", uid: "555000000093", person: "Rose Revoked", kt: keyEC, issuer: subca, revoked: true},
		{name: "card-foreign", uid: "555000000094", person: "Fred Foreign", kt: keyEC, issuer: foreign},
		// RSA, because keyEncipherment is meaningless for an EC key.
		{name: "card-wrongku", uid: "555000000095", person: "Kim Wrongku", kt: keyRSA, issuer: subca,
			edit: func(c *x509.Certificate) { c.KeyUsage = x509.KeyUsageKeyEncipherment }},
		{name: "card-wrongeku", uid: "555000000096", person: "Ed Wrongeku", kt: keyEC, issuer: subca,
			edit: func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageEmailProtection} }},
		{name: "card-nopolicy", uid: "555000000097", person: "Pat Nopolicy", kt: keyEC, issuer: subca,
			edit: func(c *x509.Certificate) { c.Policies, c.PolicyIdentifiers = nil, nil }},
		{name: "card-via-notca", uid: "555000000098", person: "Nick Notca", kt: keyEC, issuer: notca},
		{name: "card-via-revokedsubca", uid: "555000000099", person: "Sue Revokedsubca", kt: keyEC, issuer: revokedSubca},
	}
}

// issueCA makes a CA-like certificate: self-signed when parent is nil,
// otherwise issued by parent with pathlen 0. isCA false gives the "notca"
// fixture: identical to a sub-CA except basicConstraints CA:false.
func (p *pki) issueCA(name string, parent *ca, subject pkix.Name, kt keyType, isCA bool) (*ca, error) {
	tmpl := &x509.Certificate{
		Subject:               subject,
		NotBefore:             longStart,
		NotAfter:              caNotAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if parent != nil {
		tmpl.MaxPathLenZero = isCA
		tmpl.CRLDistributionPoints = []string{parent.crl}
		tmpl.IssuingCertificateURL = []string{parent.aia}
		// Intermediates assert the card policy so that RFC 5280 policy
		// processing with an explicit policy requirement accepts the cards.
		tmpl.Policies, tmpl.PolicyIdentifiers = []x509.OID{p.policy}, []asn1.ObjectIdentifier{p.policyID}
	}
	key, err := newKey(kt)
	if err != nil {
		return nil, err
	}
	cert, err := p.issue(name, tmpl, key, parent)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return &ca{cert: cert, key: key}, nil
}

// issueOCSPResponder makes subca's delegated OCSP responder certificate.
func (p *pki) issueOCSPResponder(subca *ca) error {
	key, err := newKey(keyEC)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		Subject: pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"CAs"},
			CommonName: "Test Authentication Sub-CA OCSP Responder"},
		NotBefore:             longStart,
		NotAfter:              eeNotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageOCSPSigning},
		ExtraExtensions:       []pkix.Extension{{Id: oidOCSPNoCheck, Value: asn1.NullBytes}},
	}
	cert, err := p.issue("ocsp", tmpl, key, subca)
	if err != nil {
		return fmt.Errorf("ocsp: %w", err)
	}
	p.index = append(p.index, indexEntry{cert: cert})
	return nil
}

// issueCard makes one card certificate and its key.
func (p *pki) issueCard(c *cardSpec) (*x509.Certificate, error) {
	tmpl := &x509.Certificate{
		Subject: pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"People"},
			CommonName: c.uid + "_" + c.person},
		NotBefore:             longStart,
		NotAfter:              eeNotAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Policies:              []x509.OID{p.policy},
		PolicyIdentifiers:     []asn1.ObjectIdentifier{p.policyID},
		CRLDistributionPoints: []string{c.issuer.crl},
		IssuingCertificateURL: []string{c.issuer.aia},
	}
	if c.issuer.ocsp != "" {
		tmpl.OCSPServer = []string{c.issuer.ocsp}
	}
	if c.edit != nil {
		c.edit(tmpl)
	}
	key, err := newKey(c.kt)
	if err != nil {
		return nil, err
	}
	cert, err := p.issue(c.name, tmpl, key, c.issuer)
	if err != nil {
		return nil, err
	}
	if c.indexed {
		p.index = append(p.index, indexEntry{cert: cert, revoked: c.revoked})
	}
	return cert, nil
}

// issue signs tmpl (self-signed when parent is nil) with a fresh random
// serial and an RFC 7093 subject key identifier, and records name.pem and
// name.key.
func (p *pki) issue(name string, tmpl *x509.Certificate, key crypto.Signer, parent *ca) (*x509.Certificate, error) {
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	if tmpl.SubjectKeyId, err = subjectKeyID(key.Public()); err != nil {
		return nil, err
	}
	issuerCert, signer := tmpl, key
	if parent != nil {
		issuerCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuerCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	p.files[name+".pem"] = pemBytes("CERTIFICATE", der)
	p.files[name+".key"] = pemBytes("PRIVATE KEY", keyDER)
	return cert, nil
}

// tamper writes name.pem as a copy of the certificate from with the last
// byte of its signature inverted, and name.key as a copy of its key. The
// signature is the last field of the DER, so the result still parses.
func (p *pki) tamper(name, from string) error {
	block, _ := pem.Decode(p.files[from+".pem"])
	if block == nil {
		return fmt.Errorf("%s: no certificate %s", name, from)
	}
	der := bytes.Clone(block.Bytes)
	der[len(der)-1] ^= 0xff
	p.files[name+".pem"] = pemBytes("CERTIFICATE", der)
	p.files[name+".key"] = p.files[from+".key"]
	return nil
}

// impostor is a stand-in issuer for CreateRevocationList: the subject of
// cert with the key identifier of other.
func impostor(cert *x509.Certificate, other *ca) *x509.Certificate {
	return &x509.Certificate{
		RawSubject:   cert.RawSubject,
		SubjectKeyId: other.cert.SubjectKeyId,
		KeyUsage:     x509.KeyUsageCRLSign,
		PublicKey:    other.key.Public(),
	}
}

func newKey(kt keyType) (crypto.Signer, error) {
	switch kt {
	case keyRSA:
		return rsa.GenerateKey(rand.Reader, 2048)
	case keyEC:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case keyP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	}
	return nil, fmt.Errorf("unknown key type %q", kt)
}

// randomSerial returns a positive serial of exactly 16 octets: 126 random
// bits, top bit clear (positive) and the next one set (no leading zero).
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[0] = b[0]&0x3f | 0x40
	return new(big.Int).SetBytes(b), nil
}

// subjectKeyID is RFC 7093 method 1: the leftmost 160 bits of the SHA-256
// of the subjectPublicKey bits, as Go uses for CA certificates.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

func caName(cn string) pkix.Name {
	return pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"CAs"}, CommonName: cn}
}

func pemBytes(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func utcDate(y int, m time.Month, d int) time.Time {
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
