// Command cardagent is the workstation agent for smartcard login. All of
// its behaviour lives in package cardagent.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/carespine/spineauth/cardagent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cardagent.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
