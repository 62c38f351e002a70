-- Version 6: completion hooks. A manifest keeps its own `on_finish` (JSON). Each hook of a
-- finished manifest is a delivery row, inserted in the transaction that finishes the
-- manifest: a crash between the finish and the delivery leaves the row pending, and the
-- next run delivers it (at-least-once; `delivery_id` lets a receiver dedupe).

ALTER TABLE manifests ADD COLUMN on_finish TEXT;

CREATE TABLE hook_deliveries (
    id               INTEGER PRIMARY KEY,
    delivery_id      TEXT NOT NULL UNIQUE,   -- sent with every attempt
    manifest_id      INTEGER NOT NULL REFERENCES manifests (id),
    kind             TEXT NOT NULL CHECK (kind IN ('command', 'webhook')),
    origin           TEXT NOT NULL CHECK (origin IN ('config', 'manifest')),
    target           TEXT NOT NULL,          -- JSON: {"command": [...]} or {"url": ...}
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  REAL NOT NULL,
    last_error       TEXT,
    created_at       REAL NOT NULL,          -- the manifest's finish
    updated_at       REAL NOT NULL,
    delivered_at     REAL
);
CREATE INDEX hook_deliveries_pending ON hook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX hook_deliveries_by_manifest ON hook_deliveries (manifest_id);
