package main

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"strings"
	"time"
)

// indexEntry is one line of an OpenSSL CA database (index.txt), as read by
// `openssl ocsp -index`.
type indexEntry struct {
	cert    *x509.Certificate
	revoked bool // revoked at longStart for keyCompromise
}

// renderIndex writes the entries in OpenSSL's CA database format: six
// tab-separated fields per line:
//
//	status  expiry  revocation  serial  file  subject
//
// status is V (valid) or R (revoked); expiry is the notAfter as
// YYMMDDHHMMSSZ; revocation is empty for V and "time,reason" for R; serial
// is uppercase hex of the serial's bytes (what OpenSSL's BN_bn2hex gives,
// which is how `openssl ocsp` looks serials up); file is always "unknown";
// subject is OpenSSL's one-line form, /O=nhs/OU=People/CN=...
//
// Expired certificates stay V: `openssl ocsp` answers good only for V, and
// OCSP says whether a certificate is revoked, not whether it is current.
func renderIndex(entries []indexEntry) ([]byte, error) {
	var b bytes.Buffer
	for _, e := range entries {
		subject, err := oneLineName(e.cert.RawSubject)
		if err != nil {
			return nil, fmt.Errorf("index: serial %X: %w", e.cert.SerialNumber.Bytes(), err)
		}
		status, revocation := "V", ""
		if e.revoked {
			status, revocation = "R", opensslTime(longStart)+",keyCompromise"
		}
		fmt.Fprintf(&b, "%s\t%s\t%s\t%X\tunknown\t%s\n",
			status, opensslTime(e.cert.NotAfter), revocation, e.cert.SerialNumber.Bytes(), subject)
	}
	return b.Bytes(), nil
}

// opensslTime formats t as ASN.1 UTCTime (YYMMDDHHMMSSZ), or as
// GeneralizedTime outside 1950-2049, the way `openssl ca` records times.
func opensslTime(t time.Time) string {
	t = t.UTC()
	if t.Year() < 1950 || t.Year() >= 2050 {
		return t.Format("20060102150405Z")
	}
	return t.Format("060102150405Z")
}

// shortNames maps the attribute types the fixtures use to OpenSSL's short
// names.
var shortNames = map[string]string{
	"2.5.4.3":  "CN",
	"2.5.4.6":  "C",
	"2.5.4.10": "O",
	"2.5.4.11": "OU",
}

// oneLineName renders a DER Name the way OpenSSL's X509_NAME_oneline does:
// each attribute as /SN=value, in encoded order. Values that OpenSSL would
// escape (or that would be ambiguous) are refused rather than mis-rendered.
func oneLineName(raw []byte) (string, error) {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil {
		return "", err
	} else if len(rest) != 0 {
		return "", fmt.Errorf("trailing data after name")
	}
	var b strings.Builder
	for _, rdn := range rdns {
		for _, atv := range rdn {
			sn, ok := shortNames[atv.Type.String()]
			if !ok {
				return "", fmt.Errorf("attribute type %s has no short name here", atv.Type)
			}
			v, ok := atv.Value.(string)
			if !ok {
				return "", fmt.Errorf("attribute %s is not a string", sn)
			}
			for _, r := range v {
				if r == '/' || r < 0x20 || r > 0x7e {
					return "", fmt.Errorf("attribute %s=%q needs escaping", sn, v)
				}
			}
			fmt.Fprintf(&b, "/%s=%s", sn, v)
		}
	}
	return b.String(), nil
}
