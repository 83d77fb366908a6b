// Package rego holds the spine's policies, written in Rego, as an embedded
// file system for authd's policy engine (package policy) to load with the
// OPA Go library. It must not contain logic: the rules live in the .rego
// files and their contract in README.md.
//
// FS holds two directories:
//
//   - access/: access.rego (package spine.access, rule decision: record
//     access for the PDP), config.json (the default data.spine.config) and
//     access_test.rego;
//   - ra/: ra.rego (package spine.ra, rule decision: the registration
//     authority's rules), config.json (the default data.spine.config.ra)
//     and ra_test.rego.
//
// Load each directory itself as a root, e.g.
//
//	loader.NewFileLoader().WithFS(rego.FS).All([]string{"access", "ra"})
//
// so that each config.json, which spells out its own {"spine": {"config":
// ...}} path, lands under data.spine.config; and leave out *_test.rego when
// loading for evaluation.
package rego

import "embed"

// FS is the policy tree: access/ and ra/, each with its .rego files
// (including *_test.rego) and config.json.
//
//go:embed access ra
var FS embed.FS
