package login

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions"
)

// auditLogin records a successful login. Without an auditor it does
// nothing.
func (s *Service) auditLogin(ctx context.Context, sess *sessions.Session) error {
	if s.deps.Audit == nil {
		return nil
	}
	_, err := s.deps.Audit.AppendAudit(ctx, registration.AuditEntry{
		At: s.deps.Now(), ActorUID: sess.UserID, ActorRoleProfileID: sess.RoleProfileID,
		Action: "login", Outcome: registration.AuditDone, SubjectUID: sess.UserID, Target: sess.CardID,
		Details: auditDetails(map[string]string{"session": sess.ID, "workstation": sess.WorkstationID, "cert_serial": sess.CertSerial}),
	})
	return err
}

// auditRefusal records a refused login: the code, the card as far as the
// protocol got, and the user the certificate names. That user is the
// entry's subject (it shows in their history) only if the certificate is
// genuine (its path verified, or it was revoked by the CA); otherwise
// anyone could write a certificate naming them, and the claim is kept in
// the details only. A failure to record it is logged; the answer is a
// refusal anyway.
func (s *Service) auditRefusal(ctx context.Context, err error, uid string, genuine bool, cardID, workstation string) {
	if s.deps.Audit == nil {
		return
	}
	var e *Error
	code := string(CodeInternal)
	if errors.As(err, &e) {
		code = string(e.Code)
	}
	a := registration.AuditEntry{
		At: s.deps.Now(), Action: "login", Outcome: registration.AuditDenied, Target: cardID, Reason: code,
	}
	if genuine {
		a.ActorUID, a.SubjectUID = uid, uid
	}
	det := map[string]string{"claimed_uid": uid}
	if workstationPattern.MatchString(workstation) {
		det["workstation"] = workstation
	}
	a.Details = auditDetails(det)
	if _, aerr := s.deps.Audit.AppendAudit(context.WithoutCancel(ctx), a); aerr != nil {
		s.log.ErrorContext(ctx, "login refusal could not be audited", "code", code, "err", aerr)
	}
}

func auditDetails(kv map[string]string) string {
	b, _ := json.Marshal(kv) // a map[string]string always encodes
	return string(b)
}
