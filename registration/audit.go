package registration

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// AuditOutcome says whether an audited action happened.
type AuditOutcome string

const (
	// AuditDone: the action was carried out (its change committed with
	// this record).
	AuditDone AuditOutcome = "done"
	// AuditDenied: the action was refused (by policy, or a login refused).
	AuditDenied AuditOutcome = "denied"
)

// Limits on an audit entry's free-text fields.
const (
	MaxAuditReason  = 1000
	MaxAuditDetails = 4096
)

// ZeroHash is the prev_hash of the first audit entry.
const ZeroHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditEntry is one record of the audit trail: who (ActorUID, in
// ActorRoleProfileID) did what (Action, Outcome) to whom (SubjectUID,
// Target), when (At), why (Reason: the stated reason, or the reason codes
// of a refusal) and under which policy decision (DecisionID). Details is
// any further fact, canonical JSON written by the caller. Seq, PrevHash and
// Hash are set by the store when it appends the entry.
type AuditEntry struct {
	Seq                int64
	ID                 string // 16-32 lower-case hex digits; NewRecordID if empty
	At                 time.Time
	ActorUID           string
	ActorRoleProfileID string
	Action             string // lower-case letters, digits and '_', e.g. register_person, login
	Outcome            AuditOutcome
	SubjectUID         string
	Target             string
	Reason             string
	DecisionID         string
	Details            string
	PrevHash           string
	Hash               string
}

// Validate checks the fields a caller supplies (not Seq or the hashes).
func (a AuditEntry) Validate() error {
	if err := checkRecordID("id", a.ID); err != nil {
		return err
	}
	if err := checkTime("at", a.At); err != nil {
		return err
	}
	if a.ActorUID != "" {
		if err := checkUserID("actor_uid", a.ActorUID); err != nil {
			return err
		}
	}
	if a.ActorRoleProfileID != "" {
		if err := checkDigits("actor_role_profile_id", a.ActorRoleProfileID, 12); err != nil {
			return err
		}
	}
	if !validAction(a.Action) {
		return invalid("action", "must be 1 to 64 lower-case letters, digits or '_'")
	}
	if a.Outcome != AuditDone && a.Outcome != AuditDenied {
		return invalid("outcome", "must be done or denied")
	}
	if a.SubjectUID != "" {
		if err := checkUserID("subject_uid", a.SubjectUID); err != nil {
			return err
		}
	}
	if a.Target != "" {
		if err := checkToken("target", a.Target, 64, true); err != nil {
			return err
		}
	}
	if a.Reason != "" {
		if err := checkText("reason", a.Reason, MaxAuditReason); err != nil {
			return err
		}
	}
	if a.DecisionID != "" {
		if err := checkToken("decision_id", a.DecisionID, 64, true); err != nil {
			return err
		}
	}
	if !utf8.ValidString(a.Details) || len(a.Details) > MaxAuditDetails {
		return invalid("details", "must be valid UTF-8 of at most 4096 bytes")
	}
	return nil
}

func validAction(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// auditDomain separates the chain's hashes from any other use of SHA-256.
const auditDomain = "spineauth audit v1\x00"

// ComputeHash returns the hash the entry must carry: SHA-256 over a domain
// string, PrevHash and each field in a fixed order, every field encoded as
// its length (uvarint) and bytes, numbers and times in decimal
// (microseconds since the Unix epoch). The encoding is unambiguous, so no
// two different rows hash the same input.
func (a AuditEntry) ComputeHash() string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64]byte
	field := func(s string) {
		n := binary.PutUvarint(buf[:], uint64(len(s)))
		h.Write(buf[:n])
		h.Write([]byte(s))
	}
	h.Write([]byte(auditDomain))
	field(a.PrevHash)
	field(strconv.FormatInt(a.Seq, 10))
	field(a.ID)
	field(strconv.FormatInt(a.At.UnixMicro(), 10))
	field(a.ActorUID)
	field(a.ActorRoleProfileID)
	field(a.Action)
	field(string(a.Outcome))
	field(a.SubjectUID)
	field(a.Target)
	field(a.Reason)
	field(a.DecisionID)
	field(a.Details)
	return hex.EncodeToString(h.Sum(nil))
}

// AuditChainError names the first audit entry that breaks the chain.
type AuditChainError struct {
	Seq     int64  // the first bad row (or, for a missing row, the one expected)
	Problem string // what is wrong with it
}

func (e *AuditChainError) Error() string {
	return fmt.Sprintf("audit chain broken at seq %d: %s", e.Seq, e.Problem)
}

// AuditVerifier checks an audit trail entry by entry, in Seq order from
// the first: each Seq follows the last, each PrevHash is the previous
// Hash (ZeroHash for the first), and each Hash is ComputeHash. authd's
// store and ractl (over the API) run the same checks.
type AuditVerifier struct {
	next int64
	prev string
	// Entries counts the entries checked so far.
	Entries int64
}

// NewAuditVerifier starts at the beginning of the chain.
func NewAuditVerifier() *AuditVerifier { return &AuditVerifier{next: 1, prev: ZeroHash} }

// Add checks the next entry; the first failure is an *AuditChainError and
// the verifier should then be discarded.
func (v *AuditVerifier) Add(a AuditEntry) error {
	switch {
	case a.Seq != v.next:
		return &AuditChainError{Seq: v.next, Problem: fmt.Sprintf("row missing (next row found is seq %d)", a.Seq)}
	case a.PrevHash != v.prev:
		return &AuditChainError{Seq: a.Seq, Problem: "prev_hash is not the previous row's hash"}
	case a.ComputeHash() != a.Hash:
		return &AuditChainError{Seq: a.Seq, Problem: "hash does not match the row's contents"}
	}
	v.next++
	v.prev = a.Hash
	v.Entries++
	return nil
}

// Finish checks that the chain ends where the head says: headSeq entries,
// the last with hash headHash.
func (v *AuditVerifier) Finish(headSeq int64, headHash string) error {
	switch {
	case v.next-1 < headSeq:
		return &AuditChainError{Seq: v.next, Problem: fmt.Sprintf("row missing (the head says the chain has %d rows)", headSeq)}
	case v.next-1 > headSeq:
		return &AuditChainError{Seq: headSeq + 1, Problem: "row beyond the recorded head of the chain"}
	case !strings.EqualFold(v.prev, headHash):
		return &AuditChainError{Seq: headSeq, Problem: "last row's hash is not the recorded head"}
	}
	return nil
}

// AuditHead is the recorded end of the chain.
type AuditHead struct {
	Seq  int64
	Hash string
}

// AuditFilter selects audit entries, in Seq order.
type AuditFilter struct {
	AfterSeq   int64  // entries with Seq > AfterSeq
	SubjectUID string // only entries about this person
	Limit      int    // 1..1000; 0 means 100
}

func (f AuditFilter) validate() (AuditFilter, error) {
	if f.AfterSeq < 0 {
		return f, invalid("after_seq", "must not be negative")
	}
	if f.SubjectUID != "" {
		if err := checkUserID("subject_uid", f.SubjectUID); err != nil {
			return f, err
		}
	}
	switch {
	case f.Limit == 0:
		f.Limit = 100
	case f.Limit < 0 || f.Limit > 1000:
		return f, invalid("limit", "must be between 1 and 1000")
	}
	return f, nil
}

// PendingAudit is an audit entry that the next store write made with its
// context appends in that write's own transaction (see WithAudit).
type PendingAudit struct {
	mu      sync.Mutex
	entry   AuditEntry
	written *AuditEntry // guarded by mu
	claimed bool        // guarded by mu: a write holds it
}

type pendingAuditKey struct{}

// WithAudit returns a context that carries a: the first store write made
// with it (CreateCard, SetCardStatus, the card CA's records, ...) appends
// a, outcome done, in its own transaction, so the change and its record
// commit together or not at all. Later writes with the same context
// append nothing. This is how the RA audits changes that another
// component (the card CA) writes. a.ID is filled in when empty; a.At must
// be set.
func WithAudit(ctx context.Context, a AuditEntry) (context.Context, *PendingAudit, error) {
	if a.ID == "" {
		a.ID = NewRecordID()
	}
	if a.Outcome == "" {
		a.Outcome = AuditDone
	}
	a.At = normTime(a.At)
	if err := a.Validate(); err != nil {
		return ctx, nil, err
	}
	if a.Outcome != AuditDone {
		return ctx, nil, invalid("outcome", "must be done for a change")
	}
	p := &PendingAudit{entry: a}
	return context.WithValue(ctx, pendingAuditKey{}, p), p, nil
}

// Written returns the entry as appended, or false if no write has
// committed it yet.
func (p *PendingAudit) Written() (*AuditEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.written, p.written != nil
}

// claim hands the entry to one write at a time; release gives it back
// (rolled back) or records it (committed).
func pendingAudit(ctx context.Context) *PendingAudit {
	p, _ := ctx.Value(pendingAuditKey{}).(*PendingAudit)
	return p
}

func (p *PendingAudit) claim() (AuditEntry, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.written != nil || p.claimed {
		return AuditEntry{}, false
	}
	p.claimed = true
	return p.entry, true
}

func (p *PendingAudit) release(committed *AuditEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.claimed = false
	p.written = committed
}

// withoutPendingAudit hides a pending entry from writes that carry their
// own.
func withoutPendingAudit(ctx context.Context) context.Context {
	if pendingAudit(ctx) == nil {
		return ctx
	}
	return context.WithValue(ctx, pendingAuditKey{}, (*PendingAudit)(nil))
}
