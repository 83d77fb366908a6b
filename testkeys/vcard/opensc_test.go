package vcard_test

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/carespine/spineauth/testkeys"
	"github.com/carespine/spineauth/testkeys/pcsctest"
	"github.com/carespine/spineauth/testkeys/vcard"
)

const openscModule = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"

// newCard makes a card holding the fixture's key and certificate in 9A,
// with PIN 123456 and PUK 12345678, saved in a temporary state file.
func newCard(t *testing.T, fixture string) (*vcard.Card, string) {
	t.Helper()
	st, err := vcard.NewState(nil, vcard.Secret("123456"), vcard.Secret("12345678"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetKeyAndCert(0x9A, testkeys.Key(t, fixture), testkeys.Cert(t, fixture)); err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/card.json"
	if err := st.Save(path); err != nil {
		t.Fatal(err)
	}
	c, err := vcard.Open(path, vcard.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return c, path
}

// tool runs an OpenSC tool against the private pcscd and returns its
// combined output and exit error.
func tool(t *testing.T, d *pcsctest.Daemon, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = d.Env()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func insert(t *testing.T, c *vcard.Card, addr string) {
	t.Helper()
	if err := c.Insert(context.Background(), addr); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Remove() })
}

func TestOpenSCExplore(t *testing.T) {
	d := pcsctest.Start(t)
	c, _ := newCard(t, testkeys.Users[0].CardEC())
	insert(t, c, d.Readers[0].Addr)
	time.Sleep(time.Second)
	out, err := tool(t, d, "opensc-tool", "-l")
	t.Logf("%v\n%s", err, out)
	out, err = tool(t, d, "pkcs11-tool", "--module", openscModule, "--list-objects")
	t.Logf("%v\n%s", err, out)
	out, err = tool(t, d, "pkcs11-tool", "--module", openscModule, "--test", "--login", "--pin", "123456")
	t.Logf("%v\n%s", err, out)
}
