package cardagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitRefused = 1 // the card, the PIN or authd said no
	exitUsage   = 2
)

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const usage = `usage: cardagent [<command>] [flags]

commands:
  watch    (the default) watch the card readers: log in when a card is
           inserted, keep the session, end it when the card is removed;
           flags --config FILE, --pin-fd N
  login    log in once with a PKCS#11 token and print the session
`

// Main runs cardagent with args (without the program name).
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdin, stdout, stderr)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "cardagent: %v\n", err)
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	return exitRefused
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		return watchCmd(ctx, args, stderr)
	}
	switch args[0] {
	case "watch":
		return watchCmd(ctx, args[1:], stderr)
	case "login":
		return loginCmd(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usagef("unknown command %q", args[0])
	}
}
