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

// auditRefusal records a refused login: the code, and the user the
// certificate claimed and the card, as far as the protocol got. A
// failure to record it is logged; the answer is a refusal anyway.
func (s *Service) auditRefusal(ctx context.Context, err error, uid, cardID, workstation string) {
	if s.deps.Audit == nil {
		return
	}
	var e *Error
	code := string(CodeInternal)
	if errors.As(err, &e) {
		code = string(e.Code)
	}
	a := registration.AuditEntry{
		At: s.deps.Now(), ActorUID: uid, Action: "login", Outcome: registration.AuditDenied, SubjectUID: uid,
		Target: cardID, Reason: code,
	}
	if workstationPattern.MatchString(workstation) {
		a.Details = auditDetails(map[string]string{"workstation": workstation})
	}
	if _, aerr := s.deps.Audit.AppendAudit(context.WithoutCancel(ctx), a); aerr != nil {
		s.log.ErrorContext(ctx, "login refusal could not be audited", "code", code, "err", aerr)
	}
}

func auditDetails(kv map[string]string) string {
	b, _ := json.Marshal(kv) // a map[string]string always encodes
	return string(b)
}
