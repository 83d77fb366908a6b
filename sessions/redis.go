package sessions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

var (
	_ Store          = (*Redis)(nil)
	_ ChallengeStore = (*Redis)(nil)
)

// Redis is the Store and ChallengeStore shared by many authd nodes. It works
// with a single server, a Sentinel group or a Cluster (any
// redis.UniversalClient); Take needs Redis 6.2 or later (GETDEL).
//
// Key layout, under the prefix given to NewRedis:
//
//	s:{<hash>}   hash: uid card cert ws role created seen exp idle (times in
//	             Unix ms); TTL to the nearer of its absolute and idle end
//	t:{<hash>}   tombstone left by DeleteUser/DeleteCard for an index member
//	             whose session was missing; TTL Config.Lifetime
//	u:<user id>  set of the user's session hashes; TTL that of its longest member
//	c:<card id>  set of the card's session hashes; likewise
//	ch:<id>      challenge (JSON); TTL to its ExpiresAt
//
// <hash> is the hex SHA-256 of the token; the braces make a session's keys
// share a Cluster slot. Index sets may hold members whose session has gone
// (expired by TTL): readers skip and remove them.
//
// Expiry is decided against Config.Now (times are stored as Unix ms), never
// the server's clock. TTLs exist so that data goes away on its own; they are
// set relative to that same now (PEXPIRE deadline-now rather than PEXPIREAT
// deadline), so a node's clock skew against the server, or a test's fake
// clock, cannot make Redis drop a live session early; and with a grace of
// ttlGraceMS, so that a session that has just expired is still reported as
// expired rather than unknown however slowly the next request comes.
//
// Where all keys share one server, Create writes the index entries and the
// session in one MULTI/EXEC. In Cluster they live in different slots, so
// they are written separately; a DeleteUser or DeleteCard that meets an
// index member without its session leaves a tombstone (t:{<hash>}) that
// stops a Create still in flight from storing that session afterwards
// (Create then fails with ErrEnded). DeleteUser and DeleteCard end each
// listed session on its own and then remove only the members they handled,
// so a session created meanwhile keeps its index entries.
type Redis struct {
	client  redis.UniversalClient
	cfg     Config
	prefix  string
	cluster bool
}

// NewRedis returns a store on client with keys under prefix (for example
// "spineauth:"). The client stays the caller's: Close does not close it.
// NewRedis panics if cfg fails Config.Validate, client is nil or prefix
// holds a brace (it would break the Cluster hash tags).
func NewRedis(client redis.UniversalClient, cfg Config, prefix string) *Redis {
	if client == nil {
		panic("sessions: NewRedis: nil client")
	}
	if strings.ContainsAny(prefix, "{}") {
		panic("sessions: NewRedis: prefix must not contain '{' or '}'")
	}
	_, cluster := client.(*redis.ClusterClient)
	return &Redis{client: client, cfg: mustConfig(cfg), prefix: prefix, cluster: cluster}
}

// Close implements Store. It does not close the client.
func (r *Redis) Close() error { return nil }

func (r *Redis) sessionKey(h string) string { return r.prefix + "s:{" + h + "}" }
func (r *Redis) tombKey(h string) string    { return r.prefix + "t:{" + h + "}" }
func (r *Redis) userKey(uid string) string  { return r.prefix + "u:" + uid }
func (r *Redis) cardKey(id string) string   { return r.prefix + "c:" + id }
func (r *Redis) challengeKey(id string) string {
	return r.prefix + "ch:" + id
}

// pipeline returns a MULTI/EXEC pipeline where all keys live on one server,
// and a plain pipeline in Cluster, where a transaction cannot span slots.
// The scripts it carries are each atomic, and their order does not matter
// for correctness (see endScript's tombstone).
func (r *Redis) pipeline() redis.Pipeliner {
	if r.cluster {
		return r.client.Pipeline()
	}
	return r.client.TxPipeline()
}

func redisErr(op string, err error) error {
	return fmt.Errorf("sessions: redis %s: %w", op, err)
}

// ttlGraceMS is added to every session TTL (see the key layout above).
const ttlGraceMS = 60_000

// Create implements Store.
func (r *Redis) Create(ctx context.Context, s Session) (Token, *Session, error) {
	tok, err := NewToken()
	if err != nil {
		return Token{}, nil, err
	}
	out, err := r.create(ctx, tok, s)
	if err != nil {
		return Token{}, nil, err
	}
	return tok, out, nil
}

func (r *Redis) create(ctx context.Context, tok Token, s Session) (*Session, error) {
	h := tok.Hash()
	now := r.cfg.nowMS()
	s, err := r.cfg.newSession(s, h, now)
	if err != nil {
		return nil, err
	}
	hx := hex.EncodeToString(h[:])
	exp, idle := toMS(s.ExpiresAt), s.IdleTimeout.Milliseconds()
	life := exp - now
	args := []any{min(life, idle) + ttlGraceMS,
		"uid", s.UserID, "card", s.CardID, "cert", s.CertSerial,
		"ws", s.WorkstationID, "role", s.RoleProfileID,
		"created", now, "seen", now, "exp", exp, "idle", idle}

	pipe := r.pipeline()
	indexAddScript.Eval(ctx, pipe, []string{r.userKey(s.UserID)}, hx, life+ttlGraceMS)
	indexAddScript.Eval(ctx, pipe, []string{r.cardKey(s.CardID)}, hx, life+ttlGraceMS)
	created := createScript.Eval(ctx, pipe, []string{r.sessionKey(hx), r.tombKey(hx)}, args...)
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, redisErr("create", err)
	}
	switch n, _ := created.Int(); n {
	case 1:
		return &s, nil
	case 0:
		return nil, ErrEnded
	default:
		return nil, errors.New("sessions: redis create: session key already exists")
	}
}

// Get implements Store.
func (r *Redis) Get(ctx context.Context, tok Token) (*Session, error) {
	return r.touch(ctx, tok, "0", "")
}

// SetRole implements Store.
func (r *Redis) SetRole(ctx context.Context, tok Token, roleProfileID string) (*Session, error) {
	if err := checkRole(roleProfileID); err != nil {
		return nil, err
	}
	return r.touch(ctx, tok, "1", roleProfileID)
}

// GetMany implements Store: the touch script for every token in one
// pipeline (EVALSHA; a Cluster client splits it by node). A node that
// does not hold the script yet answers NOSCRIPT, and those tokens are
// looked up again one by one, which loads it.
func (r *Redis) GetMany(ctx context.Context, toks []Token) ([]*Session, []error) {
	out, errs := make([]*Session, len(toks)), make([]error, len(toks))
	if len(toks) == 0 {
		return out, errs
	}
	now := r.cfg.nowMS()
	pipe := r.client.Pipeline()
	hashes := make([][sha256.Size]byte, len(toks))
	cmds := make([]*redis.Cmd, len(toks))
	for i, tok := range toks {
		hashes[i] = tok.Hash()
		cmds[i] = touchScript.EvalSha(ctx, pipe, []string{r.sessionKey(hex.EncodeToString(hashes[i][:]))}, now, "0", "")
	}
	_, _ = pipe.Exec(ctx) // each command keeps its own error
	for i, cmd := range cmds {
		res, err := cmd.Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			out[i], errs[i] = r.Get(ctx, toks[i])
			continue
		}
		out[i], errs[i] = r.touched(ctx, hashes[i], res, err)
	}
	return out, errs
}

func (r *Redis) touch(ctx context.Context, tok Token, setRole, role string) (*Session, error) {
	h := tok.Hash()
	res, err := touchScript.Run(ctx, r.client, []string{r.sessionKey(hex.EncodeToString(h[:]))}, r.cfg.nowMS(), setRole, role).Slice()
	return r.touched(ctx, h, res, err)
}

// touched reads the touch script's reply for the session whose token
// hash is h.
func (r *Redis) touched(ctx context.Context, h [sha256.Size]byte, res []any, err error) (*Session, error) {
	if err != nil {
		return nil, redisErr("get", err)
	}
	hx := hex.EncodeToString(h[:])
	switch status(res) {
	case 0:
		return nil, ErrNotFound
	case 1:
		uid, card := str(res, 1), str(res, 2)
		r.unindex(ctx, hx, uid, card)
		return nil, ErrExpired
	case 2:
		if len(res) == 2 {
			if fields, ok := res[1].([]any); ok {
				return parseSession(sessionID(h), fields)
			}
		}
	}
	return nil, fmt.Errorf("sessions: redis get: unexpected reply of %d elements", len(res))
}

// unindex removes an ended session's hash from its index sets. It is best
// effort: readers tolerate stale members.
func (r *Redis) unindex(ctx context.Context, hx, uid, card string) {
	pipe := r.client.Pipeline()
	if uid != "" {
		pipe.SRem(ctx, r.userKey(uid), hx)
	}
	if card != "" {
		pipe.SRem(ctx, r.cardKey(card), hx)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		r.cfg.Logger.WarnContext(ctx, "sessions: removing index entries", "session", hx[:16], "err", err)
	}
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, tok Token) error {
	h := tok.Hash()
	hx := hex.EncodeToString(h[:])
	res, err := endScript.Run(ctx, r.client, []string{r.sessionKey(hx), r.tombKey(hx)}, r.cfg.nowMS(), 0).Slice()
	if err != nil {
		return redisErr("delete", err)
	}
	if status(res) != 1 {
		return ErrNotFound
	}
	r.unindex(ctx, hx, str(res, 2), str(res, 3))
	if n, _ := res[1].(int64); n != 1 {
		return ErrNotFound // it had expired
	}
	return nil
}

// DeleteUser implements Store.
func (r *Redis) DeleteUser(ctx context.Context, userID string) (int, error) {
	return r.deleteIndexed(ctx, r.userKey(userID), 3, r.cardKey)
}

// DeleteCard implements Store.
func (r *Redis) DeleteCard(ctx context.Context, cardID string) (int, error) {
	return r.deleteIndexed(ctx, r.cardKey(cardID), 2, r.userKey)
}

// deleteIndexed ends every session listed in the index set at key. Each
// session key is deleted on its own (in Cluster they live in other slots);
// then the members handled are removed from this index and from the other
// index of each session (other names that index from endScript's reply
// element otherAt). Members added meanwhile are left for the next call.
func (r *Redis) deleteIndexed(ctx context.Context, key string, otherAt int, other func(string) string) (int, error) {
	members, err := r.client.SMembers(ctx, key).Result()
	if err != nil {
		return 0, redisErr("delete: read index", err)
	}
	if len(members) == 0 {
		return 0, nil
	}
	now, tombTTL := r.cfg.nowMS(), r.cfg.Lifetime.Milliseconds()
	pipe := r.client.Pipeline()
	cmds := make([]*redis.Cmd, len(members))
	for i, m := range members {
		if !isSessionHash(m) {
			continue // not ours: just drop it from the index below
		}
		cmds[i] = endScript.Eval(ctx, pipe, []string{r.sessionKey(m), r.tombKey(m)}, now, tombTTL)
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below

	live := 0
	var failed error
	done := make([]any, 0, len(members))
	cleanup := r.client.Pipeline()
	for i, m := range members {
		if cmds[i] == nil {
			done = append(done, m)
			continue
		}
		res, err := cmds[i].Slice()
		if err != nil {
			failed = errors.Join(failed, err)
			continue // keep it indexed: the session may still be live
		}
		done = append(done, m)
		if status(res) == 1 {
			if n, _ := res[1].(int64); n == 1 {
				live++
			}
			if o := str(res, otherAt); o != "" {
				cleanup.SRem(ctx, other(o), m)
			}
		}
	}
	if len(done) > 0 {
		cleanup.SRem(ctx, key, done...)
	}
	if cleanup.Len() > 0 {
		if _, err := cleanup.Exec(ctx); err != nil {
			r.cfg.Logger.WarnContext(ctx, "sessions: removing index entries", "err", err)
		}
	}
	if failed != nil {
		return live, redisErr("delete", failed)
	}
	return live, nil
}

func isSessionHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// status reads the leading status code of a script reply.
func status(res []any) int64 {
	if len(res) == 0 {
		return -1
	}
	n, ok := res[0].(int64)
	if !ok {
		return -1
	}
	return n
}

// str reads element i of a script reply as a string, "" if absent.
func str(res []any, i int) string {
	if i >= len(res) {
		return ""
	}
	s, _ := res[i].(string)
	return s
}

func parseSession(id string, fields []any) (*Session, error) {
	m := make(map[string]string, len(fields)/2)
	for i := 0; i+1 < len(fields); i += 2 {
		k, _ := fields[i].(string)
		v, _ := fields[i+1].(string)
		m[k] = v
	}
	var errs []error
	num := func(k string) int64 {
		n, err := strconv.ParseInt(m[k], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("field %s: %w", k, err))
		}
		return n
	}
	s := &Session{
		ID:            id,
		UserID:        m["uid"],
		CardID:        m["card"],
		CertSerial:    m["cert"],
		WorkstationID: m["ws"],
		RoleProfileID: m["role"],
		CreatedAt:     fromMS(num("created")),
		LastSeen:      fromMS(num("seen")),
		ExpiresAt:     fromMS(num("exp")),
		IdleTimeout:   msDuration(num("idle")),
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sessions: redis: malformed session %s: %w", id, errors.Join(errs...))
	}
	return s, nil
}

// redisChallenge is a challenge as stored (JSON; ToSign as base64).
type redisChallenge struct {
	Audience  string `json:"aud"`
	ToSign    []byte `json:"sign"`
	ExpiresMS int64  `json:"exp"`
}

// Put implements ChallengeStore.
func (r *Redis) Put(ctx context.Context, c Challenge) error {
	now := r.cfg.nowMS()
	exp, err := checkChallenge(c, now)
	if err != nil {
		return err
	}
	v, err := json.Marshal(redisChallenge{Audience: c.Audience, ToSign: c.ToSign, ExpiresMS: exp})
	if err != nil {
		return fmt.Errorf("sessions: encoding challenge: %w", err)
	}
	ok, err := r.client.SetNX(ctx, r.challengeKey(c.ID), v, msDuration(exp-now)).Result()
	if err != nil {
		return redisErr("put challenge", err)
	}
	if !ok {
		return errDuplicateChallenge
	}
	return nil
}

// Take implements ChallengeStore.
func (r *Redis) Take(ctx context.Context, id string) (*Challenge, error) {
	v, err := r.client.GetDel(ctx, r.challengeKey(id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, ErrChallengeUnknown
	}
	if err != nil {
		return nil, redisErr("take challenge", err)
	}
	var rc redisChallenge
	if err := json.Unmarshal(v, &rc); err != nil {
		return nil, fmt.Errorf("sessions: redis: malformed challenge: %w", err)
	}
	if r.cfg.nowMS() >= rc.ExpiresMS {
		return nil, ErrChallengeUnknown
	}
	return &Challenge{ID: id, ToSign: rc.ToSign, Audience: rc.Audience, ExpiresAt: fromMS(rc.ExpiresMS)}, nil
}
