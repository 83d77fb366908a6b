-- 0004_ca: the card CA's issued certificates, their revocations and the
-- CRLs published for them.
--
-- Same conventions as 0001_init.sql. An issuer is named by the lower-case
-- hex SHA-256 of its SubjectPublicKeyInfo, so that a new CA key (a new
-- sub-CA) starts its own serials, revocations and CRL numbers. DER is
-- stored as standard base64 text. Revocations are never undone: a row
-- once revoked stays revoked, and each issuer's revocation counter only
-- grows, which tells every authd node when its CRL is out of date.

CREATE TABLE ca_issuers (
    issuer         TEXT    NOT NULL PRIMARY KEY CHECK (length(issuer) = 64),
    subject        TEXT    NOT NULL CHECK (length(subject) BETWEEN 1 AND 1000),
    revocations    BIGINT  NOT NULL CHECK (revocations >= 0),
    created_at_us  BIGINT  NOT NULL
);

CREATE TABLE ca_certificates (
    issuer             TEXT    NOT NULL REFERENCES ca_issuers (issuer),
    cert_serial        TEXT    NOT NULL CHECK (length(cert_serial) BETWEEN 2 AND 64),
    card_id            TEXT    NOT NULL REFERENCES cards (id),
    uid                TEXT    NOT NULL REFERENCES people (uid),
    fingerprint        TEXT    NOT NULL UNIQUE CHECK (length(fingerprint) = 64),
    -- SHA-256 of the SubjectPublicKeyInfo: a key is certified once, so a
    -- renewal must bring a new key.
    key_sha256         TEXT    NOT NULL UNIQUE CHECK (length(key_sha256) = 64),
    not_before_us      BIGINT  NOT NULL,
    not_after_us       BIGINT  NOT NULL,
    issued_at_us       BIGINT  NOT NULL,
    der                TEXT    NOT NULL CHECK (length(der) BETWEEN 100 AND 20000),
    replaces           TEXT    NULL CHECK (replaces IS NULL OR length(replaces) BETWEEN 2 AND 64),
    revoked_at_us      BIGINT  NULL,
    revocation_reason  INTEGER NULL CHECK (revocation_reason IS NULL OR revocation_reason IN (0, 1, 3, 4, 5, 9)),
    PRIMARY KEY (issuer, cert_serial),
    CHECK (not_after_us > not_before_us),
    CHECK ((revoked_at_us IS NULL AND revocation_reason IS NULL) OR
           (revoked_at_us IS NOT NULL AND revocation_reason IS NOT NULL))
);

CREATE INDEX ca_certificates_card ON ca_certificates (card_id, issued_at_us);
-- The CRL's read: the revoked certificates of an issuer.
CREATE INDEX ca_certificates_revoked ON ca_certificates (issuer, revoked_at_us);

CREATE TABLE ca_crls (
    issuer          TEXT    NOT NULL REFERENCES ca_issuers (issuer),
    number          BIGINT  NOT NULL CHECK (number >= 1),
    this_update_us  BIGINT  NOT NULL,
    next_update_us  BIGINT  NOT NULL,
    -- the issuer's revocation counter this CRL reflects
    revocations     BIGINT  NOT NULL CHECK (revocations >= 0),
    der             TEXT    NOT NULL,
    PRIMARY KEY (issuer, number),
    CHECK (next_update_us > this_update_us)
);
