// Command pdpbench measures authd's policy decision point (the AuthZEN
// endpoints, DESIGN.md "Policy decision point") beside OPA's own server
// (`opa run --server`) evaluating the same policy (rego/access) over the
// same facts, driven by the same load generator in the same run.
//
// It is tooling, run by `make bench-pdp` through run.sh; nothing in the
// product imports it. Subcommands:
//
//	pdpbench certs   --dir D
//	    a throwaway service CA, a server certificate for 127.0.0.1 and a
//	    client certificate (clientAuth) for the load generator.
//	pdpbench setup   --dir D --patients N --relationships M [--authd URL ...]
//	                 [--postgres-dsn-env NAME]
//	    stage db (the first run on D): an authd SQLite database
//	    (registration.OpenSQLite + SeedDemo with the test PKI's card
//	    certificates), or with --postgres-dsn-env the PostgreSQL schema
//	    the DSN in $NAME names (registration.OpenPostgres), plus N
//	    patients' relationships, consent and seals (through the Store API,
//	    or for large M the documented direct batched SQL insert in bulk.go,
//	    COPY in bulk_pg.go).
//	    stage sessions (once authd serves D/authd.db; --authd names it):
//	    real card logins against that authd, then the same facts as OPA
//	    data (opa/facts.json) and a requests file of AuthZEN bodies
//	    (requests.jsonl).
//	pdpbench load    --url URL --mode authzen|opa --concurrency N --duration D
//	                 [--batch K] [--cert F --key F --ca F] --requests-file F
//	    a closed-loop HTTP load generator; exact latency percentiles.
//	pdpbench compare --authd URL --opa URL --requests-file F
//	    sends every request to both once and checks the decisions agree.
//	pdpbench report  FILE...
//	    markdown tables (and ratios) from load results written with --json.
//	pdpbench wait    --url URL
//	    polls until the URL answers 200 (server start-up in run.sh).
//
// It must not reach beyond loopback, and every load run is bounded by
// time and by a request count. Session tokens are secrets even in a
// benchmark: the files that hold them are written 0600 and no output
// prints one.
package main
