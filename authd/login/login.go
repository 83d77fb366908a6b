package login

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/carespine/spineauth/authd/certverify"
	"github.com/carespine/spineauth/registration"
	"github.com/carespine/spineauth/sessions"
)

// Verifier checks a card certificate: path, revocation, login policy.
type Verifier interface {
	Verify(ctx context.Context, leaf *x509.Certificate, chain []*x509.Certificate) (*certverify.Result, error)
}

// Directory is the registration data login needs.
type Directory interface {
	CardByFingerprint(ctx context.Context, fp [32]byte) (*registration.Card, error)
	Person(ctx context.Context, uid string) (*registration.Person, error)
	RoleProfilesOf(ctx context.Context, uid string) ([]registration.RoleProfile, error)
}

var (
	_ Verifier  = (*certverify.Verifier)(nil)
	_ Directory = (registration.Store)(nil)
)

// Auditor records logins in the audit trail (registration.RA).
type Auditor interface {
	AppendAudit(ctx context.Context, a registration.AuditEntry) (*registration.AuditEntry, error)
}

var _ Auditor = (registration.Store)(nil)

// Config is the protocol's settings.
type Config struct {
	// Audience names this service in every challenge (for example its
	// public URL); a signature over one service's challenge is useless at
	// another.
	Audience string
	// ChallengeTTL is how long a challenge may be answered (default and
	// maximum 60s).
	ChallengeTTL time.Duration
}

// Deps are the service's collaborators.
type Deps struct {
	Verifier   Verifier
	Directory  Directory
	Catalogue  *registration.Catalogue
	Sessions   sessions.Store
	Challenges sessions.ChallengeStore
	// Audit, if set, records every login and every refusal after the
	// challenge was taken. A login whose record cannot be written is
	// refused (its session is ended).
	Audit   Auditor
	Now     func() time.Time
	Logger  *slog.Logger
	Metrics *Metrics // may be nil
}

// Service runs the login protocol. It is safe for concurrent use.
type Service struct {
	cfg  Config
	deps Deps
	log  *slog.Logger
}

// MaxChallengeTTL is the longest a challenge lives (DESIGN.md).
const MaxChallengeTTL = 60 * time.Second

// New validates cfg and deps and returns a Service.
func New(cfg Config, deps Deps) (*Service, error) {
	var errs []error
	if strings.TrimSpace(cfg.Audience) == "" {
		errs = append(errs, errors.New("login: audience is required"))
	}
	if cfg.ChallengeTTL == 0 {
		cfg.ChallengeTTL = MaxChallengeTTL
	}
	if cfg.ChallengeTTL < time.Second || cfg.ChallengeTTL > MaxChallengeTTL {
		errs = append(errs, fmt.Errorf("login: challenge TTL %s outside [1s, %s]", cfg.ChallengeTTL, MaxChallengeTTL))
	}
	if deps.Verifier == nil || deps.Directory == nil || deps.Sessions == nil || deps.Challenges == nil || deps.Catalogue == nil {
		errs = append(errs, errors.New("login: verifier, directory, catalogue, sessions and challenges are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	log := deps.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{cfg: cfg, deps: deps, log: log}, nil
}

// Challenge is the answer to POST /v1/login/challenge.
type Challenge struct {
	ChallengeID string    `json:"challenge_id"`
	ToSign      []byte    `json:"to_sign"` // base64 in JSON
	ExpiresAt   time.Time `json:"expires_at"`
}

// NewChallenge makes and stores a single-use challenge.
func (s *Service) NewChallenge(ctx context.Context) (*Challenge, error) {
	id, err := newChallengeID()
	if err != nil {
		return nil, internal(err)
	}
	expires := s.deps.Now().Add(s.cfg.ChallengeTTL).Truncate(time.Second)
	toSign, err := challengeBytes(s.cfg.Audience, id, expires)
	if err != nil {
		return nil, internal(err)
	}
	c := sessions.Challenge{ID: id, ToSign: toSign, Audience: s.cfg.Audience, ExpiresAt: expires}
	if err := s.deps.Challenges.Put(ctx, c); err != nil {
		return nil, unavailable("the challenge store", err)
	}
	return &Challenge{ChallengeID: id, ToSign: toSign, ExpiresAt: expires}, nil
}

// Request is the body of POST /v1/login.
type Request struct {
	ChallengeID   string   `json:"challenge_id"`
	Certificate   []byte   `json:"certificate"` // DER, base64 in JSON
	Chain         [][]byte `json:"chain"`
	Signature     []byte   `json:"signature"`
	WorkstationID string   `json:"workstation_id"`
	RoleProfileID string   `json:"role_profile_id,omitempty"`
}

// Limits on a login request's fields.
const (
	maxCertBytes  = 16 << 10
	maxChainCerts = 8
	maxSigBytes   = 2 << 10
)

var workstationPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

func (r *Request) validate() *Error {
	switch {
	case !validChallengeID(r.ChallengeID):
		return badRequest("challenge_id must be 32 hex digits")
	case len(r.Certificate) == 0 || len(r.Certificate) > maxCertBytes:
		return badRequest("certificate must be DER of at most %d bytes", maxCertBytes)
	case len(r.Chain) > maxChainCerts:
		return badRequest("chain may hold at most %d certificates", maxChainCerts)
	case len(r.Signature) == 0 || len(r.Signature) > maxSigBytes:
		return badRequest("signature must be 1 to %d bytes", maxSigBytes)
	case !workstationPattern.MatchString(r.WorkstationID):
		return badRequest("workstation_id must be 1-64 characters of letters, digits and ._:-")
	case r.RoleProfileID != "" && registration.ValidateRoleProfileID(r.RoleProfileID) != nil:
		return badRequest("role_profile_id must be 12 digits")
	}
	for _, c := range r.Chain {
		if len(c) == 0 || len(c) > maxCertBytes {
			return badRequest("chain certificates must be DER of at most %d bytes", maxCertBytes)
		}
	}
	return nil
}

// User is the person a session belongs to.
type User struct {
	UID  string `json:"uid"`
	Name string `json:"name"`
}

// RoleProfile is a role profile as clients see it.
type RoleProfile struct {
	ID          string     `json:"id"`
	ODS         string     `json:"org"`
	OrgName     string     `json:"org_name,omitempty"`
	JobRole     string     `json:"job_role"`
	JobRoleName string     `json:"job_role_name,omitempty"`
	Activities  []string   `json:"activities"` // with inclusions
	Workgroups  []string   `json:"workgroups"`
	Start       time.Time  `json:"start"`
	End         *time.Time `json:"end,omitempty"`
}

// Response is the answer to a successful login.
type Response struct {
	SessionToken          string        `json:"session_token"`
	ExpiresAt             time.Time     `json:"expires_at"`
	User                  User          `json:"user"`
	RoleProfiles          []RoleProfile `json:"role_profiles"`
	SelectedRoleProfileID string        `json:"selected_role_profile_id,omitempty"`
}

// Login runs the protocol for one request. Every refusal is an *Error.
func (s *Service) Login(ctx context.Context, req *Request) (resp *Response, err error) {
	start := s.deps.Now()
	defer func() { s.deps.Metrics.observeLogin(err, s.deps.Now().Sub(start)) }()
	// What the audit record of a refusal can say: set as the protocol
	// learns it.
	var audited, genuine bool
	var claimedUID, cardID string
	defer func() {
		if err != nil && audited {
			s.auditRefusal(ctx, err, claimedUID, genuine, cardID, req.WorkstationID)
		}
	}()

	if e := req.validate(); e != nil {
		return nil, e
	}
	// 1. The challenge: single use across nodes, whatever happens next.
	ch, err := s.deps.Challenges.Take(ctx, req.ChallengeID)
	switch {
	case errors.Is(err, sessions.ErrChallengeUnknown):
		return nil, refuse(CodeChallengeUnknown, err, "challenge is unknown, already used or expired; ask for a new one")
	case err != nil:
		return nil, unavailable("the challenge store", err)
	}
	now := s.deps.Now()
	if !now.Before(ch.ExpiresAt) || ch.Audience != s.cfg.Audience {
		return nil, refuse(CodeChallengeUnknown, nil, "challenge has expired; ask for a new one")
	}
	audited = true
	// 2. The certificate and proof of possession of its key.
	leaf, err := x509.ParseCertificate(req.Certificate)
	if err != nil {
		return nil, refuse(CodeCertMalformed, err, "certificate does not parse")
	}
	claimedUID, _ = subjectUID(leaf)
	if err := verifyProof(leaf.PublicKey, ch.ToSign, req.Signature); err != nil {
		return nil, refuse(CodeBadSignature, err, "signature does not match the certificate")
	}
	chain := make([]*x509.Certificate, 0, len(req.Chain))
	for _, der := range req.Chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, refuse(CodeCertMalformed, err, "a chain certificate does not parse")
		}
		chain = append(chain, c)
	}
	// 3. Chain and revocation.
	if _, err := s.deps.Verifier.Verify(ctx, leaf, chain); err != nil {
		e := certRefusal(err)
		// A revoked certificate was issued by the CA: its subject is real.
		genuine = e.Code == CodeCertRevoked
		return nil, e
	}
	genuine = true
	// 4. Card, owner and role profiles.
	user, card, profiles, lerr := s.lookup(ctx, leaf, now)
	if lerr != nil {
		return nil, lerr
	}
	cardID = card.ID
	selected := req.RoleProfileID
	if selected != "" && !containsProfile(profiles, selected) {
		return nil, refuse(CodeRoleProfileInvalid, nil, "role profile %s is not a current role profile of this user", selected)
	}
	if selected == "" && len(profiles) == 1 {
		selected = profiles[0].ID
	}
	// 5. The session.
	tok, sess, err := s.deps.Sessions.Create(ctx, sessions.Session{
		UserID:        user.UID,
		CardID:        card.ID,
		CertSerial:    fmt.Sprintf("%x", leaf.SerialNumber),
		WorkstationID: req.WorkstationID,
		RoleProfileID: selected,
		ExpiresAt:     leaf.NotAfter, // never outlive the card certificate
	})
	if err != nil {
		return nil, unavailable("the session store", err)
	}
	if aerr := s.auditLogin(ctx, sess); aerr != nil {
		audited = false // the refusal is not the login's outcome but the audit trail's
		if derr := s.deps.Sessions.Delete(context.WithoutCancel(ctx), tok); derr != nil {
			s.log.ErrorContext(ctx, "could not end an unaudited session", "session", sess.ID, "err", derr)
		}
		return nil, unavailable("the audit trail", aerr)
	}
	s.log.InfoContext(ctx, "login", "session", sess.ID, "uid", user.UID, "card", card.ID,
		"workstation", req.WorkstationID, "role_profile", selected)
	return &Response{
		SessionToken:          tok.Encode(),
		ExpiresAt:             sess.ExpiresAt,
		User:                  User{UID: user.UID, Name: user.Name},
		RoleProfiles:          s.views(profiles),
		SelectedRoleProfileID: selected,
	}, nil
}

// lookup maps a verified certificate to its registered card and owner and
// returns the owner's current role profiles.
func (s *Service) lookup(ctx context.Context, leaf *x509.Certificate, now time.Time) (*registration.Person, *registration.Card, []registration.RoleProfile, *Error) {
	card, err := s.deps.Directory.CardByFingerprint(ctx, sha256.Sum256(leaf.Raw))
	switch {
	case errors.Is(err, registration.ErrNotFound):
		return nil, nil, nil, refuse(CodeCardNotActive, err, "card is not registered")
	case err != nil:
		return nil, nil, nil, unavailable("the registration store", err)
	case card.Status != registration.CardActive:
		return nil, nil, nil, refuse(CodeCardNotActive, nil, "card is %s; see your registration authority", card.Status)
	}
	if uid, ok := subjectUID(leaf); !ok || uid != card.UID {
		return nil, nil, nil, refuse(CodeUserUnknown, nil, "certificate does not name the card's owner")
	}
	person, err := s.deps.Directory.Person(ctx, card.UID)
	switch {
	case errors.Is(err, registration.ErrNotFound):
		return nil, nil, nil, refuse(CodeUserUnknown, err, "no registered person holds this card")
	case err != nil:
		return nil, nil, nil, unavailable("the registration store", err)
	case person.Status != registration.PersonActive:
		return nil, nil, nil, refuse(CodeUserNotActive, nil, "user is %s; see your registration authority", person.Status)
	}
	all, err := s.deps.Directory.RoleProfilesOf(ctx, person.UID)
	if err != nil {
		return nil, nil, nil, unavailable("the registration store", err)
	}
	var current []registration.RoleProfile
	for _, rp := range all {
		if rp.Current(now) {
			current = append(current, rp)
		}
	}
	return person, card, current, nil
}

// subjectUID returns the user id of a card certificate subject
// "CN=<12-digit uid>_<Name>".
func subjectUID(c *x509.Certificate) (string, bool) {
	uid, _, ok := strings.Cut(c.Subject.CommonName, "_")
	return uid, ok && registration.ValidateUserID(uid) == nil
}

func containsProfile(ps []registration.RoleProfile, id string) bool {
	for _, p := range ps {
		if p.ID == id {
			return true
		}
	}
	return false
}

func (s *Service) views(ps []registration.RoleProfile) []RoleProfile {
	out := make([]RoleProfile, 0, len(ps))
	for _, p := range ps {
		v := RoleProfile{
			ID:         p.ID,
			ODS:        p.ODS,
			JobRole:    p.JobRole,
			Activities: s.deps.Catalogue.Closure(p.Activities),
			Workgroups: append([]string{}, p.Workgroups...),
			Start:      p.Start,
		}
		if jr, ok := s.deps.Catalogue.JobRole(p.JobRole); ok {
			v.JobRoleName = jr.Name
		}
		if !p.End.IsZero() {
			end := p.End
			v.End = &end
		}
		out = append(out, v)
	}
	return out
}

// decodeToken turns an Authorization header into a token.
func decodeToken(header string) (sessions.Token, *Error) {
	const prefix = "Bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return sessions.Token{}, refuse(CodeSessionInvalid, nil, "missing bearer session token")
	}
	tok, err := sessions.ParseToken(strings.TrimSpace(header[len(prefix):]))
	if err != nil {
		return sessions.Token{}, refuse(CodeSessionInvalid, nil, "malformed session token")
	}
	return tok, nil
}
