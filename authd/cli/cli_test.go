package cli

import (
	"context"
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/carespine/spineauth/testkeys"
	"github.com/carespine/spineauth/testkeys/scripttest"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"authd": func() { os.Exit(Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the txtar scripts in testdata/script. $PKI is the
// committed test PKI; $TESTDATA is this package's testdata folder.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("PKI", testkeys.Dir())
			wd, err := os.Getwd()
			if err != nil {
				return err
			}
			env.Setenv("TESTDATA", wd+"/testdata")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits N command args...: runs the command and requires exit status N.
			"exits": scripttest.Exits,
		},
	})
}
