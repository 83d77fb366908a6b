package login

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions"
)

// SessionView is the answer to GET and PUT on /v1/session.
type SessionView struct {
	SessionID             string        `json:"session_id"`
	ExpiresAt             time.Time     `json:"expires_at"`
	IdleExpiresAt         time.Time     `json:"idle_expires_at"`
	WorkstationID         string        `json:"workstation_id"`
	User                  User          `json:"user"`
	RoleProfiles          []RoleProfile `json:"role_profiles"`
	SelectedRoleProfileID string        `json:"selected_role_profile_id,omitempty"`
}

// Session returns the session of tok, refreshing its idle timer.
func (s *Service) Session(ctx context.Context, tok sessions.Token) (*SessionView, error) {
	sess, err := s.deps.Sessions.Get(ctx, tok)
	if e := sessionError(err); e != nil {
		return nil, e
	}
	return s.view(ctx, sess)
}

// SelectRole makes id the session's role profile; it must be a current
// role profile of the session's user.
func (s *Service) SelectRole(ctx context.Context, tok sessions.Token, id string) (*SessionView, error) {
	if registration.ValidateRoleProfileID(id) != nil {
		return nil, badRequest("role_profile_id must be 12 digits")
	}
	sess, err := s.deps.Sessions.Get(ctx, tok)
	if e := sessionError(err); e != nil {
		return nil, e
	}
	all, err := s.deps.Directory.RoleProfilesOf(ctx, sess.UserID)
	if err != nil {
		return nil, unavailable("the registration store", err)
	}
	now := s.deps.Now()
	found := false
	for _, rp := range all {
		if rp.ID == id && rp.Current(now) {
			found = true
		}
	}
	if !found {
		return nil, &Error{Code: CodeRoleProfileInvalid, Status: http.StatusForbidden,
			Message: "that role profile is not a current role profile of this user"}
	}
	sess, err = s.deps.Sessions.SetRole(ctx, tok, id)
	if e := sessionError(err); e != nil {
		return nil, e
	}
	s.log.InfoContext(ctx, "role selected", "session", sess.ID, "uid", sess.UserID, "role_profile", id)
	return s.view(ctx, sess)
}

// Logout ends the session of tok.
func (s *Service) Logout(ctx context.Context, tok sessions.Token) error {
	if e := sessionError(s.deps.Sessions.Delete(ctx, tok)); e != nil {
		return e
	}
	return nil
}

// endSession ends the sessions of a user who may no longer have one and
// returns why.
func (s *Service) endSession(ctx context.Context, sess *sessions.Session, why *Error) *Error {
	if n, err := s.deps.Sessions.DeleteUser(ctx, sess.UserID); err != nil {
		s.log.ErrorContext(ctx, "could not end sessions", "uid", sess.UserID, "err", err)
	} else {
		s.log.InfoContext(ctx, "sessions ended", "uid", sess.UserID, "count", n, "why", why.Code)
	}
	return why
}

func sessionError(err error) *Error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sessions.ErrExpired):
		return refuse(CodeSessionExpired, err, "session has expired; log in again")
	case errors.Is(err, sessions.ErrNotFound):
		return refuse(CodeSessionInvalid, err, "session is unknown or has ended")
	default:
		return unavailable("the session store", err)
	}
}

func (s *Service) view(ctx context.Context, sess *sessions.Session) (*SessionView, error) {
	person, err := s.deps.Directory.Person(ctx, sess.UserID)
	switch {
	case errors.Is(err, registration.ErrNotFound):
		return nil, s.endSession(ctx, sess, refuse(CodeUserUnknown, err, "the session's user is no longer registered"))
	case err != nil:
		return nil, unavailable("the registration store", err)
	case person.Status != registration.PersonActive:
		return nil, s.endSession(ctx, sess, refuse(CodeUserNotActive, nil, "user is %s; see your registration authority", person.Status))
	}
	all, err := s.deps.Directory.RoleProfilesOf(ctx, sess.UserID)
	if err != nil {
		return nil, unavailable("the registration store", err)
	}
	now := s.deps.Now()
	current := all[:0:0]
	for _, rp := range all {
		if rp.Current(now) {
			current = append(current, rp)
		}
	}
	idle := sess.LastSeen.Add(sess.IdleTimeout)
	if idle.After(sess.ExpiresAt) {
		idle = sess.ExpiresAt
	}
	return &SessionView{
		SessionID:             sess.ID,
		ExpiresAt:             sess.ExpiresAt,
		IdleExpiresAt:         idle,
		WorkstationID:         sess.WorkstationID,
		User:                  User{UID: person.UID, Name: person.Name},
		RoleProfiles:          s.views(current),
		SelectedRoleProfileID: sess.RoleProfileID,
	}, nil
}
