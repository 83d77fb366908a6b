package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitInvalid = 1 // the thing checked was refused
	ExitUsage   = 2 // bad usage or unreadable input
)

// usageError marks errors that exit with ExitUsage.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// errInvalid is returned once a refusal has been reported on stdout.
var errInvalid = errors.New("invalid")

const topUsage = `usage: authd <command> [arguments]

commands:
  serve --config FILE   run the daemon
  dev                   run the embedded default with demo data (see its output)
  cert verify           verify a certificate the way the login path does
`

// Main runs authd with args (without the program name) and returns the
// process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := run(ctx, args, stdout, stderr)
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, errInvalid):
		return ExitInvalid
	default:
		fmt.Fprintf(stderr, "authd: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			return ExitUsage
		}
		return ExitInvalid
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage)
		return usagef("no command given")
	}
	switch args[0] {
	case "cert":
		if len(args) < 2 || args[1] != "verify" {
			fmt.Fprint(stderr, topUsage)
			return usagef("unknown cert subcommand; try: authd cert verify")
		}
		return certVerify(ctx, args[2:], stdout, stderr)
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "dev":
		return dev(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, topUsage)
		return nil
	default:
		fmt.Fprint(stderr, topUsage)
		return usagef("unknown command %q", args[0])
	}
}
