package ra

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"net/http"
	"strconv"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/registration/cardca"
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

// CancelBody is the body of a cancellation.
type CancelBody struct {
	Reason string `json:"reason"`
	// RevocationReason is the RFC 5280 reason name (default unspecified;
	// keyCompromise for a lost or stolen card).
	RevocationReason string `json:"revocation_reason,omitempty"`
}

// CancelAnswer is the answer to a cancellation.
type CancelAnswer struct {
	Card          CardView `json:"card"`
	Revoked       []string `json:"revoked_serials"`
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

// caError maps the card CA's refusals onto answers.
func caError(err error) *Error {
	switch r := cardca.ReasonOf(err); r {
	case "":
		return storeError(err, "the card")
	case cardca.ReasonKeyUnsupported:
		return &Error{Status: http.StatusBadRequest, Code: string(r), Message: "the card's key is not one the CA certifies", Err: err}
	default:
		return &Error{Status: http.StatusConflict, Code: string(r), Message: "the card CA refused: " + string(r), Err: err}
	}
}

// audited runs change with the audit entry a in its context, so that the
// store write it makes commits a with it, and makes sure the entry was
// written (appending it after the fact only if the change made no write,
// which the CA never does).
func (s *Service) audited(ctx context.Context, a registration.AuditEntry, change func(ctx context.Context) *Error) *Error {
	actx, pending, err := registration.WithAudit(ctx, a)
	if err != nil {
		return storeError(err, "the audit entry")
	}
	if e := change(actx); e != nil {
		return e
	}
	if _, ok := pending.Written(); !ok {
		s.log.WarnContext(ctx, "a change wrote no audit entry; appending it", "action", a.Action, "id", a.ID)
		if _, err := s.d.Store.AppendAudit(context.WithoutCancel(ctx), a); err != nil {
			return storeError(err, "the audit trail")
		}
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
	var issued *cardca.Issued
	// The card ID comes from the certificate's serial, which only the CA
	// knows: the entry names the person, and the key certified by the
	// SHA-256 of its SubjectPublicKeyInfo (the CA's record of the
	// certificate carries the same hash).
	a := s.entry(act, d, "issue_card", t.UID, "", req.Reason, details(map[string]string{"key_sha256": keyHash(pub)}))
	e = s.audited(ctx, a, func(ctx context.Context) *Error {
		var err error
		if issued, err = s.d.CA.IssueCard(ctx, t.UID, pub); err != nil {
			return s.caRefusal(ctx, act, d, "issue_card", t.UID, "", err)
		}
		return nil
	})
	if e != nil {
		return 0, nil, e
	}
	return http.StatusCreated, CardAnswer{Card: cardView(issued.Card), Certificate: issued.Cert.Raw}, nil
}

// keyHash is the hex SHA-256 of pub's SubjectPublicKeyInfo.
func keyHash(pub any) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// caRefusal audits a change the card CA refused after the policy allowed
// it (a renewal outside its window, a key used before), and answers it.
func (s *Service) caRefusal(ctx context.Context, act *actor, d *decision, action, subject, tgt string, err error) *Error {
	e := caError(err)
	if cardca.ReasonOf(err) == "" {
		return e
	}
	a := s.entry(act, d, action, subject, tgt, string(cardca.ReasonOf(err)), "")
	a.Outcome = registration.AuditDenied
	if _, aerr := s.d.Store.AppendAudit(context.WithoutCancel(ctx), a); aerr != nil {
		s.log.ErrorContext(ctx, "CA refusal could not be audited", "decision", d.id, "err", aerr)
	}
	return e
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
	var issued *cardca.Issued
	a := s.entry(act, d, "renew_card", c.UID, c.ID, req.Reason,
		details(map[string]string{"old_serial": c.CertSerial, "key_sha256": keyHash(pub)}))
	e = s.audited(ctx, a, func(ctx context.Context) *Error {
		var err error
		if issued, err = s.d.CA.RenewCard(ctx, c.ID, pub); err != nil {
			return s.caRefusal(ctx, act, d, "renew_card", c.UID, c.ID, err)
		}
		return nil
	})
	if e != nil {
		return 0, nil, e
	}
	// Sessions opened with the old certificate end; the holder logs in
	// again with the renewed card.
	s.endCardSessions(ctx, c.ID, "certificate renewed")
	return http.StatusOK, CardAnswer{Card: cardView(issued.Card), Certificate: issued.Cert.Raw}, nil
}

func (s *Service) cancelCard(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req CancelBody
	if e := decode(w, r, &req); e != nil {
		return 0, nil, e
	}
	if req.Reason == "" {
		return 0, nil, fail(http.StatusBadRequest, "bad_request", "a reason is required")
	}
	reason := registration.ReasonUnspecified
	if req.RevocationReason != "" {
		var err error
		if reason, err = registration.ParseRevocationReason(req.RevocationReason); err != nil {
			return 0, nil, storeError(err, "revocation_reason")
		}
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
	revoked := []string{}
	a := s.entry(act, d, "cancel_card", c.UID, c.ID, req.Reason,
		details(map[string]string{"cert_serial": c.CertSerial, "revocation_reason": reason.String()}))
	e = s.audited(ctx, a, func(ctx context.Context) *Error {
		if s.d.CA == nil {
			// No CA here: the card is cancelled (logins refuse it) but
			// nothing is revoked, and the answer says so.
			if err := s.d.Store.SetCardStatus(ctx, c.ID, registration.CardCancelled); err != nil {
				return storeError(err, "the card")
			}
			return nil
		}
		certs, err := s.d.CA.CancelCard(ctx, c.ID, reason)
		if err != nil {
			return s.caRefusal(ctx, act, d, "cancel_card", c.UID, c.ID, err)
		}
		for _, ic := range certs {
			revoked = append(revoked, ic.Serial)
		}
		return nil
	})
	if e != nil {
		return 0, nil, e
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
	d, e := s.decide(ctx, act, "read_audit", target{})
	if e != nil {
		return 0, nil, e
	}
	// The read is recorded before the head is read, so the page shows it.
	if e := s.auditRead(ctx, act, d, "read_audit", "", details(map[string]string{"after": strconv.FormatInt(after, 10)})); e != nil {
		return 0, nil, e
	}
	head, err := s.d.Store.AuditHead(ctx)
	if err != nil {
		return 0, nil, storeError(err, "the audit trail")
	}
	entries, err := s.d.Store.AuditEntries(ctx, registration.AuditFilter{AfterSeq: after, Limit: int(min(max(limit, 1), 1000))})
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
