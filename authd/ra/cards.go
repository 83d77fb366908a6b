package ra

import (
	"context"
	"crypto/x509"
	"math/big"
	"net/http"

	"github.com/carespine/spineauth/registration"
)

// KeyBody is the body of card issue and renewal: the public key that was
// generated on the card (DER SubjectPublicKeyInfo, base64 in JSON). The
// private key never leaves the card.
type KeyBody struct {
	PublicKey []byte `json:"public_key"`
	Reason    string `json:"reason,omitempty"`
}

// CardAnswer is the answer to issue and renewal: the card and the
// certificate to write to it.
type CardAnswer struct {
	Card        CardView `json:"card"`
	Certificate []byte   `json:"certificate"` // DER, base64 in JSON
}

// CancelAnswer is the answer to a cancellation.
type CancelAnswer struct {
	Card          CardView `json:"card"`
	Revoked       bool     `json:"revoked"`
	SessionsEnded int      `json:"sessions_ended"`
}

const maxKeyBytes = 4 << 10

func (s *Service) parseKey(w http.ResponseWriter, r *http.Request) (*KeyBody, any, *Error) {
	var req KeyBody
	if e := decode(w, r, &req); e != nil {
		return nil, nil, e
	}
	if len(req.PublicKey) == 0 || len(req.PublicKey) > maxKeyBytes {
		return nil, nil, fail(http.StatusBadRequest, "bad_request", "public_key must be a DER SubjectPublicKeyInfo of at most %d bytes", maxKeyBytes)
	}
	pub, err := x509.ParsePKIXPublicKey(req.PublicKey)
	if err != nil {
		return nil, nil, fail(http.StatusBadRequest, "bad_request", "public_key does not parse as a SubjectPublicKeyInfo")
	}
	return &req, pub, nil
}

func (s *Service) caReady() *Error {
	if s.d.CA == nil {
		return fail(http.StatusServiceUnavailable, "ca_unavailable", "this authd has no card CA configured")
	}
	return nil
}

func (s *Service) issueCard(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	req, pub, e := s.parseKey(w, r)
	if e != nil {
		return 0, nil, e
	}
	t, e := s.personTarget(ctx, r.PathValue("uid"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "issue_card", t)
	if e != nil {
		return 0, nil, e
	}
	if e := s.caReady(); e != nil {
		return 0, nil, e
	}
	p, err := s.d.Store.Person(ctx, t.UID)
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	if p.Status != registration.PersonActive {
		return 0, nil, fail(http.StatusConflict, "conflict", "the person is %s; cards are issued to active people only", p.Status)
	}
	cert, err := s.d.CA.Issue(ctx, p.UID, p.Name, pub)
	if err != nil {
		return 0, nil, &Error{Status: http.StatusServiceUnavailable, Code: "ca_unavailable", Message: "the card CA could not issue the certificate", Err: err}
	}
	card, err := registration.NewCard(cert, p.UID, s.d.Now())
	if err == nil {
		a := s.entry(act, d, "issue_card", p.UID, card.ID, req.Reason,
			details(map[string]string{"cert_serial": card.CertSerial, "cert_not_after": card.CertNotAfter.Format("2006-01-02T15:04:05Z")}))
		err = s.d.Store.IssueCard(ctx, card, a)
	}
	if err != nil {
		// The certificate exists but no card carries it: withdraw it.
		if rerr := s.d.CA.Revoke(context.WithoutCancel(ctx), cert.SerialNumber); rerr != nil {
			s.log.ErrorContext(ctx, "could not revoke an unused certificate", "serial", cert.SerialNumber.Text(16), "err", rerr)
		}
		return 0, nil, storeError(err, "the card")
	}
	return http.StatusCreated, CardAnswer{Card: cardView(card), Certificate: cert.Raw}, nil
}

// cardTarget describes a card's holder for the policy.
func (s *Service) cardTarget(ctx context.Context, id string) (*registration.Card, target, *Error) {
	c, err := s.d.Store.Card(ctx, id)
	if err != nil {
		return nil, target{}, storeError(err, "the card")
	}
	t, e := s.personTarget(ctx, c.UID)
	return c, t, e
}

func (s *Service) renewCard(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	req, pub, e := s.parseKey(w, r)
	if e != nil {
		return 0, nil, e
	}
	c, t, e := s.cardTarget(ctx, r.PathValue("id"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "renew_card", t)
	if e != nil {
		return 0, nil, e
	}
	if e := s.caReady(); e != nil {
		return 0, nil, e
	}
	if c.Status != registration.CardActive {
		return 0, nil, fail(http.StatusConflict, "conflict", "the card is %s; only an active card is renewed", c.Status)
	}
	if opens := c.CertNotAfter.Add(-s.d.RenewWindow); s.d.Now().Before(opens) {
		return 0, nil, fail(http.StatusConflict, "renewal_not_open", "renewal opens %s before the certificate expires", s.d.RenewWindow)
	}
	p, err := s.d.Store.Person(ctx, c.UID)
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	cert, err := s.d.CA.Issue(ctx, p.UID, p.Name, pub)
	if err != nil {
		return 0, nil, &Error{Status: http.StatusServiceUnavailable, Code: "ca_unavailable", Message: "the card CA could not issue the certificate", Err: err}
	}
	serial, err := registration.SerialHex(cert.SerialNumber)
	var renewed *registration.Card
	if err == nil {
		a := s.entry(act, d, "renew_card", c.UID, c.ID, req.Reason,
			details(map[string]string{"old_serial": c.CertSerial, "cert_serial": serial}))
		renewed, err = s.d.Store.RenewCard(ctx, c.ID, registration.CardRenewal{CertSerial: serial,
			CertFingerprint: registration.Fingerprint(cert.Raw), CertNotAfter: cert.NotAfter}, a)
	}
	if err != nil {
		if rerr := s.d.CA.Revoke(context.WithoutCancel(ctx), cert.SerialNumber); rerr != nil {
			s.log.ErrorContext(ctx, "could not revoke an unused certificate", "serial", cert.SerialNumber.Text(16), "err", rerr)
		}
		return 0, nil, storeError(err, "the card")
	}
	// The old certificate is superseded.
	if old, ok := new(big.Int).SetString(c.CertSerial, 16); ok {
		if err := s.d.CA.Revoke(context.WithoutCancel(ctx), old); err != nil {
			s.log.ErrorContext(ctx, "could not revoke the superseded certificate", "card", c.ID, "err", err)
		}
	}
	s.endCardSessions(ctx, c.ID, "certificate renewed")
	return http.StatusOK, CardAnswer{Card: cardView(*renewed), Certificate: cert.Raw}, nil
}

func (s *Service) cancelCard(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req ReasonBody
	if e := decode(w, r, &req); e != nil {
		return 0, nil, e
	}
	if req.Reason == "" {
		return 0, nil, fail(http.StatusBadRequest, "bad_request", "a reason is required")
	}
	c, t, e := s.cardTarget(ctx, r.PathValue("id"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "cancel_card", t)
	if e != nil {
		return 0, nil, e
	}
	if c.Status == registration.CardCancelled {
		return 0, nil, fail(http.StatusConflict, "conflict", "the card is already cancelled")
	}
	// Revoke first: if that fails nothing changes and the RA can retry;
	// if the store fails after it, the certificate is revoked anyway.
	revoked := false
	if s.d.CA != nil {
		serial, ok := new(big.Int).SetString(c.CertSerial, 16)
		if !ok {
			return 0, nil, &Error{Status: http.StatusInternalServerError, Code: "internal_error", Message: "the card's serial is corrupt"}
		}
		if err := s.d.CA.Revoke(ctx, serial); err != nil {
			return 0, nil, &Error{Status: http.StatusServiceUnavailable, Code: "ca_unavailable", Message: "the card CA could not revoke the certificate; nothing was changed", Err: err}
		}
		revoked = true
	}
	a := s.entry(act, d, "cancel_card", c.UID, c.ID, req.Reason,
		details(map[string]string{"cert_serial": c.CertSerial, "revoked": boolString(revoked)}))
	if err := s.d.Store.CancelCard(ctx, c.ID, a); err != nil {
		return 0, nil, storeError(err, "the card")
	}
	n := s.endCardSessions(ctx, c.ID, "card cancelled")
	c.Status = registration.CardCancelled
	return http.StatusOK, CancelAnswer{Card: cardView(*c), Revoked: revoked, SessionsEnded: n}, nil
}

// unlockCard authorises and audits a PIN reset. The reset itself is done
// at the card with the token's security officer PIN (ractl card unlock),
// which the card, not authd, holds.
func (s *Service) unlockCard(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req ReasonBody
	if e := decode(w, r, &req); e != nil {
		return 0, nil, e
	}
	if req.Reason == "" {
		return 0, nil, fail(http.StatusBadRequest, "bad_request", "a reason is required")
	}
	c, t, e := s.cardTarget(ctx, r.PathValue("id"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "unlock_card", t)
	if e != nil {
		return 0, nil, e
	}
	if c.Status == registration.CardCancelled {
		return 0, nil, fail(http.StatusConflict, "conflict", "the card is cancelled; issue a new one")
	}
	if _, err := s.d.Store.AppendAudit(ctx, s.entry(act, d, "unlock_card", c.UID, c.ID, req.Reason, "")); err != nil {
		return 0, nil, storeError(err, "the audit trail")
	}
	return http.StatusOK, map[string]any{"card": cardView(*c), "unlock_authorised": true, "decision_id": d.id}, nil
}

// endCardSessions ends the sessions opened with a card.
func (s *Service) endCardSessions(ctx context.Context, id, why string) int {
	n, err := s.d.Sessions.DeleteCard(context.WithoutCancel(ctx), id)
	if err != nil {
		s.log.ErrorContext(ctx, "could not end card sessions", "card", id, "why", why, "err", err)
		return 0
	}
	s.log.InfoContext(ctx, "card sessions ended", "card", id, "why", why, "count", n)
	return n
}

func (s *Service) audit(ctx context.Context, act *actor, r *http.Request, _ http.ResponseWriter) (int, any, *Error) {
	after, e := queryInt(r, "after", 0)
	if e != nil {
		return 0, nil, e
	}
	limit, e := queryInt(r, "limit", 500)
	if e != nil {
		return 0, nil, e
	}
	if _, e := s.decide(ctx, act, "read_audit", target{}); e != nil {
		return 0, nil, e
	}
	head, err := s.d.Store.AuditHead(ctx)
	if err != nil {
		return 0, nil, storeError(err, "the audit trail")
	}
	entries, err := s.d.Store.AuditEntries(ctx, registration.AuditFilter{AfterSeq: after, Limit: int(min(limit, 1000))})
	if err != nil {
		return 0, nil, storeError(err, "the audit trail")
	}
	out := make([]AuditEntryView, 0, len(entries))
	for _, a := range entries {
		out = append(out, AuditView(a))
	}
	return http.StatusOK, AuditPage{Head: AuditHeadView{Seq: head.Seq, Hash: head.Hash}, Entries: out}, nil
}

// AuditPage is the answer to GET /v1/ra/audit.
type AuditPage struct {
	Head    AuditHeadView    `json:"head"`
	Entries []AuditEntryView `json:"entries"`
}

// AuditHeadView is the recorded end of the chain.
type AuditHeadView struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

func boolString(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
