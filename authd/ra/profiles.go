package ra

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/carespine/spineauth/registration"
)

// RoleProfileRequestBody is the body of POST /v1/ra/people/{uid}/role-profiles.
type RoleProfileRequestBody struct {
	ODS     string `json:"org"`
	JobRole string `json:"job_role"`
	// Activities default to the job role's baseline in the catalogue.
	Activities []string   `json:"activities,omitempty"`
	Workgroups []string   `json:"workgroups,omitempty"`
	Start      *time.Time `json:"start,omitempty"` // default now
	End        *time.Time `json:"end,omitempty"`
	Reason     string     `json:"reason"`
}

// ReasonBody is the body of the actions that only need a reason.
type ReasonBody struct {
	Reason string `json:"reason"`
}

func (s *Service) requestRoleProfile(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req RoleProfileRequestBody
	if e := decode(w, r, &req); e != nil {
		return 0, nil, e
	}
	uid := r.PathValue("uid")
	jr, ok := s.d.Catalogue.JobRole(req.JobRole)
	if !ok {
		return 0, nil, fail(http.StatusBadRequest, "bad_request", "job_role is not in the catalogue")
	}
	if req.Activities == nil {
		req.Activities = jr.Activities
	}
	for _, a := range req.Activities {
		if _, ok := s.d.Catalogue.Activity(a); !ok {
			return 0, nil, fail(http.StatusBadRequest, "bad_request", "activities: %s is not in the catalogue", safeCode(a))
		}
	}
	if req.Reason == "" {
		return 0, nil, fail(http.StatusBadRequest, "bad_request", "a reason is required")
	}
	if err := registration.ValidateODSCode(req.ODS); err != nil {
		return 0, nil, storeError(err, "org")
	}
	if _, err := s.d.Store.Person(ctx, uid); err != nil {
		return 0, nil, storeError(err, "the person")
	}
	t := target{UID: uid, Org: req.ODS, Activities: s.d.Catalogue.Closure(req.Activities)}
	d, e := s.decide(ctx, act, "request_role_profile", t)
	if e != nil {
		return 0, nil, e
	}
	now := s.d.Now()
	rp := registration.RoleProfile{UID: uid, ODS: req.ODS, JobRole: req.JobRole, Activities: req.Activities,
		Workgroups: req.Workgroups, Start: now, Status: registration.RoleProfilePending, CreatedAt: now}
	if req.Start != nil {
		rp.Start = *req.Start
	}
	if req.End != nil {
		rp.End = *req.End
	}
	if rp.Workgroups == nil {
		rp.Workgroups = []string{}
	}
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		rp.ID = newDigits(12)
		a := s.entry(act, d, "request_role_profile", uid, rp.ID, req.Reason,
			details(map[string]string{"org": rp.ODS, "job_role": rp.JobRole, "activities": strings.Join(rp.Activities, " ")}))
		err = s.d.Store.RequestRoleProfile(ctx, rp,
			registration.RoleProfileRequest{RoleProfileID: rp.ID, RequestedBy: act.sess.UserID, RequestedAt: now, Reason: req.Reason}, a)
		if !errors.Is(err, registration.ErrExists) {
			break
		}
	}
	if err != nil {
		return 0, nil, storeError(err, "the role profile")
	}
	stored, err := s.d.Store.RoleProfile(ctx, rp.ID)
	if err != nil {
		return 0, nil, storeError(err, "the role profile")
	}
	v := profileView(*stored)
	v.RequestedBy = act.sess.UserID
	return http.StatusCreated, v, nil
}

// profileTarget describes a role profile for the policy.
func (s *Service) profileTarget(ctx context.Context, id string) (*registration.RoleProfile, target, *Error) {
	rp, err := s.d.Store.RoleProfile(ctx, id)
	if err != nil {
		return nil, target{}, storeError(err, "the role profile")
	}
	t := target{UID: rp.UID, Org: rp.ODS, Activities: s.d.Catalogue.Closure(rp.Activities)}
	req, err := s.d.Store.RoleProfileRequest(ctx, id)
	switch {
	case err == nil:
		t.RequestedBy = req.RequestedBy
	case !errors.Is(err, registration.ErrNotFound):
		return nil, target{}, storeError(err, "the role profile")
	}
	return rp, t, nil
}

func (s *Service) approveRoleProfile(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req ReasonBody
	if r.ContentLength != 0 {
		if e := decode(w, r, &req); e != nil {
			return 0, nil, e
		}
	}
	rp, t, e := s.profileTarget(ctx, r.PathValue("id"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "approve_role_profile", t)
	if e != nil {
		return 0, nil, e
	}
	a := s.entry(act, d, "approve_role_profile", rp.UID, rp.ID, req.Reason, details(map[string]string{"requested_by": t.RequestedBy}))
	if err := s.d.Store.ApproveRoleProfile(ctx, rp.ID, act.sess.UserID, a); err != nil {
		return 0, nil, storeError(err, "the role profile")
	}
	return s.profileAnswer(ctx, rp.ID, t.RequestedBy)
}

func (s *Service) endRoleProfile(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error) {
	var req ReasonBody
	if e := decode(w, r, &req); e != nil {
		return 0, nil, e
	}
	if req.Reason == "" {
		return 0, nil, fail(http.StatusBadRequest, "bad_request", "a reason is required")
	}
	rp, t, e := s.profileTarget(ctx, r.PathValue("id"))
	if e != nil {
		return 0, nil, e
	}
	d, e := s.decide(ctx, act, "end_role_profile", t)
	if e != nil {
		return 0, nil, e
	}
	a := s.entry(act, d, "end_role_profile", rp.UID, rp.ID, req.Reason, "")
	if err := s.d.Store.EndRoleProfile(ctx, rp.ID, a); err != nil {
		return 0, nil, storeError(err, "the role profile")
	}
	// The profile stops working at once: the PDP and this API re-read it
	// on every request, and the holder's sessions end now.
	s.endUserSessions(ctx, rp.UID, "role profile "+rp.ID+" ended")
	return s.profileAnswer(ctx, rp.ID, t.RequestedBy)
}

func (s *Service) profileAnswer(ctx context.Context, id, requestedBy string) (int, any, *Error) {
	stored, err := s.d.Store.RoleProfile(ctx, id)
	if err != nil {
		return 0, nil, storeError(err, "the role profile")
	}
	v := profileView(*stored)
	v.RequestedBy = requestedBy
	return http.StatusOK, v, nil
}

func (s *Service) pending(ctx context.Context, act *actor, _ *http.Request, _ http.ResponseWriter) (int, any, *Error) {
	d, e := s.decide(ctx, act, "list_pending", target{})
	if e != nil {
		return 0, nil, e
	}
	rps, err := s.d.Store.PendingRoleProfiles(ctx, act.profile.ODS)
	if err != nil {
		return 0, nil, storeError(err, "the pending role profiles")
	}
	if e := s.auditRead(ctx, act, d, "list_pending", "", ""); e != nil {
		return 0, nil, e
	}
	out := make([]RoleProfileView, 0, len(rps))
	for _, rp := range rps {
		v := profileView(rp)
		if req, err := s.d.Store.RoleProfileRequest(ctx, rp.ID); err == nil {
			v.RequestedBy = req.RequestedBy
		}
		out = append(out, v)
	}
	return http.StatusOK, map[string]any{"role_profiles": out}, nil
}

// safeCode echoes an activity code only if it has the shape of one.
func safeCode(s string) string {
	if registration.ValidActivityCode(s) {
		return s
	}
	return "an entry"
}
