package cardca

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
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/carespine/spineauth/registration"
)

// Defaults for Config.
const (
	DefaultValidity      = 2 * 365 * 24 * time.Hour
	DefaultRenewalWindow = 90 * 24 * time.Hour
	DefaultCRLValidity   = 24 * time.Hour
	// maxCommonName is RFC 5280's ub-common-name.
	maxCommonName = 64
	// backdate is how far NotBefore lies before the time of issue, so that
	// a relying party whose clock is a little behind accepts a new card.
	backdate = 5 * time.Minute
)

// Config configures a CA. Cert and Signer are required, and so is CRLURL.
type Config struct {
	// Cert is the issuing CA's certificate (the authentication sub-CA);
	// Signer its private key: a PEM key in development, a PKCS#11 key
	// (pkcs11.Token.KeySigner) on an HSM in production.
	Cert   *x509.Certificate
	Signer crypto.Signer

	// CRLURL is the CRL distribution point put in every certificate
	// (authd's /v1/pki/crl); OCSPURL the AIA OCSP responder (authd's
	// /v1/pki/ocsp), empty for none; CAIssuersURL the AIA caIssuers URL
	// of Cert, empty for none.
	CRLURL, OCSPURL, CAIssuersURL string
	// Policies are the certificate policy OIDs every card certificate
	// asserts (authd's pki.login.required_policies).
	Policies []x509.OID

	// Validity of a card certificate (default 2 years); a certificate
	// never outlives Cert.
	Validity time.Duration
	// RenewalWindow is how long before expiry a certificate may be
	// renewed (default 90 days).
	RenewalWindow time.Duration
	// CRLValidity is the interval from a CRL's thisUpdate to its
	// nextUpdate (default 24 hours). A CRL is regenerated after a
	// revocation, and when half of this has passed.
	CRLValidity time.Duration

	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default discard
	// OnRevoke, if set, is called after revocations are stored (for
	// example to drop cached revocation data of this CA). It must not
	// block for long.
	OnRevoke func(ctx context.Context, revoked []registration.IssuedCert)
}

// Store is what the CA needs from the registration store: its own records
// and the people and cards they refer to.
type Store interface {
	registration.CAStore
	Person(ctx context.Context, uid string) (*registration.Person, error)
	Card(ctx context.Context, id string) (*registration.Card, error)
}

// CA is the card CA. It is safe for concurrent use.
type CA struct {
	cfg    Config
	store  Store
	issuer string // registration.IssuerID(cfg.Cert)
	now    func() time.Time
	log    *slog.Logger

	crlMu sync.Mutex // serialises CRL regeneration on this node

	cacheMu sync.Mutex
	lastCRL *registration.CRLRecord // guarded by cacheMu; the newest CRL this node served
}

// Reason is the stable code of a refusal.
type Reason string

const (
	// ReasonRenewalNotOpen: the certificate is not yet inside its renewal
	// window.
	ReasonRenewalNotOpen Reason = "renewal_not_open"
	// ReasonCertExpired: the card's certificate has expired; a card whose
	// certificate lapsed is replaced, not renewed.
	ReasonCertExpired Reason = "certificate_expired"
	// ReasonCardNotActive: the card is suspended or cancelled.
	ReasonCardNotActive Reason = "card_not_active"
	// ReasonPersonNotActive: the card holder's registration is suspended
	// or closed.
	ReasonPersonNotActive Reason = "person_not_active"
	// ReasonKeyReused: the public key was certified before.
	ReasonKeyReused Reason = "key_reused"
	// ReasonKeyUnsupported: not an RSA (2048-4096 bits) or ECDSA (P-256,
	// P-384) public key.
	ReasonKeyUnsupported Reason = "key_unsupported"
	// ReasonNameTooLong: "<uid>_<Name>" exceeds the 64 characters RFC 5280
	// allows a common name; the registered name must be shortened.
	ReasonNameTooLong Reason = "name_too_long"
)

// Error is a refusal with a stable Reason and a message safe to show.
type Error struct {
	Reason  Reason
	Message string
	Err     error // the cause, if any
}

func (e *Error) Error() string { return "cardca: " + string(e.Reason) + ": " + e.Message }
func (e *Error) Unwrap() error { return e.Err }

// ReasonOf returns the Reason of a refusal, or "" for any other error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func refuse(r Reason, err error, format string, args ...any) error {
	return &Error{Reason: r, Message: fmt.Sprintf(format, args...), Err: err}
}

// New checks cfg and returns a CA recording its issuer in store.
func New(ctx context.Context, cfg Config, store Store) (*CA, error) {
	if cfg.Validity == 0 {
		cfg.Validity = DefaultValidity
	}
	if cfg.RenewalWindow == 0 {
		cfg.RenewalWindow = DefaultRenewalWindow
	}
	if cfg.CRLValidity == 0 {
		cfg.CRLValidity = DefaultCRLValidity
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("cardca: "+format, args...)) }
	switch {
	case cfg.Cert == nil:
		bad("the CA certificate is required")
	case !cfg.Cert.IsCA || !cfg.Cert.BasicConstraintsValid:
		bad("%q is not a CA certificate", cfg.Cert.Subject)
	case cfg.Cert.KeyUsage&(x509.KeyUsageCertSign|x509.KeyUsageCRLSign) != x509.KeyUsageCertSign|x509.KeyUsageCRLSign:
		bad("%q lacks keyCertSign or cRLSign", cfg.Cert.Subject)
	case len(cfg.Cert.SubjectKeyId) == 0:
		bad("%q has no subject key identifier (CRLs need it)", cfg.Cert.Subject)
	}
	if cfg.Signer == nil {
		bad("the CA key is required")
	} else if cfg.Cert != nil {
		if pub, ok := cfg.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cfg.Cert.PublicKey) {
			bad("the CA key does not belong to the CA certificate")
		}
	}
	for name, u := range map[string]string{"crl_url": cfg.CRLURL, "ocsp_url": cfg.OCSPURL, "ca_issuers_url": cfg.CAIssuersURL} {
		if u == "" && name != "crl_url" {
			continue
		}
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			bad("%s: %q is not an http(s) URL", name, u)
		}
	}
	if cfg.Validity < time.Hour || cfg.Validity > 5*365*24*time.Hour {
		bad("validity %s is outside 1h..5 years", cfg.Validity)
	}
	if cfg.RenewalWindow < 0 || cfg.RenewalWindow >= cfg.Validity {
		bad("renewal window %s must be shorter than the validity %s", cfg.RenewalWindow, cfg.Validity)
	}
	if cfg.CRLValidity < time.Minute || cfg.CRLValidity > 30*24*time.Hour {
		bad("CRL validity %s is outside 1m..30 days", cfg.CRLValidity)
	}
	if store == nil {
		bad("a store is required")
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ca := &CA{cfg: cfg, store: store, issuer: registration.IssuerID(cfg.Cert), now: cfg.Now, log: cfg.Logger}
	if err := store.EnsureIssuer(ctx, ca.issuer, cfg.Cert.Subject.String()); err != nil {
		return nil, fmt.Errorf("cardca: recording the CA: %w", err)
	}
	return ca, nil
}

// Certificate returns the issuing CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cfg.Cert }

// IssuerID is the CA's name in the store (registration.IssuerID).
func (ca *CA) IssuerID() string { return ca.issuer }

// Issued is a certificate the CA just issued and stored.
type Issued struct {
	Cert   *x509.Certificate
	Card   registration.Card       // the card as it now stands
	Record registration.IssuedCert // the stored record
}

// IssueCard issues the first certificate of a new card for person uid
// and public key pub (made on the card), and records the card (active,
// ID from the serial) and the certificate in one transaction. The person
// must exist and be active.
func (ca *CA) IssueCard(ctx context.Context, uid string, pub crypto.PublicKey) (*Issued, error) {
	p, err := ca.person(ctx, uid)
	if err != nil {
		return nil, err
	}
	// The card ID is the serial's first 48 bits: across millions of cards
	// two may meet (the store says ErrExists), so a clash gets a new
	// serial, a few times.
	var (
		cert *x509.Certificate
		rec  registration.IssuedCert
		card registration.Card
	)
	for attempt := 1; ; attempt++ {
		if cert, rec, err = ca.sign(p, pub); err != nil {
			return nil, err
		}
		if card, err = registration.NewCard(cert, p.UID, rec.IssuedAt); err != nil {
			return nil, err
		}
		rec.CardID = card.ID
		err = ca.store.RecordNewCard(ctx, card, rec)
		if err == nil {
			break
		}
		if attempt < 3 && errors.Is(err, registration.ErrExists) && !errors.Is(err, registration.ErrKeyReused) {
			ca.log.WarnContext(ctx, "card ID or serial taken; signing again with a new serial", "card_id", card.ID)
			continue
		}
		return nil, ca.storeErr(err)
	}
	ca.log.InfoContext(ctx, "card certificate issued", "card_id", card.ID, "uid", p.UID,
		"serial", rec.Serial, "not_after", rec.NotAfter)
	return &Issued{Cert: cert, Card: card, Record: rec}, nil
}

// RenewCard issues a certificate for a new key pub on card cardID, whose
// current certificate must be inside its renewal window (RenewalWindow
// before its expiry) and not expired; the card and its holder must be
// active. The card then carries the new certificate, and the old one is
// revoked as superseded, in one transaction.
func (ca *CA) RenewCard(ctx context.Context, cardID string, pub crypto.PublicKey) (*Issued, error) {
	card, err := ca.store.Card(ctx, cardID)
	if err != nil {
		return nil, err
	}
	if card.Status != registration.CardActive {
		return nil, refuse(ReasonCardNotActive, nil, "card %s is %s", card.ID, card.Status)
	}
	now := ca.now()
	if !now.Before(card.CertNotAfter) {
		return nil, refuse(ReasonCertExpired, nil, "the certificate of card %s expired at %s: issue a new card",
			card.ID, card.CertNotAfter.Format(time.RFC3339))
	}
	if opens := card.CertNotAfter.Add(-ca.cfg.RenewalWindow); now.Before(opens) {
		return nil, refuse(ReasonRenewalNotOpen, nil, "renewal of card %s opens at %s (%s before expiry)",
			card.ID, opens.Format(time.RFC3339), ca.cfg.RenewalWindow)
	}
	p, err := ca.person(ctx, card.UID)
	if err != nil {
		return nil, err
	}
	cert, rec, err := ca.sign(p, pub)
	if err != nil {
		return nil, err
	}
	rec.CardID, rec.Replaces = card.ID, card.CertSerial
	if err := ca.store.RecordRenewal(ctx, rec); err != nil {
		return nil, ca.storeErr(err)
	}
	card.CertSerial, card.CertFingerprint, card.CertNotAfter = rec.Serial, rec.Fingerprint, rec.NotAfter
	ca.log.InfoContext(ctx, "card certificate renewed", "card_id", card.ID, "uid", p.UID,
		"serial", rec.Serial, "replaces", rec.Replaces, "not_after", rec.NotAfter)
	old, err := ca.store.IssuedCert(ctx, ca.issuer, rec.Replaces)
	if err != nil {
		ca.log.WarnContext(ctx, "reading the superseded certificate", "serial", rec.Replaces, "err", err)
		old = &registration.IssuedCert{Issuer: ca.issuer, Serial: rec.Replaces, CardID: card.ID, UID: card.UID}
	}
	ca.revoked(ctx, []registration.IssuedCert{*old})
	return &Issued{Cert: cert, Card: *card, Record: rec}, nil
}

// CancelCard cancels card cardID and revokes every certificate of it
// that is not revoked yet, at once and in one transaction, returning the
// certificates it revoked. Cancelling a cancelled card revokes nothing and
// succeeds (idempotent). The next CRL and OCSP answer show the change.
func (ca *CA) CancelCard(ctx context.Context, cardID string, reason registration.RevocationReason) ([]registration.IssuedCert, error) {
	revoked, err := ca.store.CancelCard(ctx, cardID, reason, ca.now())
	if err != nil {
		return nil, err
	}
	for _, c := range revoked {
		ca.log.InfoContext(ctx, "card certificate revoked", "card_id", cardID, "serial", c.Serial, "reason", c.Reason.String())
	}
	if len(revoked) > 0 {
		ca.revoked(ctx, revoked)
	}
	return revoked, nil
}

// Revoke revokes the certificate with this serial at once. Revoking a
// revoked certificate succeeds and changes nothing (the first time and
// reason stand). Unknown serials are registration.ErrNotFound.
func (ca *CA) Revoke(ctx context.Context, serial *big.Int, reason registration.RevocationReason) (*registration.IssuedCert, error) {
	s, err := registration.SerialHex(serial)
	if err != nil {
		return nil, err
	}
	c, changed, err := ca.store.RevokeCert(ctx, ca.issuer, s, reason, ca.now())
	if err != nil {
		return nil, err
	}
	if changed {
		ca.log.InfoContext(ctx, "card certificate revoked", "card_id", c.CardID, "serial", c.Serial, "reason", c.Reason.String())
		ca.revoked(ctx, []registration.IssuedCert{*c})
	}
	return c, nil
}

// Lookup returns the CA's record of the certificate with this serial
// (revoked or not), or registration.ErrNotFound when it did not issue one.
func (ca *CA) Lookup(ctx context.Context, serial *big.Int) (*registration.IssuedCert, error) {
	s, err := registration.SerialHex(serial)
	if err != nil {
		return nil, err
	}
	return ca.store.IssuedCert(ctx, ca.issuer, s)
}

// revoked regenerates the CRL (so the next request is served at once)
// and calls OnRevoke. A failure to regenerate is logged: CRL regenerates
// on the next request anyway, because the counter moved.
func (ca *CA) revoked(ctx context.Context, certs []registration.IssuedCert) {
	if _, err := ca.CRL(ctx); err != nil {
		ca.log.WarnContext(ctx, "CRL regeneration after a revocation failed; retried on the next request", "err", err)
	}
	if ca.cfg.OnRevoke != nil && len(certs) > 0 {
		ca.cfg.OnRevoke(ctx, certs)
	}
}

func (ca *CA) person(ctx context.Context, uid string) (*registration.Person, error) {
	p, err := ca.store.Person(ctx, uid)
	if err != nil {
		return nil, err
	}
	if p.Status != registration.PersonActive {
		return nil, refuse(ReasonPersonNotActive, nil, "person %s is %s", p.UID, p.Status)
	}
	return p, nil
}

func (ca *CA) storeErr(err error) error {
	if errors.Is(err, registration.ErrKeyReused) {
		return refuse(ReasonKeyReused, err, "this public key has been certified before; generate a new key on the card")
	}
	return err
}

// checkKey accepts the key types the login path verifies.
func checkKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > 4096 || k.E < 3 || k.E%2 == 0 {
			return refuse(ReasonKeyUnsupported, nil, "RSA key of %d bits (2048 to 4096 are accepted)", n)
		}
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return refuse(ReasonKeyUnsupported, nil, "ECDSA curve %s (P-256 and P-384 are accepted)", k.Curve.Params().Name)
		}
	default:
		return refuse(ReasonKeyUnsupported, nil, "key type %T (RSA and ECDSA are accepted)", pub)
	}
	return nil
}

// sign makes and checks a card certificate for p and pub; the caller
// stores it.
func (ca *CA) sign(p *registration.Person, pub crypto.PublicKey) (*x509.Certificate, registration.IssuedCert, error) {
	if err := checkKey(pub); err != nil {
		return nil, registration.IssuedCert{}, err
	}
	cn := p.UID + "_" + p.Name
	if n := utf8.RuneCountInString(cn); n > maxCommonName {
		return nil, registration.IssuedCert{}, refuse(ReasonNameTooLong, nil,
			"the certificate name of %s would be %d characters; at most %d fit (RFC 5280 ub-common-name)", p.UID, n, maxCommonName)
	}
	ski, err := keyID(pub)
	if err != nil {
		return nil, registration.IssuedCert{}, refuse(ReasonKeyUnsupported, err, "cannot encode the public key")
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, registration.IssuedCert{}, err
	}
	now := ca.now().UTC().Truncate(time.Second)
	notAfter := now.Add(ca.cfg.Validity)
	if notAfter.After(ca.cfg.Cert.NotAfter) {
		notAfter = ca.cfg.Cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, registration.IssuedCert{}, fmt.Errorf("cardca: the CA certificate has expired")
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{Organization: []string{"nhs"}, OrganizationalUnit: []string{"People"},
			CommonName: cn},
		NotBefore:             now.Add(-backdate),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		Policies:              ca.cfg.Policies,
		SubjectKeyId:          ski,
		CRLDistributionPoints: []string{ca.cfg.CRLURL},
	}
	if ca.cfg.OCSPURL != "" {
		tmpl.OCSPServer = []string{ca.cfg.OCSPURL}
	}
	if ca.cfg.CAIssuersURL != "" {
		tmpl.IssuingCertificateURL = []string{ca.cfg.CAIssuersURL}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cfg.Cert, pub, ca.cfg.Signer)
	if err != nil {
		return nil, registration.IssuedCert{}, fmt.Errorf("cardca: signing: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, registration.IssuedCert{}, fmt.Errorf("cardca: signed certificate does not parse: %w", err)
	}
	// A signer on an HSM is trusted to sign, not to sign right.
	if err := cert.CheckSignatureFrom(ca.cfg.Cert); err != nil {
		return nil, registration.IssuedCert{}, fmt.Errorf("cardca: signed certificate does not verify: %w", err)
	}
	s, err := registration.SerialHex(cert.SerialNumber)
	if err != nil {
		return nil, registration.IssuedCert{}, err
	}
	rec := registration.IssuedCert{
		Issuer:      ca.issuer,
		Serial:      s,
		UID:         p.UID,
		Fingerprint: registration.Fingerprint(der),
		KeyHash:     registration.KeyHash(cert),
		NotBefore:   cert.NotBefore,
		NotAfter:    cert.NotAfter,
		IssuedAt:    now,
		DER:         der,
	}
	return cert, rec, nil
}

// randomSerial returns a positive serial of 16 octets whose first bit is
// clear (126 to 127 random bits, RFC 5280 4.1.2.2).
func randomSerial() (*big.Int, error) {
	b := make([]byte, 16)
	for {
		if _, err := rand.Read(b); err != nil {
			return nil, fmt.Errorf("cardca: serial: %w", err)
		}
		b[0] &= 0x7f
		if b[0] != 0 { // keep 16 octets, and the card ID's 12 hex digits random
			return new(big.Int).SetBytes(b), nil
		}
	}
}

// keyID is the RFC 7093 method 1 key identifier: the leftmost 160 bits of
// the SHA-256 of the subjectPublicKey BIT STRING's bytes.
func keyID(pub crypto.PublicKey) ([]byte, error) {
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if rest, err := asn1.Unmarshal(spki, &info); err != nil || len(rest) > 0 {
		return nil, errors.New("malformed SubjectPublicKeyInfo")
	}
	sum := sha256.Sum256(info.PublicKey.Bytes)
	return bytes.Clone(sum[:20]), nil
}
