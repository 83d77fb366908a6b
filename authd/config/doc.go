// Package config reads authd's configuration file in stages: strict
// decoding (unknown fields are errors), defaults, then Validate, which
// reports every problem at once. It only describes; building live
// dependencies from a Config is the caller's job.
//
// It must not hold secrets inline: anything secret is named by a file path
// or an environment variable.
package config
