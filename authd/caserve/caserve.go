package caserve

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/ocsp"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
)

// Paths served.
const (
	PathCRL  = "/v1/pki/crl"
	PathOCSP = "/v1/pki/ocsp"
	PathCA   = "/v1/pki/ca.crt"
)

// CA is what the service needs of the card CA (*cardca.CA).
type CA interface {
	Certificate() *x509.Certificate
	CRL(ctx context.Context) (*registration.CRLRecord, error)
	Lookup(ctx context.Context, serial *big.Int) (*registration.IssuedCert, error)
}

var _ CA = (*cardca.CA)(nil)

// Config configures the service.
type Config struct {
	CA CA
	// Responder signs OCSP responses: the CA's own certificate and key,
	// or a delegated responder issued by the CA.
	Responder Responder
	// OCSPValidity sets each answer's nextUpdate to thisUpdate plus this;
	// zero (the default) leaves nextUpdate out, which tells relying
	// parties that newer information is always available (RFC 6960
	// 4.2.2.1), so that a revocation is seen at the next question.
	OCSPValidity time.Duration
	Now          func() time.Time // default time.Now
	Logger       *slog.Logger     // default discard
	Registry     prometheus.Registerer
}

// Service serves the CRL, the OCSP responder and the CA certificate.
type Service struct {
	cfg       Config
	issuer    *x509.Certificate
	embed     bool // the responder is delegated: send its certificate
	nameHash  map[crypto.Hash][]byte
	keyHash   map[crypto.Hash][]byte
	responses *prometheus.CounterVec
}

// New checks cfg and builds the service.
func New(cfg Config) (*Service, error) {
	if cfg.CA == nil || cfg.CA.Certificate() == nil {
		return nil, errors.New("caserve: a CA is required")
	}
	if cfg.Responder.Cert == nil || cfg.Responder.Signer == nil {
		return nil, errors.New("caserve: an OCSP responder certificate and key are required")
	}
	if cfg.OCSPValidity < 0 || cfg.OCSPValidity > 7*24*time.Hour {
		return nil, fmt.Errorf("caserve: OCSP validity %s is outside 0..7 days", cfg.OCSPValidity)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	issuer := cfg.CA.Certificate()
	rc := cfg.Responder.Cert
	if pub, ok := cfg.Responder.Signer.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(rc.PublicKey) {
		return nil, errors.New("caserve: the OCSP responder key does not belong to its certificate")
	}
	if _, _, _, err := signatureAlgorithm(rc.PublicKey); err != nil {
		return nil, fmt.Errorf("caserve: %w", err)
	}
	s := &Service{cfg: cfg, issuer: issuer, nameHash: map[crypto.Hash][]byte{}, keyHash: map[crypto.Hash][]byte{}}
	if !bytes.Equal(rc.RawSubjectPublicKeyInfo, issuer.RawSubjectPublicKeyInfo) {
		if err := checkDelegated(rc, issuer); err != nil {
			return nil, err
		}
		s.embed = true
	}
	keyBits, err := responderKeyBits(issuer)
	if err != nil {
		return nil, fmt.Errorf("caserve: CA key: %w", err)
	}
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256, crypto.SHA384, crypto.SHA512} {
		nh := h.New()
		nh.Write(issuer.RawSubject)
		s.nameHash[h] = nh.Sum(nil)
		kh := h.New()
		kh.Write(keyBits)
		s.keyHash[h] = kh.Sum(nil)
	}
	s.responses = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authd_ocsp_responses_total",
		Help: "OCSP responses by certificate status (good, revoked, unknown) or error status.",
	}, []string{"status"})
	if cfg.Registry != nil {
		if err := cfg.Registry.Register(s.responses); err != nil {
			return nil, fmt.Errorf("caserve: metrics: %w", err)
		}
	}
	return s, nil
}

// checkDelegated applies RFC 6960 4.2.2.2 to a delegated responder.
func checkDelegated(rc, issuer *x509.Certificate) error {
	if err := rc.CheckSignatureFrom(issuer); err != nil {
		return fmt.Errorf("caserve: the OCSP responder certificate is not issued by the CA: %w", err)
	}
	for _, eku := range rc.ExtKeyUsage {
		if eku == x509.ExtKeyUsageOCSPSigning {
			return nil
		}
	}
	return errors.New("caserve: the OCSP responder certificate lacks id-kp-OCSPSigning")
}

// Register adds the CRL and CA certificate endpoints and the OCSP POST
// endpoint to mux. OCSP GETs (the request in the path) are served by
// Wrap, in front of the mux, because a base64 request may contain "//",
// which the mux would clean away.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathCRL, s.handleCRL)
	mux.HandleFunc("GET "+PathCA, s.handleCA)
	mux.HandleFunc("POST "+PathOCSP, s.handleOCSPPost)
}

// Wrap serves GET PathOCSP/<base64 request> and passes everything else to
// next.
func (s *Service) Wrap(next http.Handler) http.Handler {
	prefix := PathOCSP + "/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.EscapedPath()
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(raw, prefix) {
			s.handleOCSPGet(w, r, strings.TrimPrefix(raw, prefix))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Service) handleCRL(w http.ResponseWriter, r *http.Request) {
	crl, err := s.cfg.CA.CRL(r.Context())
	if err != nil {
		s.cfg.Logger.ErrorContext(r.Context(), "CRL unavailable", "err", err)
		http.Error(w, "CRL unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/pkix-crl")
	// Regenerated at once after a revocation: caches must ask again.
	h.Set("Cache-Control", "no-cache")
	h.Set("Last-Modified", crl.ThisUpdate.UTC().Format(http.TimeFormat))
	h.Set("Content-Length", strconv.Itoa(len(crl.DER)))
	_, _ = w.Write(crl.DER)
}

func (s *Service) handleCA(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/pkix-cert")
	_, _ = w.Write(s.issuer.Raw)
}

func (s *Service) handleOCSPPost(w http.ResponseWriter, r *http.Request) {
	if ct := r.Header.Get("Content-Type"); ct != "application/ocsp-request" {
		http.Error(w, "Content-Type must be application/ocsp-request", http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		s.writeOCSP(w, r, errorResponse(ocsp.Malformed), "malformed", 0)
		return
	}
	der, status := s.Respond(r.Context(), body)
	s.writeOCSP(w, r, der, status, 0)
}

func (s *Service) handleOCSPGet(w http.ResponseWriter, r *http.Request, escaped string) {
	der, err := decodeGetRequest(escaped)
	if err != nil {
		s.writeOCSP(w, r, errorResponse(ocsp.Malformed), "malformed", 0)
		return
	}
	resp, status := s.Respond(r.Context(), der)
	// A GET answer without a nonce may be cached by HTTP caches until
	// its nextUpdate (RFC 5019 6); with no nextUpdate, not at all.
	s.writeOCSP(w, r, resp, status, s.cfg.OCSPValidity)
}

// decodeGetRequest undoes the URL and base64 encodings of RFC 6960 A.1.
func decodeGetRequest(escaped string) ([]byte, error) {
	if len(escaped) > 2*maxRequestBytes {
		return nil, ErrMalformedRequest
	}
	s, err := url.PathUnescape(escaped)
	if err != nil {
		return nil, err
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if der, err := enc.DecodeString(s); err == nil {
			return der, nil
		}
	}
	return nil, ErrMalformedRequest
}

func (s *Service) writeOCSP(w http.ResponseWriter, r *http.Request, der []byte, status string, maxAge time.Duration) {
	s.responses.WithLabelValues(status).Inc()
	h := w.Header()
	h.Set("Content-Type", "application/ocsp-response")
	h.Set("Content-Length", strconv.Itoa(len(der)))
	if maxAge > 0 && status != "malformed" && status != "internal_error" && status != "unauthorized" {
		h.Set("Cache-Control", fmt.Sprintf("max-age=%d, public, no-transform, must-revalidate", int(maxAge.Seconds())))
	} else {
		h.Set("Cache-Control", "no-cache, no-store")
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(der)
}

// Respond answers one DER OCSP request with a DER OCSP response, which is
// always something to send: malformedRequest for a request that does not
// parse, unauthorized for a certificate of another CA, internalError when
// the store fails (the relying party then falls back to the CRL), and
// otherwise a signed good, revoked or unknown. status names the outcome
// for logs and metrics.
func (s *Service) Respond(ctx context.Context, der []byte) (resp []byte, status string) {
	req, err := ParseOCSPRequest(der)
	if err != nil {
		s.cfg.Logger.DebugContext(ctx, "OCSP request refused", "err", err)
		return errorResponse(ocsp.Malformed), "malformed"
	}
	if !bytes.Equal(req.IssuerNameHash, s.nameHash[req.HashAlg]) || !bytes.Equal(req.IssuerKeyHash, s.keyHash[req.HashAlg]) {
		return errorResponse(ocsp.Unauthorized), "unauthorized"
	}
	now := s.cfg.Now()
	st := certStatus{thisUpdate: now}
	if s.cfg.OCSPValidity > 0 {
		st.nextUpdate = now.Add(s.cfg.OCSPValidity)
	}
	rec, err := s.cfg.CA.Lookup(ctx, req.Serial)
	switch {
	case errors.Is(err, registration.ErrNotFound), errors.Is(err, registration.ErrInvalid):
		st.status, status = ocsp.Unknown, "unknown"
	case err != nil:
		s.cfg.Logger.ErrorContext(ctx, "OCSP: reading the certificate's status", "serial", req.Serial.Text(16), "err", err)
		return errorResponse(ocsp.InternalError), "internal_error"
	case rec.Revoked():
		st.status, status = ocsp.Revoked, "revoked"
		st.revokedAt, st.reason = rec.RevokedAt, int(rec.Reason)
		st.hasReason = rec.Reason != registration.ReasonUnspecified
	default:
		st.status, status = ocsp.Good, "good"
	}
	out, err := buildResponse(s.cfg.Responder, s.embed, req, st, now)
	if err != nil {
		s.cfg.Logger.ErrorContext(ctx, "OCSP: signing the response", "err", err)
		return errorResponse(ocsp.InternalError), "internal_error"
	}
	return out, status
}
