package pkcs11_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/carespine/spineauth/pkcs11"
)

func TestNewPIN(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"6 digits", "123456", true},
		{"8 digits", "12345678", true},
		{"4 characters", "1234", true},
		{"16 characters", "abcdefghijklmnop", true},
		{"punctuation", "a!b#c$d~", true},
		{"empty", "", false},
		{"3 digits", "123", false},
		{"17 characters", "12345678901234567", false},
		{"space", "123 456", false},
		{"tab", "123\t456", false},
		{"newline", "123456\n", false},
		{"NUL", "123\x00456", false},
		{"non-ASCII", "12345é", false},
		{"DEL", "12345\x7f", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := pkcs11.NewPIN(tc.in)
			if tc.ok {
				if err != nil || p.IsZero() {
					t.Fatalf("NewPIN: %v", err)
				}
				return
			}
			wantKind(t, err, pkcs11.ErrPINFormat)
			if tc.in != "" && strings.Contains(err.Error(), tc.in) {
				t.Errorf("the error quotes the PIN: %v", err)
			}
		})
	}
}

func TestPINEqual(t *testing.T) {
	a, b, c := mustPIN("123456"), mustPIN("123456"), mustPIN("123457")
	if !a.Equal(b) || a.Equal(c) || a.Equal(mustPIN("1234567")) || a.Equal(pkcs11.PIN{}) {
		t.Error("Equal is wrong")
	}
	if !(pkcs11.PIN{}).Equal(pkcs11.PIN{}) {
		t.Error("zero PINs differ")
	}
}

// No way of printing, logging or marshalling a PIN shows its characters.
func TestPINRedaction(t *testing.T) {
	const secret = "31415926"
	p := mustPIN(secret)
	holder := struct {
		User string
		PIN  pkcs11.PIN
		Ptr  *pkcs11.PIN
	}{"alice", p, &p}

	var out []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		out = append(out, fmt.Sprintf(verb, p), fmt.Sprintf(verb, &p), fmt.Sprintf(verb, holder))
	}
	out = append(out, fmt.Sprint(p), fmt.Sprintln(p, &p), p.String(), p.GoString(),
		fmt.Errorf("with %v", p).Error(), errors.Join(fmt.Errorf("%s", p)).Error())
	j, err := json.Marshal(holder)
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, string(j))

	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("login", "pin", p, "ptr", &p, "holder", holder)
		l.Info("login", slog.Any("pin", p), slog.Group("g", "pin", p))
		l.With("pin", p).Info("with")
	}
	out = append(out, logs.String())

	for _, s := range out {
		if strings.Contains(s, secret) {
			t.Errorf("PIN leaked: %s", s)
		}
	}
	if !strings.Contains(logs.String(), "redacted") || !strings.Contains(fmt.Sprint(p), "redacted") {
		t.Errorf("no placeholder: %s / %s", logs.String(), fmt.Sprint(p))
	}
	if got := fmt.Sprint(pkcs11.PIN{}); got != "PIN(empty)" {
		t.Errorf("zero PIN prints %q", got)
	}
}
