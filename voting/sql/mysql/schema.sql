-- voting schema, MySQL 8 / MariaDB 10.11 dialect (cluster). Times are epoch milliseconds.
-- Applied by an administrative account (cluster up, compose initdb); the app user
-- only reads and writes rows.
CREATE TABLE IF NOT EXISTS polls (
    id            VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    title         VARCHAR(200) NOT NULL,
    description   TEXT NOT NULL,
    results       VARCHAR(16) NOT NULL,
    allow_revote  TINYINT NOT NULL,
    eligibility   VARCHAR(16) NOT NULL,
    visibility    VARCHAR(16) NOT NULL,
    status        VARCHAR(16) NOT NULL,
    code_count    INT NULL,
    closes_at     BIGINT NULL,
    created_at    BIGINT NOT NULL,
    closed_at     BIGINT NULL,
    token_salt    VARCHAR(64) NOT NULL,
    admin_hash    CHAR(64) NOT NULL,
    definition    MEDIUMTEXT NOT NULL,
    KEY polls_public (visibility, created_at, id),
    KEY polls_due (status, closes_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS poll_codes (
    poll_id    VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    code_hash  CHAR(64) CHARACTER SET ascii NOT NULL,
    PRIMARY KEY (poll_id, code_hash)
) ENGINE=InnoDB;

-- One ballot per voter per poll, enforced by the primary key.
CREATE TABLE IF NOT EXISTS ballots (
    poll_id    VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    voter_key  VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    choices    TEXT NOT NULL,
    receipt    VARCHAR(32) NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (poll_id, voter_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Slotted counters: a tally is SUM(n) over slots; '#seq' and '#total' are pseudo options.
CREATE TABLE IF NOT EXISTS tally_slots (
    poll_id    VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    option_id  VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    slot       SMALLINT NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (poll_id, option_id, slot)
) ENGINE=InnoDB;

-- Ranked questions: identical rankings aggregated (option ids, most preferred first, joined
-- by commas; at most 50 ids of 5 characters), slotted like the counters; a revote moves one
-- ballot from one ranking to another. The instant-runoff count reads these rows, never the
-- ballots.
CREATE TABLE IF NOT EXISTS rankings (
    poll_id      VARCHAR(8) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    question_id  VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    ranking      VARCHAR(400) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
    slot         SMALLINT NOT NULL,
    n            BIGINT NOT NULL,
    PRIMARY KEY (poll_id, question_id, ranking, slot)
) ENGINE=InnoDB;

CREATE TABLE IF NOT EXISTS idempotency (
    key_hash      CHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    request_hash  CHAR(64) CHARACTER SET ascii NOT NULL,
    status        SMALLINT NOT NULL,
    body          MEDIUMTEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    KEY idempotency_age (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Written by every backend on the primary twice a second; read on the replicas to
-- measure their lag without any replication privilege (pt-heartbeat style).
CREATE TABLE IF NOT EXISTS heartbeat (
    name  VARCHAR(64) CHARACTER SET ascii NOT NULL PRIMARY KEY,
    ts    BIGINT NOT NULL
) ENGINE=InnoDB;
