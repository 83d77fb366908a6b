package pin

import (
	"errors"
	"fmt"
	"testing"
)

func TestRevealRoundTrip(t *testing.T) {
	p, err := New("123456")
	if err != nil {
		t.Fatal(err)
	}
	if Reveal(p) != "123456" || p.IsZero() {
		t.Errorf("Reveal = %q", Reveal(p))
	}
	if Reveal(PIN{}) != "" || !(PIN{}).IsZero() {
		t.Error("zero PIN is not empty")
	}
}

func TestNewLimits(t *testing.T) {
	for n := 0; n <= MaxLen+1; n++ {
		s := fmt.Sprintf("%0*d", n, 0)[:n]
		_, err := New(s)
		if ok := n >= MinLen && n <= MaxLen; ok != (err == nil) {
			t.Errorf("length %d: %v", n, err)
		}
		if err != nil && !errors.Is(err, ErrFormat) {
			t.Errorf("length %d: %v does not match ErrFormat", n, err)
		}
	}
}
