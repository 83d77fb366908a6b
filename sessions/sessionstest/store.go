package sessionstest

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/carespine/spineauth/sessions"
)

// NewStoreFunc builds an empty store for one subtest, taking time from now,
// with Config defaults for everything else. It registers its own cleanup.
type NewStoreFunc func(t *testing.T, now func() time.Time) sessions.Store

// RunStoreTests runs the Store conformance tests against the backend that
// newStore builds.
func RunStoreTests(t *testing.T, newStore NewStoreFunc) {
	tests := []struct {
		name string
		run  func(t *testing.T, s sessions.Store, clk *Clock)
	}{
		{"CreateGet", testCreateGet},
		{"WrongTokenIsNotFound", testWrongToken},
		{"TokensAreDistinct", testTokensDistinct},
		{"OnlyHashStored", testOnlyHashStored},
		{"AbsoluteExpiry", testAbsoluteExpiry},
		{"IdleExpiryAndSliding", testIdleExpiry},
		{"ShorterExpiryAndIdle", testShorterExpiry},
		{"InvalidSession", testInvalidSession},
		{"SetRole", testSetRole},
		{"DeleteThenGet", testDelete},
		{"GetMany", testGetMany},
		{"DeleteUser", testDeleteUser},
		{"DeleteCard", testDeleteCard},
		{"Concurrent", testConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := NewClock(start())
			tc.run(t, newStore(t, clk.Now), clk)
		})
	}
}

func sample(user, card string) sessions.Session {
	return sessions.Session{
		UserID:        user,
		CardID:        card,
		CertSerial:    "3f2a9c01",
		WorkstationID: "ws-0042",
	}
}

func mustCreate(t *testing.T, s sessions.Store, in sessions.Session) (sessions.Token, *sessions.Session) {
	t.Helper()
	tok, got, err := s.Create(context.Background(), in)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return tok, got
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

func mustGet(t *testing.T, s sessions.Store, tok sessions.Token) *sessions.Session {
	t.Helper()
	got, err := s.Get(context.Background(), tok)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	return got
}

func sameSession(t *testing.T, got, want *sessions.Session) {
	t.Helper()
	g, w := *got, *want
	if !g.CreatedAt.Equal(w.CreatedAt) || !g.LastSeen.Equal(w.LastSeen) || !g.ExpiresAt.Equal(w.ExpiresAt) {
		t.Fatalf("times differ:\n got %v %v %v\nwant %v %v %v",
			g.CreatedAt, g.LastSeen, g.ExpiresAt, w.CreatedAt, w.LastSeen, w.ExpiresAt)
	}
	g.CreatedAt, g.LastSeen, g.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	w.CreatedAt, w.LastSeen, w.ExpiresAt = time.Time{}, time.Time{}, time.Time{}
	if g != w {
		t.Fatalf("session differs:\n got %+v\nwant %+v", g, w)
	}
}

func testCreateGet(t *testing.T, s sessions.Store, clk *Clock) {
	now := clk.Now()
	in := sample("555000000011", "card-1")
	tok, created := mustCreate(t, s, in)
	if tok.IsZero() {
		t.Fatal("Create returned the zero token")
	}
	h := tok.Hash()
	want := in
	want.ID = hex.EncodeToString(h[:8])
	want.CreatedAt, want.LastSeen = now, now
	want.ExpiresAt = now.Add(sessions.DefaultLifetime)
	want.IdleTimeout = sessions.DefaultIdleTimeout
	sameSession(t, created, &want)
	sameSession(t, mustGet(t, s, tok), &want)

	clk.Advance(time.Minute)
	want.LastSeen = now.Add(time.Minute)
	sameSession(t, mustGet(t, s, tok), &want)
}

func testWrongToken(t *testing.T, s sessions.Store, _ *Clock) {
	ctx := context.Background()
	tok, _ := mustCreate(t, s, sample("555000000012", "card-2"))
	other, err := sessions.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	flipped := tok
	flipped[31] ^= 1
	for name, bad := range map[string]sessions.Token{"random": other, "one bit off": flipped, "zero": {}} {
		_, err := s.Get(ctx, bad)
		wantErr(t, name+": Get", err, sessions.ErrNotFound)
		_, err = s.SetRole(ctx, bad, "555000000099")
		wantErr(t, name+": SetRole", err, sessions.ErrNotFound)
		wantErr(t, name+": Delete", s.Delete(ctx, bad), sessions.ErrNotFound)
	}
	mustGet(t, s, tok) // the real one is untouched
}

func testTokensDistinct(t *testing.T, s sessions.Store, _ *Clock) {
	tokens := make(map[string]bool)
	ids := make(map[string]bool)
	for i := 0; i < 50; i++ {
		tok, got := mustCreate(t, s, sample("555000000013", "card-3"))
		if tokens[tok.Encode()] || ids[got.ID] {
			t.Fatalf("session %d repeats a token or ID", i)
		}
		tokens[tok.Encode()], ids[got.ID] = true, true
	}
}

func testOnlyHashStored(t *testing.T, s sessions.Store, _ *Clock) {
	d, ok := s.(Dumper)
	if !ok {
		t.Skipf("%T cannot be inspected (it does not implement sessionstest.Dumper)", s)
	}
	var toks []sessions.Token
	for i := 0; i < 3; i++ {
		tok, _ := mustCreate(t, s, sample("555000000014", "card-4"))
		toks = append(toks, tok)
	}
	if _, err := s.SetRole(context.Background(), toks[0], "555000000099"); err != nil {
		t.Fatal(err)
	}
	stored, err := d.DumpStored(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 {
		t.Fatal("DumpStored returned nothing")
	}
	hashSeen := false
	for _, tok := range toks {
		h := tok.Hash()
		forms := map[string][]byte{
			"raw":     tok[:],
			"encoded": []byte(tok.Encode()),
			"hex":     []byte(hex.EncodeToString(tok[:])),
		}
		for _, b := range stored {
			for name, f := range forms {
				if bytes.Contains(b, f) {
					t.Fatalf("stored data holds the token (%s form)", name)
				}
			}
			if bytes.Contains(b, h[:]) || bytes.Contains(b, []byte(hex.EncodeToString(h[:]))) {
				hashSeen = true
			}
		}
	}
	if !hashSeen {
		t.Fatal("stored data holds no token hash: is DumpStored dumping the store?")
	}
}

func testAbsoluteExpiry(t *testing.T, s sessions.Store, clk *Clock) {
	tok, got := mustCreate(t, s, sample("555000000015", "card-5"))
	step := got.IdleTimeout / 2
	for clk.Now().Add(step).Before(got.ExpiresAt) {
		clk.Advance(step)
		mustGet(t, s, tok) // activity keeps it from idling out
	}
	clk.Set(got.ExpiresAt.Add(-time.Millisecond))
	mustGet(t, s, tok)
	clk.Set(got.ExpiresAt)
	_, err := s.Get(context.Background(), tok)
	wantErr(t, "Get at ExpiresAt", err, sessions.ErrExpired)
	_, err = s.Get(context.Background(), tok)
	wantErr(t, "Get after expiry was reported", err, sessions.ErrNotFound)
}

func testIdleExpiry(t *testing.T, s sessions.Store, clk *Clock) {
	ctx := context.Background()
	tok, got := mustCreate(t, s, sample("555000000016", "card-6"))
	idle := got.IdleTimeout
	clk.Advance(idle - time.Millisecond)
	if seen := mustGet(t, s, tok).LastSeen; !seen.Equal(clk.Now()) {
		t.Fatalf("LastSeen = %v, want %v (Get slides it)", seen, clk.Now())
	}
	clk.Advance(idle - time.Millisecond) // past CreatedAt+idle: alive only because Get slid it
	if _, err := s.SetRole(ctx, tok, "555000000099"); err != nil {
		t.Fatalf("SetRole within the slid idle period: %v", err)
	}
	clk.Advance(idle - time.Millisecond) // SetRole slides it too
	mustGet(t, s, tok)
	clk.Advance(idle)
	_, err := s.Get(ctx, tok)
	wantErr(t, "Get after idling", err, sessions.ErrExpired)
	_, err = s.Get(ctx, tok)
	wantErr(t, "Get after expiry was reported", err, sessions.ErrNotFound)

	tok2, _ := mustCreate(t, s, sample("555000000016", "card-6"))
	clk.Advance(idle)
	_, err = s.SetRole(ctx, tok2, "555000000099")
	wantErr(t, "SetRole after idling", err, sessions.ErrExpired)
}

func testShorterExpiry(t *testing.T, s sessions.Store, clk *Clock) {
	now := clk.Now()
	in := sample("555000000017", "card-7")
	in.ExpiresAt = now.Add(time.Hour) // e.g. the certificate expires first
	in.IdleTimeout = 5 * time.Minute
	tok, got := mustCreate(t, s, in)
	if !got.ExpiresAt.Equal(in.ExpiresAt) || got.IdleTimeout != in.IdleTimeout {
		t.Fatalf("got ExpiresAt %v IdleTimeout %v, want %v %v", got.ExpiresAt, got.IdleTimeout, in.ExpiresAt, in.IdleTimeout)
	}
	clk.Advance(5 * time.Minute)
	_, err := s.Get(context.Background(), tok)
	wantErr(t, "Get after the shorter idle timeout", err, sessions.ErrExpired)

	in.ExpiresAt = now.Add(sessions.DefaultLifetime + time.Hour) // cannot lengthen
	in.IdleTimeout = 0
	_, got = mustCreate(t, s, in)
	if want := clk.Now().Add(sessions.DefaultLifetime); !got.ExpiresAt.Equal(want) {
		t.Fatalf("ExpiresAt = %v, want it capped at %v", got.ExpiresAt, want)
	}
}

func testInvalidSession(t *testing.T, s sessions.Store, clk *Clock) {
	tests := []struct {
		name  string
		tweak func(*sessions.Session)
	}{
		{"short user id", func(s *sessions.Session) { s.UserID = "55500000001" }},
		{"non-digit user id", func(s *sessions.Session) { s.UserID = "55500000001x" }},
		{"empty card", func(s *sessions.Session) { s.CardID = "" }},
		{"card with space", func(s *sessions.Session) { s.CardID = "card 1" }},
		{"empty cert serial", func(s *sessions.Session) { s.CertSerial = "" }},
		{"non-hex cert serial", func(s *sessions.Session) { s.CertSerial = "zz" }},
		{"idle longer than configured", func(s *sessions.Session) { s.IdleTimeout = sessions.DefaultIdleTimeout + time.Second }},
		{"negative idle", func(s *sessions.Session) { s.IdleTimeout = -time.Second }},
		{"expiry in the past", func(s *sessions.Session) { s.ExpiresAt = clk.Now().Add(-time.Second) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sample("555000000018", "card-8")
			tc.tweak(&in)
			tok, got, err := s.Create(context.Background(), in)
			wantErr(t, "Create", err, sessions.ErrInvalid)
			if got != nil || !tok.IsZero() {
				t.Fatal("Create failed but returned a session or token")
			}
		})
	}
}

func testSetRole(t *testing.T, s sessions.Store, clk *Clock) {
	ctx := context.Background()
	tok, _ := mustCreate(t, s, sample("555000000019", "card-9"))
	clk.Advance(time.Second)
	got, err := s.SetRole(ctx, tok, "555000000123")
	if err != nil {
		t.Fatal(err)
	}
	if got.RoleProfileID != "555000000123" || !got.LastSeen.Equal(clk.Now()) {
		t.Fatalf("SetRole returned role %q last seen %v", got.RoleProfileID, got.LastSeen)
	}
	if r := mustGet(t, s, tok).RoleProfileID; r != "555000000123" {
		t.Fatalf("Get after SetRole: role %q", r)
	}
	if _, err := s.SetRole(ctx, tok, "has space"); !errors.Is(err, sessions.ErrInvalid) {
		t.Fatalf("SetRole with a bad id: %v, want ErrInvalid", err)
	}
	if _, err := s.SetRole(ctx, tok, ""); err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, s, tok).RoleProfileID; r != "" {
		t.Fatalf("role %q after clearing", r)
	}
}

func testDelete(t *testing.T, s sessions.Store, _ *Clock) {
	ctx := context.Background()
	tok, _ := mustCreate(t, s, sample("555000000020", "card-10"))
	keep, _ := mustCreate(t, s, sample("555000000020", "card-10"))
	if err := s.Delete(ctx, tok); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	_, err := s.Get(ctx, tok)
	wantErr(t, "Get after Delete", err, sessions.ErrNotFound)
	wantErr(t, "second Delete", s.Delete(ctx, tok), sessions.ErrNotFound)
	mustGet(t, s, keep)
	// The ended session no longer counts for its user.
	if n, err := s.DeleteUser(ctx, "555000000020"); err != nil || n != 1 {
		t.Fatalf("DeleteUser = %d, %v; want 1", n, err)
	}
}

// testGetMany asks for live, expired, ended and unknown sessions (one of
// them twice) at once: each answer is the one Get gives, and the live
// sessions slide as Get slides them.
func testGetMany(t *testing.T, s sessions.Store, clk *Clock) {
	ctx := context.Background()
	if got, errs := s.GetMany(ctx, nil); len(got) != 0 || len(errs) != 0 {
		t.Fatalf("GetMany(nil) = %v, %v", got, errs)
	}
	live, want := mustCreate(t, s, sample("555000000021", "card-11"))
	short := sample("555000000022", "card-12")
	short.ExpiresAt = clk.Now().Add(time.Minute)
	expired, _ := mustCreate(t, s, short)
	ended, _ := mustCreate(t, s, sample("555000000023", "card-13"))
	if err := s.Delete(ctx, ended); err != nil {
		t.Fatal(err)
	}
	unknown, err := sessions.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Minute)
	got, errs := s.GetMany(ctx, []sessions.Token{live, expired, ended, unknown, live})
	if len(got) != 5 || len(errs) != 5 {
		t.Fatalf("GetMany gave %d sessions and %d errors for 5 tokens", len(got), len(errs))
	}
	for _, i := range []int{0, 4} {
		if errs[i] != nil || got[i] == nil || got[i].ID != want.ID || got[i].UserID != want.UserID ||
			!got[i].LastSeen.Equal(clk.Now()) {
			t.Fatalf("GetMany[%d] = %+v, %v; want %s seen at %v", i, got[i], errs[i], want.ID, clk.Now())
		}
	}
	wantErr(t, "GetMany of an expired session", errs[1], sessions.ErrExpired)
	wantErr(t, "GetMany of an ended session", errs[2], sessions.ErrNotFound)
	wantErr(t, "GetMany of an unknown token", errs[3], sessions.ErrNotFound)
	for _, i := range []int{1, 2, 3} {
		if got[i] != nil {
			t.Errorf("GetMany[%d] = %+v with error %v", i, got[i], errs[i])
		}
	}
	// The expired session is gone, as after Get.
	_, err = s.Get(ctx, expired)
	wantErr(t, "Get after GetMany found it expired", err, sessions.ErrNotFound)
	// And the live one slid: it outlives an idle timeout counted from creation.
	clk.Advance(sessions.DefaultIdleTimeout - time.Minute)
	mustGet(t, s, live)
}

// fleet creates sessions for users and cards; it returns their tokens by label.
func fleet(t *testing.T, s sessions.Store, specs map[string][2]string) map[string]sessions.Token {
	toks := make(map[string]sessions.Token)
	for label, uc := range specs {
		toks[label], _ = mustCreate(t, s, sample(uc[0], uc[1]))
	}
	return toks
}

func checkAlive(t *testing.T, s sessions.Store, toks map[string]sessions.Token, ended ...string) {
	t.Helper()
	gone := make(map[string]bool)
	for _, l := range ended {
		gone[l] = true
	}
	for label, tok := range toks {
		_, err := s.Get(context.Background(), tok)
		switch {
		case gone[label] && !errors.Is(err, sessions.ErrNotFound):
			t.Errorf("session %s: Get = %v, want ErrNotFound", label, err)
		case !gone[label] && err != nil:
			t.Errorf("session %s: Get = %v, want it alive", label, err)
		}
	}
}

func testDeleteUser(t *testing.T, s sessions.Store, clk *Clock) {
	ctx := context.Background()
	toks := fleet(t, s, map[string][2]string{
		"a1": {"555000000021", "card-a1"},
		"a2": {"555000000021", "card-a2"},
		"b1": {"555000000022", "card-b1"},
		"b2": {"555000000022", "card-a1"}, // same card, other user
	})
	n, err := s.DeleteUser(ctx, "555000000021")
	if err != nil || n != 2 {
		t.Fatalf("DeleteUser = %d, %v; want 2", n, err)
	}
	checkAlive(t, s, toks, "a1", "a2")
	if n, err := s.DeleteUser(ctx, "555000000021"); err != nil || n != 0 {
		t.Fatalf("second DeleteUser = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteUser(ctx, "555000000029"); err != nil || n != 0 {
		t.Fatalf("DeleteUser of a user without sessions = %d, %v", n, err)
	}
	// An idled-out session is ended but not counted.
	idle, got := mustCreate(t, s, sample("555000000023", "card-c1"))
	mustCreate(t, s, sample("555000000023", "card-c2"))
	clk.Advance(got.IdleTimeout / 2)
	mustGet(t, s, toks["b1"])
	mustGet(t, s, toks["b2"])
	clk.Advance(got.IdleTimeout / 2)
	if n, err := s.DeleteUser(ctx, "555000000023"); err != nil || n != 0 {
		t.Fatalf("DeleteUser of idled-out sessions = %d, %v; want 0", n, err)
	}
	_, err = s.Get(ctx, idle)
	wantErr(t, "Get after DeleteUser", err, sessions.ErrNotFound)
	checkAlive(t, s, map[string]sessions.Token{"b1": toks["b1"], "b2": toks["b2"]})
}

func testDeleteCard(t *testing.T, s sessions.Store, _ *Clock) {
	ctx := context.Background()
	toks := fleet(t, s, map[string][2]string{
		"a1": {"555000000031", "card-x"},
		"a2": {"555000000031", "card-x"},
		"a3": {"555000000031", "card-y"},
		"b1": {"555000000032", "card-z"},
	})
	n, err := s.DeleteCard(ctx, "card-x")
	if err != nil || n != 2 {
		t.Fatalf("DeleteCard = %d, %v; want 2", n, err)
	}
	checkAlive(t, s, toks, "a1", "a2")
	if n, err := s.DeleteCard(ctx, "card-x"); err != nil || n != 0 {
		t.Fatalf("second DeleteCard = %d, %v; want 0", n, err)
	}
	// The user index forgot the card's sessions: only a3 is left for the user.
	if n, err := s.DeleteUser(ctx, "555000000031"); err != nil || n != 1 {
		t.Fatalf("DeleteUser after DeleteCard = %d, %v; want 1", n, err)
	}
	checkAlive(t, s, toks, "a1", "a2", "a3")
}

func testConcurrent(t *testing.T, s sessions.Store, clk *Clock) {
	ctx := context.Background()
	const sessionsN, workers, rounds = 8, 16, 40
	toks := make([]sessions.Token, sessionsN)
	for i := range toks {
		toks[i], _ = mustCreate(t, s, sample("555000000041", fmt.Sprintf("card-%d", i%2)))
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*rounds)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < rounds; r++ {
				tok := toks[(w+r)%sessionsN]
				var err error
				switch (w + r) % 7 {
				case 0:
					err = s.Delete(ctx, tok)
				case 1, 2:
					_, err = s.SetRole(ctx, tok, fmt.Sprintf("5550000001%02d", w))
				case 3:
					if w == 0 && r == 3 {
						_, err = s.DeleteCard(ctx, "card-1")
					}
				case 4:
					clk.Advance(time.Millisecond)
					_, err = s.Get(ctx, tok)
				default:
					_, err = s.Get(ctx, tok)
				}
				if err != nil && !errors.Is(err, sessions.ErrNotFound) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent use: %v", err)
	}
	if _, err := s.DeleteUser(ctx, "555000000041"); err != nil {
		t.Fatal(err)
	}
	for i, tok := range toks {
		if _, err := s.Get(ctx, tok); !errors.Is(err, sessions.ErrNotFound) {
			t.Errorf("session %d after DeleteUser: %v", i, err)
		}
	}
}
