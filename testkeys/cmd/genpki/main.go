// Command genpki regenerates the committed test PKI in testkeys/pki.
//
// Run it from the module root:
//
//	go run ./testkeys/cmd/genpki -out testkeys/pki
//
// Every run makes fresh random keys and serial numbers, so the whole
// directory changes; the output is committed and tests read it through the
// testkeys package. README.md in the output directory is written by hand and
// left alone. What each fixture is and how a verifier must treat it is
// documented there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genpki:", err)
		os.Exit(1)
	}
}

// run parses the flags, builds the PKI in memory and writes it out.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("genpki", flag.ContinueOnError)
	flags.SetOutput(stderr)
	out := flags.String("out", "testkeys/pki", "output `directory` (created if missing)")
	flags.Usage = func() {
		fmt.Fprintln(stderr, "usage: genpki [-out DIR]")
		flags.PrintDefaults()
	}
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() != 0 {
		flags.Usage()
		return fmt.Errorf("unexpected arguments: %q", flags.Args())
	}

	files, err := generate(ctx)
	if err != nil {
		return err
	}
	if err := writeFiles(*out, files); err != nil {
		return err
	}
	stale, err := staleFiles(*out, files)
	if err != nil {
		return err
	}
	for _, name := range stale {
		fmt.Fprintf(stderr, "genpki: warning: %s was not written by this run; delete it if it is obsolete\n",
			filepath.Join(*out, name))
	}
	fmt.Fprintf(stdout, "wrote %d files to %s\n", len(files), *out)
	return nil
}

// writeFiles writes every file under dir, creating directories as needed.
// Names use forward slashes. The keys are test keys that are committed to
// the repository, so nothing here is secret and every file is 0644.
func writeFiles(dir string, files map[string][]byte) error {
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

// staleFiles lists the regular files under dir that this run did not write,
// apart from the hand-written README.md. They are reported, never deleted:
// -out may point anywhere.
func staleFiles(dir string, files map[string][]byte) ([]string, error) {
	var stale []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if _, ok := files[rel]; !ok && rel != "README.md" {
			stale = append(stale, rel)
		}
		return nil
	})
	return stale, err
}
