package sessions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"sync"
	"time"
)

var (
	_ Store          = (*Memory)(nil)
	_ ChallengeStore = (*Memory)(nil)
)

type hashKey = [sha256.Size]byte

// memSession is a stored session; times are Unix ms as in Redis.
type memSession struct {
	s                     Session
	expMS, seenMS, idleMS int64
}

type memChallenge struct {
	c     Challenge
	expMS int64
}

// Memory is the in-process Store and ChallengeStore for a single authd. It
// keeps sessions under their token's hash only. Expired entries are dropped
// when met and by a periodic sweep, which Close stops.
type Memory struct {
	cfg Config

	mu         sync.Mutex
	sessions   map[hashKey]*memSession         // guarded by mu
	byUser     map[string]map[hashKey]struct{} // guarded by mu
	byCard     map[string]map[hashKey]struct{} // guarded by mu
	challenges map[string]memChallenge         // guarded by mu

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewMemory returns an in-memory store and starts its sweeper. It panics if
// cfg fails Config.Validate.
func NewMemory(cfg Config) *Memory {
	m := &Memory{
		cfg:        mustConfig(cfg),
		sessions:   make(map[hashKey]*memSession),
		byUser:     make(map[string]map[hashKey]struct{}),
		byCard:     make(map[string]map[hashKey]struct{}),
		challenges: make(map[string]memChallenge),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	go m.sweepLoop()
	return m
}

// Close stops the sweeper. The store still answers afterwards, without the
// periodic sweep.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
	})
	return nil
}

func (m *Memory) sweepLoop() {
	defer close(m.done)
	t := time.NewTicker(m.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.Sweep()
		}
	}
}

// Sweep drops every expired session and challenge now. The sweeper calls it
// periodically; tests with a fake clock may call it directly.
func (m *Memory) Sweep() {
	now := m.cfg.nowMS()
	m.mu.Lock()
	defer m.mu.Unlock()
	var ended, dropped int
	for h, e := range m.sessions {
		if expired(now, e.expMS, e.seenMS, e.idleMS) {
			m.removeLocked(h, e)
			ended++
		}
	}
	for id, c := range m.challenges {
		if now >= c.expMS {
			delete(m.challenges, id)
			dropped++
		}
	}
	if ended+dropped > 0 {
		m.cfg.Logger.Debug("sessions: swept expired entries", "sessions", ended, "challenges", dropped)
	}
}

// Create implements Store.
func (m *Memory) Create(ctx context.Context, s Session) (Token, *Session, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, nil, err
	}
	tok, err := NewToken()
	if err != nil {
		return Token{}, nil, err
	}
	h := tok.Hash()
	s, err = m.cfg.newSession(s, h, m.cfg.nowMS())
	if err != nil {
		return Token{}, nil, err
	}
	e := &memSession{
		s:      s,
		expMS:  toMS(s.ExpiresAt),
		seenMS: toMS(s.LastSeen),
		idleMS: s.IdleTimeout.Milliseconds(),
	}
	m.mu.Lock()
	m.sessions[h] = e
	addIndex(m.byUser, s.UserID, h)
	addIndex(m.byCard, s.CardID, h)
	m.mu.Unlock()
	out := s
	return tok, &out, nil
}

// Get implements Store.
func (m *Memory) Get(ctx context.Context, tok Token) (*Session, error) {
	return m.touch(ctx, tok, false, "")
}

// GetMany implements Store.
func (m *Memory) GetMany(ctx context.Context, toks []Token) ([]*Session, []error) {
	out, errs := make([]*Session, len(toks)), make([]error, len(toks))
	for i, tok := range toks {
		out[i], errs[i] = m.Get(ctx, tok)
	}
	return out, errs
}

// SetRole implements Store.
func (m *Memory) SetRole(ctx context.Context, tok Token, roleProfileID string) (*Session, error) {
	if err := checkRole(roleProfileID); err != nil {
		return nil, err
	}
	return m.touch(ctx, tok, true, roleProfileID)
}

func (m *Memory) touch(ctx context.Context, tok Token, setRole bool, role string) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h := tok.Hash()
	now := m.cfg.nowMS()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.sessions[h]
	if !ok {
		return nil, ErrNotFound
	}
	if expired(now, e.expMS, e.seenMS, e.idleMS) {
		m.removeLocked(h, e)
		return nil, ErrExpired
	}
	if now > e.seenMS {
		e.seenMS = now
		e.s.LastSeen = fromMS(now)
	}
	if setRole {
		e.s.RoleProfileID = role
	}
	out := e.s
	return &out, nil
}

// Delete implements Store.
func (m *Memory) Delete(ctx context.Context, tok Token) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	h := tok.Hash()
	now := m.cfg.nowMS()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.sessions[h]
	if !ok {
		return ErrNotFound
	}
	m.removeLocked(h, e)
	if expired(now, e.expMS, e.seenMS, e.idleMS) {
		return ErrNotFound
	}
	return nil
}

// DeleteUser implements Store.
func (m *Memory) DeleteUser(ctx context.Context, userID string) (int, error) {
	return m.deleteIndexed(ctx, m.byUser, userID)
}

// DeleteCard implements Store.
func (m *Memory) DeleteCard(ctx context.Context, cardID string) (int, error) {
	return m.deleteIndexed(ctx, m.byCard, cardID)
}

func (m *Memory) deleteIndexed(ctx context.Context, index map[string]map[hashKey]struct{}, key string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := m.cfg.nowMS()
	m.mu.Lock()
	defer m.mu.Unlock()
	live := 0
	for h := range index[key] {
		e := m.sessions[h]
		if !expired(now, e.expMS, e.seenMS, e.idleMS) {
			live++
		}
		m.removeLocked(h, e)
	}
	return live, nil
}

// removeLocked drops a session and its index entries. m.mu must be held.
func (m *Memory) removeLocked(h hashKey, e *memSession) {
	delete(m.sessions, h)
	removeIndex(m.byUser, e.s.UserID, h)
	removeIndex(m.byCard, e.s.CardID, h)
}

func addIndex(index map[string]map[hashKey]struct{}, key string, h hashKey) {
	set := index[key]
	if set == nil {
		set = make(map[hashKey]struct{})
		index[key] = set
	}
	set[h] = struct{}{}
}

func removeIndex(index map[string]map[hashKey]struct{}, key string, h hashKey) {
	set := index[key]
	delete(set, h)
	if len(set) == 0 {
		delete(index, key)
	}
}

// Put implements ChallengeStore.
func (m *Memory) Put(ctx context.Context, c Challenge) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.cfg.nowMS()
	exp, err := checkChallenge(c, now)
	if err != nil {
		return err
	}
	c.ToSign = bytes.Clone(c.ToSign)
	c.ExpiresAt = fromMS(exp)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.challenges[c.ID]; ok && now < old.expMS {
		return errDuplicateChallenge
	}
	m.challenges[c.ID] = memChallenge{c: c, expMS: exp}
	return nil
}

// Take implements ChallengeStore.
func (m *Memory) Take(ctx context.Context, id string) (*Challenge, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.cfg.nowMS()
	m.mu.Lock()
	c, ok := m.challenges[id]
	delete(m.challenges, id)
	m.mu.Unlock()
	if !ok || now >= c.expMS {
		return nil, ErrChallengeUnknown
	}
	return &c.c, nil
}
