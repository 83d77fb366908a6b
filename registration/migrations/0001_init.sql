-- 0001_init: people, organisations, role profiles, cards.
--
-- Portable SQL: this file runs unchanged on SQLite (3.37+) and PostgreSQL.
-- Conventions for every migration:
--   * identifiers and codes are TEXT, validated by the application and
--     re-checked here where a CHECK is cheap;
--   * times are BIGINT microseconds since the Unix epoch, UTC, in columns
--     ending _us (PostgreSQL's own precision); "no end" is NULL;
--   * statuses are TEXT with a CHECK listing the allowed values;
--   * lists (activities, workgroups) are child tables, never JSON, so that
--     policy queries can join on them;
--   * no AUTOINCREMENT/SERIAL, no WITHOUT ROWID, no partial or expression
--     indexes, no ON CONFLICT: whatever needs them is done in Go.

CREATE TABLE people (
    uid            TEXT    NOT NULL PRIMARY KEY CHECK (length(uid) = 12),
    name           TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status         TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'closed')),
    version        BIGINT  NOT NULL CHECK (version >= 1),
    created_at_us  BIGINT  NOT NULL,
    updated_at_us  BIGINT  NOT NULL
);

CREATE TABLE organisations (
    ods   TEXT NOT NULL PRIMARY KEY CHECK (length(ods) BETWEEN 3 AND 6),
    name  TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200)
);

CREATE TABLE role_profiles (
    id             TEXT    NOT NULL PRIMARY KEY CHECK (length(id) = 12),
    uid            TEXT    NOT NULL REFERENCES people (uid),
    ods            TEXT    NOT NULL REFERENCES organisations (ods),
    job_role       TEXT    NOT NULL CHECK (length(job_role) = 17),
    start_us       BIGINT  NOT NULL,
    end_us         BIGINT  NULL,
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'active', 'ended')),
    approved_by    TEXT    NULL REFERENCES people (uid),
    created_at_us  BIGINT  NOT NULL,
    CHECK (end_us IS NULL OR end_us > start_us),
    CHECK (approved_by IS NULL OR approved_by <> uid),
    CHECK (status <> 'pending' OR approved_by IS NULL),
    CHECK (status <> 'active' OR approved_by IS NOT NULL)
);

CREATE INDEX role_profiles_uid ON role_profiles (uid, start_us, id);
CREATE INDEX role_profiles_ods ON role_profiles (ods);

CREATE TABLE role_profile_activities (
    role_profile_id  TEXT NOT NULL REFERENCES role_profiles (id) ON DELETE CASCADE,
    activity         TEXT NOT NULL CHECK (length(activity) = 5),
    PRIMARY KEY (role_profile_id, activity)
);

-- "Who at this organisation may receive emergency view alerts?" joins here.
CREATE INDEX role_profile_activities_activity ON role_profile_activities (activity);

CREATE TABLE role_profile_workgroups (
    role_profile_id  TEXT NOT NULL REFERENCES role_profiles (id) ON DELETE CASCADE,
    workgroup        TEXT NOT NULL CHECK (length(workgroup) BETWEEN 1 AND 64),
    PRIMARY KEY (role_profile_id, workgroup)
);

CREATE INDEX role_profile_workgroups_workgroup ON role_profile_workgroups (workgroup);

CREATE TABLE cards (
    id                 TEXT    NOT NULL PRIMARY KEY CHECK (length(id) BETWEEN 1 AND 32),
    uid                TEXT    NOT NULL REFERENCES people (uid),
    cert_serial        TEXT    NOT NULL CHECK (length(cert_serial) BETWEEN 1 AND 64),
    cert_fingerprint   TEXT    NOT NULL UNIQUE CHECK (length(cert_fingerprint) = 64),
    cert_not_after_us  BIGINT  NOT NULL,
    status             TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'cancelled')),
    issued_at_us       BIGINT  NOT NULL
);

CREATE INDEX cards_uid ON cards (uid, issued_at_us, id);
-- Serials are unique per issuer only, so this index is not UNIQUE; it
-- serves revocation (find the card a revoked serial belongs to).
CREATE INDEX cards_cert_serial ON cards (cert_serial);
