// Package policy is the policy decision point's engine: it loads the Rego
// policy set (rego/, or a deployment's directory), compiles and tests it
// with the OPA Go library, evaluates prepared queries such as
// data.spine.access.decision, reloads the set when it changes, and records
// every decision in a durable decision log.
//
// What is here:
//
//   - Engine (New): a policy set from a Source, DirSource (a directory,
//     polled for changes; hidden directories such as a Kubernetes
//     ConfigMap's ..data are skipped, so its symlinked files are read once)
//     or FSSource (the embedded default). Every load reads the whole set
//     into memory, names it by content hash (Revision) and compiles exactly
//     those bytes; .rego files other than *_test.rego are the policy,
//     .json/.yaml files are data merged at the root of data, and with
//     RunTests the *_test.rego tests must pass. A set that does not read,
//     compile, test or prepare is refused and the last good set stays in
//     force (Status reports it as degraded). Evaluation swaps sets
//     atomically: a request runs wholly on one revision.
//   - DecisionLog and SQLiteLog: the decision log, one SQLite file written
//     by a single goroutine in group-committed batches; Record(sync) returns
//     once the record is durable.
//   - Mask: masks secrets (session tokens and the like) out of an input
//     before it is logged or recorded.
//
// Policies run with OPA's built-ins minus those that reach outside the
// process (http.send, net.lookup_ip_addr, opa.runtime), and print() is
// compiled out, so a policy cannot send or print its input.
//
// It must not: allow on error (every failure of Eval, including an
// undefined or ambiguous result, is an error and the caller denies; the
// decision's shape is the caller's to check); drop a decision record
// silently (Record fails when it cannot enqueue, a sync Record fails when
// its commit fails, and an asynchronous record that cannot be written is
// logged by id and counted in Failed); or log unmasked input (the engine
// logs load outcomes only, and the decision log stores what its caller
// masked; write failures are logged by decision id, never by content).
package policy
