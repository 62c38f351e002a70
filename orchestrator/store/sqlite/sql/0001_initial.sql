-- Version 1: manifests, jobs, cached results, the quota ledger, small state.

CREATE TABLE manifests (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    path         TEXT NOT NULL,          -- where the manifest file was taken from
    digest       TEXT NOT NULL,          -- sha256 of its bytes: the same file twice is one manifest
    state        TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'finished')),
    created_at   REAL NOT NULL,
    finished_at  REAL,
    report_path  TEXT
);
-- One active manifest per name: outputs go to a directory named after it.
CREATE UNIQUE INDEX manifests_one_active_name ON manifests (name) WHERE state = 'active';

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY,
    manifest_id     INTEGER NOT NULL REFERENCES manifests (id),
    source          TEXT NOT NULL,
    output          TEXT NOT NULL,
    settings        TEXT NOT NULL,       -- JSON of the recognition settings
    settings_key    TEXT NOT NULL,       -- canonical form of what changes the result
    priority        INTEGER NOT NULL DEFAULT 0,
    state           TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,   -- failed tries of the current step
    next_action_at  REAL NOT NULL,
    lease_owner     TEXT,
    lease_until     REAL,
    content_hash    TEXT,
    audio           TEXT,                -- JSON of AudioFacts
    object_key      TEXT,
    operation_id    TEXT,
    submitted_at    REAL,
    submissions     INTEGER NOT NULL DEFAULT 0,
    polls           INTEGER NOT NULL DEFAULT 0,
    last_poll_at    REAL,
    leader_id       INTEGER REFERENCES jobs (id),
    error           TEXT,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL,
    finished_at     REAL,
    UNIQUE (manifest_id, output)
);
CREATE INDEX jobs_due ON jobs (state, next_action_at);
CREATE INDEX jobs_by_manifest ON jobs (manifest_id, state);
CREATE INDEX jobs_by_content ON jobs (content_hash, settings_key);
CREATE INDEX jobs_by_leader ON jobs (leader_id) WHERE leader_id IS NOT NULL;
-- One job at a time recognises a given content with given settings (the others wait for
-- it or reuse its result): a database rule, so racing stages cannot both submit it.
CREATE UNIQUE INDEX jobs_one_leader ON jobs (content_hash, settings_key)
    WHERE leader_id IS NULL AND state IN ('uploading', 'uploaded', 'submitting', 'running');

-- A recognition already paid for: the same audio with the same settings is recognised once.
CREATE TABLE results (
    content_hash  TEXT NOT NULL,
    settings_key  TEXT NOT NULL,
    operation_id  TEXT NOT NULL,
    response      TEXT NOT NULL,         -- the service's response, JSON
    created_at    REAL NOT NULL,
    PRIMARY KEY (content_hash, settings_key)
);

-- Every request spent against a quota, recorded before it is sent.
CREATE TABLE quota_ledger (
    quota     TEXT NOT NULL,
    spent_at  REAL NOT NULL,
    amount    REAL NOT NULL DEFAULT 1.0   -- 1 per request; seconds for the audio quota
);
CREATE INDEX quota_ledger_by_time ON quota_ledger (quota, spent_at);

CREATE TABLE quota_pauses (
    quota  TEXT PRIMARY KEY,
    until  REAL NOT NULL
);

-- Small pieces of state: the completion-time estimator, counters.
CREATE TABLE kv (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
