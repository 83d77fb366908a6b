package ra

import (
	"context"
	"errors"
	"net/http"

	"github.com/carespine/spineauth/registration"
)

// RegisterRequest is the body of POST /v1/ra/people.
type RegisterRequest struct {
	UID      string `json:"uid,omitempty"` // optional: a new user ID is made when empty
	Name     string `json:"name"`
	ODS      string `json:"org"` // the organisation the person is registered for
	Evidence struct {
		DocumentType registration.DocumentType `json:"document_type"`
		DocumentRef  string                    `json:"document_ref"`
	} `json:"evidence"`
	Reason string `json:"reason,omitempty"`
}

func (s *Service) registerPerson(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req RegisterRequest
	if e := decode(w, r, &req); e != nil {
		return 0, nil, e
	}
	if err := registration.ValidateODSCode(req.ODS); err != nil {
		return 0, nil, storeError(err, "org")
	}
	uid, generated := req.UID, req.UID == ""
	if generated {
		uid = newDigits(12)
	}
	d, e := s.decide(ctx, act, "register_person", target{UID: uid, Org: req.ODS, Orgs: []string{req.ODS}})
	if e != nil {
		return 0, nil, e
	}
	for attempt := 0; ; attempt++ {
		p := registration.Person{UID: uid, Name: req.Name, Status: registration.PersonActive}
		check := registration.IdentityCheck{UID: uid, ODS: req.ODS, DocumentType: req.Evidence.DocumentType,
			DocumentRef: req.Evidence.DocumentRef, CheckedBy: act.sess.UserID}
		a := s.entry(act, d, "register_person", uid, "", req.Reason,
			details(map[string]string{"org": req.ODS, "document_type": string(req.Evidence.DocumentType)}))
		err := s.d.Store.RegisterPerson(ctx, p, check, a)
		if generated && errors.Is(err, registration.ErrExists) && attempt < 3 {
			uid = newDigits(12) // same organisation, so the decision stands
			continue
		}
		if err != nil {
			return 0, nil, storeError(err, "the person")
		}
		break
	}
	return s.personDetail(ctx, uid, http.StatusCreated)
}

// personDetail answers with the full view of a person.
func (s *Service) personDetail(ctx context.Context, uid string, status int) (int, any, *Error) {
	p, err := s.d.Store.Person(ctx, uid)
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	v := personView(p)
	if v.Organisations, err = s.d.Store.PersonOrganisations(ctx, uid); err != nil {
		return 0, nil, storeError(err, "the person")
	}
	checks, err := s.d.Store.IdentityChecks(ctx, uid)
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	for _, c := range checks {
		v.IdentityChecks = append(v.IdentityChecks, IdentityCheckView{ODS: c.ODS, DocumentType: c.DocumentType,
			DocumentRef: c.DocumentRef, CheckedBy: c.CheckedBy, CheckedAt: c.CheckedAt})
	}
	rps, err := s.d.Store.RoleProfilesOf(ctx, uid)
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	for _, rp := range rps {
		pv := profileView(rp)
		if req, err := s.d.Store.RoleProfileRequest(ctx, rp.ID); err == nil {
			pv.RequestedBy = req.RequestedBy
		}
		v.RoleProfiles = append(v.RoleProfiles, pv)
	}
	cards, err := s.d.Store.CardsOf(ctx, uid)
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	for _, c := range cards {
		v.Cards = append(v.Cards, cardView(c))
	}
	return status, v, nil
}

func (s *Service) findPeople(ctx context.Context, act *actor, r *http.Request, _ http.ResponseWriter) (int, any, *Error) {
	limit, e := queryInt(r, "limit", 50)
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "find_people", target{})
	if e != nil {
		return 0, nil, e
	}
	// Only people of the actor's own organisation are listed.
	name := r.URL.Query().Get("name")
	people, err := s.d.Store.FindPeople(ctx, registration.PersonFilter{Name: name, ODS: act.profile.ODS, Limit: int(limit)})
	if err != nil {
		return 0, nil, storeError(err, "the search")
	}
	if e := s.auditRead(ctx, act, d, "find_people", "", details(map[string]string{"name": name, "found": itoa(len(people))})); e != nil {
		return 0, nil, e
	}
	out := make([]PersonView, 0, len(people))
	for i := range people {
		out = append(out, personView(&people[i]))
	}
	return http.StatusOK, map[string]any{"people": out}, nil
}

func (s *Service) viewPerson(ctx context.Context, act *actor, r *http.Request, _ http.ResponseWriter) (int, any, *Error) {
	t, e := s.personTarget(ctx, r.PathValue("uid"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "view_person", t)
	if e != nil {
		return 0, nil, e
	}
	status, body, e := s.personDetail(ctx, t.UID, http.StatusOK)
	if e != nil {
		return 0, nil, e
	}
	if e := s.auditRead(ctx, act, d, "view_person", t.UID, ""); e != nil {
		return 0, nil, e
	}
	return status, body, nil
}

// UpdateRequest is the body of PATCH /v1/ra/people/{uid}: the version
// read, and the fields to change.
type UpdateRequest struct {
	Version int                       `json:"version"`
	Name    string                    `json:"name,omitempty"`
	Status  registration.PersonStatus `json:"status,omitempty"`
	Reason  string                    `json:"reason"`
}

func (s *Service) updatePerson(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req UpdateRequest
	if e := decode(w, r, &req); e != nil {
		return 0, nil, e
	}
	if req.Reason == "" {
		return 0, nil, fail(http.StatusBadRequest, "bad_request", "a reason is required")
	}
	t, e := s.personTarget(ctx, r.PathValue("uid"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "update_person", t)
	if e != nil {
		return 0, nil, e
	}
	cur, err := s.d.Store.Person(ctx, t.UID)
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	p := registration.Person{UID: t.UID, Name: cur.Name, Status: cur.Status, Version: req.Version}
	if req.Name != "" {
		p.Name = req.Name
	}
	if req.Status != "" {
		p.Status = req.Status
	}
	a := s.entry(act, d, "update_person", t.UID, "", req.Reason,
		details(map[string]string{"name": p.Name, "status": string(p.Status), "version": itoa(req.Version)}))
	updated, err := s.d.Store.UpdatePerson(ctx, p, a)
	if errors.Is(err, registration.ErrConflict) {
		return 0, nil, &Error{Status: http.StatusConflict, Code: "version_conflict", Err: err,
			Message: "the person was changed by someone else since version " + itoa(req.Version) + "; read it again and redo the edit"}
	}
	if err != nil {
		return 0, nil, storeError(err, "the person")
	}
	if updated.Status != registration.PersonActive {
		s.endUserSessions(ctx, updated.UID, "person "+string(updated.Status))
	}
	return http.StatusOK, personView(updated), nil
}

func (s *Service) history(ctx context.Context, act *actor, r *http.Request, _ http.ResponseWriter) (int, any, *Error) {
	after, e := queryInt(r, "after", 0)
	if e != nil {
		return 0, nil, e
	}
	t, e := s.personTarget(ctx, r.PathValue("uid"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "person_history", t)
	if e != nil {
		return 0, nil, e
	}
	entries, err := s.d.Store.AuditEntries(ctx, registration.AuditFilter{SubjectUID: t.UID, AfterSeq: after, Limit: 1000})
	if err != nil {
		return 0, nil, storeError(err, "the history")
	}
	out := make([]AuditEntryView, 0, len(entries))
	for _, a := range entries {
		out = append(out, AuditView(a))
	}
	_, person, pe := s.personDetail(ctx, t.UID, http.StatusOK)
	if pe != nil {
		return 0, nil, pe
	}
	if e := s.auditRead(ctx, act, d, "person_history", t.UID, ""); e != nil {
		return 0, nil, e
	}
	return http.StatusOK, map[string]any{"person": person, "events": out}, nil
}

// endUserSessions ends every session of uid after a change that takes
// their access away. The change is committed already; a failure here is
// logged (the PDP and login re-check the store on every use).
func (s *Service) endUserSessions(ctx context.Context, uid, why string) {
	n, err := s.d.Sessions.DeleteUser(context.WithoutCancel(ctx), uid)
	if err != nil {
		s.log.ErrorContext(ctx, "could not end sessions", "uid", uid, "why", why, "err", err)
		return
	}
	s.log.InfoContext(ctx, "sessions ended", "uid", uid, "why", why, "count", n)
}

// auditRead records that RA staff read personal data (a person's record
// or history, a search, the pending list, the audit trail). The answer is
// sent only once the record is written: no read goes unaudited.
func (s *Service) auditRead(ctx context.Context, act *actor, d *decision, action, subject, det string) *Error {
	if _, err := s.d.Store.AppendAudit(ctx, s.entry(act, d, action, subject, "", "", det)); err != nil {
		return storeError(err, "the audit trail")
	}
	return nil
}
