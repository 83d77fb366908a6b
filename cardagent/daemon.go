package cardagent

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/carespine/spineauth/pkcs11"
	"github.com/carespine/spineauth/pkcs11/pcsc"
)

// defaultConfigPath is where `cardagent` looks for its configuration
// without --config: $CARDAGENT_CONFIG, else the user's config directory.
func defaultConfigPath() string {
	if p := os.Getenv("CARDAGENT_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "spineauth", "cardagent.yaml")
}

// watchCmd is the daemon: `cardagent` or `cardagent watch`.
func watchCmd(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("cardagent watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", defaultConfigPath(), "configuration `file` (or $CARDAGENT_CONFIG)")
	pinFD := fs.Int("pin-fd", -1, "read PINs and role choices, one per line, from this file `descriptor` instead of the terminal (for scripts and tests)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 0 {
		return usagef("cardagent watch takes no arguments")
	}
	if *cfgPath == "" {
		return usagef("no configuration file: give --config FILE")
	}
	cfg, err := LoadDaemonConfig(*cfgPath)
	if err != nil {
		return usageError{err}
	}
	log := NewLogger(stderr, cfg.Log)

	var prompt Prompter
	if *pinFD >= 0 {
		if *pinFD <= 2 {
			return usagef("--pin-fd: %d is standard input or output; use another descriptor", *pinFD)
		}
		f := os.NewFile(uintptr(*pinFD), "pin-fd")
		if f == nil {
			return usagef("--pin-fd: %d is not open", *pinFD)
		}
		defer f.Close()
		prompt = NewLinePrompter(f, stderr)
	} else {
		tp, err := NewTerminalPrompter()
		if err != nil {
			return err
		}
		prompt = tp
	}
	hc, err := httpClient(cfg.CAFile)
	if err != nil {
		return err
	}
	hc.Timeout = cfg.RequestTimeout
	mod, err := pkcs11.Open(cfg.Module)
	if err != nil {
		return fmt.Errorf("PKCS#11 module %s: %w", cfg.Module, err)
	}
	defer mod.Close()
	ln, err := ListenUnix(cfg.Socket)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Socket)

	agent := NewAgent(Options{Workstation: cfg.WorkstationID, Refresh: cfg.Refresh, RetryMin: cfg.RetryMin, RetryMax: cfg.RetryMax, PINTries: cfg.PINTries},
		Deps{Logger: log, Client: &Client{BaseURL: cfg.AuthdURL, HTTP: hc},
			Tokens: ModuleTokens{Module: mod, Wait: cfg.TokenWait}, Prompter: prompt})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events, err := pcsc.Watch(ctx, pcsc.Options{Logger: log, MinBackoff: cfg.RetryMin, MaxBackoff: cfg.RetryMax})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	var apiErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		apiErr = NewLocalAPI(agent).Serve(ctx, ln)
		cancel()
	}()
	log.Info("cardagent watching readers", "authd", cfg.AuthdURL, "socket", cfg.Socket, "module", cfg.Module, "workstation", cfg.WorkstationID)
	err = agent.Run(ctx, events)
	cancel()
	for range events {
	}
	wg.Wait()
	log.Info("cardagent stopped")
	return errors.Join(err, apiErr)
}

// sensitiveKeys are log attribute keys whose values are never written:
// the one place the agent strips secrets from its logs.
var sensitiveKeys = map[string]bool{
	"pin": true, "password": true, "token": true, "session_token": true,
	"authorization": true, "signature": true, "private_key": true, "so_pin": true, "puk": true,
}

func redact(_ []string, a slog.Attr) slog.Attr {
	if sensitiveKeys[strings.ToLower(a.Key)] {
		return slog.String(a.Key, "REDACTED")
	}
	return a
}

// NewLogger builds the agent's logger from the log section.
func NewLogger(w io.Writer, c LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: redact}
	if c.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
