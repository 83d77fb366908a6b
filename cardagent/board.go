package cardagent

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/carespine/spineauth/sessions"
)

// Card states shown to local applications.
const (
	StateReading  = "reading_card"  // opening the card's token
	StatePIN      = "awaiting_pin"  // asking the user for the PIN
	StateLogin    = "logging_in"    // talking to authd
	StateRole     = "choosing_role" // asking the user for a role profile
	StateActive   = "active"        // the session is held
	StateEnded    = "ended"         // authd ended the session; remove the card to start again
	StateLocked   = "locked"        // the card's PIN is locked
	StateRefused  = "refused"       // authd or the card refused the login
	StateRetrying = "retrying"      // authd cannot be reached; trying again
)

// Event types on the local API.
const (
	EventSessionStarted = "session_started"
	EventSessionEnded   = "session_ended"
	EventRoleSelected   = "role_selected"
	EventCardState      = "card_state"
)

// Reasons a session ended.
const (
	ReasonCardRemoved = "card_removed"
	ReasonAuthdEnded  = "authd_ended" // authd answered 401 for it
	ReasonShutdown    = "agent_stopped"
)

// CardStatus is one reader with a card, as local applications see it.
type CardStatus struct {
	Reader    string    `json:"reader"`
	State     string    `json:"state"`
	Message   string    `json:"message,omitempty"`
	Since     time.Time `json:"since"`
	SessionID string    `json:"session_id,omitempty"`
	// The remaining fields are set while a session is held.
	SessionToken          string        `json:"session_token,omitempty"`
	ExpiresAt             *time.Time    `json:"expires_at,omitempty"`
	IdleExpiresAt         *time.Time    `json:"idle_expires_at,omitempty"`
	User                  *User         `json:"user,omitempty"`
	RoleProfiles          []RoleProfile `json:"role_profiles,omitempty"`
	SelectedRoleProfileID string        `json:"selected_role_profile_id,omitempty"`
}

// AgentEvent is one change told to local applications.
type AgentEvent struct {
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
	Type      string    `json:"type"`
	Reader    string    `json:"reader"`
	State     string    `json:"state,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	UID       string    `json:"uid,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

const keptEvents = 256

// Board is the agent's state for the local API: the cards present and a
// numbered log of recent events that clients can wait on.
type Board struct {
	now     func() time.Time
	mu      sync.Mutex
	cards   map[string]*boardCard // guarded by mu
	events  []AgentEvent          // guarded by mu; the last keptEvents
	seq     uint64                // guarded by mu; last event number
	changed chan struct{}         // guarded by mu; closed and replaced on every change
}

type boardCard struct {
	status CardStatus
	token  sessions.Token
	held   bool
}

// NewBoard makes an empty board.
func NewBoard(now func() time.Time) *Board {
	return &Board{now: now, cards: map[string]*boardCard{}, changed: make(chan struct{})}
}

// bump records an event and wakes waiters; the caller holds mu.
func (b *Board) bump(e AgentEvent) {
	b.seq++
	e.Seq, e.Time = b.seq, b.now()
	b.events = append(b.events, e)
	if len(b.events) > keptEvents {
		b.events = slices.Delete(b.events, 0, len(b.events)-keptEvents)
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// setState shows reader in state with message (no session held).
func (b *Board) setState(reader, state, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.cards[reader]
	if c == nil {
		c = &boardCard{}
		b.cards[reader] = c
	}
	if c.held && state != StateRetrying && state != StateActive {
		c.held = false
		c.token = sessions.Token{}
	}
	c.status = CardStatus{Reader: reader, State: state, Message: message, Since: b.now(), SessionID: c.status.SessionID}
	if !c.held {
		c.status.SessionID = ""
	}
	b.bump(AgentEvent{Type: EventCardState, Reader: reader, State: state})
}

// started shows a new session for reader.
func (b *Board) started(reader string, h *held) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := &boardCard{token: h.token, held: true}
	b.cards[reader] = c
	c.status = statusOf(reader, h, b.now())
	b.bump(AgentEvent{Type: EventSessionStarted, Reader: reader, SessionID: h.view.SessionID, UID: h.view.User.UID, State: StateActive})
}

// refreshed updates the view of the session held for reader; role tells
// that the selected role changed.
func (b *Board) refreshed(reader string, h *held, state, message string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.cards[reader]
	if c == nil || !c.held || !c.token.Equal(h.token) {
		return
	}
	old := c.status
	c.status = statusOf(reader, h, b.now())
	c.status.State, c.status.Message = state, message
	if state == old.State && old.SelectedRoleProfileID == c.status.SelectedRoleProfileID {
		c.status.Since = old.Since
		return // a quiet refresh: nothing to tell
	}
	typ := EventCardState
	if old.SelectedRoleProfileID != c.status.SelectedRoleProfileID {
		typ = EventRoleSelected
	}
	b.bump(AgentEvent{Type: typ, Reader: reader, SessionID: h.view.SessionID, UID: h.view.User.UID, State: state})
}

// ended tells that the session held for reader ended; the card stays
// listed with state (unless removed is set).
func (b *Board) ended(reader string, h *held, reason, state, message string, removed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if removed {
		delete(b.cards, reader)
	} else {
		b.cards[reader] = &boardCard{status: CardStatus{Reader: reader, State: state, Message: message, Since: b.now()}}
	}
	b.bump(AgentEvent{Type: EventSessionEnded, Reader: reader, SessionID: h.view.SessionID, UID: h.view.User.UID, Reason: reason})
}

// removed forgets reader (a card without a session left).
func (b *Board) removed(reader string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.cards[reader]; !ok {
		return
	}
	delete(b.cards, reader)
	b.bump(AgentEvent{Type: EventCardState, Reader: reader, State: "removed"})
}

func statusOf(reader string, h *held, now time.Time) CardStatus {
	v := h.view
	exp, idle := v.ExpiresAt, v.IdleExpiresAt
	s := CardStatus{Reader: reader, State: StateActive, Since: now, SessionID: v.SessionID,
		SessionToken: h.token.Encode(), ExpiresAt: &exp, User: &User{UID: v.User.UID, Name: v.User.Name},
		RoleProfiles: v.RoleProfiles, SelectedRoleProfileID: v.SelectedRoleProfileID}
	if !idle.IsZero() {
		s.IdleExpiresAt = &idle
	}
	return s
}

// Snapshot returns the cards (sorted by reader) and the last event number.
func (b *Board) Snapshot() ([]CardStatus, uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]CardStatus, 0, len(b.cards))
	for _, c := range b.cards {
		out = append(out, c.status)
	}
	slices.SortFunc(out, func(x, y CardStatus) int {
		if x.Reader < y.Reader {
			return -1
		}
		if x.Reader > y.Reader {
			return 1
		}
		return 0
	})
	return out, b.seq
}

// token returns the session token held for reader.
func (b *Board) token(reader string) (sessions.Token, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.cards[reader]
	if c == nil || !c.held {
		return sessions.Token{}, false
	}
	return c.token, true
}

// EventsAfter returns the kept events numbered above after, waiting until
// there is one or ctx ends. gap is set when events after `after` were
// already dropped (the client should read the snapshot again).
func (b *Board) EventsAfter(ctx context.Context, after uint64) (events []AgentEvent, gap bool, err error) {
	for {
		b.mu.Lock()
		if b.seq > after {
			for _, e := range b.events {
				if e.Seq > after {
					events = append(events, e)
				}
			}
			gap = len(events) == 0 || events[0].Seq != after+1
			b.mu.Unlock()
			return events, gap, nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}
