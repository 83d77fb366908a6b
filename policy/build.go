package policy

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
	"github.com/open-policy-agent/opa/v1/util"
)

// ErrTestsFailed: a policy set's Rego tests failed, so it was refused.
var ErrTestsFailed = errors.New("policy tests failed")

// testTimeout bounds each Rego test.
const testTimeout = 5 * time.Second

// build turns a snapshot into a compiled policy set: parse every file (Rego
// v1), compile the modules other than *_test.rego, put the data documents in
// a store, run the tests if asked, and prepare every query.
//
// Data files are merged at the root of data, whatever directory they are
// in (as `opa eval -d file.json` places them): a file's top-level keys name
// where it goes, so rego/access/config.json holding {"spine": {"config":
// ...}} is data.spine.config. Two files setting the same value is an error.
func (e *Engine) build(ctx context.Context, snap *snapshot) (*compiled, error) {
	if len(snap.files) == 0 {
		return nil, errors.New("no policy files")
	}
	// The loader reads the snapshot, never the source, so the revision
	// names exactly the bytes compiled. (fstest.MapFS is a plain read-only
	// in-memory fs.FS; it does not depend on package testing.)
	mfs := fstest.MapFS{}
	for name, b := range snap.files {
		if strings.Contains(name, ":") {
			return nil, fmt.Errorf("%s: file names must not contain ':'", name)
		}
		mfs[name] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	// Passing each file (not the directory) roots its data at data.
	res, err := loader.NewFileLoader().
		WithFS(mfs).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		All(slices.Sorted(maps.Keys(snap.files)))
	if err != nil {
		return nil, err
	}

	all := make(map[string]*ast.Module, len(res.Modules))
	policies := make(map[string]*ast.Module, len(res.Modules))
	for name, f := range res.Modules {
		all[name] = f.Parsed
		if !strings.HasSuffix(name, "_test.rego") {
			policies[name] = f.Parsed
		}
	}
	if len(policies) == 0 {
		return nil, errors.New("no policy modules (only tests or data)")
	}
	comp := ast.NewCompiler().WithCapabilities(e.caps)
	if comp.Compile(policies); comp.Failed() {
		return nil, fmt.Errorf("compile: %w", comp.Errors)
	}

	var passed int
	if e.runTests {
		// A fresh copy of the set's own data: tests assert the shipped
		// defaults, which deployment overrides must not break.
		tdocs, err := roundTrip(res.Documents)
		if err != nil {
			return nil, err
		}
		if passed, err = e.test(ctx, all, inmem.NewFromObject(tdocs)); err != nil {
			return nil, err
		}
	}

	docs := res.Documents
	if len(e.data) > 0 && string(e.data) != "null" {
		var over map[string]any
		if err := util.UnmarshalJSON(e.data, &over); err != nil {
			return nil, fmt.Errorf("data overrides: %w", err)
		}
		mergeOver(docs, over)
	}
	store := inmem.NewFromObject(docs)

	c := &compiled{
		revision:    snap.revision,
		queries:     make(map[string]rego.PreparedEvalQuery, len(e.queries)),
		testsPassed: passed,
	}
	for name, q := range e.queries {
		if err := refersToSomething(comp, docs, q); err != nil {
			return nil, fmt.Errorf("query %s: %w", name, err)
		}
		pq, err := rego.New(
			rego.Query(q),
			rego.Compiler(comp),
			rego.Store(store),
			rego.Capabilities(e.caps),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("query %s: prepare: %w", name, err)
		}
		c.queries[name] = pq
	}
	return c, nil
}

// test runs the Rego tests of modules and returns how many passed, or an
// error naming the failures.
func (e *Engine) test(ctx context.Context, modules map[string]*ast.Module, store storage.Store) (int, error) {
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithCapabilities(e.caps)).
		SetStore(store).
		SetModules(modules).
		CapturePrintOutput(false).
		SetTimeout(testTimeout).
		RunTests(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: compile: %w", ErrTestsFailed, err)
	}
	var passed int
	var failed []string
	for r := range ch {
		switch {
		case r.Pass():
			passed++
		case r.Skip:
		case r.Error != nil:
			failed = append(failed, fmt.Sprintf("%s.%s: error: %v", r.Package, r.Name, r.Error))
		default:
			failed = append(failed, fmt.Sprintf("%s.%s: fail", r.Package, r.Name))
		}
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrTestsFailed, err)
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		total := len(failed)
		if total > 10 {
			failed = append(failed[:10], "...")
		}
		return 0, fmt.Errorf("%w: %d of %d: %s", ErrTestsFailed, total, total+passed, strings.Join(failed, "; "))
	}
	return passed, nil
}

// refersToSomething refuses a query that is a plain data reference to
// nothing in the set (no rule and no data document under it): a renamed
// package would otherwise load cleanly and deny every request.
func refersToSomething(comp *ast.Compiler, docs map[string]any, q string) error {
	body, err := ast.ParseBody(q)
	if err != nil || len(body) != 1 {
		return nil // not a single plain reference: prepare checks it
	}
	t, ok := body[0].Terms.(*ast.Term)
	if !ok {
		return nil
	}
	ref, ok := t.Value.(ast.Ref)
	if !ok || !ref.HasPrefix(ast.DefaultRootRef) {
		return nil
	}
	if len(comp.GetRules(ref)) > 0 {
		return nil
	}
	var node any = docs
	for _, term := range ref[1:] {
		key, ok := term.Value.(ast.String)
		obj, isObj := node.(map[string]any)
		if !ok || !isObj {
			return nil // a computed or indexed path: leave it to evaluation
		}
		if node, ok = obj[string(key)]; !ok {
			return fmt.Errorf("%s refers to no rule or document in the policy set", ref)
		}
	}
	return nil
}

// mergeOver merges src into dst: objects key by key, anything else
// replaces.
func mergeOver(dst, src map[string]any) {
	for k, v := range src {
		d, dok := dst[k].(map[string]any)
		s, sok := v.(map[string]any)
		if dok && sok {
			mergeOver(d, s)
			continue
		}
		dst[k] = v
	}
}

// roundTrip returns a deep copy of a JSON document.
func roundTrip(docs map[string]any) (map[string]any, error) {
	var out any = docs
	if err := util.RoundTrip(&out); err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	m, _ := out.(map[string]any)
	return m, nil
}
