// Command vcard is a virtual PIV smartcard for pcscd's vpcd reader driver.
// All of its behaviour lives in package testkeys/vcard.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/carespine/spineauth/testkeys/vcard"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := vcard.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
