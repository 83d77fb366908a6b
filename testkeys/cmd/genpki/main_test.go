package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRunWritesTheCommittedFileSet runs the generator into a temporary
// directory and checks that it writes exactly the files committed in
// testkeys/pki (README.md aside), so the two cannot drift apart unnoticed.
// The contents differ on every run: keys and serials are random.
func TestRunWritesTheCommittedFileSet(t *testing.T) {
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), []string{"-out", out}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("unexpected stderr: %s", stderr.String())
	}
	got, want := listFiles(t, out), listFiles(t, filepath.Join("..", "..", "pki"))
	want = slices.DeleteFunc(want, func(s string) bool { return s == "README.md" })
	if !slices.Equal(got, want) {
		t.Errorf("generated files differ from testkeys/pki:\n got %v\nwant %v", got, want)
	}

	// A second run reports files it did not write, and leaves them alone.
	if err := os.WriteFile(filepath.Join(out, "leftover.pem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	stderr.Reset()
	if err := run(t.Context(), []string{"-out", out}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr.String(), "leftover.pem was not written by this run") {
		t.Errorf("stale file not reported: %q", stderr.String())
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"-nosuchflag"}} {
		var stdout, stderr bytes.Buffer
		if err := run(t.Context(), args, &stdout, &stderr); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	var names []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		names = append(names, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}
