// Package rego holds the spine's access policies, written in Rego, as an
// embedded file system for authd's policy decision point (package policy)
// to load with the OPA Go library. It must not contain logic: the rules
// live in the .rego files and their contract in README.md.
//
// FS holds the directory access/: access.rego (package spine.access, rule
// decision), config.json (the default data.spine.config) and
// access_test.rego (Rego unit tests, run by this package's Go test).
// Load the directory access itself as a root, e.g.
//
//	loader.NewFileLoader().WithFS(rego.FS).All([]string{"access"})
//
// so that config.json, which spells out its own {"spine": {"config": ...}}
// path, lands at data.spine.config; and leave out *_test.rego when loading
// for evaluation.
package rego

import "embed"

// FS is the policy tree: access/*.rego (including *_test.rego) and
// access/config.json.
//
//go:embed access
var FS embed.FS
