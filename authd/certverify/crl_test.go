package certverify

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"testing"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Encoders for the extensions crypto/x509 cannot produce, used through
// ExtraExtensions.

func crlURI(s string) crlGeneralName { return crlGeneralName{tag: crlGNURI, value: []byte(s)} }

func addNames(b *cryptobyte.Builder, names []crlGeneralName) {
	for _, n := range names {
		tag := cbasn1.Tag(n.tag).ContextSpecific()
		if n.tag == crlGNDirectory {
			tag = tag.Constructed()
		}
		b.AddASN1(tag, func(b *cryptobyte.Builder) { b.AddBytes(n.value) })
	}
}

// testDPName is a DistributionPointName: full names, or one attribute
// relative to the CRL issuer.
type testDPName struct {
	full     []crlGeneralName
	relative *pkix.AttributeTypeAndValue
}

func (n testDPName) add(b *cryptobyte.Builder) {
	if n.full == nil && n.relative == nil {
		return
	}
	b.AddASN1(crlTagCtx0C, func(b *cryptobyte.Builder) {
		if n.relative != nil {
			atv, err := asn1.Marshal(*n.relative)
			if err != nil {
				b.SetError(err)
			}
			b.AddASN1(crlTagCtx1C, func(b *cryptobyte.Builder) { b.AddBytes(atv) })
			return
		}
		b.AddASN1(crlTagCtx0C, func(b *cryptobyte.Builder) { addNames(b, n.full) })
	})
}

// reasonFlags is the content of a DER ReasonFlags BIT STRING.
func reasonFlags(m reasonMask) []byte {
	high := 0
	for i := 1; i <= 8; i++ {
		if m&(1<<i) != 0 {
			high = i
		}
	}
	out := make([]byte, 2+high/8)
	out[0] = byte(7 - high%8)
	for i := 1; i <= 8; i++ {
		if m&(1<<i) != 0 {
			out[1+i/8] |= 0x80 >> (i % 8)
		}
	}
	return out
}

type testDP struct {
	name      testDPName
	reasons   reasonMask
	crlIssuer []crlGeneralName
}

func cdpExt(dps ...testDP) pkix.Extension {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		for _, dp := range dps {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				dp.name.add(b)
				if dp.reasons != 0 {
					b.AddASN1(crlTagCtx1, func(b *cryptobyte.Builder) { b.AddBytes(reasonFlags(dp.reasons)) })
				}
				if dp.crlIssuer != nil {
					b.AddASN1(crlTagCtx2C, func(b *cryptobyte.Builder) { addNames(b, dp.crlIssuer) })
				}
			})
		}
	})
	return pkix.Extension{Id: crlOIDDistPoints, Value: b.BytesOrPanic()}
}

type testIDP struct {
	name                                 testDPName
	onlyUser, onlyCA, onlyAttr, indirect bool
	reasons                              reasonMask
}

func idpExt(idp testIDP) pkix.Extension {
	flag := func(b *cryptobyte.Builder, n int, set bool) {
		if set {
			b.AddASN1(cbasn1.Tag(n).ContextSpecific(), func(b *cryptobyte.Builder) { b.AddUint8(0xff) })
		}
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		idp.name.add(b)
		flag(b, 1, idp.onlyUser)
		flag(b, 2, idp.onlyCA)
		if idp.reasons != 0 {
			b.AddASN1(crlTagCtx3, func(b *cryptobyte.Builder) { b.AddBytes(reasonFlags(idp.reasons)) })
		}
		flag(b, 4, idp.indirect)
		flag(b, 5, idp.onlyAttr)
	})
	return pkix.Extension{Id: crlOIDIssuingDistPoint, Critical: true, Value: b.BytesOrPanic()}
}

func deltaExt(base int64) pkix.Extension {
	v, _ := asn1.Marshal(big.NewInt(base))
	return pkix.Extension{Id: crlOIDDeltaIndicator, Critical: true, Value: v}
}

func certIssuerExt(names ...crlGeneralName) pkix.Extension {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { addNames(b, names) })
	return pkix.Extension{Id: crlOIDCertificateIssuer, Critical: true, Value: b.BytesOrPanic()}
}

var testUnknownOID = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 55738, 666, 1}

func entry(serial *big.Int, reason int, exts ...pkix.Extension) x509.RevocationListEntry {
	return x509.RevocationListEntry{
		SerialNumber: serial, RevocationTime: testEpoch.AddDate(0, 0, -2), ReasonCode: reason, ExtraExtensions: exts,
	}
}

// signAs signs a CRL as issuer with key even when issuer's key usage lacks
// cRLSign (newCRL goes through crypto/x509, which refuses that).
func signAs(t *testing.T, issuer *x509.Certificate, key crypto.Signer, tmpl *x509.RevocationList) *x509.RevocationList {
	t.Helper()
	c := *issuer
	c.KeyUsage |= x509.KeyUsageCRLSign
	return newCRL(t, &testCA{cert: &c, key: key}, tmpl)
}

// crlFixture is a root, a CA and a leaf, and the input of one checkCRL
// call about the leaf. Cases change what they need.
type crlFixture struct {
	root, ca, leaf *testCA
	cert, issuer   *x509.Certificate
	in             *crlInput
	signerCalls    []*x509.Certificate
	signerErr      error
}

func newCRLFixture(t *testing.T) *crlFixture {
	f := &crlFixture{}
	f.root = issue(t, nil, caTemplate("CRL Test Root"), nil)
	f.ca = issue(t, f.root, caTemplate("CRL Test CA"), nil)
	f.leaf = issue(t, f.ca, leafTemplate("CRL Test Leaf"), nil)
	f.cert, f.issuer = f.leaf.cert, f.ca.cert
	f.in = &crlInput{
		at: testEpoch, pool: []*x509.Certificate{f.leaf.cert, f.ca.cert}, useDeltas: true,
		verifySigner: func(_ context.Context, s *x509.Certificate) error {
			f.signerCalls = append(f.signerCalls, s)
			return f.signerErr
		},
	}
	return f
}

func (f *crlFixture) add(crls ...*x509.RevocationList) { f.in.crls = append(f.in.crls, crls...) }

func (f *crlFixture) serial() *big.Int { return f.cert.SerialNumber }

// leafWith issues a leaf from the CA with extra extensions and checks it.
func (f *crlFixture) leafWith(t *testing.T, exts ...pkix.Extension) {
	tmpl := leafTemplate("CRL Test Leaf 2")
	tmpl.ExtraExtensions = exts
	f.cert = issue(t, f.ca, tmpl, nil).cert
}

var errSignerRejected = errors.New("test: signer rejected")

func TestCheckCRL(t *testing.T) {
	const keyCompromise, superseded = crlTestKeyCompromise, 4
	someReasons := reasonMask(1<<1 | 1<<2) // keyCompromise, cACompromise
	tests := []struct {
		name    string
		setup   func(t *testing.T, f *crlFixture)
		want    revStatus
		reason  int   // statusRevoked
		wantErr error // statusUnknown
		signers int   // verifySigner calls; -1 = any
	}{
		{name: "good", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(big.NewInt(999999), keyCompromise)}}))
		}},
		{name: "revoked", want: statusRevoked, reason: keyCompromise, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(f.serial(), keyCompromise)}}))
		}},
		{name: "certificateHold counts as revoked", want: statusRevoked, reason: crlReasonCertificateHold, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(f.serial(), crlReasonCertificateHold)}}))
		}},
		{name: "revocation date after validation time still revokes", want: statusRevoked, setup: func(t *testing.T, f *crlFixture) {
			e := entry(f.serial(), 0)
			e.RevocationTime = testEpoch.AddDate(0, 0, 1)
			f.add(newCRL(t, f.ca, &x509.RevocationList{RevokedCertificateEntries: []x509.RevocationListEntry{e}}))
		}},
		{name: "no CRL", want: statusUnknown, wantErr: errCRLNone, setup: func(*testing.T, *crlFixture) {}},
		{name: "serial on another CA's CRL only", want: statusUnknown, wantErr: errCRLNone, setup: func(t *testing.T, f *crlFixture) {
			other := issue(t, f.root, caTemplate("CRL Other CA"), nil)
			f.add(newCRL(t, other, &x509.RevocationList{
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(f.serial(), keyCompromise)}}))
		}},
		{name: "serial on another CA's CRL, own CRL good", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			other := issue(t, f.root, caTemplate("CRL Other CA"), nil)
			f.add(newCRL(t, other, &x509.RevocationList{
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(f.serial(), keyCompromise)}}),
				newCRL(t, f.ca, &x509.RevocationList{}))
		}},
		{name: "stale CRL", want: statusUnknown, wantErr: errCRLStale, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{
				ThisUpdate: testEpoch.AddDate(0, 0, -10), NextUpdate: testEpoch.Add(-time.Hour)}))
		}},
		{name: "thisUpdate in the future", want: statusUnknown, wantErr: errCRLNotYetValid, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{
				ThisUpdate: testEpoch.Add(time.Hour), NextUpdate: testEpoch.AddDate(0, 0, 7)}))
		}},
		{name: "no nextUpdate", want: statusUnknown, wantErr: errCRLNoNextUpdate, setup: func(t *testing.T, f *crlFixture) {
			crl := newCRL(t, f.ca, &x509.RevocationList{})
			crl.NextUpdate = time.Time{} // as parsed from a CRL that omits it; the signature covers RawTBS
			f.add(crl)
		}},
		{name: "wrong signing key", want: statusUnknown, wantErr: errCRLSignature, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, &testCA{cert: f.ca.cert, key: newTestKey(t)}, &x509.RevocationList{}))
		}},
		{name: "issuer key usage without cRLSign", want: statusUnknown, wantErr: errCRLSignerKeyUsage, setup: func(t *testing.T, f *crlFixture) {
			tmpl := caTemplate("CRL CertSign Only CA")
			tmpl.KeyUsage = x509.KeyUsageCertSign
			ca := issue(t, f.root, tmpl, nil)
			f.issuer = ca.cert
			f.cert = issue(t, ca, leafTemplate("CRL Test Leaf 3"), nil).cert
			f.add(signAs(t, ca.cert, ca.key, &x509.RevocationList{}))
		}},
		{name: "issuer without key usage extension", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			tmpl := caTemplate("CRL No KU CA")
			tmpl.KeyUsage = 0
			ca := issue(t, f.root, tmpl, nil)
			f.issuer = ca.cert
			f.cert = issue(t, ca, leafTemplate("CRL Test Leaf 3"), nil).cert
			f.add(signAs(t, ca.cert, ca.key, &x509.RevocationList{}))
		}},
		{name: "separate CRL signing certificate", want: statusGood, signers: 1, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, crlSigner(t, f, f.root), &x509.RevocationList{}))
		}},
		{name: "separate CRL signer rejected by verifySigner", want: statusUnknown, wantErr: errSignerRejected, signers: 1, setup: func(t *testing.T, f *crlFixture) {
			f.signerErr = errSignerRejected
			f.add(newCRL(t, crlSigner(t, f, f.root), &x509.RevocationList{}))
		}},
		{name: "revoking CRL whose signer does not validate", want: statusUnknown, wantErr: errCRLRevocationUnverified, signers: 1, setup: func(t *testing.T, f *crlFixture) {
			f.signerErr = errSignerRejected
			f.add(newCRL(t, crlSigner(t, f, f.root), &x509.RevocationList{
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(f.serial(), keyCompromise)}}),
				newCRL(t, f.ca, &x509.RevocationList{}))
		}},
		{name: "CRL signing certificate covered by its own CRL", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			signer := crlSigner(t, f, f.ca)
			f.cert = signer.cert
			f.add(newCRL(t, signer, &x509.RevocationList{}))
		}},
		{name: "key rollover: old-key certificate, CRL by new key", want: statusGood, signers: 1, setup: func(t *testing.T, f *crlFixture) {
			oldKey := newTestKey(t)
			oldWithNew := issue(t, f.ca, caTemplate("CRL Test CA"), oldKey) // self-issued
			f.issuer = oldWithNew.cert
			f.cert = issue(t, oldWithNew, leafTemplate("CRL Rollover Leaf"), nil).cert
			f.in.pool = append(f.in.pool, oldWithNew.cert)
			f.add(newCRL(t, f.ca, &x509.RevocationList{}))
		}},
		{name: "indirect CRL with certificateIssuer", want: statusRevoked, reason: keyCompromise, signers: 1, setup: func(t *testing.T, f *crlFixture) {
			indirectSetup(t, f, true)
		}},
		{name: "indirect CRL entry for another issuer", want: statusGood, signers: 1, setup: func(t *testing.T, f *crlFixture) {
			indirectSetup(t, f, false)
		}},
		{name: "cRLIssuer but CRL not indirect", want: statusUnknown, wantErr: errCRLNone, setup: func(t *testing.T, f *crlFixture) {
			ca2 := issue(t, f.root, caTemplate("CRL Test CA2"), nil)
			tmpl := leafTemplate("CRL Indirect Leaf")
			tmpl.ExtraExtensions = []pkix.Extension{cdpExt(testDP{crlIssuer: []crlGeneralName{directoryName(f.ca.cert.RawSubject)}})}
			f.issuer, f.cert = ca2.cert, issue(t, ca2, tmpl, nil).cert
			f.add(newCRL(t, f.ca, &x509.RevocationList{}))
		}},
		{name: "onlyContainsCACerts vs user certificate", want: statusUnknown, wantErr: errCRLScope, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExt(testIDP{onlyCA: true})}}))
		}},
		{name: "onlyContainsUserCerts vs user certificate", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExt(testIDP{onlyUser: true})}}))
		}},
		{name: "onlyContainsUserCerts vs CA certificate", want: statusUnknown, wantErr: errCRLScope, setup: func(t *testing.T, f *crlFixture) {
			f.cert, f.issuer = f.ca.cert, f.root.cert
			f.add(newCRL(t, f.root, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExt(testIDP{onlyUser: true})}}))
		}},
		{name: "onlyContainsAttributeCerts", want: statusUnknown, wantErr: errCRLScope, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExt(testIDP{onlyAttr: true})}}))
		}},
		{name: "IDP name matches CDP", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			uri := []crlGeneralName{crlURI("http://crl.example/part1.crl")}
			f.leafWith(t, cdpExt(testDP{name: testDPName{full: uri}}))
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExt(testIDP{name: testDPName{full: uri}})}}))
		}},
		{name: "IDP name differs from CDP", want: statusUnknown, wantErr: errCRLScope, setup: func(t *testing.T, f *crlFixture) {
			f.leafWith(t, cdpExt(testDP{name: testDPName{full: []crlGeneralName{crlURI("http://crl.example/part1.crl")}}}))
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{
				idpExt(testIDP{name: testDPName{full: []crlGeneralName{crlURI("http://crl.example/part2.crl")}}})}}))
		}},
		{name: "IDP name, certificate without CDP", want: statusUnknown, wantErr: errCRLScope, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{
				idpExt(testIDP{name: testDPName{full: []crlGeneralName{crlURI("http://crl.example/part1.crl")}}})}}))
		}},
		{name: "nameRelativeToCRLIssuer matches IDP fullName", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			atv := pkix.AttributeTypeAndValue{Type: asn1.ObjectIdentifier{2, 5, 4, 11}, Value: "dp1"}
			var dn pkix.RDNSequence
			if _, err := asn1.Unmarshal(f.ca.cert.RawSubject, &dn); err != nil {
				t.Fatal(err)
			}
			full, err := asn1.Marshal(append(dn, pkix.RelativeDistinguishedNameSET{atv}))
			if err != nil {
				t.Fatal(err)
			}
			// crypto/x509 refuses to parse a CDP with nameRelativeToCRLIssuer,
			// so the extension is attached to the parsed certificate.
			f.leafWith(t)
			f.cert.Extensions = append(f.cert.Extensions, cdpExt(testDP{name: testDPName{relative: &atv}}))
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{
				idpExt(testIDP{name: testDPName{full: []crlGeneralName{directoryName(full)}}})}}))
		}},
		{name: "reasons split over two CRLs", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(reasonCRL(t, f, someReasons, 0), reasonCRL(t, f, allReasons&^someReasons, 0))
		}},
		{name: "reasons split, one CRL missing", want: statusUnknown, wantErr: errCRLReasons, setup: func(t *testing.T, f *crlFixture) {
			f.add(reasonCRL(t, f, someReasons, 0))
		}},
		{name: "reasons split, second CRL revokes", want: statusRevoked, reason: superseded, setup: func(t *testing.T, f *crlFixture) {
			f.add(reasonCRL(t, f, someReasons, 0), reasonCRL(t, f, allReasons&^someReasons, superseded))
		}},
		{name: "CDP reasons limit what a full CRL covers", want: statusUnknown, wantErr: errCRLReasons, setup: func(t *testing.T, f *crlFixture) {
			f.leafWith(t, cdpExt(testDP{name: testDPName{full: []crlGeneralName{crlURI("http://crl.example/a.crl")}}, reasons: someReasons}))
			f.add(newCRL(t, f.ca, &x509.RevocationList{}))
		}},
		{name: "delta CRL revokes", want: statusRevoked, reason: keyCompromise, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(10)}),
				deltaCRL(t, f, 11, 10, entry(f.serial(), keyCompromise)))
		}},
		{name: "delta CRL ignored without useDeltas", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.in.useDeltas = false
			f.add(newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(10)}),
				deltaCRL(t, f, 11, 10, entry(f.serial(), keyCompromise)))
		}},
		{name: "delta removeFromCRL releases a hold", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(10),
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(f.serial(), crlReasonCertificateHold)}}),
				deltaCRL(t, f, 11, 10, entry(f.serial(), crlReasonRemoveFromCRL)))
		}},
		{name: "delta for a newer base is not applied", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(10)}),
				deltaCRL(t, f, 12, 11, entry(f.serial(), keyCompromise)))
		}},
		{name: "stale delta CRL", want: statusUnknown, wantErr: errCRLDeltaStale, setup: func(t *testing.T, f *crlFixture) {
			d := deltaCRL(t, f, 11, 10)
			f.add(newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(10)}), d)
			d.NextUpdate = testEpoch.Add(-time.Minute) // the signature covers RawTBS only
		}},
		{name: "stale complete CRL with current delta", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(10),
				ThisUpdate: testEpoch.AddDate(0, 0, -10), NextUpdate: testEpoch.AddDate(0, 0, -1)}),
				deltaCRL(t, f, 11, 10))
		}},
		{name: "delta CRL alone", want: statusUnknown, wantErr: errCRLNone, setup: func(t *testing.T, f *crlFixture) {
			f.add(deltaCRL(t, f, 11, 10))
		}},
		{name: "newer CRL supersedes older hold", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(1),
				RevokedCertificateEntries: []x509.RevocationListEntry{entry(f.serial(), crlReasonCertificateHold)}}),
				newCRL(t, f.ca, &x509.RevocationList{Number: big.NewInt(2)}))
		}},
		{name: "unknown critical CRL extension", want: statusUnknown, wantErr: errCRLCritical, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{{Id: testUnknownOID, Critical: true, Value: []byte{5, 0}}}}))
		}},
		{name: "unknown non-critical CRL extension", want: statusGood, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{ExtraExtensions: []pkix.Extension{{Id: testUnknownOID, Value: []byte{5, 0}}}}))
		}},
		{name: "unknown critical entry extension", want: statusUnknown, wantErr: errCRLEntryCritical, setup: func(t *testing.T, f *crlFixture) {
			f.add(newCRL(t, f.ca, &x509.RevocationList{RevokedCertificateEntries: []x509.RevocationListEntry{
				entry(big.NewInt(999999), 0, pkix.Extension{Id: testUnknownOID, Critical: true, Value: []byte{5, 0}})}}))
		}},
		{name: "duplicate entries", want: statusUnknown, wantErr: errCRLMalformed, setup: func(t *testing.T, f *crlFixture) {
			e := entry(big.NewInt(999999), 0)
			f.add(newCRL(t, f.ca, &x509.RevocationList{RevokedCertificateEntries: []x509.RevocationListEntry{e, e}}))
		}},
		{name: "version 1 CRL", want: statusRevoked, setup: func(t *testing.T, f *crlFixture) {
			crl, err := parseCRL(v1CRL(t, f.ca, f.serial()))
			if err != nil {
				t.Fatal(err)
			}
			f.add(crl)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newCRLFixture(t)
			tc.setup(t, f)
			res := checkCRL(context.Background(), f.in, f.cert, f.issuer)
			if res.status != tc.want {
				t.Fatalf("status = %v, want %v (err: %v)", res.status, tc.want, res.err)
			}
			switch tc.want {
			case statusRevoked:
				if res.reason != tc.reason || res.revokedAt.IsZero() {
					t.Errorf("reason %d at %v, want reason %d", res.reason, res.revokedAt, tc.reason)
				}
			case statusUnknown:
				if res.err == nil || !errors.Is(res.err, tc.wantErr) {
					t.Errorf("err = %v, want %v", res.err, tc.wantErr)
				}
			}
			if tc.signers >= 0 && len(f.signerCalls) != tc.signers {
				t.Errorf("verifySigner called %d times, want %d", len(f.signerCalls), tc.signers)
			}
		})
	}
}

// crlSigner issues a CRL signing certificate for the fixture's CA: same
// name, its own key, cRLSign only, certified by parent (the root: PKITS
// 4.4.19; the CA itself: PKITS 4.5.6), and puts it in the pool.
func crlSigner(t *testing.T, f *crlFixture, parent *testCA) *testCA {
	tmpl := caTemplate("CRL Test CA")
	tmpl.KeyUsage = x509.KeyUsageCRLSign
	s := issue(t, parent, tmpl, nil)
	f.in.pool = append(f.in.pool, s.cert)
	return s
}

// indirectSetup makes the fixture check a leaf of CA2 whose distribution
// point names the CA as cRLIssuer. The CA's indirect CRL lists the leaf's
// serial for the CA itself and, when revoke is set, also after a
// certificateIssuer entry naming CA2.
func indirectSetup(t *testing.T, f *crlFixture, revoke bool) {
	ca2 := issue(t, f.root, caTemplate("CRL Test CA2"), nil)
	uri := []crlGeneralName{crlURI("http://crl.example/indirect.crl")}
	tmpl := leafTemplate("CRL Indirect Leaf")
	tmpl.ExtraExtensions = []pkix.Extension{cdpExt(testDP{
		name: testDPName{full: uri}, crlIssuer: []crlGeneralName{directoryName(f.ca.cert.RawSubject)}})}
	f.issuer, f.cert = ca2.cert, issue(t, ca2, tmpl, nil).cert
	entries := []x509.RevocationListEntry{
		entry(f.serial(), crlTestKeyCompromise), // the CA's own certificate with this serial
		entry(big.NewInt(424242), 0, certIssuerExt(directoryName(ca2.cert.RawSubject))),
	}
	if revoke {
		entries = append(entries, entry(f.serial(), crlTestKeyCompromise)) // still CA2
	}
	f.add(newCRL(t, f.ca, &x509.RevocationList{
		RevokedCertificateEntries: entries,
		ExtraExtensions:           []pkix.Extension{idpExt(testIDP{name: testDPName{full: uri}, indirect: true})},
	}))
}

const crlTestKeyCompromise = 1

// reasonCRL is a CRL of the fixture's CA covering only reasons, revoking
// the checked certificate with revokeReason when that is not 0.
func reasonCRL(t *testing.T, f *crlFixture, reasons reasonMask, revokeReason int) *x509.RevocationList {
	tmpl := &x509.RevocationList{ExtraExtensions: []pkix.Extension{idpExt(testIDP{reasons: reasons})}}
	if revokeReason != 0 {
		tmpl.RevokedCertificateEntries = []x509.RevocationListEntry{entry(f.serial(), revokeReason)}
	}
	return newCRL(t, f.ca, tmpl)
}

// deltaCRL is a delta CRL of the fixture's CA.
func deltaCRL(t *testing.T, f *crlFixture, number, base int64, entries ...x509.RevocationListEntry) *x509.RevocationList {
	return newCRL(t, f.ca, &x509.RevocationList{
		Number: big.NewInt(number), RevokedCertificateEntries: entries,
		ExtraExtensions: []pkix.Extension{deltaExt(base)},
	})
}

// v1CRL builds and signs a version 1 CRL (no version, no extensions)
// revoking serial; crypto/x509 can neither create nor parse one.
func v1CRL(t testing.TB, ca *testCA, serial *big.Int) []byte {
	ecdsaSHA256 := asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	alg := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { b.AddASN1ObjectIdentifier(ecdsaSHA256) })
	}
	var tb cryptobyte.Builder
	tb.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		alg(b)
		b.AddBytes(ca.cert.RawSubject)
		b.AddASN1UTCTime(testEpoch.AddDate(0, 0, -1))
		b.AddASN1UTCTime(testEpoch.AddDate(0, 0, 7))
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1BigInt(serial)
				b.AddASN1UTCTime(testEpoch.AddDate(0, 0, -2))
			})
		})
	})
	tbs := tb.BytesOrPanic()
	digest := sha256.Sum256(tbs)
	sig, err := ca.key.Sign(rand.Reader, digest[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddBytes(tbs)
		alg(b)
		b.AddASN1BitString(sig)
	})
	return b.BytesOrPanic()
}

func TestCRLUsable(t *testing.T) {
	root := issue(t, nil, caTemplate("CRL Usable Root"), nil)
	mutate := func(f func(*x509.RevocationList)) *x509.RevocationList {
		crl := newCRL(t, root, &x509.RevocationList{})
		f(crl)
		return crl
	}
	withExt := func(ext pkix.Extension) *x509.RevocationList {
		return newCRL(t, root, &x509.RevocationList{ExtraExtensions: []pkix.Extension{ext}})
	}
	withEntry := func(e x509.RevocationListEntry) *x509.RevocationList {
		return newCRL(t, root, &x509.RevocationList{RevokedCertificateEntries: []x509.RevocationListEntry{e}})
	}
	v1, err := parseCRL(v1CRL(t, root, big.NewInt(7)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		crl  *x509.RevocationList
		want error // nil: usable
	}{
		{"plain", newCRL(t, root, &x509.RevocationList{}), nil},
		{"version 1", v1, nil},
		{"IDP and delta indicator", newCRL(t, root, &x509.RevocationList{Number: big.NewInt(3),
			ExtraExtensions: []pkix.Extension{deltaExt(2), idpExt(testIDP{onlyUser: true, reasons: allReasons})}}), nil},
		{"missing cRLNumber", mutate(func(c *x509.RevocationList) {
			c.Number, c.Extensions = nil, c.Extensions[:1] // keep the AKI only
		}), errCRLMalformed},
		{"critical cRLNumber", mutate(func(c *x509.RevocationList) { c.Extensions[1].Critical = true }), errCRLMalformed},
		{"duplicate extension", withExt(pkix.Extension{Id: crlOIDAuthorityKeyID, Value: []byte{0x30, 0}}), errCRLMalformed},
		{"malformed IDP", withExt(pkix.Extension{Id: crlOIDIssuingDistPoint, Critical: true, Value: []byte{0x30, 3, 0x81, 1}}), errCRLMalformed},
		{"IDP with two onlyContains flags", withExt(idpExt(testIDP{onlyUser: true, onlyCA: true})), errCRLMalformed},
		{"malformed delta indicator", withExt(pkix.Extension{Id: crlOIDDeltaIndicator, Critical: true, Value: []byte{4, 0}}), errCRLMalformed},
		{"unknown critical extension", withExt(pkix.Extension{Id: testUnknownOID, Critical: true, Value: []byte{5, 0}}), errCRLCritical},
		{"unknown critical entry extension", withEntry(entry(big.NewInt(5), 0,
			pkix.Extension{Id: testUnknownOID, Critical: true, Value: []byte{5, 0}})), errCRLEntryCritical},
		{"certificateIssuer in a direct CRL", withEntry(entry(big.NewInt(5), 0, certIssuerExt(crlURI("x:y")))), errCRLMalformed},
		{"reason code 7", withEntry(entry(big.NewInt(5), 7)), errCRLMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := crlUsable(tc.crl)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("crlUsable = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseCRLRefusesTrailingData(t *testing.T) {
	root := issue(t, nil, caTemplate("CRL Parse Root"), nil)
	der := newCRL(t, root, &x509.RevocationList{}).Raw
	if _, err := parseCRL(der); err != nil {
		t.Fatalf("parseCRL: %v", err)
	}
	if _, err := parseCRL(append(der[:len(der):len(der)], 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
}

// FuzzCRLParse feeds arbitrary bytes to the CRL parsers and checks the
// result against a fixed chain. It must never panic, and a CRL the CA did
// not sign must never establish a status.
func FuzzCRLParse(f *testing.F) {
	root := issue(f, nil, caTemplate("CRL Fuzz Root"), nil)
	ca := issue(f, root, caTemplate("CRL Fuzz CA"), nil)
	leaf := issue(f, ca, leafTemplate("CRL Fuzz Leaf"), nil)
	uri := []crlGeneralName{crlURI("http://crl.example/f.crl")}
	f.Add(newCRL(f, ca, &x509.RevocationList{}).Raw)
	f.Add(newCRL(f, ca, &x509.RevocationList{RevokedCertificateEntries: []x509.RevocationListEntry{
		entry(leaf.cert.SerialNumber, crlTestKeyCompromise), entry(big.NewInt(9), 0, certIssuerExt(uri...))},
		ExtraExtensions: []pkix.Extension{idpExt(testIDP{name: testDPName{full: uri}, indirect: true, reasons: 6})}}).Raw)
	f.Add(newCRL(f, ca, &x509.RevocationList{Number: big.NewInt(2), ExtraExtensions: []pkix.Extension{deltaExt(1)}}).Raw)
	f.Add(v1CRL(f, ca, leaf.cert.SerialNumber))
	f.Add(cdpExt(testDP{name: testDPName{full: uri}, reasons: 2, crlIssuer: uri}).Value)
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = parseDistPoints(data)
		_, _ = parseIDP(data)
		_, _ = parseGeneralNamesExt(data)
		var crls []*x509.RevocationList
		if crl, err := x509.ParseRevocationList(data); err == nil {
			crls = append(crls, crl)
		}
		if crl, err := parseCRL(data); err == nil {
			crls = append(crls, crl)
		}
		for _, crl := range crls {
			_ = crlUsable(crl)
			in := &crlInput{
				at: testEpoch, crls: []*x509.RevocationList{crl}, pool: []*x509.Certificate{leaf.cert, ca.cert},
				verifySigner: func(context.Context, *x509.Certificate) error { return nil }, useDeltas: true,
			}
			res := checkCRL(context.Background(), in, leaf.cert, ca.cert)
			if res.status != statusUnknown &&
				checkSignature(ca.cert, crl.SignatureAlgorithm, crl.RawTBSRevocationList, crl.Signature) != nil {
				t.Fatalf("status %v from a CRL the CA did not sign", res.status)
			}
		}
	})
}
