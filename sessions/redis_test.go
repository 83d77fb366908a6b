package sessions_test

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/carespine/spineauth/sessions"
	"github.com/carespine/spineauth/sessions/redistest"
	"github.com/carespine/spineauth/sessions/sessionstest"
)

// redisClient connects to the test Redis (see redistest.Addr).
func redisClient(t testing.TB) redis.UniversalClient {
	return clientAt(t, redistest.Addr(t))
}

func clientAt(t testing.TB, addr string) redis.UniversalClient {
	c := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clusterClient(t testing.TB) *redis.ClusterClient {
	if testing.Short() {
		t.Skip("starting a Redis Cluster is skipped in -short mode")
	}
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: redistest.ClusterAddrs(t)})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// storeOn returns a NewStoreFunc building Redis stores on c, each under a
// prefix of its own that is cleaned up afterwards.
func storeOn(c redis.UniversalClient) func(t *testing.T, now func() time.Time) *sessions.Redis {
	return func(t *testing.T, now func() time.Time) *sessions.Redis {
		return sessions.NewRedis(c, sessions.Config{Now: now}, redistest.Prefix(t, c))
	}
}

func runSuites(t *testing.T, c redis.UniversalClient) {
	newStore := storeOn(c)
	t.Run("Store", func(t *testing.T) {
		sessionstest.RunStoreTests(t, func(t *testing.T, now func() time.Time) sessions.Store {
			return newStore(t, now)
		})
	})
	t.Run("Challenges", func(t *testing.T) {
		sessionstest.RunChallengeTests(t, func(t *testing.T, now func() time.Time) sessions.ChallengeStore {
			return newStore(t, now)
		})
	})
}

func TestRedis(t *testing.T) { runSuites(t, redisClient(t)) }

func TestRedisCluster(t *testing.T) {
	c := clusterClient(t)
	runSuites(t, c)
	t.Run("SessionKeysShareASlot", func(t *testing.T) {
		ctx := context.Background()
		for _, h := range []string{strings.Repeat("ab", 32), strings.Repeat("07", 32)} {
			s, err1 := c.ClusterKeySlot(ctx, "p:s:{"+h+"}").Result()
			tomb, err2 := c.ClusterKeySlot(ctx, "p:t:{"+h+"}").Result()
			if err := errors.Join(err1, err2); err != nil {
				t.Fatal(err)
			}
			if s != tomb {
				t.Fatalf("session slot %d, tombstone slot %d", s, tomb)
			}
		}
	})
	t.Run("TwoNodes", func(t *testing.T) { testTwoNodes(t, c, c) })
}

// TestRedisTwoNodes plays two authd nodes, each with its own client, on one
// Redis.
func TestRedisTwoNodes(t *testing.T) {
	addr := redistest.Addr(t)
	testTwoNodes(t, clientAt(t, addr), clientAt(t, addr))
}

func testTwoNodes(t *testing.T, c1, c2 redis.UniversalClient) {
	ctx := context.Background()
	prefix := redistest.Prefix(t, c1)
	a := sessions.NewRedis(c1, sessions.Config{}, prefix)
	b := sessions.NewRedis(c2, sessions.Config{}, prefix)

	tok, created, err := a.Create(ctx, sampleSession("555000000051", "card-n1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, tok)
	if err != nil || got.ID != created.ID {
		t.Fatalf("node b: Get = %v, %v; want session %s", got, err, created.ID)
	}
	if _, err := b.SetRole(ctx, tok, "555000000123"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.Get(ctx, tok); err != nil || got.RoleProfileID != "555000000123" {
		t.Fatalf("node a after b's SetRole: %+v, %v", got, err)
	}
	if n, err := b.DeleteCard(ctx, "card-n1"); err != nil || n != 1 {
		t.Fatalf("node b: DeleteCard = %d, %v", n, err)
	}
	if _, err := a.Get(ctx, tok); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("node a after DeleteCard on b: %v", err)
	}

	id, _ := sessions.NewChallengeID()
	ch := sessions.Challenge{ID: id, ToSign: []byte("x"), Audience: "authd", ExpiresAt: time.Now().Add(30 * time.Second)}
	if err := a.Put(ctx, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Take(ctx, id); err != nil {
		t.Fatalf("node b: Take = %v", err)
	}
	if _, err := a.Take(ctx, id); !errors.Is(err, sessions.ErrChallengeUnknown) {
		t.Fatalf("node a: Take after b took it = %v", err)
	}
}

func sampleSession(user, card string) sessions.Session {
	return sessions.Session{UserID: user, CardID: card, CertSerial: "0a1b", WorkstationID: "ws-1"}
}

// TestRedisKeyLayout pins the documented keys, fields and TTLs.
func TestRedisKeyLayout(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	clk := sessionstest.NewClock(time.Now())
	r := storeOn(c)(t, clk.Now)
	p := r.Prefix()
	tok, s, err := r.Create(ctx, sampleSession("555000000061", "card-k"))
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Hash()
	hx := hex.EncodeToString(h[:])
	if s.ID != hx[:16] {
		t.Fatalf("ID %s is not the first 8 bytes of the hash %s", s.ID, hx)
	}
	keys, err := redistest.Keys(ctx, c, p+"*")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{p + "s:{" + hx + "}": true, p + "u:555000000061": true, p + "c:card-k": true}
	if len(keys) != len(want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for _, k := range keys {
		if !want[k] {
			t.Fatalf("unexpected key %s", k)
		}
	}
	fields, err := c.HGetAll(ctx, p+"s:{"+hx+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"uid", "card", "cert", "ws", "role", "created", "seen", "exp", "idle"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("session hash lacks field %s: %v", f, fields)
		}
	}
	ttl := func(k string) time.Duration {
		d, err := c.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	between := func(what string, d, lo, hi time.Duration) {
		lo, hi = lo+ttlGrace, hi+ttlGrace // TTLs carry the store's grace minute
		if d < lo || d > hi {
			t.Errorf("%s TTL %v, want within [%v, %v]", what, d, lo, hi)
		}
	}
	between("session", ttl(p+"s:{"+hx+"}"), 29*time.Minute, 30*time.Minute)
	between("user index", ttl(p+"u:555000000061"), 9*time.Hour, 10*time.Hour)
	between("card index", ttl(p+"c:card-k"), 9*time.Hour, 10*time.Hour)

	// Near the absolute end the TTL shrinks to what is left.
	end := s.ExpiresAt.Add(-10 * time.Minute)
	for at := s.CreatedAt.Add(20 * time.Minute); at.Before(end); at = at.Add(20 * time.Minute) {
		clk.Set(at) // keep it from idling out on the way
		if _, err := r.Get(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	clk.Set(end)
	if _, err := r.Get(ctx, tok); err != nil {
		t.Fatal(err)
	}
	between("session near its end", ttl(p+"s:{"+hx+"}"), 9*time.Minute, 10*time.Minute)

	id, _ := sessions.NewChallengeID()
	if err := r.Put(ctx, sessions.Challenge{ID: id, ToSign: []byte("x"), Audience: "a", ExpiresAt: clk.Now().Add(20 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	between("challenge", ttl(p+"ch:"+id), 19*time.Second-ttlGrace, 20*time.Second-ttlGrace) // challenges carry no grace
}

// TestRedisStaleIndexMember: an index member whose session key has gone
// (expired by TTL) is skipped, removed, and tombstoned.
func TestRedisStaleIndexMember(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	r := storeOn(c)(t, time.Now)
	p := r.Prefix()
	stale, _, err := r.Create(ctx, sampleSession("555000000071", "card-s"))
	if err != nil {
		t.Fatal(err)
	}
	live, _, err := r.Create(ctx, sampleSession("555000000071", "card-s"))
	if err != nil {
		t.Fatal(err)
	}
	h := stale.Hash()
	hx := hex.EncodeToString(h[:])
	if err := c.Del(ctx, p+"s:{"+hx+"}").Err(); err != nil { // what the TTL would do
		t.Fatal(err)
	}
	if err := c.SAdd(ctx, p+"u:555000000071", "not-a-session-hash").Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.DeleteUser(ctx, "555000000071"); err != nil || n != 1 {
		t.Fatalf("DeleteUser = %d, %v; want 1 (the live one)", n, err)
	}
	if _, err := r.Get(ctx, live); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("live session after DeleteUser: %v", err)
	}
	// The card index still lists the stale member (its session, and so its
	// card, was unknown to DeleteUser); DeleteCard skips and removes it.
	if n, err := c.SCard(ctx, p+"c:card-s").Result(); err != nil || n != 1 {
		t.Errorf("card index has %d members, want the stale one (%v)", n, err)
	}
	if n, err := r.DeleteCard(ctx, "card-s"); err != nil || n != 0 {
		t.Fatalf("DeleteCard = %d, %v; want 0", n, err)
	}
	for _, k := range []string{p + "u:555000000071", p + "c:card-s"} {
		if n, err := c.SCard(ctx, k).Result(); err != nil || n != 0 {
			t.Errorf("index %s has %d members left (%v)", k, n, err)
		}
	}
	if n, err := c.Exists(ctx, p+"t:{"+hx+"}").Result(); err != nil || n != 1 {
		t.Errorf("no tombstone for the stale member (%v)", err)
	}
}

// TestRedisEndedDuringCreate stages the Cluster race: DeleteCard runs after a
// Create wrote its index entry but before it wrote the session. The session
// must not come to life afterwards.
func TestRedisEndedDuringCreate(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	r := storeOn(c)(t, time.Now)
	tok, err := sessions.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	h := tok.Hash()
	if err := c.SAdd(ctx, r.Prefix()+"c:card-r", hex.EncodeToString(h[:])).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.DeleteCard(ctx, "card-r"); err != nil || n != 0 {
		t.Fatalf("DeleteCard = %d, %v", n, err)
	}
	if _, err := r.CreateWithToken(ctx, tok, sampleSession("555000000081", "card-r")); !errors.Is(err, sessions.ErrEnded) {
		t.Fatalf("Create after the card was ended mid-way: %v, want ErrEnded", err)
	}
	if _, err := r.Get(ctx, tok); !errors.Is(err, sessions.ErrNotFound) {
		t.Fatalf("Get: %v, want ErrNotFound", err)
	}
}

// TestRedisExpiryCleansIndex: a session found expired leaves no index entries.
func TestRedisExpiryCleansIndex(t *testing.T) {
	ctx := context.Background()
	c := redisClient(t)
	clk := sessionstest.NewClock(time.Now())
	r := storeOn(c)(t, clk.Now)
	tok, s, err := r.Create(ctx, sampleSession("555000000091", "card-e"))
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(s.IdleTimeout)
	if _, err := r.Get(ctx, tok); !errors.Is(err, sessions.ErrExpired) {
		t.Fatalf("Get: %v, want ErrExpired", err)
	}
	keys, err := redistest.Keys(ctx, c, r.Prefix()+"*")
	if err != nil || len(keys) != 0 {
		t.Fatalf("keys left after expiry: %v (%v)", keys, err)
	}
}

// TestRedisScriptCacheFlushed: EVALSHA falls back to EVAL when the server
// has lost its scripts (restart, failover). It flushes the script cache, so
// it runs on a private server.
func TestRedisScriptCacheFlushed(t *testing.T) {
	ctx := context.Background()
	c := clientAt(t, redistest.Start(t))
	r := sessions.NewRedis(c, sessions.Config{}, "p:")
	tok, _, err := r.Create(ctx, sampleSession("555000000101", "card-f"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := c.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Get(ctx, tok); err != nil {
			t.Fatalf("Get after SCRIPT FLUSH: %v", err)
		}
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	got, errs := r.GetMany(ctx, []sessions.Token{tok, tok})
	if err := errors.Join(errs...); err != nil || got[0] == nil || got[1] == nil {
		t.Fatalf("GetMany after SCRIPT FLUSH: %v, %v", got, err)
	}
	if err := c.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, tok); err != nil {
		t.Fatalf("Delete after SCRIPT FLUSH: %v", err)
	}
}

func TestNewRedisRefusesBracePrefix(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewRedis accepted a prefix with a brace")
		}
	}()
	sessions.NewRedis(redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}), sessions.Config{}, "app{x}:")
}

// ttlGrace mirrors the Redis store's TTL grace (ttlGraceMS).
const ttlGrace = time.Minute
