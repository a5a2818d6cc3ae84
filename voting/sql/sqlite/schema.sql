-- voting schema, SQLite dialect (embedded mode). Times are epoch milliseconds.
CREATE TABLE IF NOT EXISTS polls (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL,
    results       TEXT NOT NULL,
    allow_revote  INTEGER NOT NULL,
    eligibility   TEXT NOT NULL,
    visibility    TEXT NOT NULL,
    status        TEXT NOT NULL,
    code_count    INTEGER,
    closes_at     INTEGER,
    created_at    INTEGER NOT NULL,
    closed_at     INTEGER,
    token_salt    TEXT NOT NULL,
    admin_hash    TEXT NOT NULL,
    definition    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS polls_public ON polls (visibility, created_at, id);
CREATE INDEX IF NOT EXISTS polls_due ON polls (status, closes_at);

CREATE TABLE IF NOT EXISTS poll_codes (
    poll_id    TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    code_hash  TEXT NOT NULL,
    PRIMARY KEY (poll_id, code_hash)
);

-- One ballot per voter per poll, enforced by the primary key.
CREATE TABLE IF NOT EXISTS ballots (
    poll_id    TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    voter_key  TEXT NOT NULL,
    choices    TEXT NOT NULL,
    receipt    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (poll_id, voter_key)
);

-- Slotted counters: a tally is SUM(n) over slots; '#seq' and '#total' are pseudo options.
CREATE TABLE IF NOT EXISTS tally_slots (
    poll_id    TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    slot       INTEGER NOT NULL,
    option_id  TEXT NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (poll_id, option_id, slot)
);

-- Ranked questions: identical rankings aggregated (option ids, most preferred first, joined
-- by commas), slotted like the counters; a revote moves one ballot from one ranking to another.
-- The instant-runoff count reads these rows, never the ballots.
CREATE TABLE IF NOT EXISTS rankings (
    poll_id      TEXT NOT NULL REFERENCES polls(id) ON DELETE CASCADE,
    question_id  TEXT NOT NULL,
    ranking      TEXT NOT NULL,
    slot         INTEGER NOT NULL,
    n            INTEGER NOT NULL,
    PRIMARY KEY (poll_id, question_id, ranking, slot)
);

CREATE TABLE IF NOT EXISTS idempotency (
    key_hash      TEXT PRIMARY KEY,
    request_hash  TEXT NOT NULL,
    status        INTEGER NOT NULL,
    body          TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_at);
