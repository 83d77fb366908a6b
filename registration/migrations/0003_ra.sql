-- 0003_ra: the registration authority's records: the identity checks
-- behind each registration, who requested each role profile, and the
-- append-only, hash-chained audit trail of RA actions and logins.
--
-- Same conventions as 0001_init.sql. Audit rows carry no foreign keys:
-- they record what was claimed and decided (a login with an unknown card,
-- a refused action on a person who does not exist) and must never be
-- removed by a cascade.

-- The evidence an RA agent checked before registering a person, and the
-- organisation the person was registered for (which scopes the RA's
-- rules until the person holds a role profile there).
CREATE TABLE identity_checks (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 32),
    uid            TEXT    NOT NULL REFERENCES people (uid),
    ods            TEXT    NOT NULL REFERENCES organisations (ods),
    document_type  TEXT    NOT NULL CHECK (document_type IN
                       ('passport', 'driving_licence', 'national_identity_card', 'birth_certificate',
                        'biometric_residence_permit', 'utility_bill', 'bank_statement', 'employer_letter')),
    document_ref   TEXT    NOT NULL CHECK (length(document_ref) BETWEEN 1 AND 64),
    checked_by     TEXT    NOT NULL REFERENCES people (uid),
    checked_at_us  BIGINT  NOT NULL,
    CHECK (checked_by <> uid)
);

CREATE INDEX identity_checks_uid ON identity_checks (uid, checked_at_us, id);
CREATE INDEX identity_checks_ods ON identity_checks (ods, uid);

-- Who asked for a role profile: the approver must be someone else.
CREATE TABLE role_profile_requests (
    role_profile_id  TEXT    NOT NULL PRIMARY KEY REFERENCES role_profiles (id),
    requested_by     TEXT    NOT NULL REFERENCES people (uid),
    requested_at_us  BIGINT  NOT NULL,
    reason           TEXT    NULL CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 500)
);

-- The head of the audit chain: one row, updated by every append in the
-- same transaction, so that appends are serialised (a writer holds the
-- row until it commits) and the chain has no forks.
CREATE TABLE audit_head (
    id    BIGINT  NOT NULL PRIMARY KEY CHECK (id = 1),
    seq   BIGINT  NOT NULL CHECK (seq >= 0),
    hash  TEXT    NOT NULL CHECK (length(hash) = 64)
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- hash = SHA-256 over prev_hash and a canonical encoding of the row
-- (registration.AuditEntry.ComputeHash); prev_hash is the previous row's
-- hash (zeros for seq 1).
CREATE TABLE audit_log (
    seq                    BIGINT  NOT NULL PRIMARY KEY CHECK (seq >= 1),
    id                     TEXT    NOT NULL UNIQUE CHECK (length(id) BETWEEN 16 AND 32),
    at_us                  BIGINT  NOT NULL,
    actor_uid              TEXT    NULL,
    actor_role_profile_id  TEXT    NULL,
    action                 TEXT    NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    outcome                TEXT    NOT NULL CHECK (outcome IN ('done', 'denied')),
    subject_uid            TEXT    NULL,
    target                 TEXT    NULL,
    reason                 TEXT    NULL,
    decision_id            TEXT    NULL,
    details                TEXT    NULL,
    prev_hash              TEXT    NOT NULL CHECK (length(prev_hash) = 64),
    hash                   TEXT    NOT NULL CHECK (length(hash) = 64)
);

-- A person's history: everything done to them, in order.
CREATE INDEX audit_log_subject ON audit_log (subject_uid, seq);
CREATE INDEX audit_log_actor ON audit_log (actor_uid, seq);
