-- 0002_patient: the patient facts the PDP reads (legitimate relationships,
-- consent, sealed envelopes) and the alerts privacy officers review.
--
-- Same conventions as 0001_init.sql. Patients are keyed by NHS number
-- (10 digits, check digit verified by the application); there is no
-- patient table, so nhs_number references nothing. Free text (reasons,
-- review notes) is NULL when absent, never ''.

-- A relationship's target is a user, a workgroup or an organisation
-- (target_type). It is one column rather than three foreign keys because
-- workgroups are not a table; the application checks that a user or
-- organisation target exists, and people and organisations are never
-- deleted.
CREATE TABLE relationships (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 32),
    nhs_number     TEXT    NOT NULL CHECK (length(nhs_number) = 10),
    target_type    TEXT    NOT NULL CHECK (target_type IN ('user', 'workgroup', 'organisation')),
    target         TEXT    NOT NULL CHECK (length(target) BETWEEN 1 AND 64),
    kind           TEXT    NOT NULL CHECK (kind IN ('registered', 'referral', 'self_claimed', 'emergency')),
    created_by     TEXT    NOT NULL REFERENCES people (uid),
    reason         TEXT    NULL CHECK (reason IS NULL OR length(reason) BETWEEN 1 AND 500),
    created_at_us  BIGINT  NOT NULL,
    expires_at_us  BIGINT  NULL,
    ended_at_us    BIGINT  NULL,
    CHECK (expires_at_us IS NULL OR expires_at_us > created_at_us),
    CHECK (ended_at_us IS NULL OR ended_at_us >= created_at_us),
    CHECK (kind NOT IN ('self_claimed', 'emergency') OR reason IS NOT NULL)
);

-- The PDP's lookup: every relationship of a patient, in order.
CREATE INDEX relationships_nhs ON relationships (nhs_number, created_at_us, id);

CREATE TABLE consents (
    nhs_number     TEXT    NOT NULL PRIMARY KEY CHECK (length(nhs_number) = 10),
    scr            TEXT    NOT NULL CHECK (scr IN ('yes', 'no', 'ask', 'unknown')),
    updated_by     TEXT    NOT NULL REFERENCES people (uid),
    updated_at_us  BIGINT  NOT NULL,
    version        BIGINT  NOT NULL CHECK (version >= 1)
);

CREATE TABLE consent_dissent_codes (
    nhs_number  TEXT NOT NULL REFERENCES consents (nhs_number) ON DELETE CASCADE,
    code        TEXT NOT NULL CHECK (length(code) BETWEEN 4 AND 5),
    PRIMARY KEY (nhs_number, code)
);

-- "Which patients have dissent code 93C3 recorded?" (reporting, audits).
CREATE INDEX consent_dissent_codes_code ON consent_dissent_codes (code);

-- One seal per section of a patient's record; the primary key serves the
-- PDP's lookup by patient.
CREATE TABLE seals (
    nhs_number       TEXT    NOT NULL CHECK (length(nhs_number) = 10),
    section          TEXT    NOT NULL CHECK (length(section) BETWEEN 1 AND 64),
    state            TEXT    NOT NULL CHECK (state IN ('sealed', 'sealed_locked')),
    owner_workgroup  TEXT    NULL CHECK (owner_workgroup IS NULL OR length(owner_workgroup) BETWEEN 1 AND 64),
    created_by       TEXT    NOT NULL REFERENCES people (uid),
    created_at_us    BIGINT  NOT NULL,
    PRIMARY KEY (nhs_number, section),
    CHECK (state <> 'sealed_locked' OR owner_workgroup IS NOT NULL)
);

-- ods is the reviewing organisation: that of role_profile_id (checked by
-- the application, which also checks that the profile is uid's).
CREATE TABLE alerts (
    id               TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 16 AND 32),
    alert_type       TEXT    NOT NULL CHECK (alert_type IN
                         ('self_claimed_relationship', 'emergency_access', 'seal_broken', 'dissent_override')),
    nhs_number       TEXT    NOT NULL CHECK (length(nhs_number) = 10),
    uid              TEXT    NOT NULL REFERENCES people (uid),
    role_profile_id  TEXT    NOT NULL REFERENCES role_profiles (id),
    ods              TEXT    NOT NULL REFERENCES organisations (ods),
    reason           TEXT    NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
    decision_id      TEXT    NULL CHECK (decision_id IS NULL OR length(decision_id) BETWEEN 1 AND 64),
    created_at_us    BIGINT  NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('open', 'closed', 'escalated')),
    reviewed_by      TEXT    NULL REFERENCES people (uid),
    review_note      TEXT    NULL CHECK (review_note IS NULL OR length(review_note) BETWEEN 1 AND 1000),
    reviewed_at_us   BIGINT  NULL,
    CHECK (status <> 'open' OR (reviewed_by IS NULL AND review_note IS NULL AND reviewed_at_us IS NULL)),
    CHECK (status = 'open' OR (reviewed_by IS NOT NULL AND reviewed_at_us IS NOT NULL)),
    CHECK (reviewed_by IS NULL OR reviewed_by <> uid)
);

-- The review queue: an organisation's open (or escalated) alerts, oldest first.
CREATE INDEX alerts_queue ON alerts (ods, status, created_at_us, id);
