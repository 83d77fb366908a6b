package cardagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client talks to authd's login API.
type Client struct {
	BaseURL string       // e.g. https://authd.example
	HTTP    *http.Client // default: 10s timeout
}

// APIError is a refusal from authd: its stable code and message.
type APIError struct {
	Status  int
	Code    string `json:"error"`
	Message string `json:"message"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// ChallengeResponse is POST /v1/login/challenge's answer.
type ChallengeResponse struct {
	ChallengeID string    `json:"challenge_id"`
	ToSign      []byte    `json:"to_sign"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// LoginRequest is POST /v1/login's body.
type LoginRequest struct {
	ChallengeID   string   `json:"challenge_id"`
	Certificate   []byte   `json:"certificate"`
	Chain         [][]byte `json:"chain,omitempty"`
	Signature     []byte   `json:"signature"`
	WorkstationID string   `json:"workstation_id"`
	RoleProfileID string   `json:"role_profile_id,omitempty"`
}

// RoleProfile is one of the user's role profiles.
type RoleProfile struct {
	ID          string     `json:"id"`
	Org         string     `json:"org"`
	JobRole     string     `json:"job_role"`
	JobRoleName string     `json:"job_role_name"`
	Activities  []string   `json:"activities"`
	Workgroups  []string   `json:"workgroups"`
	Start       time.Time  `json:"start"`
	End         *time.Time `json:"end,omitempty"`
}

// User is the session's person.
type User struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
}

// LoginResponse is a successful login.
type LoginResponse struct {
	SessionToken          string        `json:"session_token"`
	ExpiresAt             time.Time     `json:"expires_at"`
	User                  User          `json:"user"`
	RoleProfiles          []RoleProfile `json:"role_profiles"`
	SelectedRoleProfileID string        `json:"selected_role_profile_id,omitempty"`
}

// SessionView is GET /v1/session's answer.
type SessionView struct {
	SessionID             string        `json:"session_id"`
	ExpiresAt             time.Time     `json:"expires_at"`
	IdleExpiresAt         time.Time     `json:"idle_expires_at"`
	WorkstationID         string        `json:"workstation_id"`
	User                  User          `json:"user"`
	RoleProfiles          []RoleProfile `json:"role_profiles"`
	SelectedRoleProfileID string        `json:"selected_role_profile_id,omitempty"`

	serverTime time.Time // authd's Date header with the answer; zero if none
}

// Challenge asks for a login challenge.
func (c *Client) Challenge(ctx context.Context) (*ChallengeResponse, error) {
	var out ChallengeResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/login/challenge", "", struct{}{}, &out)
}

// Login presents a signed challenge.
func (c *Client) Login(ctx context.Context, req *LoginRequest) (*LoginResponse, error) {
	var out LoginResponse
	return &out, c.do(ctx, http.MethodPost, "/v1/login", "", req, &out)
}

// Session fetches the session of token.
func (c *Client) Session(ctx context.Context, token string) (*SessionView, error) {
	var out SessionView
	return &out, c.do(ctx, http.MethodGet, "/v1/session", token, nil, &out)
}

// SelectRole selects a role profile for the session.
func (c *Client) SelectRole(ctx context.Context, token, id string) (*SessionView, error) {
	var out SessionView
	body := struct {
		RoleProfileID string `json:"role_profile_id"`
	}{id}
	return &out, c.do(ctx, http.MethodPut, "/v1/session/role", token, body, &out)
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context, token string) error {
	return c.do(ctx, http.MethodDelete, "/v1/session", token, nil, nil)
}

func (c *Client) do(ctx context.Context, method, path, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("authd unreachable: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fmt.Errorf("authd unreachable: reading answer: %w", err)
	}
	if err := decodeAnswer(resp.StatusCode, resp.Status, data, out); err != nil {
		return err
	}
	if v, ok := out.(*SessionView); ok {
		// authd's clock, to time the next check by authd's idle time-out
		// whatever the skew between the two clocks.
		v.serverTime, _ = http.ParseTime(resp.Header.Get("Date"))
	}
	return nil
}

// maxAnswer bounds an answer from authd.
const maxAnswer = 1 << 20

// BadAnswerError is an answer from authd that cannot be read.
type BadAnswerError struct{ Err error }

func (e *BadAnswerError) Error() string { return "authd: malformed answer: " + e.Err.Error() }
func (e *BadAnswerError) Unwrap() error { return e.Err }

// decodeAnswer reads authd's answer (status and body) into out: a
// refusal becomes an *APIError, anything unreadable a *BadAnswerError.
// It is the one place the agent parses what authd sends.
func decodeAnswer(status int, statusText string, data []byte, out any) error {
	if len(data) > maxAnswer {
		return &BadAnswerError{fmt.Errorf("longer than %d bytes", maxAnswer)}
	}
	if status >= 300 {
		e := &APIError{Status: status}
		if json.Unmarshal(data, e) != nil || !validCode(e.Code) {
			e.Code, e.Message = "http_error", fmt.Sprintf("authd answered %s", statusText)
		}
		if len(e.Message) > 512 {
			e.Message = e.Message[:512]
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &BadAnswerError{err}
	}
	if v, ok := out.(interface{ validate() error }); ok {
		if err := v.validate(); err != nil {
			return &BadAnswerError{err}
		}
	}
	return nil
}

// validCode: error codes are short snake_case words.
func validCode(c string) bool {
	if c == "" || len(c) > 64 {
		return false
	}
	for _, r := range c {
		if (r < 'a' || r > 'z') && r != '_' && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

func (r *ChallengeResponse) validate() error {
	switch {
	case r.ChallengeID == "" || len(r.ChallengeID) > 128:
		return errors.New("challenge_id missing or too long")
	case len(r.ToSign) == 0 || len(r.ToSign) > 4096:
		return errors.New("to_sign missing or too long")
	}
	return nil
}

func (r *LoginResponse) validate() error {
	if r.SessionToken == "" {
		return errors.New("no session_token")
	}
	return validateSession(r.User, r.RoleProfiles, r.SelectedRoleProfileID)
}

func (v *SessionView) validate() error {
	return validateSession(v.User, v.RoleProfiles, v.SelectedRoleProfileID)
}

func validateSession(u User, roles []RoleProfile, selected string) error {
	if u.UID == "" {
		return errors.New("no user")
	}
	if len(roles) > 1000 {
		return errors.New("too many role profiles")
	}
	if selected == "" {
		return nil
	}
	for _, rp := range roles {
		if rp.ID == selected {
			return nil
		}
	}
	return errors.New("selected_role_profile_id is not among role_profiles")
}
