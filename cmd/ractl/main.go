// Command ractl is the registration authority's command-line client of
// authd's RA API. All of its behaviour lives in package ractl.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/carespine/spineauth/ractl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ractl.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
