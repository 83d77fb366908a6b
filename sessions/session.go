package sessions

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// Defaults applied by NewMemory and NewRedis to a zero Config field.
const (
	DefaultLifetime      = 10 * time.Hour
	DefaultIdleTimeout   = 30 * time.Minute
	DefaultSweepInterval = time.Minute
	// MaxChallengeTTL is the longest a challenge may live: Put refuses a
	// challenge that expires later than this from now.
	MaxChallengeTTL = 60 * time.Second
)

// Errors returned by the stores. Match them with errors.Is.
var (
	// ErrNotFound: no such session, or it was ended (logout, DeleteUser,
	// DeleteCard) or has already been removed after expiring.
	ErrNotFound = errors.New("sessions: session not found")
	// ErrExpired: the session passed its absolute end or was idle too long.
	// It is removed; a later call answers ErrNotFound.
	ErrExpired = errors.New("sessions: session expired")
	// ErrEnded: Create lost a race with DeleteUser or DeleteCard for the same
	// user or card, so the new session was not stored.
	ErrEnded = errors.New("sessions: user's or card's sessions were ended during login")
	// ErrChallengeUnknown: the challenge is unknown, already taken, or expired.
	ErrChallengeUnknown = errors.New("sessions: challenge unknown, used or expired")
	// ErrInvalid: the session or challenge given to Create or Put is not
	// acceptable; the wrapping error says why.
	ErrInvalid = errors.New("sessions: invalid input")
)

// Session is one login: a user, with a card, at a workstation.
type Session struct {
	ID            string // public identifier for logs and audit: hex of the first 8 bytes of the token's hash
	UserID        string // 12-digit user id
	CardID        string // the card (its registration id or serial)
	CertSerial    string // serial (hex) of the certificate that logged in
	WorkstationID string
	RoleProfileID string // selected role profile, "" while none is selected
	CreatedAt     time.Time
	LastSeen      time.Time
	ExpiresAt     time.Time // absolute end: CreatedAt + Lifetime, or earlier if Create was asked for earlier
	IdleTimeout   time.Duration
}

// LogValue implements slog.LogValuer. A Session holds no secret; this keeps
// log lines short and consistent.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", s.ID),
		slog.String("user", s.UserID),
		slog.String("card", s.CardID),
		slog.String("workstation", s.WorkstationID),
		slog.String("role_profile", s.RoleProfileID),
	)
}

// Store keeps sessions. Implementations are safe for concurrent use.
type Store interface {
	// Create stores a new session for s and returns its token. It fills ID,
	// CreatedAt, LastSeen and ExpiresAt; a zero s.IdleTimeout takes the
	// configured one, and a non-zero s.ExpiresAt may only shorten the
	// session (for example to the certificate's expiry).
	Create(ctx context.Context, s Session) (Token, *Session, error)
	// Get checks absolute and idle expiry (ErrExpired), then slides
	// LastSeen to now.
	Get(ctx context.Context, tok Token) (*Session, error)
	// GetMany is Get for each token, in one round trip where the backend
	// has them: sessions[i] and errs[i] are what Get(tok[i]) would return.
	GetMany(ctx context.Context, toks []Token) (sessions []*Session, errs []error)
	// SetRole selects a role profile ("" clears it), with the same checks
	// and sliding as Get.
	SetRole(ctx context.Context, tok Token, roleProfileID string) (*Session, error)
	// Delete ends a session (logout): ErrNotFound if there is none.
	Delete(ctx context.Context, tok Token) error
	// DeleteUser ends every session of a user and says how many were live.
	DeleteUser(ctx context.Context, userID string) (int, error)
	// DeleteCard ends every session opened with a card (card removal,
	// cancellation) and says how many were live.
	DeleteCard(ctx context.Context, cardID string) (int, error)
	Close() error
}

// Challenge is a login challenge: bytes the card signs to prove possession of
// its key.
type Challenge struct {
	ID        string
	ToSign    []byte
	Audience  string // the service the signature is meant for
	ExpiresAt time.Time
}

// ChallengeStore keeps single-use login challenges.
type ChallengeStore interface {
	// Put stores c until c.ExpiresAt, which must be in the future and at
	// most MaxChallengeTTL away. An ID already in use is refused.
	Put(ctx context.Context, c Challenge) error
	// Take returns and removes a challenge atomically: of all callers on
	// all nodes, exactly one gets it. Unknown, taken or expired challenges
	// are ErrChallengeUnknown.
	Take(ctx context.Context, id string) (*Challenge, error)
}

// Config holds the settings and dependencies of a store. Zero fields take
// the defaults.
type Config struct {
	Lifetime      time.Duration    // absolute session length; default 10h
	IdleTimeout   time.Duration    // default 30m; at most Lifetime
	SweepInterval time.Duration    // how often Memory drops expired entries; default 1m
	Now           func() time.Time // default time.Now
	Logger        *slog.Logger     // default discards
}

// Validate reports every problem with c at once. NewMemory and NewRedis
// panic on a Config that fails it, so validate configuration read from a
// file before building a store.
func (c Config) Validate() error {
	var errs []error
	if c.Lifetime < 0 {
		errs = append(errs, fmt.Errorf("sessions: Lifetime %v is negative", c.Lifetime))
	}
	if c.IdleTimeout < 0 {
		errs = append(errs, fmt.Errorf("sessions: IdleTimeout %v is negative", c.IdleTimeout))
	}
	if c.SweepInterval < 0 {
		errs = append(errs, fmt.Errorf("sessions: SweepInterval %v is negative", c.SweepInterval))
	}
	d := c.withDefaults()
	if c.Lifetime >= 0 && c.IdleTimeout >= 0 && d.IdleTimeout > d.Lifetime {
		errs = append(errs, fmt.Errorf("sessions: IdleTimeout %v is longer than Lifetime %v", d.IdleTimeout, d.Lifetime))
	}
	if c.Lifetime > 0 && c.Lifetime < time.Second {
		errs = append(errs, fmt.Errorf("sessions: Lifetime %v is shorter than a second", c.Lifetime))
	}
	if c.IdleTimeout > 0 && c.IdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("sessions: IdleTimeout %v is shorter than a second", c.IdleTimeout))
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Lifetime == 0 {
		c.Lifetime = DefaultLifetime
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.SweepInterval == 0 {
		c.SweepInterval = DefaultSweepInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c
}

// mustConfig validates and completes cfg for a constructor.
func mustConfig(cfg Config) Config {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	return cfg.withDefaults()
}

// Times are kept with millisecond precision in both backends (Redis stores
// Unix milliseconds), so a session reads back the same from either.
func toMS(t time.Time) int64            { return t.UnixMilli() }
func fromMS(ms int64) time.Time         { return time.UnixMilli(ms).UTC() }
func (c Config) nowMS() int64           { return toMS(c.Now()) }
func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// newSession validates s and fills in the fields that Create owns, for a
// session whose token hashes to h, created at nowMS.
func (c Config) newSession(s Session, h [32]byte, nowMS int64) (Session, error) {
	var errs []error
	if !isDigits(s.UserID, 12) {
		errs = append(errs, errors.New("UserID must be 12 digits"))
	}
	if !isPrintable(s.CardID, 1, 128) {
		errs = append(errs, errors.New("CardID must be 1-128 printable ASCII characters"))
	}
	if !isHex(s.CertSerial, 128) {
		errs = append(errs, errors.New("CertSerial must be 1-128 hex digits"))
	}
	if !isPrintable(s.WorkstationID, 0, 128) {
		errs = append(errs, errors.New("WorkstationID must be at most 128 printable ASCII characters"))
	}
	if !isPrintable(s.RoleProfileID, 0, 128) {
		errs = append(errs, errors.New("RoleProfileID must be at most 128 printable ASCII characters"))
	}
	switch {
	case s.IdleTimeout == 0:
		s.IdleTimeout = c.IdleTimeout
	case s.IdleTimeout < time.Second || s.IdleTimeout > c.IdleTimeout:
		errs = append(errs, fmt.Errorf("IdleTimeout must be between 1s and %v", c.IdleTimeout))
	}
	end := nowMS + c.Lifetime.Milliseconds()
	if !s.ExpiresAt.IsZero() {
		switch req := toMS(s.ExpiresAt); {
		case req <= nowMS:
			errs = append(errs, errors.New("ExpiresAt is not in the future"))
		case req < end:
			end = req
		}
	}
	if len(errs) > 0 {
		return Session{}, fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	s.IdleTimeout = s.IdleTimeout.Truncate(time.Millisecond)
	s.ID = sessionID(h)
	s.CreatedAt = fromMS(nowMS)
	s.LastSeen = s.CreatedAt
	s.ExpiresAt = fromMS(end)
	return s, nil
}

// expired reports whether a session with these times (Unix ms) has ended at now.
func expired(nowMS, expMS, seenMS, idleMS int64) bool {
	return nowMS >= expMS || nowMS >= seenMS+idleMS
}

func checkRole(id string) error {
	if !isPrintable(id, 0, 128) {
		return fmt.Errorf("%w: RoleProfileID must be at most 128 printable ASCII characters", ErrInvalid)
	}
	return nil
}

// checkChallenge validates c for Put at nowMS and returns its expiry in ms.
func checkChallenge(c Challenge, nowMS int64) (int64, error) {
	var errs []error
	if !isPrintable(c.ID, 1, 128) {
		errs = append(errs, errors.New("ID must be 1-128 printable ASCII characters"))
	}
	if len(c.ToSign) == 0 || len(c.ToSign) > 4096 {
		errs = append(errs, errors.New("ToSign must be 1-4096 bytes"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("Audience is empty"))
	}
	exp := toMS(c.ExpiresAt)
	switch {
	case exp <= nowMS:
		errs = append(errs, errors.New("ExpiresAt is not in the future"))
	case exp-nowMS > MaxChallengeTTL.Milliseconds():
		errs = append(errs, fmt.Errorf("ExpiresAt is more than %v away", MaxChallengeTTL))
	}
	if len(errs) > 0 {
		return 0, fmt.Errorf("%w: challenge: %w", ErrInvalid, errors.Join(errs...))
	}
	return exp, nil
}

func isDigits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(s string, max int) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isPrintable reports whether s is min..max bytes of printable ASCII with no
// space (these strings become parts of Redis keys and log lines).
func isPrintable(s string, min, max int) bool {
	if len(s) < min || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

var errDuplicateChallenge = fmt.Errorf("%w: challenge: ID already in use", ErrInvalid)
