package sessions_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/carespine/spineauth/sessions"
)

func TestTokenRoundTrip(t *testing.T) {
	tok, err := sessions.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	enc := tok.Encode()
	if len(enc) != 43 || strings.ContainsAny(enc, "+/=") {
		t.Fatalf("wire form %q is not 43 chars of unpadded base64url", enc)
	}
	back, err := sessions.ParseToken(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(tok) || back.Hash() != tok.Hash() {
		t.Fatal("ParseToken(Encode()) is not the same token")
	}
	other, _ := sessions.NewToken()
	if other.Equal(tok) {
		t.Fatal("two new tokens are equal")
	}
	if tok.IsZero() || !(sessions.Token{}).IsZero() {
		t.Fatal("IsZero is wrong")
	}
}

func TestParseTokenStrict(t *testing.T) {
	good := strings.Repeat("A", 42) + "E" // last char carries 2 unused bits, zero here
	if _, err := sessions.ParseToken(good); err != nil {
		t.Fatalf("ParseToken(%q): %v", good, err)
	}
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"short", good[:42]},
		{"long", good + "A"},
		{"padded", good + "="},
		{"std alphabet plus", "+" + good[1:]},
		{"std alphabet slash", "/" + good[1:]},
		{"non-zero trailing bits", strings.Repeat("A", 42) + "B"},
		{"space", " " + good[1:]},
		{"newline", good[:42] + "\n"},
		{"non-ascii", "é" + good[2:]},
		{"bearer prefix", "Bearer " + good[7:]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sessions.ParseToken(tc.in)
			if !errors.Is(err, sessions.ErrMalformedToken) {
				t.Fatalf("ParseToken(%q) = %v, want ErrMalformedToken", tc.in, err)
			}
			if tc.in != "" && strings.Contains(err.Error(), tc.in) {
				t.Fatalf("error %q quotes the input", err)
			}
		})
	}
}

// TestTokenNeverPrinted: no formatting, logging or marshalling path shows the
// secret in any encoding.
func TestTokenNeverPrinted(t *testing.T) {
	tok, err := sessions.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{tok.Encode(), fmt.Sprintf("%x", tok[:]), fmt.Sprintf("%X", tok[:]), fmt.Sprint(tok[:]), string(tok[:])}
	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		outs = append(outs, fmt.Sprintf(verb, tok), fmt.Sprintf(verb, &tok))
	}
	outs = append(outs, tok.String(), tok.GoString(), fmt.Sprint(struct{ T sessions.Token }{tok}), fmt.Sprintf("%+v", struct{ T sessions.Token }{tok}))
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("x", "tok", tok, "nested", struct{ T sessions.Token }{tok})
	slog.New(slog.NewTextHandler(&logs, nil)).Info("x", "tok", tok)
	outs = append(outs, logs.String())
	j, err := json.Marshal(struct{ T sessions.Token }{tok})
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))
	for _, out := range outs {
		for _, s := range secrets {
			if strings.Contains(out, s) {
				t.Fatalf("output %q shows the token", out)
			}
		}
	}
	if got := fmt.Sprint(tok); got != "session-token(REDACTED)" {
		t.Fatalf("String = %q", got)
	}
}

func FuzzParseToken(f *testing.F) {
	tok, _ := sessions.NewToken()
	f.Add(tok.Encode())
	f.Add(strings.Repeat("A", 42) + "B")
	f.Add(strings.Repeat("_", 43))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := sessions.ParseToken(s)
		if err != nil {
			if !errors.Is(err, sessions.ErrMalformedToken) {
				t.Fatalf("error %v does not wrap ErrMalformedToken", err)
			}
			return
		}
		if tok.Encode() != s {
			t.Fatalf("%q parsed but encodes back as another spelling", s)
		}
	})
}
