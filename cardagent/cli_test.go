package cardagent

import (
	"context"
	"os"
	"testing"

	"github.com/carespine/spineauth/testkeys/scripttest"
	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cardagent": func() { os.Exit(Main(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts in testdata/script: the command
// line's usage errors and configuration checks.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits N command args...: runs the command and requires exit status N.
			"exits": scripttest.Exits,
		},
	})
}
