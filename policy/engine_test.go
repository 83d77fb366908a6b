package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeFiles writes files under dir atomically (a hidden temporary file
// renamed into place), so a poll never sees half a file.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p))
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newEngine(t *testing.T, cfg Config) *Engine {
	t.Helper()
	e, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

func accessInput(section, action string, activities ...string) map[string]any {
	acts := make([]any, len(activities))
	for i, a := range activities {
		acts[i] = a
	}
	return map[string]any{
		"action":   action,
		"resource": map[string]any{"section": section},
		"subject":  map[string]any{"activities": acts},
	}
}

func TestEvalTestdataPolicy(t *testing.T) {
	e := newEngine(t, Config{
		Source:   FSSource(os.DirFS("testdata/basic")),
		Queries:  map[string]string{"access": "data.spine.access.decision"},
		RunTests: true,
	})
	if got := e.Status().TestsPassed; got != 2 {
		t.Errorf("TestsPassed = %d, want 2", got)
	}
	for _, tc := range []struct {
		name   string
		input  map[string]any
		allow  bool
		reason string
	}{
		{"view scr with B0370", accessInput("scr", "view", "B0264", "B0370"), true, ""},
		{"view scr without B0370", accessInput("scr", "view", "B0264"), false, "activity_not_permitted"},
		{"amend scr needs B8028", accessInput("scr", "amend", "B0370"), false, "activity_not_permitted"},
		{"unknown section", accessInput("clinical", "view", "B0370"), false, "activity_not_permitted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Eval(t.Context(), "access", tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if res.Revision != e.Revision() || len(res.Revision) != 16 {
				t.Errorf("Revision = %q, engine has %q", res.Revision, e.Revision())
			}
			d := res.Value.(map[string]any)
			if d["allow"] != tc.allow {
				t.Errorf("allow = %v, want %v", d["allow"], tc.allow)
			}
			codes := fmt.Sprint(d["reason_codes"])
			if tc.reason != "" && codes != "["+tc.reason+"]" {
				t.Errorf("reason_codes = %s, want [%s]", codes, tc.reason)
			}
		})
	}
}

func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.rego": `package p
maybe := "yes" if input.x == 1
`})
	e := newEngine(t, Config{Source: FSSource(os.DirFS(dir)), Queries: map[string]string{"maybe": "data.p.maybe"}})
	if res, err := e.Eval(t.Context(), "maybe", map[string]any{"x": 1}); err != nil || res.Value != "yes" {
		t.Fatalf("defined: %v, %v", res, err)
	}
	if _, err := e.Eval(t.Context(), "maybe", map[string]any{"x": 2}); !errors.Is(err, ErrUndefined) {
		t.Errorf("undefined: err = %v, want ErrUndefined", err)
	}
	if _, err := e.Eval(t.Context(), "nope", nil); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("unknown query: err = %v, want ErrUnknownQuery", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.Eval(ctx, "maybe", map[string]any{"x": 1}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestNewRefuses(t *testing.T) {
	good := map[string]string{"p.rego": "package p\nd := 1\n"}
	for _, tc := range []struct {
		name  string
		files map[string]string
		query string
		tests bool
		want  string
	}{
		{"no files", map[string]string{}, "data.p.d", false, "no policy files"},
		{"only data", map[string]string{"d.json": `{"a": 1}`}, "data.a", false, "no policy modules"},
		{"syntax error", map[string]string{"p.rego": "package p\nd := \n"}, "data.p.d", false, "rego_parse_error"},
		{"compile error", map[string]string{"p.rego": "package p\nd := x\n"}, "data.p.d", false, "rego_unsafe_var_error"},
		{"failing test", map[string]string{"p.rego": "package p\nd := 1\n", "p_test.rego": "package p\ntest_d if d == 2\n"}, "data.p.d", true, "policy tests failed: 1 of 1: data.p.test_d: fail"},
		{"network builtin", map[string]string{"p.rego": "package p\nd := http.send({\"method\": \"get\", \"url\": input.u})\n"}, "data.p.d", false, "http.send"},
		{"query refers to nothing", good, "data.q.d", false, "refers to no rule or document"},
		{"conflicting data", map[string]string{"p.rego": "package p\nd := 1\n", "a.json": `{"x": 1}`, "b/a.json": `{"x": 2}`}, "data.p.d", false, "merge error"},
		{"bad query", good, "data.p.d[", false, "queries[q]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			e, err := New(t.Context(), Config{Source: DirSource(dir), Queries: map[string]string{"q": tc.query}, RunTests: tc.tests})
			if err == nil {
				e.Close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	t.Run("config", func(t *testing.T) {
		_, err := New(t.Context(), Config{Reload: -1})
		for _, want := range []string{"source: required", "queries: at least one", "reload: must not be negative"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to mention %q", err, want)
			}
		}
	})
	t.Run("missing directory", func(t *testing.T) {
		_, err := New(t.Context(), Config{Source: DirSource(filepath.Join(t.TempDir(), "nope")), Queries: map[string]string{"q": "data.p.d"}})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want ErrNotExist", err)
		}
	})
}

func TestRevision(t *testing.T) {
	files := map[string]string{"a/p.rego": "package p\nd := 1\n", "data.json": `{"x": 1}`}
	rev := func(t *testing.T, dir string) string {
		t.Helper()
		snap, err := readSnapshot(os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		return snap.revision
	}
	dir1, dir2 := t.TempDir(), t.TempDir()
	writeFiles(t, dir1, files)
	writeFiles(t, dir2, files)
	base := rev(t, dir1)
	t.Run("same content same revision", func(t *testing.T) {
		if got := rev(t, dir2); got != base {
			t.Errorf("revision %s != %s", got, base)
		}
	})
	t.Run("ignored files do not count", func(t *testing.T) {
		writeFiles(t, dir2, map[string]string{"README.md": "x", ".hidden/q.rego": "package q", "testdata/t.json": "{}", "_x/y.json": "{}"})
		if got := rev(t, dir2); got != base {
			t.Errorf("revision %s != %s", got, base)
		}
	})
	t.Run("mtime does not count", func(t *testing.T) {
		future := time.Now().Add(time.Hour)
		if err := os.Chtimes(filepath.Join(dir2, "a/p.rego"), future, future); err != nil {
			t.Fatal(err)
		}
		if got := rev(t, dir2); got != base {
			t.Errorf("revision %s != %s", got, base)
		}
	})
	t.Run("content counts", func(t *testing.T) {
		writeFiles(t, dir2, map[string]string{"data.json": `{"x": 2}`})
		if got := rev(t, dir2); got == base {
			t.Error("revision unchanged")
		}
	})
	t.Run("names count", func(t *testing.T) {
		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{"b/p.rego": files["a/p.rego"], "data.json": files["data.json"]})
		if got := rev(t, dir); got == base {
			t.Error("revision unchanged by a rename")
		}
	})
	t.Run("engine reports it and a touch does not reload", func(t *testing.T) {
		e := newEngine(t, Config{Source: DirSource(dir1), Queries: map[string]string{"d": "data.p.d"}, Reload: time.Hour})
		if e.Revision() != base {
			t.Fatalf("engine revision %s, want %s", e.Revision(), base)
		}
		loaded := e.Status().LoadedAt
		now := time.Now()
		if err := os.Chtimes(filepath.Join(dir1, "a/p.rego"), now, now); err != nil {
			t.Fatal(err)
		}
		if err := e.Reload(t.Context()); err != nil {
			t.Fatal(err)
		}
		if st := e.Status(); st.Revision != base || !st.LoadedAt.Equal(loaded) {
			t.Errorf("after touch: %+v", st)
		}
	})
}

// versioned is a policy answering "v<n>" with a Rego test that passes,
// or (pass false) fails. Only v.rego differs between versions, so every
// change is one atomic write and a poll never sees half of one.
func versioned(n int, pass bool) map[string]string {
	version := n
	if !pass {
		version = -n
	}
	return map[string]string{
		"v.rego":      fmt.Sprintf("package v\n\nversion := %d\n\ndecision := sprintf(\"v%%d\", [version])\n", version),
		"v_test.rego": "package v_test\n\nimport data.v\n\ntest_version if v.version > 0\n",
	}
}

func TestHotReload(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, versioned(1, true))
	e := newEngine(t, Config{
		Source:   DirSource(dir),
		Queries:  map[string]string{"v": "data.v.decision"},
		RunTests: true,
		Reload:   20 * time.Millisecond,
	})
	decision := func() string {
		res, err := e.Eval(t.Context(), "v", nil)
		if err != nil {
			t.Fatalf("Eval: %v", err)
		}
		return res.Value.(string)
	}
	if got := decision(); got != "v1" {
		t.Fatalf("decision = %s, want v1", got)
	}

	t.Run("valid policy is picked up", func(t *testing.T) {
		rev := e.Revision()
		writeFiles(t, dir, versioned(2, true))
		waitFor(t, "v2", func() bool { return decision() == "v2" })
		if st := e.Status(); st.Revision == rev || st.Degraded || st.LastError != "" || st.TestsPassed != 1 {
			t.Errorf("status = %+v", st)
		}
	})
	t.Run("syntax error keeps the last good policy", func(t *testing.T) {
		rev := e.Revision()
		writeFiles(t, dir, map[string]string{"v.rego": "package v\n\ndecision := \"v3\" if {\n"})
		waitFor(t, "poll to notice", func() bool { return e.Status().Degraded })
		err := e.Reload(t.Context())
		if err == nil || !strings.Contains(err.Error(), "rego_parse_error") {
			t.Fatalf("Reload = %v, want a parse error", err)
		}
		if got := decision(); got != "v2" {
			t.Errorf("decision = %s, want v2 (the last good policy)", got)
		}
		st := e.Status()
		if st.Revision != rev || !st.Degraded || !strings.Contains(st.LastError, "rego_parse_error") || !st.LastErrorAt.After(st.LoadedAt) {
			t.Errorf("status = %+v", st)
		}
	})
	t.Run("failing tests are refused", func(t *testing.T) {
		writeFiles(t, dir, versioned(4, false))
		err := e.Reload(t.Context())
		if !errors.Is(err, ErrTestsFailed) || !strings.Contains(err.Error(), "data.v_test.test_version: fail") {
			t.Fatalf("Reload = %v, want ErrTestsFailed naming the test", err)
		}
		time.Sleep(100 * time.Millisecond) // several polls: still refused
		if got := decision(); got != "v2" {
			t.Errorf("decision = %s, want v2", got)
		}
		if st := e.Status(); !st.Degraded || !strings.Contains(st.LastError, "policy tests failed") {
			t.Errorf("status = %+v", st)
		}
	})
	t.Run("fixed policy loads again", func(t *testing.T) {
		writeFiles(t, dir, versioned(5, true))
		waitFor(t, "v5", func() bool { return decision() == "v5" })
		st := e.Status()
		if st.Degraded || st.LastError == "" || !st.LoadedAt.After(st.LastErrorAt) {
			t.Errorf("status = %+v, want healthy with the old error kept", st)
		}
	})
	t.Run("returning to the enforced content clears degraded", func(t *testing.T) {
		writeFiles(t, dir, map[string]string{"v.rego": "package v\n\ndecision := \n"})
		waitFor(t, "degraded", func() bool { return e.Status().Degraded })
		writeFiles(t, dir, versioned(5, true))
		waitFor(t, "recovered", func() bool { return !e.Status().Degraded })
		if got := decision(); got != "v5" {
			t.Errorf("decision = %s, want v5", got)
		}
	})
	t.Run("a vanished directory is reported, decisions continue", func(t *testing.T) {
		moved := dir + ".moved"
		if err := os.Rename(dir, moved); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "degraded", func() bool { return e.Status().Degraded })
		if got := decision(); got != "v5" {
			t.Errorf("decision = %s, want v5", got)
		}
		if err := os.Rename(moved, dir); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "recovered", func() bool { return !e.Status().Degraded })
	})
}

func TestConcurrentEvalDuringReload(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, versioned(0, true))
	e := newEngine(t, Config{Source: DirSource(dir), Queries: map[string]string{"v": "data.v.decision"}, Reload: time.Millisecond})
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				res, err := e.Eval(ctx, "v", nil)
				if err != nil && ctx.Err() == nil {
					errs <- err
					return
				}
				if err == nil && !strings.HasPrefix(res.Value.(string), "v") {
					errs <- fmt.Errorf("decision %v", res.Value)
					return
				}
			}
		})
	}
	for i := 1; i <= 20; i++ {
		if i%5 == 0 {
			writeFiles(t, dir, map[string]string{"v.rego": "package v\ndecision := \n"}) // refused
		} else {
			writeFiles(t, dir, versioned(i, true))
		}
		if i%2 == 0 {
			_ = e.Reload(ctx) // concurrently with the poller
		}
		time.Sleep(5 * time.Millisecond)
	}
	writeFiles(t, dir, versioned(99, true))
	if err := e.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if res, err := e.Eval(t.Context(), "v", nil); err != nil || res.Value != "v99" {
		t.Errorf("final decision %v, %v", res, err)
	}
}

func TestDataOverrides(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"p/p.rego":       "package p\n\nlevel := data.spine.config.level\n\nname := data.spine.config.name\n",
		"p/p_test.rego":  "package p_test\n\ntest_default_level if data.p.level == 1\n",
		"p/config.yaml":  "spine:\n  config:\n    level: 1\n    name: shipped\n",
		"p/other.json":   `{"spine": {"other": true}}`,
		"p/unused.json5": "not loaded",
	})
	e := newEngine(t, Config{
		Source:   FSSource(os.DirFS(dir)),
		Queries:  map[string]string{"level": "data.p.level", "name": "data.p.name", "other": "data.spine.other"},
		RunTests: true, // the test sees the shipped level 1, not the override
		Data:     map[string]any{"spine": map[string]any{"config": map[string]any{"level": 2}}},
	})
	for query, want := range map[string]string{"level": "2", "name": "shipped", "other": "true"} {
		res, err := e.Eval(t.Context(), query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(res.Value); got != want {
			t.Errorf("%s = %s, want %s", query, got, want)
		}
	}
	if e.Status().TestsPassed != 1 {
		t.Errorf("TestsPassed = %d", e.Status().TestsPassed)
	}
}

func TestClock(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"p.rego": "package p\nnow := time.now_ns()\n"})
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	e := newEngine(t, Config{Source: FSSource(os.DirFS(dir)), Queries: map[string]string{"now": "data.p.now"}, Now: func() time.Time { return at }})
	res, err := e.Eval(t.Context(), "now", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Value); got != fmt.Sprint(at.UnixNano()) {
		t.Errorf("time.now_ns() = %s, want %d", got, at.UnixNano())
	}
	if !e.Status().LoadedAt.Equal(at) {
		t.Errorf("LoadedAt = %v", e.Status().LoadedAt)
	}
}
