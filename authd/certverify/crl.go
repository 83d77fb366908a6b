package certverify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"time"
)

// CRL validation, RFC 5280 section 6.3.3.
//
// The RFC's algorithm walks the certificate's distribution points and
// stops as soon as the reasons it has covered reach all-reasons or a CRL
// revokes the certificate, so its answer can depend on the order in which
// CRLs are met. This implementation looks at every CRL it is given and
// reaches the RFC's answer whatever the order; where orders would disagree
// it answers revoked or unknown, never good:
//
//   - Every CRL whose issuer and scope (6.3.3 (b)) cover the certificate,
//     that is usable (crlUsable), current and signed by an acceptable key
//     is a candidate. For each distribution point the certificate names,
//     and then, for CRLs that no distribution point selected, for the
//     implied one (cRLIssuer and reasons absent, name = the certificate
//     issuer and its issuerAltName, last paragraph of 6.3.3), the CRL's
//     interim reasons mask is computed as in (d) and the masks are joined.
//   - A complete CRL superseded by a higher-numbered one of the same
//     issuer, scope and signing key is dropped: only the newest of a series
//     counts, so a certificateHold released in a newer CRL is released.
//   - If any candidate (with its delta CRL, (i)-(k)) lists the certificate,
//     the certificate is revoked as soon as that CRL's signer validates.
//     If it lists the certificate but its signer does not validate, the
//     status is unknown, never good.
//   - Otherwise the certificate is good when candidates whose signers
//     validate cover all reasons ((e), (l)); signers are validated lazily,
//     cheapest first, and only for CRLs that add reasons.
//
// Decisions where the RFC leaves room:
//   - A CRL without nextUpdate is unusable. RFC 5280 5.1.2.5 requires
//     conforming issuers to include it, and without it nothing says when
//     the CRL stops being current.
//   - A complete CRL past its nextUpdate is usable only with a current
//     delta CRL that updates it (6.3.3 (a)(1)(i)); freshestCRL is not
//     required to find that delta.
//   - With useDeltas, a delta CRL that would update a complete CRL (same
//     issuer, scope, AKI and key; base <= complete number < delta number,
//     5.2.4) but is past its nextUpdate, or is unusable, makes that complete
//     CRL unusable unless a current delta also exists. A delta whose
//     thisUpdate is after the validation time is ignored.
//   - The CRL signer (f)(g): the certificate's issuer when its key verifies
//     the CRL; otherwise certificates from in.pool named as the CRL issuer,
//     whose subject key identifier (if any) agrees with the CRL's authority
//     key identifier and whose key verifies the CRL, each validated through
//     in.verifySigner. A signer whose key usage extension lacks cRLSign is
//     never accepted. A signer that is the certificate being checked (a CRL
//     signing certificate covered by the CRL it signs, PKITS 4.5.6 and
//     4.14.30) needs no further validation: its own path is the one being
//     validated, and validating it again would never end.
//   - A delta CRL is never used on its own (PKITS 4.15.1).
//   - removeFromCRL on a complete CRL entry, like on a delta entry, leaves
//     the certificate unrevoked (6.3.3 (j), (k)); certificateHold revokes.
//   - DistributionPoint and IDP names match as crlGeneralName.matches
//     says: URIs byte for byte, directory names under RFC 5280 7.1.

// crlInput is everything the CRL check of one certificate needs.
type crlInput struct {
	at   time.Time              // validation time
	crls []*x509.RevocationList // every CRL available (given files and fetched), complete and delta, any issuer
	pool []*x509.Certificate    // candidate CRL signer certificates (untrusted intermediates + certs of the path)
	// verifySigner validates a candidate CRL-signer certificate that is NOT the certificate's own
	// issuer: it must build a valid path to the same trust anchor as the path being checked,
	// including the signer's own revocation status (the caller bounds recursion). nil error = ok.
	verifySigner func(ctx context.Context, signer *x509.Certificate) error
	useDeltas    bool // process delta CRLs (6.3.3 (b)(2), (h)); the verifier passes true
	// sigs, when set, remembers CRL signature checks across verifications.
	sigs *sigCache
}

// Why a CRL did not count, or why no status could be established. They are
// found with errors.Is in revResult.err.
var (
	errCRLNone                 = errors.New("no usable CRL covers the certificate")
	errCRLReasons              = errors.New("usable CRLs do not cover all revocation reasons")
	errCRLScope                = errors.New("CRL scope does not include the certificate")
	errCRLNotYetValid          = errors.New("CRL thisUpdate is after the validation time")
	errCRLNoNextUpdate         = errors.New("CRL has no nextUpdate")
	errCRLStale                = errors.New("CRL nextUpdate is before the validation time")
	errCRLSignature            = errors.New("no acceptable certificate's key verifies the CRL signature")
	errCRLSignerKeyUsage       = errors.New("CRL signer's key usage does not include cRLSign")
	errCRLSignerInvalid        = errors.New("CRL signer certificate did not validate")
	errCRLDeltaStale           = errors.New("delta CRL nextUpdate is before the validation time")
	errCRLDeltaUnusable        = errors.New("delta CRL for this CRL is unusable")
	errCRLRevocationUnverified = errors.New("a CRL lists the certificate but its signer could not be validated")
	errCRLCertDistPoints       = errors.New("certificate's cRLDistributionPoints extension is malformed")
)

// maxCRLProblems bounds how many per-CRL problems an unknown result lists.
const maxCRLProblems = 16

// crlCandidate is a CRL that passed every check except the validation of
// its signer.
type crlCandidate struct {
	crl     *x509.RevocationList
	info    *crlInfo
	mask    reasonMask          // interim reasons mask, 6.3.3 (d)
	signers []*x509.Certificate // certificates whose key verifies the CRL, best first
	direct  bool                // a signer needs no validation (the issuer or the certificate itself)
	entry   *revokedEntry       // the entry revoking the certificate; nil if not revoked
}

// crlCheck is the state of one checkCRL call.
type crlCheck struct {
	ctx          context.Context
	in           *crlInput
	cert, issuer *x509.Certificate
	issuerNames  []crlGeneralName
	dps          []distPoint
	fallback     distPoint
	signerErr    map[string]error // verifySigner results, by certificate DER
	problems     []error
}

// checkCRL determines the revocation status of cert, whose issuer in the
// path being validated is issuer (already validated), from in.crls,
// following RFC 5280 6.3.3 as described at the top of this file. It
// returns statusRevoked (with revokedAt and reason), statusGood (all
// reasons covered, not revoked), or statusUnknown with err explaining why.
func checkCRL(ctx context.Context, in *crlInput, cert, issuer *x509.Certificate) revResult {
	if err := ctx.Err(); err != nil {
		return revResult{status: statusUnknown, err: err}
	}
	if in == nil || cert == nil || issuer == nil {
		return revResult{status: statusUnknown, err: errors.New("CRL check: missing input")}
	}
	dps, err := certDistPoints(cert)
	if err != nil {
		return revResult{status: statusUnknown, err: fmt.Errorf("%w: %w", errCRLCertDistPoints, err)}
	}
	c := &crlCheck{
		ctx: ctx, in: in, cert: cert, issuer: issuer,
		issuerNames: certIssuerNames(cert),
		dps:         dps,
		signerErr:   make(map[string]error),
	}
	c.fallback = distPoint{name: distPointName{present: true, full: c.issuerNames}}
	return c.run()
}

func (c *crlCheck) run() revResult {
	var cands []*crlCandidate
	for _, crl := range c.in.crls {
		if crl == nil {
			continue
		}
		if cand := c.candidate(crl); cand != nil {
			cands = append(cands, cand)
		}
	}
	cands = supersede(cands)
	// Signers that need no validation first: fewer verifySigner calls.
	slices.SortStableFunc(cands, func(a, b *crlCandidate) int {
		switch {
		case a.direct == b.direct:
			return 0
		case a.direct:
			return -1
		}
		return 1
	})

	unverified := false
	for _, cand := range cands {
		if cand.entry == nil {
			continue
		}
		if err := c.validateSigner(cand); err != nil {
			c.problem(cand.crl, err)
			unverified = true
			continue
		}
		return revResult{status: statusRevoked, revokedAt: cand.entry.revokedAt, reason: cand.entry.reason}
	}
	if unverified {
		return c.unknown(errCRLRevocationUnverified)
	}

	var possible reasonMask
	for _, cand := range cands {
		possible |= cand.mask
	}
	if possible != allReasons {
		if len(cands) == 0 {
			return c.unknown(errCRLNone)
		}
		return c.unknown(errCRLReasons)
	}
	var covered reasonMask
	for _, cand := range cands {
		if cand.mask&^covered == 0 {
			continue // 6.3.3 (e): adds no reason
		}
		if err := c.validateSigner(cand); err != nil {
			c.problem(cand.crl, err)
			continue
		}
		covered |= cand.mask
	}
	switch covered {
	case allReasons:
		return revResult{status: statusGood}
	case 0:
		return c.unknown(errCRLNone)
	}
	return c.unknown(errCRLReasons)
}

// candidate applies every check to a complete CRL except the validation
// of its signer. It returns nil (recording why, when the CRL concerns the
// certificate's issuer) if the CRL cannot be used for the certificate.
func (c *crlCheck) candidate(crl *x509.RevocationList) *crlCandidate {
	if !c.relevantIssuer(crl.RawIssuer) {
		return nil // some other issuer's CRL
	}
	info, err := analyzeCRL(crl)
	if err != nil {
		c.problem(crl, err)
		return nil
	}
	if info.isDelta {
		return nil // used only together with its complete CRL
	}
	mask, inScope := c.scope(crl, info)
	switch {
	case !inScope || mask == 0:
		c.problem(crl, errCRLScope)
		return nil
	case crl.ThisUpdate.After(c.in.at):
		c.problem(crl, errCRLNotYetValid)
		return nil
	case crl.NextUpdate.IsZero():
		c.problem(crl, errCRLNoNextUpdate)
		return nil
	}
	signers, err := c.signers(crl)
	if err != nil {
		c.problem(crl, err)
		return nil
	}
	var delta *x509.RevocationList
	var deltaInfo *crlInfo
	if c.in.useDeltas {
		if delta, deltaInfo, err = c.findDelta(crl, info, signers[0]); err != nil {
			c.problem(crl, err)
			return nil
		}
	}
	if c.in.at.After(crl.NextUpdate) && delta == nil {
		c.problem(crl, errCRLStale)
		return nil
	}
	cand := &crlCandidate{crl: crl, info: info, mask: mask, signers: signers}
	for _, s := range signers {
		cand.direct = cand.direct || c.needsNoValidation(s)
	}
	cand.entry = c.revokingEntry(crl, info, delta, deltaInfo)
	return cand
}

// relevantIssuer reports whether a CRL issued by name could be
// authoritative for the certificate: name is its issuer or the cRLIssuer
// of one of its distribution points.
func (c *crlCheck) relevantIssuer(name []byte) bool {
	if sameName(name, c.cert.RawIssuer) {
		return true
	}
	for _, dp := range c.dps {
		for _, dn := range directoryNames(dp.crlIssuer) {
			if sameName(name, dn) {
				return true
			}
		}
	}
	return false
}

// scope returns the CRL's interim reasons mask for the certificate, joined
// over the distribution points whose issuer and scope checks (6.3.3 (b))
// it passes; the implied distribution point applies only to CRLs no
// explicit one selected. inScope is false when none selects the CRL.
func (c *crlCheck) scope(crl *x509.RevocationList, info *crlInfo) (mask reasonMask, inScope bool) {
	for _, dp := range c.dps {
		if m, ok := c.dpScope(dp, crl, info); ok {
			mask, inScope = mask|m, true
		}
	}
	if !inScope {
		mask, inScope = c.dpScope(c.fallback, crl, info)
	}
	return mask, inScope
}

// dpScope applies 6.3.3 (b) and (d) to one distribution point.
func (c *crlCheck) dpScope(dp distPoint, crl *x509.RevocationList, info *crlInfo) (reasonMask, bool) {
	idp := info.idp
	// (b)(1): the CRL issuer.
	if len(dp.crlIssuer) > 0 {
		if !anyNameMatches([]crlGeneralName{directoryName(crl.RawIssuer)}, dp.crlIssuer) ||
			idp == nil || !idp.indirect {
			return 0, false
		}
	} else if !sameName(crl.RawIssuer, c.cert.RawIssuer) {
		return 0, false
	}
	// (b)(2): the issuing distribution point.
	if idp != nil {
		if idp.name.present {
			idpNames := idp.name.expand([][]byte{crl.RawIssuer})
			dpNames := dp.crlIssuer
			if dp.name.present {
				bases := directoryNames(dp.crlIssuer)
				if len(dp.crlIssuer) == 0 {
					bases = [][]byte{c.cert.RawIssuer}
				}
				dpNames = dp.name.expand(bases)
			}
			if !anyNameMatches(idpNames, dpNames) {
				return 0, false
			}
		}
		isCA := c.cert.BasicConstraintsValid && c.cert.IsCA
		if (idp.onlyUser && isCA) || (idp.onlyCA && !isCA) || idp.onlyAttribute {
			return 0, false
		}
	}
	// (d): the interim reasons mask.
	mask := allReasons
	if idp != nil && idp.hasReasons {
		mask &= idp.onlySomeReasons
	}
	if dp.hasReasons {
		mask &= dp.reasons
	}
	return mask, true
}

// signers returns the certificates that may have signed crl (6.3.3 (f),
// (g)): named as its issuer, whose key verifies its signature and whose key
// usage (if present) includes cRLSign. The issuer comes first; pool
// certificates must also have a subject key identifier that agrees with
// the CRL's authority key identifier, when both are present.
func (c *crlCheck) signers(crl *x509.RevocationList) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	kuRefused := false
	seen := make(map[string]bool)
	try := func(s *x509.Certificate, checkKeyID bool) {
		if s == nil || seen[string(s.Raw)] {
			return
		}
		seen[string(s.Raw)] = true
		if !sameName(s.RawSubject, crl.RawIssuer) {
			return
		}
		if checkKeyID && len(crl.AuthorityKeyId) > 0 && len(s.SubjectKeyId) > 0 &&
			!bytes.Equal(crl.AuthorityKeyId, s.SubjectKeyId) {
			return
		}
		if c.in.sigs.checkCRL(s, crl) != nil {
			return
		}
		if _, hasKU := certExtension(s, crlOIDKeyUsage); hasKU && s.KeyUsage&x509.KeyUsageCRLSign == 0 {
			kuRefused = true
			return
		}
		out = append(out, s)
	}
	try(c.issuer, false)
	try(c.cert, true)
	for _, s := range c.in.pool {
		try(s, true)
	}
	switch {
	case len(out) > 0:
		return out, nil
	case kuRefused:
		return nil, errCRLSignerKeyUsage
	}
	return nil, errCRLSignature
}

// needsNoValidation reports whether signer is the certificate's issuer
// (validated with the path) or the certificate itself.
func (c *crlCheck) needsNoValidation(signer *x509.Certificate) bool {
	return bytes.Equal(signer.Raw, c.issuer.Raw) || bytes.Equal(signer.Raw, c.cert.Raw)
}

// validateSigner reports whether one of cand's signers is trusted: it needs
// no validation, or in.verifySigner accepts it.
func (c *crlCheck) validateSigner(cand *crlCandidate) error {
	if cand.direct {
		return nil
	}
	var errs []error
	for _, s := range cand.signers {
		err, done := c.signerErr[string(s.Raw)]
		if !done {
			if err = c.ctx.Err(); err != nil {
				return err
			}
			if c.in.verifySigner == nil {
				err = errors.New("no CRL signer validation available")
			} else {
				err = c.in.verifySigner(c.ctx, s)
			}
			c.signerErr[string(s.Raw)] = err
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: %w", errCRLSignerInvalid, errors.Join(errs...))
}

// findDelta returns the delta CRL that updates the complete CRL base
// (6.3.3 (c), (h); 5.2.4), signed with the key of signer. With several,
// the highest-numbered current one wins.
func (c *crlCheck) findDelta(base *x509.RevocationList, baseInfo *crlInfo, signer *x509.Certificate) (*x509.RevocationList, *crlInfo, error) {
	if baseInfo.v1 || base.Number == nil {
		return nil, nil, nil
	}
	var (
		best          *x509.RevocationList
		bestInfo      *crlInfo
		stale, broken bool
	)
	for _, d := range c.in.crls {
		if d == nil || d == base {
			continue
		}
		if _, ok := crlExtension(d, crlOIDDeltaIndicator); !ok {
			continue
		}
		idp, _ := crlExtension(d, crlOIDIssuingDistPoint)
		if !sameName(d.RawIssuer, base.RawIssuer) || !bytes.Equal(idp, baseInfo.idpRaw) ||
			!bytes.Equal(d.AuthorityKeyId, base.AuthorityKeyId) {
			continue
		}
		if d.Number != nil && d.Number.Cmp(base.Number) <= 0 {
			continue // does not follow the complete CRL
		}
		if c.in.sigs.checkCRL(signer, d) != nil {
			continue
		}
		info, err := analyzeCRL(d)
		if err != nil {
			c.problem(d, err)
			broken = true
			continue
		}
		if info.base.Cmp(base.Number) > 0 {
			continue // needs a newer complete CRL
		}
		switch {
		case d.ThisUpdate.After(c.in.at):
			continue
		case d.NextUpdate.IsZero() || c.in.at.After(d.NextUpdate):
			stale = true
			continue
		}
		if best == nil || d.Number.Cmp(best.Number) > 0 {
			best, bestInfo = d, info
		}
	}
	switch {
	case broken:
		return nil, nil, errCRLDeltaUnusable
	case best != nil:
		return best, bestInfo, nil
	case stale:
		return nil, nil, errCRLDeltaStale
	}
	return nil, nil, nil
}

// revokingEntry applies 6.3.3 (i)-(k): the delta CRL's entry, if any,
// decides; otherwise the complete CRL's. removeFromCRL leaves the
// certificate unrevoked.
func (c *crlCheck) revokingEntry(crl *x509.RevocationList, info *crlInfo, delta *x509.RevocationList, deltaInfo *crlInfo) *revokedEntry {
	if delta != nil {
		if e := c.lookup(delta, deltaInfo); e != nil {
			if e.reason == crlReasonRemoveFromCRL {
				return nil
			}
			return e
		}
	}
	if e := c.lookup(crl, info); e != nil && e.reason != crlReasonRemoveFromCRL {
		return e
	}
	return nil
}

// lookup finds the certificate's entry in a CRL: same serial number and
// same certificate issuer (RFC 5280 5.3.3).
func (c *crlCheck) lookup(crl *x509.RevocationList, info *crlInfo) *revokedEntry {
	for i := range info.entries {
		e := &info.entries[i]
		if e.serial.Cmp(c.cert.SerialNumber) != 0 {
			continue
		}
		issuer := e.issuer
		if issuer == nil {
			issuer = []crlGeneralName{directoryName(crl.RawIssuer)}
		}
		if anyNameMatches(issuer, c.issuerNames) {
			return e
		}
	}
	return nil
}

// supersede drops each candidate for which a higher-numbered candidate of
// the same series (issuer, IDP and signing key) exists.
func supersede(cands []*crlCandidate) []*crlCandidate {
	out := make([]*crlCandidate, 0, len(cands))
	for _, a := range cands {
		newer := slices.ContainsFunc(cands, func(b *crlCandidate) bool {
			return b != a && a.crl.Number != nil && b.crl.Number != nil &&
				b.crl.Number.Cmp(a.crl.Number) > 0 &&
				bytes.Equal(a.info.idpRaw, b.info.idpRaw) &&
				bytes.Equal(a.signers[0].RawSubjectPublicKeyInfo, b.signers[0].RawSubjectPublicKeyInfo) &&
				sameName(a.crl.RawIssuer, b.crl.RawIssuer)
		})
		if !newer {
			out = append(out, a)
		}
	}
	return out
}

// problem records why a CRL did not count.
func (c *crlCheck) problem(crl *x509.RevocationList, err error) {
	if len(c.problems) < maxCRLProblems {
		c.problems = append(c.problems, fmt.Errorf("CRL by %q number %v: %w", crl.Issuer.String(), crl.Number, err))
	}
}

// unknown is the statusUnknown result: the main reason and the per-CRL
// problems behind it.
func (c *crlCheck) unknown(why error) revResult {
	return revResult{status: statusUnknown, err: errors.Join(append([]error{why}, c.problems...)...)}
}

// crlExtension returns the value of crl's extension id, if present.
func crlExtension(crl *x509.RevocationList, id asn1.ObjectIdentifier) ([]byte, bool) {
	for _, ext := range crl.Extensions {
		if ext.Id.Equal(id) {
			return ext.Value, true
		}
	}
	return nil, false
}

// sameName compares two DER Names, with a fast path for identical bytes.
func sameName(a, b []byte) bool {
	return bytes.Equal(a, b) || namesEqual(a, b)
}
