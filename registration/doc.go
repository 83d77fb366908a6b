// Package registration is the registration authority's domain and store:
// the people who may use the spine, the organisations they work for, their
// role profiles (job role, activities and workgroups at an organisation)
// and their smartcards. The login path reads it to turn a card certificate
// into a person and the role profiles they may select; RA operations write
// it. The policy decision point reads patients' facts here (legitimate
// relationships, consent, sealed envelopes) and records the alerts that
// privacy officers review. The registration authority's writes and the
// append-only, hash-chained audit trail (of RA actions and logins) are
// here too.
//
// What is here:
//
//   - Domain types with validation at the edge (Person, Organisation,
//     RoleProfile, Card and the identifier validators, ValidNHSNumber;
//     Relationship, Consent, Seal, PatientFacts and Alert with theirs).
//   - The national RBAC catalogue as data (Catalogue, DefaultCatalogue,
//     LoadCatalogue), with the transitive closure of included activities.
//   - Store, the broad store interface, and its two backends over the same
//     portable SQL and embedded migrations: SQLite (OpenSQLite) for one
//     machine and PostgreSQL (OpenPostgres, pgx) for many authd nodes.
//     Package storetest is the conformance suite both run; package pgtest
//     gives tests an isolated schema on a real PostgreSQL.
//   - RA (ra.go, sqlstore_ra.go): registration with identity evidence,
//     optimistic person edits, role profile requests and two-person
//     approval; every change committed in one transaction with its
//     AuditEntry. WithAudit carries an entry into another component's
//     store write (the card CA's) so that it commits with it.
//   - The audit trail (audit.go, sqlstore_audit.go): each entry's hash
//     covers the previous hash and a canonical encoding of the entry;
//     appends are serialised on the chain's head row; AuditVerifier checks
//     a chain (the store's VerifyAudit, and ractl over the API) and names
//     the first bad row.
//   - SeedDemo, the demo world that `authd dev` and tests use.
//   - The card CA's records (ca.go, sqlstore_ca.go: CAStore): issued
//     certificates, revocations and published CRLs. The CA itself, which
//     signs, is sub-package cardca.
//
// It must not: accept an identifier, code or name it has not validated
// (every exported entry point checks its input before touching the
// database, and error messages name fields, never untrusted values); leave
// a write half done (each Store write is one transaction); decide policy
// (who may approve, which activities a job role may hold, whether a
// suspended person may log in: that is the PDP's and the RA layer's job);
// acknowledge an audited change whose audit entry did not commit with it,
// or update or delete an audit entry; or import testkeys.
package registration
