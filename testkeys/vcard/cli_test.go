package vcard_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/carespine/spineauth/testkeys"
	"github.com/carespine/spineauth/testkeys/pcsctest"
	"github.com/carespine/spineauth/testkeys/scripttest"
	"github.com/carespine/spineauth/testkeys/vcard"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"vcard": func() { os.Exit(vcard.Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts in testdata/script ($PKI is the
// committed test PKI).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("PKI", testkeys.Dir())
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits N command args...: runs the command and requires exit status N.
			"exits": scripttest.Exits,
			// mode FILE PERM: the file's permission bits are PERM (octal).
			"mode": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: mode FILE PERM")
				}
				fi, err := os.Stat(ts.MkAbs(args[0]))
				if err != nil {
					ts.Fatalf("mode: %v", err)
				}
				if got := fmt.Sprintf("%o", fi.Mode().Perm()); (got == args[1]) == neg {
					ts.Fatalf("%s has mode %s", args[0], got)
				}
			},
		},
	})
}

// TestRunInsertRemove drives `vcard run` as a user would: it inserts the
// card into a reader of a private pcscd, and stdin commands take it out
// and put it back, which pcscd sees.
func TestRunInsertRemove(t *testing.T) {
	needOpenSC(t)
	t.Parallel()
	d := pcsctest.Start(t)
	dir := t.TempDir()
	state := filepath.Join(dir, "card.json")
	fixture := filepath.Join(testkeys.Dir(), testkeys.Users[2].CardEC())
	var initOut strings.Builder
	if code := vcard.Main(context.Background(), []string{"init", "--state", state,
		"--cert", fixture + ".pem", "--key", fixture + ".key"}, nil, &initOut, io.Discard); code != 0 {
		t.Fatalf("vcard init: exit %d", code)
	}

	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- vcard.Main(ctx, []string{"run", "--state", state, "--vpcd", d.Readers[1].Addr},
			stdinR, stdoutW, tlogWriter{t})
		stdoutW.Close()
	}()
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdoutR)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(prefix string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("vcard run ended before printing %q", prefix)
				}
				if strings.HasPrefix(l, prefix) {
					return
				}
			case <-timeout:
				t.Fatalf("vcard run did not print %q", prefix)
			}
		}
	}
	send := func(cmd string) {
		t.Helper()
		if _, err := io.WriteString(stdinW, cmd+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	reader := d.Readers[1].Name
	expect("inserted " + d.Readers[1].Addr)
	waitFor(t, "card in reader 1", func() bool { return readerHasCard(t, d, reader) })
	send("remove")
	expect("removed")
	waitFor(t, "card out of reader 1", func() bool { return !readerHasCard(t, d, reader) })
	send("insert")
	expect("inserted")
	waitFor(t, "card back in reader 1", func() bool { return readerHasCard(t, d, reader) })
	if out := mustTool(t, d, "pkcs11-tool", p11("--list-token-slots")...); !strings.Contains(out, testkeys.Users[2].CN()) {
		t.Fatalf("token of the running card not listed:\n%s", out)
	}
	send("status")
	expect("pin tries left: 3 of 3")
	// pcscd restarts: the card goes back into the reader by itself.
	if err := d.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect("reader closed the connection")
	expect("inserted " + d.Readers[1].Addr)
	waitFor(t, "card in reader 1 after pcscd restart", func() bool { return readerHasCard(t, d, reader) })
	send("quit")
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("vcard run: exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("vcard run did not quit")
	}
	waitFor(t, "card out after quit", func() bool { return !readerHasCard(t, d, reader) })
}
