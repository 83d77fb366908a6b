package rego_test

import (
	"context"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/carespine/spineauth/rego"
)

// minCoverage is the line coverage each policy file must reach under its
// tests.
var minCoverage = map[string]float64{
	"access/access.rego": 95.0,
	"ra/ra.rego":         100.0,
}

// TestRegoPolicies runs the Rego unit tests embedded beside the policies,
// with coverage, exactly as authd would load the policy tree.
func TestRegoPolicies(t *testing.T) {
	ctx := context.Background()

	loaded, err := loader.NewFileLoader().
		WithFS(rego.FS).
		WithRegoVersion(ast.RegoV1).
		WithProcessAnnotation(true).
		All([]string{"access", "ra"})
	if err != nil {
		t.Fatalf("loading the embedded policies: %v", err)
	}
	modules := loaded.ParsedModules()
	for policyFile := range minCoverage {
		if _, ok := modules[policyFile]; !ok {
			t.Fatalf("%s not among the loaded modules %v", policyFile, keys(modules))
		}
	}
	store, err := loaded.Store()
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	txn, err := store.NewTransaction(ctx, storage.WriteParams)
	if err != nil {
		t.Fatalf("transaction: %v", err)
	}
	defer store.Abort(ctx, txn)

	cov := cover.New()
	results, err := tester.NewRunner().
		SetStore(store).
		SetModules(modules).
		SetDefaultRegoVersion(ast.RegoV1).
		SetCoverageQueryTracer(cov).
		SetTimeout(30*time.Second).
		RunTests(ctx, txn)
	if err != nil {
		t.Fatalf("running Rego tests: %v", err)
	}

	ran := 0
	for r := range results {
		ran++
		name := r.Package + "." + r.Name
		switch {
		case r.Error != nil:
			t.Errorf("%s: error: %v", name, r.Error)
		case r.Fail:
			t.Errorf("%s: FAIL at %s", name, r.Location)
		case r.Skip:
			t.Errorf("%s: skipped (todo_ tests are not allowed)", name)
		}
	}
	if ran == 0 {
		t.Fatal("no Rego tests ran")
	}
	t.Logf("%d Rego tests ran", ran)

	report := cov.Report(modules)
	for _, policyFile := range slices.Sorted(maps.Keys(minCoverage)) {
		file, ok := report.Files[policyFile]
		if !ok {
			t.Fatalf("no coverage recorded for %s", policyFile)
		}
		t.Logf("coverage of %s: %.1f%% (%d lines covered, %d not)",
			policyFile, file.Coverage, file.CoveredLines, file.NotCoveredLines)
		for _, r := range file.NotCovered {
			t.Logf("  not covered: %s lines %d-%d", policyFile, r.Start.Row, r.End.Row)
		}
		if file.Coverage < minCoverage[policyFile] {
			t.Errorf("coverage of %s is %.1f%%, want at least %.0f%%", policyFile, file.Coverage, minCoverage[policyFile])
		}
	}
}

// TestFSContents guards the embed pattern: policies, their tests and the
// default configuration must all be in FS.
func TestFSContents(t *testing.T) {
	want := map[string]bool{
		"access/access.rego":      false,
		"access/access_test.rego": false,
		"access/config.json":      false,
		"ra/ra.rego":              false,
		"ra/ra_test.rego":         false,
		"ra/config.json":          false,
	}
	err := fs.WalkDir(rego.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if _, ok := want[path]; ok {
			want[path] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for path, found := range want {
		if !found {
			t.Errorf("%s missing from rego.FS", path)
		}
	}
}

func keys(m map[string]*ast.Module) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return strings.Join(out, ", ")
}
