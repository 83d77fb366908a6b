package ra

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"strconv"
	"time"

	"github.com/carespine/spineauth/authd/httpjson"
	"github.com/carespine/spineauth/registration"
)

// maxBody bounds every request body of the RA API.
const maxBody = 64 << 10

// Register adds the RA endpoints to mux.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/ra/people", s.handle(s.registerPerson))
	mux.HandleFunc("GET /v1/ra/people", s.handle(s.findPeople))
	mux.HandleFunc("GET /v1/ra/people/{uid}", s.handle(s.viewPerson))
	mux.HandleFunc("PATCH /v1/ra/people/{uid}", s.handle(s.updatePerson))
	mux.HandleFunc("GET /v1/ra/people/{uid}/history", s.handle(s.history))
	mux.HandleFunc("POST /v1/ra/people/{uid}/role-profiles", s.handle(s.requestRoleProfile))
	mux.HandleFunc("GET /v1/ra/role-profiles/pending", s.handle(s.pending))
	mux.HandleFunc("POST /v1/ra/role-profiles/{id}/approve", s.handle(s.approveRoleProfile))
	mux.HandleFunc("POST /v1/ra/role-profiles/{id}/end", s.handle(s.endRoleProfile))
	mux.HandleFunc("POST /v1/ra/people/{uid}/cards", s.handle(s.issueCard))
	mux.HandleFunc("POST /v1/ra/cards/{id}/renew", s.handle(s.renewCard))
	mux.HandleFunc("POST /v1/ra/cards/{id}/cancel", s.handle(s.cancelCard))
	mux.HandleFunc("POST /v1/ra/cards/{id}/unlock", s.handle(s.unlockCard))
	mux.HandleFunc("GET /v1/ra/audit", s.handle(s.audit))
}

// handlerFunc answers one request for an authenticated actor with a
// status and a body, or an *Error.
type handlerFunc func(ctx context.Context, act *actor, r *http.Request, w http.ResponseWriter) (int, any, *Error)

func (s *Service) handle(h handlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		act, e := s.authenticate(r.Context(), r.Header.Get("Authorization"))
		if e == nil {
			var status int
			var body any
			status, body, e = h(r.Context(), act, r, w)
			if e == nil {
				httpjson.Write(w, status, body)
				return
			}
		}
		level := slog.LevelInfo
		if e.Status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "RA request refused", "method", r.Method, "path", r.URL.Path, "code", e.Code, "err", e)
		httpjson.Write(w, e.Status, e)
	}
}

func decode(w http.ResponseWriter, r *http.Request, v any) *Error {
	err := httpjson.Decode(w, r, maxBody, v)
	var de *httpjson.DecodeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de) && de.TooLarge:
		return fail(http.StatusRequestEntityTooLarge, "bad_request", "%s", de.Reason)
	default:
		return fail(http.StatusBadRequest, "bad_request", "%s", err.Error())
	}
}

// PersonView is a person as the RA sees them.
type PersonView struct {
	UID            string                    `json:"uid"`
	Name           string                    `json:"name"`
	Status         registration.PersonStatus `json:"status"`
	Version        int                       `json:"version"`
	CreatedAt      time.Time                 `json:"created_at"`
	UpdatedAt      time.Time                 `json:"updated_at"`
	Organisations  []string                  `json:"organisations,omitempty"`
	IdentityChecks []IdentityCheckView       `json:"identity_checks,omitempty"`
	RoleProfiles   []RoleProfileView         `json:"role_profiles,omitempty"`
	Cards          []CardView                `json:"cards,omitempty"`
}

// IdentityCheckView is the evidence recorded at registration.
type IdentityCheckView struct {
	ODS          string                    `json:"org"`
	DocumentType registration.DocumentType `json:"document_type"`
	DocumentRef  string                    `json:"document_ref"`
	CheckedBy    string                    `json:"checked_by"`
	CheckedAt    time.Time                 `json:"checked_at"`
}

// RoleProfileView is a role profile as the RA sees it.
type RoleProfileView struct {
	ID          string                         `json:"id"`
	UID         string                         `json:"uid"`
	ODS         string                         `json:"org"`
	JobRole     string                         `json:"job_role"`
	Activities  []string                       `json:"activities"`
	Workgroups  []string                       `json:"workgroups"`
	Start       time.Time                      `json:"start"`
	End         *time.Time                     `json:"end,omitempty"`
	Status      registration.RoleProfileStatus `json:"status"`
	ApprovedBy  string                         `json:"approved_by,omitempty"`
	RequestedBy string                         `json:"requested_by,omitempty"`
}

// CardView is a card as the RA sees it.
type CardView struct {
	ID           string                  `json:"id"`
	UID          string                  `json:"uid"`
	CertSerial   string                  `json:"cert_serial"`
	CertNotAfter time.Time               `json:"cert_not_after"`
	Status       registration.CardStatus `json:"status"`
	IssuedAt     time.Time               `json:"issued_at"`
}

func personView(p *registration.Person) PersonView {
	return PersonView{UID: p.UID, Name: p.Name, Status: p.Status, Version: p.Version, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

func profileView(rp registration.RoleProfile) RoleProfileView {
	v := RoleProfileView{ID: rp.ID, UID: rp.UID, ODS: rp.ODS, JobRole: rp.JobRole, Activities: rp.Activities,
		Workgroups: rp.Workgroups, Start: rp.Start, Status: rp.Status, ApprovedBy: rp.ApprovedBy}
	if !rp.End.IsZero() {
		end := rp.End
		v.End = &end
	}
	return v
}

func cardView(c registration.Card) CardView {
	return CardView{ID: c.ID, UID: c.UID, CertSerial: c.CertSerial, CertNotAfter: c.CertNotAfter, Status: c.Status, IssuedAt: c.IssuedAt}
}

// AuditEntryView is an audit entry as the API shows it (and ractl
// re-verifies: every field the hash covers, with At in microseconds).
type AuditEntryView struct {
	Seq                int64                     `json:"seq"`
	ID                 string                    `json:"id"`
	AtMicros           int64                     `json:"at_us"`
	ActorUID           string                    `json:"actor_uid,omitempty"`
	ActorRoleProfileID string                    `json:"actor_role_profile_id,omitempty"`
	Action             string                    `json:"action"`
	Outcome            registration.AuditOutcome `json:"outcome"`
	SubjectUID         string                    `json:"subject_uid,omitempty"`
	Target             string                    `json:"target,omitempty"`
	Reason             string                    `json:"reason,omitempty"`
	DecisionID         string                    `json:"decision_id,omitempty"`
	Details            string                    `json:"details,omitempty"`
	PrevHash           string                    `json:"prev_hash"`
	Hash               string                    `json:"hash"`
}

// AuditView returns the API form of an entry.
func AuditView(a registration.AuditEntry) AuditEntryView {
	return AuditEntryView{Seq: a.Seq, ID: a.ID, AtMicros: a.At.UnixMicro(), ActorUID: a.ActorUID,
		ActorRoleProfileID: a.ActorRoleProfileID, Action: a.Action, Outcome: a.Outcome, SubjectUID: a.SubjectUID,
		Target: a.Target, Reason: a.Reason, DecisionID: a.DecisionID, Details: a.Details, PrevHash: a.PrevHash, Hash: a.Hash}
}

// Entry returns the registration form of an entry read from the API.
func (v AuditEntryView) Entry() registration.AuditEntry {
	return registration.AuditEntry{Seq: v.Seq, ID: v.ID, At: time.UnixMicro(v.AtMicros).UTC(), ActorUID: v.ActorUID,
		ActorRoleProfileID: v.ActorRoleProfileID, Action: v.Action, Outcome: v.Outcome, SubjectUID: v.SubjectUID,
		Target: v.Target, Reason: v.Reason, DecisionID: v.DecisionID, Details: v.Details, PrevHash: v.PrevHash, Hash: v.Hash}
}

// details encodes facts for an audit entry as canonical JSON (sorted keys).
func details(kv map[string]string) string {
	b, _ := json.Marshal(kv) // a map[string]string always encodes
	return string(b)
}

// newDigits returns n random decimal digits, the first not zero.
func newDigits(n int) string {
	b := make([]byte, n)
	for i := range b {
		lo := int64(0)
		if i == 0 {
			lo = 1
		}
		v, _ := rand.Int(rand.Reader, big.NewInt(10-lo)) // crypto/rand never fails
		b[i] = byte('0' + lo + v.Int64())
	}
	return string(b)
}

func queryInt(r *http.Request, key string, def int64) (int64, *Error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fail(http.StatusBadRequest, "bad_request", "%s must be a non-negative integer", key)
	}
	return n, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
