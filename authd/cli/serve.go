package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/carespine/spineauth/authd/config"
	"github.com/carespine/spineauth/authd/server"
)

// serve implements `authd serve --config FILE`.
func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("authd serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "configuration `file` (YAML)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *path == "" || fs.NArg() != 0 {
		fs.Usage()
		return usagef("authd serve needs --config FILE and no other arguments")
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usagef("%v", err)
	}
	return runServer(ctx, cfg, server.Options{Logger: server.NewLogger(stderr, cfg.Log)}, nil)
}

// runServer builds and serves until ctx ends. ready, when set, is called
// once the listener is open (authd dev prints its walkthrough then).
func runServer(ctx context.Context, cfg *config.Config, opts server.Options, ready func(*server.Server, net.Addr) error) error {
	srv, err := server.New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if ready != nil {
		if err := ready(srv, l.Addr()); err != nil {
			l.Close()
			return err
		}
	}
	return srv.Serve(ctx, l)
}
