package certverify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha1"
	_ "crypto/sha256" // response CertIDs may use SHA-256
	_ "crypto/sha512" // ... or SHA-384/512
	"crypto/x509"
	encasn1 "encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
	"golang.org/x/crypto/ocsp"
)

// This file is the OCSP (RFC 6960) revocation source: it builds requests
// (with an optional RFC 8954 nonce), POSTs them to the responder, and
// accepts a response only when it is signed by the certificate's issuer or
// by a responder the issuer authorised (RFC 6960 section 4.2.2.2), names
// the certificate asked about, echoes the nonce and is current.
//
// Nonce encoding. RFC 8954 defines Nonce ::= OCTET STRING(SIZE(1..32)),
// carried DER-encoded in the extension's extnValue, so extnValue is an
// OCTET STRING wrapping an OCTET STRING. `openssl ocsp` sends exactly that
// (its default 16-byte nonce appears as extnValue 04 10 <16 bytes>), and its
// responder (OCSP_copy_nonce) copies the request's extension verbatim into
// responseExtensions. We therefore send the wrapped form and accept only a
// byte-identical echo. A responder echoing the bare nonce bytes is refused:
// nothing we tested needs that form, and accepting it would only widen what
// counts as a match.

// OCSP limits and defaults.
const (
	defaultOCSPMaxBytes = 1 << 20 // 1 MiB
	// ocspClockSkew is how far in the future a response's thisUpdate may
	// be, to tolerate clock differences with the responder.
	ocspClockSkew = 5 * time.Minute
	// ocspMaxAgeNoNextUpdate bounds the age of a response without
	// nextUpdate (which `openssl ocsp` produces unless told otherwise):
	// nothing else would stop an old "good" from being replayed.
	ocspMaxAgeNoNextUpdate = time.Hour
	ocspNonceLen           = 32
	ocspCacheSweepMin      = 1024 // cache size that triggers sweeping expired entries
)

var (
	oidOCSPNonce   = encasn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 2}
	oidOCSPNoCheck = encasn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 48, 1, 5}
	oidSHA1        = encasn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
)

// ocspHashes are the CertID hash algorithms accepted in responses.
var ocspHashes = []struct {
	oid  encasn1.ObjectIdentifier
	hash crypto.Hash
}{
	{oidSHA1, crypto.SHA1},
	{encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}, crypto.SHA256},
	{encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}, crypto.SHA384},
	{encasn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}, crypto.SHA512},
}

// Errors an OCSP check can fail with (wrapped with detail; match with
// errors.Is). Each leaves the status unknown.
var (
	errOCSPNoResponder    = errors.New("OCSP: no responder URL")
	errOCSPUnavailable    = errors.New("OCSP: responder unavailable")
	errOCSPMalformed      = errors.New("OCSP: malformed response")
	errOCSPResponseStatus = errors.New("OCSP: responder refused the request")
	errOCSPSignature      = errors.New("OCSP: bad response signature")
	errOCSPUnauthorised   = errors.New("OCSP: responder not authorised by the issuer")
	errOCSPCertID         = errors.New("OCSP: response is not about the certificate asked about")
	errOCSPNonce          = errors.New("OCSP: nonce missing or not echoed")
	errOCSPNotYetValid    = errors.New("OCSP: response thisUpdate is in the future")
	errOCSPStale          = errors.New("OCSP: response is stale")
	errOCSPCertUnknown    = errors.New("OCSP: responder does not know the certificate")
	errOCSPClosed         = errors.New("OCSP: client is closed")
)

// ocspConfig configures an ocspClient. The embedded fetchConfig has the
// same defaults as for CRLs except MaxBytes (1 MiB); RefreshTick and
// RefreshFloor are not used.
type ocspConfig struct {
	fetchConfig
	// Responder, if set, is asked about every certificate instead of the
	// OCSP URLs in its authority information access extension.
	Responder string
	// Nonce sends a 32-byte RFC 8954 nonce and requires it echoed back.
	// An answer obtained this way is still cached until its nextUpdate.
	Nonce bool
	// DownFor is how long a responder that could not be reached (or
	// answered with an HTTP error) is skipped, so that a hanging responder
	// does not add its timeout to every login. Default 30s.
	DownFor time.Duration
}

const defaultOCSPDownFor = 30 * time.Second

// ocspClient asks OCSP responders about certificates and caches verified
// good and revoked answers until their nextUpdate.
type ocspClient struct {
	cfg       ocspConfig
	ownClient bool // cfg.Client was made here and may be closed by Close
	log       *slog.Logger

	mu        sync.Mutex
	closed    bool                    // guarded by mu
	cache     map[ocspKey]*ocspAnswer // guarded by mu
	downUntil map[string]time.Time    // guarded by mu; responder URL → skip until
	sweepSize int                     // guarded by mu; sweep when cache reaches it
}

// ocspKey identifies a certificate: SHA-1 of its issuer's public key and
// its serial number (big-endian bytes).
type ocspKey struct {
	issuerKeyHash [sha1.Size]byte
	serial        string
}

// ocspAnswer is a verified single response.
type ocspAnswer struct {
	status     revStatus // statusGood or statusRevoked
	revokedAt  time.Time
	reason     int
	thisUpdate time.Time
	nextUpdate time.Time // zero if the response had none
	// responder is the delegated responder's certificate, nil when the
	// issuer signed the response itself.
	responder *x509.Certificate
}

func (a *ocspAnswer) result() revResult {
	return revResult{status: a.status, revokedAt: a.revokedAt, reason: a.reason}
}

// newOCSPClient returns a client; Close releases its idle connections.
func newOCSPClient(cfg ocspConfig) *ocspClient {
	own := cfg.Client == nil
	cfg.fetchConfig = cfg.fetchConfig.withDefaults(defaultOCSPMaxBytes)
	if cfg.DownFor == 0 {
		cfg.DownFor = defaultOCSPDownFor
	}
	return &ocspClient{
		cfg:       cfg,
		ownClient: own,
		log:       cfg.Logger.With("component", "ocsp"),
		cache:     make(map[ocspKey]*ocspAnswer),
		downUntil: make(map[string]time.Time),
		sweepSize: ocspCacheSweepMin,
	}
}

// Close makes further checks fail and closes idle connections of a client
// it made itself. It is safe to call more than once.
func (o *ocspClient) Close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.closed = true
	o.cache = nil
	if o.ownClient {
		o.cfg.Client.CloseIdleConnections()
	}
}

// check returns the status of cert, issued by issuer, at time at:
// statusGood, statusRevoked (with revokedAt and reason; a revocation time
// after at is still reported as revoked), or statusUnknown with the reason
// in err. A cached answer is served without a network round trip when it
// is still within its validity for at. The responder URLs (the configured
// override, or the certificate's OCSP URLs in order) are tried until one
// gives a verified answer.
func (o *ocspClient) check(ctx context.Context, cert, issuer *x509.Certificate, at time.Time) revResult {
	if cert == nil || issuer == nil {
		return revResult{err: fmt.Errorf("%w: certificate or issuer missing", errOCSPMalformed)}
	}
	id, err := newOCSPCertID(cert, issuer)
	if err != nil {
		return revResult{err: err}
	}
	key := id.key()

	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return revResult{err: errOCSPClosed}
	}
	cached, ok := o.cache[key]
	if ok && !o.cfg.Now().Before(cached.nextUpdate) {
		delete(o.cache, key)
		ok = false
	}
	o.mu.Unlock()
	if ok {
		if err := cached.checkAt(at); err == nil {
			return cached.result()
		}
	}

	urls := cert.OCSPServer
	if o.cfg.Responder != "" {
		urls = []string{o.cfg.Responder}
	}
	if len(urls) == 0 {
		return revResult{err: errOCSPNoResponder}
	}
	var nonce []byte
	if o.cfg.Nonce {
		nonce = make([]byte, ocspNonceLen)
		if _, err := rand.Read(nonce); err != nil {
			return revResult{err: fmt.Errorf("OCSP: nonce: %w", err)}
		}
	}
	req := marshalOCSPRequest(id, nonce)

	var errs []error
	for _, u := range urls {
		if until, down := o.isDown(u); down {
			errs = append(errs, fmt.Errorf("%w: %s: skipped after a failure until %s", errOCSPUnavailable, u, fmtTime(until)))
			continue
		}
		ans, err := o.ask(ctx, u, req, cert, issuer, nonce, at)
		if err != nil {
			o.log.Warn("OCSP check failed", "url", u, "serial", cert.SerialNumber, "err", err)
			if errors.Is(err, errOCSPUnavailable) && ctx.Err() == nil {
				o.markDown(u)
			}
			errs = append(errs, err)
			continue
		}
		o.log.Debug("OCSP answer", "url", u, "serial", cert.SerialNumber, "status", ans.status,
			"this_update", ans.thisUpdate, "next_update", ans.nextUpdate)
		if !ans.nextUpdate.IsZero() {
			o.store(key, ans)
		}
		return ans.result()
	}
	return revResult{err: errors.Join(errs...)}
}

// isDown reports whether responder url is being skipped after a failure.
func (o *ocspClient) isDown(url string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	until, ok := o.downUntil[url]
	if ok && !o.cfg.Now().Before(until) {
		delete(o.downUntil, url)
		return time.Time{}, false
	}
	return until, ok
}

func (o *ocspClient) markDown(url string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.downUntil != nil {
		o.downUntil[url] = o.cfg.Now().Add(o.cfg.DownFor)
	}
}

// ask sends req to one responder and verifies the answer.
func (o *ocspClient) ask(ctx context.Context, url string, req []byte, cert, issuer *x509.Certificate, nonce []byte, at time.Time) (*ocspAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Timeout)
	defer cancel()
	der, err := httpExchange(ctx, o.cfg.Client, url, req,
		"application/ocsp-request", "application/ocsp-response", o.cfg.MaxBytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", errOCSPUnavailable, url, err)
	}
	ans, err := processOCSPResponse(der, cert, issuer, nonce, at)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	return ans, nil
}

// store caches a verified answer, sweeping expired entries when the cache
// has grown.
func (o *ocspClient) store(key ocspKey, ans *ocspAnswer) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return
	}
	o.cache[key] = ans
	if len(o.cache) < o.sweepSize {
		return
	}
	now := o.cfg.Now()
	for k, a := range o.cache {
		if !now.Before(a.nextUpdate) {
			delete(o.cache, k)
		}
	}
	o.sweepSize = max(ocspCacheSweepMin, 2*len(o.cache))
}

// processOCSPResponse verifies a DER OCSP response about cert (issued by
// issuer) for time at, and, when nonce is non-nil, that it echoes nonce.
// It returns an answer only for a good or revoked status from an
// authorised signer; every other outcome is an error.
func processOCSPResponse(der []byte, cert, issuer *x509.Certificate, nonce []byte, at time.Time) (*ocspAnswer, error) {
	if cert == nil || cert.SerialNumber == nil || issuer == nil {
		return nil, fmt.Errorf("%w: certificate or issuer missing", errOCSPMalformed)
	}
	// The issuer is deliberately not passed: the library would then
	// require an embedded certificate to be signed by the issuer, which
	// refuses responses signed by the issuer itself with its own
	// certificate embedded (OpenSSL's responder does this by default).
	// Without it, the library checks the signature against an embedded
	// certificate only, and authorisation is decided below.
	resp, err := ocsp.ParseResponseForCert(der, cert, nil)
	if err != nil {
		var re ocsp.ResponseError
		switch {
		case errors.As(err, &re):
			return nil, fmt.Errorf("%w: %s", errOCSPResponseStatus, re.Status)
		case strings.HasPrefix(err.Error(), "bad signature"):
			return nil, fmt.Errorf("%w: %v", errOCSPSignature, err)
		case strings.HasPrefix(err.Error(), "no response matching"):
			return nil, fmt.Errorf("%w: %v", errOCSPCertID, err)
		default:
			return nil, fmt.Errorf("%w: %v", errOCSPMalformed, err)
		}
	}

	ans := &ocspAnswer{thisUpdate: resp.ThisUpdate, nextUpdate: resp.NextUpdate}
	switch {
	case resp.Certificate == nil:
		if err := resp.CheckSignatureFrom(issuer); err != nil {
			return nil, fmt.Errorf("%w: %v", errOCSPSignature, err)
		}
	case bytes.Equal(resp.Certificate.RawSubjectPublicKeyInfo, issuer.RawSubjectPublicKeyInfo):
		// Signed (checked by the library) with the issuer's own key.
	default:
		if err := authoriseOCSPResponder(resp.Certificate, issuer, at); err != nil {
			return nil, err
		}
		ans.responder = resp.Certificate
	}

	data, err := parseOCSPResponseData(resp.TBSResponseData)
	if err != nil {
		return nil, err
	}
	if err := data.matchCertID(cert, issuer); err != nil {
		return nil, err
	}
	if err := data.checkExtensions(nonce); err != nil {
		return nil, err
	}
	if !ans.nextUpdate.IsZero() && ans.nextUpdate.Before(ans.thisUpdate) {
		return nil, fmt.Errorf("%w: nextUpdate before thisUpdate", errOCSPMalformed)
	}
	if err := ans.checkAt(at); err != nil {
		return nil, err
	}

	switch resp.Status {
	case ocsp.Good:
		ans.status = statusGood
	case ocsp.Revoked:
		ans.status, ans.revokedAt, ans.reason = statusRevoked, resp.RevokedAt, resp.RevocationReason
	default:
		return nil, errOCSPCertUnknown
	}
	return ans, nil
}

// checkAt reports whether the answer may be relied on at time at: its
// thisUpdate is not in the future (beyond ocspClockSkew), it is not past
// its nextUpdate (or, without one, older than ocspMaxAgeNoNextUpdate), and
// a delegated responder's certificate is valid at at.
func (a *ocspAnswer) checkAt(at time.Time) error {
	if a.thisUpdate.After(at.Add(ocspClockSkew)) {
		return fmt.Errorf("%w (thisUpdate %s, at %s)", errOCSPNotYetValid, fmtTime(a.thisUpdate), fmtTime(at))
	}
	if a.nextUpdate.IsZero() {
		if at.Sub(a.thisUpdate) > ocspMaxAgeNoNextUpdate {
			return fmt.Errorf("%w: no nextUpdate and thisUpdate %s is older than %s",
				errOCSPStale, fmtTime(a.thisUpdate), ocspMaxAgeNoNextUpdate)
		}
	} else if at.After(a.nextUpdate) {
		return fmt.Errorf("%w (nextUpdate %s, at %s)", errOCSPStale, fmtTime(a.nextUpdate), fmtTime(at))
	}
	if r := a.responder; r != nil && (at.Before(r.NotBefore) || at.After(r.NotAfter)) {
		return fmt.Errorf("%w: responder certificate not valid at %s", errOCSPUnauthorised, fmtTime(at))
	}
	return nil
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// authoriseOCSPResponder applies RFC 6960 section 4.2.2.2 to a delegated
// responder certificate: issued and signed by the certificate's issuer,
// with id-kp-OCSPSigning, valid at at, with digitalSignature if it has a
// key usage extension and no critical extension we do not understand.
// The responder certificate's own revocation status is not checked.
func authoriseOCSPResponder(rc, issuer *x509.Certificate, at time.Time) error {
	if !bytes.Equal(rc.RawIssuer, issuer.RawSubject) {
		return fmt.Errorf("%w: responder certificate %q is not issued by %q",
			errOCSPUnauthorised, rc.Subject.CommonName, issuer.Subject.CommonName)
	}
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("%w: responder certificate %q: %v", errOCSPUnauthorised, rc.Subject.CommonName, err)
	}
	hasOCSPSigning := false
	for _, eku := range rc.ExtKeyUsage {
		if eku == x509.ExtKeyUsageOCSPSigning {
			hasOCSPSigning = true
		}
	}
	if !hasOCSPSigning {
		return fmt.Errorf("%w: responder certificate %q lacks id-kp-OCSPSigning", errOCSPUnauthorised, rc.Subject.CommonName)
	}
	if at.Before(rc.NotBefore) || at.After(rc.NotAfter) {
		return fmt.Errorf("%w: responder certificate %q not valid at %s", errOCSPUnauthorised, rc.Subject.CommonName, fmtTime(at))
	}
	if rc.KeyUsage != 0 && rc.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: responder certificate %q lacks digitalSignature", errOCSPUnauthorised, rc.Subject.CommonName)
	}
	for _, oid := range rc.UnhandledCriticalExtensions {
		if !oid.Equal(oidOCSPNoCheck) {
			return fmt.Errorf("%w: responder certificate %q has unhandled critical extension %v",
				errOCSPUnauthorised, rc.Subject.CommonName, oid)
		}
	}
	return nil
}

// ocspCertID is the SHA-1 CertID of a request.
type ocspCertID struct {
	nameHash, keyHash []byte
	serial            *big.Int
}

func newOCSPCertID(cert, issuer *x509.Certificate) (ocspCertID, error) {
	nameHash, keyHash, err := ocspIssuerHashes(crypto.SHA1, issuer)
	if err != nil {
		return ocspCertID{}, err
	}
	if cert.SerialNumber == nil {
		return ocspCertID{}, fmt.Errorf("%w: certificate has no serial number", errOCSPMalformed)
	}
	return ocspCertID{nameHash: nameHash, keyHash: keyHash, serial: cert.SerialNumber}, nil
}

func (id ocspCertID) key() ocspKey {
	k := ocspKey{serial: string(id.serial.Bytes())}
	copy(k.issuerKeyHash[:], id.keyHash)
	if id.serial.Sign() < 0 { // keep negative serials (seen in the wild) distinct
		k.serial = "-" + k.serial
	}
	return k
}

// ocspIssuerHashes returns the CertID hashes of issuer: of its DER subject
// name and of the bits of its subject public key (RFC 6960 section 4.1.1).
func ocspIssuerHashes(h crypto.Hash, issuer *x509.Certificate) (nameHash, keyHash []byte, err error) {
	spki := cryptobyte.String(issuer.RawSubjectPublicKeyInfo)
	var inner cryptobyte.String
	var bits encasn1.BitString
	if !spki.ReadASN1(&inner, cbasn1.SEQUENCE) ||
		!inner.SkipASN1(cbasn1.SEQUENCE) ||
		!inner.ReadASN1BitString(&bits) {
		return nil, nil, fmt.Errorf("%w: issuer public key cannot be parsed", errOCSPMalformed)
	}
	hn := h.New()
	hn.Write(issuer.RawSubject)
	hk := h.New()
	hk.Write(bits.RightAlign())
	return hn.Sum(nil), hk.Sum(nil), nil
}

// marshalOCSPRequest builds an unsigned OCSPRequest (RFC 6960 section
// 4.1.1) for one certificate. When nonce is non-nil it adds the RFC 8954
// nonce extension to requestExtensions. Without a nonce the result is
// byte-identical to ocsp.CreateRequest's.
func marshalOCSPRequest(id ocspCertID, nonce []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // OCSPRequest
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // TBSRequest
			b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // requestList
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Request
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // CertID
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
							b.AddASN1ObjectIdentifier(oidSHA1)
							b.AddASN1NULL()
						})
						b.AddASN1OctetString(id.nameHash)
						b.AddASN1OctetString(id.keyHash)
						b.AddASN1BigInt(id.serial)
					})
				})
			})
			if nonce != nil {
				b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
					b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Extensions
						b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) { // Extension
							b.AddASN1ObjectIdentifier(oidOCSPNonce)
							b.AddASN1OctetString(ocspNonceValue(nonce))
						})
					})
				})
			}
		})
	})
	// The builder only fails on misuse (e.g. a nil serial), which
	// newOCSPCertID rules out.
	return b.BytesOrPanic()
}

// ocspNonceValue is the extnValue contents of a nonce extension: the DER
// encoding of Nonce ::= OCTET STRING.
func ocspNonceValue(nonce []byte) []byte {
	var b cryptobyte.Builder
	b.AddASN1OctetString(nonce)
	return b.BytesOrPanic()
}

// ocspResponseData is the part of a ResponseData the library does not
// expose: each SingleResponse's CertID and the responseExtensions.
type ocspResponseData struct {
	certIDs []ocspRespCertID
	exts    []ocspExtension
}

type ocspRespCertID struct {
	hashOID           encasn1.ObjectIdentifier
	nameHash, keyHash []byte
	serial            *big.Int
}

type ocspExtension struct {
	oid      encasn1.ObjectIdentifier
	critical bool
	value    []byte
}

// parseOCSPResponseData parses a DER ResponseData (RFC 6960 section 4.2.1).
func parseOCSPResponseData(tbs []byte) (*ocspResponseData, error) {
	bad := func(what string) (*ocspResponseData, error) {
		return nil, fmt.Errorf("%w: ResponseData: %s", errOCSPMalformed, what)
	}
	input := cryptobyte.String(tbs)
	var rd cryptobyte.String
	if !input.ReadASN1(&rd, cbasn1.SEQUENCE) || !input.Empty() {
		return bad("not a SEQUENCE")
	}
	if !rd.SkipOptionalASN1(cbasn1.Tag(0).Constructed().ContextSpecific()) { // version
		return bad("version")
	}
	var responderID cryptobyte.String
	var tag cbasn1.Tag
	if !rd.ReadAnyASN1(&responderID, &tag) ||
		(tag != cbasn1.Tag(1).Constructed().ContextSpecific() && tag != cbasn1.Tag(2).Constructed().ContextSpecific()) {
		return bad("responderID")
	}
	if !rd.SkipASN1(cbasn1.GeneralizedTime) {
		return bad("producedAt")
	}
	var responses cryptobyte.String
	if !rd.ReadASN1(&responses, cbasn1.SEQUENCE) {
		return bad("responses")
	}
	data := &ocspResponseData{}
	for !responses.Empty() {
		var single, certID, alg cryptobyte.String
		id := ocspRespCertID{serial: new(big.Int)}
		if !responses.ReadASN1(&single, cbasn1.SEQUENCE) ||
			!single.ReadASN1(&certID, cbasn1.SEQUENCE) ||
			!certID.ReadASN1(&alg, cbasn1.SEQUENCE) ||
			!alg.ReadASN1ObjectIdentifier(&id.hashOID) ||
			!certID.ReadASN1Bytes(&id.nameHash, cbasn1.OCTET_STRING) ||
			!certID.ReadASN1Bytes(&id.keyHash, cbasn1.OCTET_STRING) ||
			!certID.ReadASN1Integer(id.serial) ||
			!certID.Empty() {
			return bad("CertID")
		}
		data.certIDs = append(data.certIDs, id)
	}
	var extsOuter cryptobyte.String
	var present bool
	if !rd.ReadOptionalASN1(&extsOuter, &present, cbasn1.Tag(1).Constructed().ContextSpecific()) || !rd.Empty() {
		return bad("responseExtensions")
	}
	if present {
		var exts cryptobyte.String
		if !extsOuter.ReadASN1(&exts, cbasn1.SEQUENCE) || !extsOuter.Empty() || exts.Empty() {
			return bad("responseExtensions")
		}
		for !exts.Empty() {
			var ext cryptobyte.String
			var e ocspExtension
			if !exts.ReadASN1(&ext, cbasn1.SEQUENCE) ||
				!ext.ReadASN1ObjectIdentifier(&e.oid) ||
				!ext.ReadOptionalASN1Boolean(&e.critical, cbasn1.BOOLEAN, false) ||
				!ext.ReadASN1Bytes(&e.value, cbasn1.OCTET_STRING) ||
				!ext.Empty() {
				return bad("extension")
			}
			for _, prev := range data.exts {
				if prev.oid.Equal(e.oid) {
					return bad("duplicate extension " + e.oid.String())
				}
			}
			data.exts = append(data.exts, e)
		}
	}
	return data, nil
}

// matchCertID checks that the first SingleResponse for cert's serial (the
// one the library reported) names cert's issuer, so that a response about
// another CA's certificate with the same serial is not taken for ours.
func (d *ocspResponseData) matchCertID(cert, issuer *x509.Certificate) error {
	for _, id := range d.certIDs {
		if id.serial.Cmp(cert.SerialNumber) != 0 {
			continue
		}
		var h crypto.Hash
		for _, c := range ocspHashes {
			if c.oid.Equal(id.hashOID) {
				h = c.hash
			}
		}
		if h == 0 {
			return fmt.Errorf("%w: CertID hash %v not supported", errOCSPCertID, id.hashOID)
		}
		nameHash, keyHash, err := ocspIssuerHashes(h, issuer)
		if err != nil {
			return err
		}
		if !bytes.Equal(id.nameHash, nameHash) || !bytes.Equal(id.keyHash, keyHash) {
			return fmt.Errorf("%w: issuer hashes differ", errOCSPCertID)
		}
		return nil
	}
	return fmt.Errorf("%w: no response for serial %x", errOCSPCertID, cert.SerialNumber)
}

// checkExtensions refuses critical response extensions other than the
// nonce and, when nonce is non-nil, requires the nonce extension to be a
// byte-identical echo of the one sent.
func (d *ocspResponseData) checkExtensions(nonce []byte) error {
	var echoed []byte
	for _, e := range d.exts {
		switch {
		case e.oid.Equal(oidOCSPNonce):
			echoed = e.value
		case e.critical:
			return fmt.Errorf("%w: unsupported critical response extension %v", errOCSPMalformed, e.oid)
		}
	}
	if nonce == nil {
		return nil
	}
	if echoed == nil {
		return fmt.Errorf("%w: response has no nonce", errOCSPNonce)
	}
	if !bytes.Equal(echoed, ocspNonceValue(nonce)) {
		return fmt.Errorf("%w: response nonce differs from the request's", errOCSPNonce)
	}
	return nil
}
