package login

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/carespine/spineauth/authd/httpjson"
)

// maxBody bounds every request body of the login API.
const maxBody = 256 << 10 // a certificate and a chain of 8, base64

// Register adds the login and session endpoints to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/login/challenge", s.handleChallenge)
	mux.HandleFunc("POST /v1/login", s.handleLogin)
	mux.HandleFunc("GET /v1/session", s.handleGetSession)
	mux.HandleFunc("PUT /v1/session/role", s.handleSelectRole)
	mux.HandleFunc("DELETE /v1/session", s.handleLogout)
}

func (s *Service) handleChallenge(w http.ResponseWriter, r *http.Request) {
	c, err := s.NewChallenge(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req Request
	if e := decode(w, r, &req); e != nil {
		s.writeError(w, r, e)
		return
	}
	resp, err := s.Login(r.Context(), &req)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Service) handleGetSession(w http.ResponseWriter, r *http.Request) {
	tok, e := decodeToken(r.Header.Get("Authorization"))
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	v, err := s.Session(r.Context(), tok)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Service) handleSelectRole(w http.ResponseWriter, r *http.Request) {
	tok, e := decodeToken(r.Header.Get("Authorization"))
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	var body struct {
		RoleProfileID string `json:"role_profile_id"`
	}
	if e := decode(w, r, &body); e != nil {
		s.writeError(w, r, e)
		return
	}
	v, err := s.SelectRole(r.Context(), tok, body.RoleProfileID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	tok, e := decodeToken(r.Header.Get("Authorization"))
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	if err := s.Logout(r.Context(), tok); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// decode reads a bounded JSON body strictly (package httpjson).
func decode(w http.ResponseWriter, r *http.Request, v any) *Error {
	err := httpjson.Decode(w, r, maxBody, v)
	var de *httpjson.DecodeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de) && de.TooLarge:
		return &Error{Code: CodeBadRequest, Status: http.StatusRequestEntityTooLarge, Message: de.Reason}
	default:
		return badRequest("%s", err.Error())
	}
}

// errorBody is every error response.
type errorBody struct {
	Error   Code   `json:"error"`
	Message string `json:"message"`
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = internal(err)
	}
	level := slog.LevelInfo
	if e.Status >= 500 {
		level = slog.LevelError
	}
	s.log.Log(r.Context(), level, "request refused", "path", r.URL.Path, "code", e.Code, "err", err)
	writeJSON(w, e.Status, errorBody{Error: e.Code, Message: e.Message})
}

func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }
