package login

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
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

// decode reads a bounded JSON body strictly: unknown fields and trailing
// data are errors.
func decode(w http.ResponseWriter, r *http.Request, v any) *Error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &Error{Code: CodeBadRequest, Status: http.StatusRequestEntityTooLarge, Message: "request body is too large"}
		}
		return badRequest("request body is not valid JSON for this endpoint: %v", safeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("request body has trailing data")
	}
	return nil
}

// safeJSONError describes what was wrong with a body without echoing any
// of its content (which may hold a signature or token): only the decoder's
// error class and, for a type error, the field path it expected.
func safeJSONError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var b64 base64.CorruptInputError
	switch {
	case errors.As(err, &syn):
		return "syntax error"
	case errors.As(err, &typ) && typ.Field != "":
		// Field is the path of one of this endpoint's own fields.
		return "field " + typ.Field + " has the wrong type"
	case errors.As(err, &typ):
		return "the body has the wrong type"
	case errors.As(err, &b64):
		return "a certificate or signature field is not valid base64"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return "body is empty or truncated"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return "unknown field"
	default:
		return "not the expected object"
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
