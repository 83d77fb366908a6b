package certverify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"time"
)

// Config is what a Verifier needs. Roots is required; everything else has a
// safe default.
type Config struct {
	// Roots are the trust anchors. Intermediates are untrusted certificates
	// offered to the path builder with every verification.
	Roots         []*x509.Certificate
	Intermediates []*x509.Certificate
	// CRLs are revocation lists known up front (from files). Their
	// signatures are checked on use like any other CRL.
	CRLs []*x509.RevocationList

	Revocation RevocationConfig
	// Paths holds the RFC 5280 6.1.1 policy inputs; the zero value is
	// RFC 5280's default (any policy, nothing required or inhibited).
	Paths PathConfig
	// Login holds the deployment's extra requirements for the leaf; the
	// zero value requires nothing beyond RFC 5280.
	Login LoginPolicy

	Now    func() time.Time // default time.Now
	Logger *slog.Logger     // default: discard
	// HTTPClient is used for CRL distribution points and OCSP; default is
	// a client with the revocation timeout.
	HTTPClient *http.Client
}

// RevocationConfig says how revocation is established.
type RevocationConfig struct {
	// Check turns revocation checking on for every certificate in the path
	// (the trust anchor excepted).
	Check bool
	// Network allows fetching CRLs from distribution points and asking
	// OCSP responders. Without it only Config.CRLs are consulted.
	Network bool
	// SoftFail accepts a certificate whose status cannot be established
	// (and logs a warning). The default, hard-fail, refuses it.
	SoftFail bool
	// OCSPResponder overrides the OCSP URL in certificates.
	OCSPResponder string
	// OCSPNonce sends a nonce with OCSP requests and requires it back.
	OCSPNonce bool
	// Timeout bounds each CRL download and OCSP request (default 5s).
	Timeout time.Duration
}

// PathConfig are the RFC 5280 6.1.1 (c), (e), (f), (g) inputs.
type PathConfig struct {
	InitialPolicies []x509.OID // empty means anyPolicy
	RequireExplicit bool
	InhibitMapping  bool
	InhibitAny      bool
}

// LoginPolicy is what a deployment requires of a login certificate on top
// of a valid path.
type LoginPolicy struct {
	KeyUsage         x509.KeyUsage // bits that must all be set on the leaf
	ExtKeyUsage      []x509.OID    // the leaf must assert each (or anyExtendedKeyUsage)
	RequiredPolicies []x509.OID    // the leaf's valid policies must include each
}

func (l LoginPolicy) isZero() bool {
	return l.KeyUsage == 0 && len(l.ExtKeyUsage) == 0 && len(l.RequiredPolicies) == 0
}

// Result describes a successful verification.
type Result struct {
	// Chain is the validated path, leaf first, ending with the trust anchor.
	// A certificate whose DSA key inherits its parameters (RFC 3279 2.3.2)
	// appears as a copy whose PublicKey carries them.
	Chain []*x509.Certificate
	// Policies is the user-constrained policy set of the path.
	Policies []x509.OID
	// Revocation says, per certificate of Chain except the anchor, how its
	// status was established: "crl", "ocsp", "unchecked" or "unknown"
	// (soft-fail).
	Revocation []string
}

// Verifier verifies certificates. It is safe for concurrent use.
type Verifier struct {
	roots         []*x509.Certificate
	intermediates []*x509.Certificate
	crls          []*x509.RevocationList
	rev           RevocationConfig
	paths         policyOptions
	login         LoginPolicy
	now           func() time.Time
	log           *slog.Logger
	sigs          sigCache
	fetcher       *crlFetcher // nil without network
	ocsp          *ocspClient // nil without network
}

// maxSignerDepth bounds recursion when a CRL is signed by a certificate
// that itself needs validating (RFC 5280 6.3.3 (f)).
const maxSignerDepth = 3

// New builds a Verifier. It reports every configuration problem at once.
func New(cfg Config) (*Verifier, error) {
	var errs []error
	if len(cfg.Roots) == 0 {
		errs = append(errs, errors.New("certverify: at least one trust anchor is required"))
	}
	if cfg.Revocation.Timeout < 0 {
		errs = append(errs, errors.New("certverify: revocation timeout must not be negative"))
	}
	if cfg.Revocation.Network && !cfg.Revocation.Check {
		errs = append(errs, errors.New("certverify: revocation network access needs revocation checking on"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	v := &Verifier{
		roots:         slices.Clone(cfg.Roots),
		intermediates: slices.Clone(cfg.Intermediates),
		crls:          slices.Clone(cfg.CRLs),
		rev:           cfg.Revocation,
		paths: policyOptions{
			InitialPolicies: cfg.Paths.InitialPolicies,
			RequireExplicit: cfg.Paths.RequireExplicit,
			InhibitMapping:  cfg.Paths.InhibitMapping,
			InhibitAny:      cfg.Paths.InhibitAny,
		},
		login: cfg.Login,
		now:   cfg.Now,
		log:   cfg.Logger,
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.log == nil {
		v.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if v.rev.Timeout == 0 {
		v.rev.Timeout = 5 * time.Second
	}
	if cfg.Revocation.Network {
		fc := fetchConfig{Client: cfg.HTTPClient, Timeout: v.rev.Timeout, Now: v.now, Logger: v.log}
		v.fetcher = newCRLFetcher(fc)
		v.ocsp = newOCSPClient(ocspConfig{fetchConfig: fc, Responder: v.rev.OCSPResponder, Nonce: v.rev.OCSPNonce})
	}
	return v, nil
}

// Close stops background CRL refreshes.
func (v *Verifier) Close() {
	if v.fetcher != nil {
		v.fetcher.Close()
	}
	if v.ocsp != nil {
		v.ocsp.Close()
	}
}

// Verify checks leaf at the current time; chain holds untrusted
// certificates the client presented (in any order).
func (v *Verifier) Verify(ctx context.Context, leaf *x509.Certificate, chain []*x509.Certificate) (*Result, error) {
	return v.VerifyAt(ctx, leaf, chain, v.now())
}

// VerifyAt checks leaf as of time at. It tries candidate paths in order of
// preference and returns the first that is valid; otherwise the refusal of
// the first candidate (or why none could be built).
func (v *Verifier) VerifyAt(ctx context.Context, leaf *x509.Certificate, chain []*x509.Certificate, at time.Time) (*Result, error) {
	pool := v.intermediates
	if len(chain) > 0 {
		pool = append(slices.Clone(chain), v.intermediates...)
	}
	return v.verify(ctx, leaf, v.roots, pool, at, 0)
}

func (v *Verifier) verify(ctx context.Context, leaf *x509.Certificate, roots, pool []*x509.Certificate, at time.Time, signerDepth int) (*Result, error) {
	b := &pathBuilder{roots: roots, pool: pool, sigs: &v.sigs}
	var (
		result   *Result
		firstErr error
	)
	buildErr := b.build(leaf, func(p certPath) bool {
		res, err := v.checkPath(ctx, p, pool, at, signerDepth)
		if err == nil {
			result = res
			return true
		}
		if firstErr == nil {
			firstErr = err
		}
		v.log.Debug("candidate path refused", "path", pathString(p), "err", err)
		return ctx.Err() != nil
	})
	switch {
	case result != nil:
		return result, nil
	case firstErr != nil:
		return nil, firstErr
	default:
		return nil, newError(ReasonUntrusted, -1, buildErr, "no certification path to a trusted root")
	}
}

// checkPath validates one candidate path fully: RFC 5280 6.1, the login
// policy (for the top-level target only) and revocation.
func (v *Verifier) checkPath(ctx context.Context, p certPath, pool []*x509.Certificate, at time.Time, signerDepth int) (*Result, error) {
	popts := v.paths
	if signerDepth > 0 {
		popts = policyOptions{} // a CRL signer is validated with RFC 5280 defaults
	}
	out, err := validatePath(p, at, popts, &v.sigs)
	if err != nil {
		return nil, err
	}
	p = out.path // DSA keys that inherit parameters completed, for CRL signatures
	if signerDepth == 0 {
		if err := v.checkLogin(p.certs[0], out.policies); err != nil {
			return nil, err
		}
	}
	res := &Result{
		Chain:    append(slices.Clone(p.certs), p.anchor),
		Policies: out.policies,
	}
	res.Revocation, err = v.checkRevocation(ctx, p, pool, at, signerDepth)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// checkLogin applies the deployment's login policy to a validated leaf.
func (v *Verifier) checkLogin(leaf *x509.Certificate, policies []x509.OID) error {
	if v.login.isZero() {
		return nil
	}
	if missing := v.login.KeyUsage &^ leaf.KeyUsage; missing != 0 {
		return newError(ReasonUsage, 0, nil, "certificate key usage does not allow login (missing %s)", keyUsageString(missing))
	}
	for _, want := range v.login.ExtKeyUsage {
		if !hasEKU(leaf, want) {
			return newError(ReasonUsage, 0, nil, "certificate is not valid for extended key usage %s", want)
		}
	}
	for _, want := range v.login.RequiredPolicies {
		if !slices.ContainsFunc(leaf.Policies, want.Equal) || !policySetAllows(policies, want) {
			return newError(ReasonUsage, 0, nil, "certificate does not carry required policy %s", want)
		}
	}
	return nil
}

func policySetAllows(set []x509.OID, want x509.OID) bool {
	return slices.ContainsFunc(set, func(o x509.OID) bool { return o.Equal(want) || o.Equal(anyPolicyOID) })
}

// checkRevocation establishes the status of every certificate in the path
// except the trust anchor, issuer side first so that a revoked CA is
// reported as such.
func (v *Verifier) checkRevocation(ctx context.Context, p certPath, pool []*x509.Certificate, at time.Time, signerDepth int) ([]string, error) {
	how := make([]string, p.n())
	if !v.rev.Check {
		for i := range how {
			how[i] = "unchecked"
		}
		return how, nil
	}
	for idx := p.n() - 1; idx >= 0; idx-- {
		c, issuer := p.certs[idx], p.issuerOf(idx)
		res, source := v.status(ctx, p, pool, c, issuer, at, signerDepth)
		switch res.status {
		case statusRevoked:
			return nil, newError(ReasonRevoked, idx, res.err, "certificate %q was revoked at %s (%s)",
				describeName(c.RawSubject), res.revokedAt.UTC().Format(time.RFC3339), crlReasonString(res.reason))
		case statusGood:
			how[idx] = source
		default:
			if !v.rev.SoftFail {
				return nil, newError(ReasonRevocationUnavailable, idx, res.err,
					"revocation status of %q could not be established", describeName(c.RawSubject))
			}
			v.log.Warn("revocation status unknown; accepted under soft-fail",
				"subject", describeName(c.RawSubject), "serial", c.SerialNumber.String(), "err", res.err)
			how[idx] = "unknown"
		}
	}
	return how, nil
}

// status asks OCSP (when allowed and available) and then CRLs about one
// certificate.
func (v *Verifier) status(ctx context.Context, p certPath, pool []*x509.Certificate, c, issuer *x509.Certificate, at time.Time, signerDepth int) (revResult, string) {
	var ocspErr error
	if v.ocsp != nil && (v.rev.OCSPResponder != "" || len(c.OCSPServer) > 0) {
		res := v.ocsp.check(ctx, c, issuer, at)
		if res.status != statusUnknown {
			return res, "ocsp"
		}
		ocspErr = res.err
		v.log.Info("OCSP gave no answer; trying CRLs", "subject", describeName(c.RawSubject), "err", res.err)
	}
	crls := v.crls
	if v.fetcher != nil {
		for _, url := range c.CRLDistributionPoints {
			crl, err := v.fetcher.fetch(ctx, url)
			if err != nil {
				v.log.Info("CRL download failed", "url", url, "err", err)
				continue
			}
			crls = append(slices.Clip(crls), crl)
		}
	}
	in := &crlInput{
		at:        at,
		crls:      crls,
		pool:      append(slices.Clone(p.certs), pool...),
		useDeltas: true,
		sigs:      &v.sigs,
		verifySigner: func(ctx context.Context, signer *x509.Certificate) error {
			if signerDepth+1 > maxSignerDepth {
				return errors.New("CRL signer validation nested too deeply")
			}
			_, err := v.verify(ctx, signer, []*x509.Certificate{p.anchor}, pool, at, signerDepth+1)
			return err
		},
	}
	res := checkCRL(ctx, in, c, issuer)
	if res.status == statusUnknown && ocspErr != nil {
		res.err = errors.Join(res.err, fmt.Errorf("ocsp: %w", ocspErr))
	}
	return res, "crl"
}
