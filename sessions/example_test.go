package sessions_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/carespine/spineauth/sessions"
)

// A login creates a session; the token goes to the workstation and nowhere
// else; later requests present it.
func ExampleMemory() {
	ctx := context.Background()
	store := sessions.NewMemory(sessions.Config{})
	defer store.Close()

	tok, s, err := store.Create(ctx, sessions.Session{
		UserID: "555000000011", CardID: "card-1", CertSerial: "3f2a", WorkstationID: "ws-1",
	})
	if err != nil {
		panic(err)
	}
	wire := tok.Encode() // goes into the login response, only there

	presented, err := sessions.ParseToken(wire)
	if err != nil {
		panic(err)
	}
	got, err := store.Get(ctx, presented)
	fmt.Println(got.UserID, got.ID == s.ID, err)

	n, _ := store.DeleteCard(ctx, "card-1") // the card was pulled out
	_, err = store.Get(ctx, presented)
	fmt.Println(n, errors.Is(err, sessions.ErrNotFound))
	// Output:
	// 555000000011 true <nil>
	// 1 true
}

// Printing or logging a token never shows it.
func ExampleToken_String() {
	tok, _ := sessions.NewToken()
	fmt.Println(tok)
	fmt.Printf("%x\n", tok)
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	logger.Info("login", "token", tok)
	// Output:
	// session-token(REDACTED)
	// session-token(REDACTED)
	// level=INFO msg=login token=session-token(REDACTED)
}
