-- Named queries of the PostgreSQL store (those both databases share: store/sql/queries.sql).
-- Each starts with a "-- name:" line; parameters are written :name and sent as $1, $2... in
-- the order they first appear; a list parameter is an array. A statement over many rows
-- (execute_many) takes each column as an array and unnests them.

-- name: advisory_lock
-- Transactions locking the same key take turns (released at the end of the transaction).
SELECT pg_advisory_xact_lock(hashtextextended(:key, 0));

-- name: insert_manifest
INSERT INTO manifests (name, path, digest, node, state, created_at, standing)
VALUES (:name, :path, :digest, :node, 'active', :now, :standing)
RETURNING id;

-- name: insert_jobs
INSERT INTO jobs (manifest_id, source, output, settings, settings_key, api, priority, node,
                  local, output_options, source_stamp, state, next_action_at, created_at,
                  updated_at)
SELECT :manifest_id, j.source, j.output, j.settings, j.settings_key, j.api, j.priority, :node,
       j.local, j.output_options, j.source_stamp, 'queued', :now, :now, :now
FROM unnest(:source::text[], :output::text[], :settings::text[], :settings_key::text[],
            :api::text[], :priority::int[], :local::boolean[], :output_options::text[],
            :source_stamp::text[])
     AS j (source, output, settings, settings_key, api, priority, local, output_options,
           source_stamp);

-- name: ensure_quotas
INSERT INTO quotas (name) SELECT unnest(:names::text[]) ON CONFLICT (name) DO NOTHING;

-- name: lock_quotas
SELECT name, paused_until FROM quotas WHERE name = ANY(:names::text[]) ORDER BY name FOR UPDATE;

-- name: select_due
-- Up to :limit due, unleased jobs, highest priority first, then earliest due, then oldest.
-- Each (state, api, priority) is one range of jobs_claim read in order, stopped at :limit
-- or at its first job not yet due; the priorities present are found by skipping through
-- the index (a recursive max), so only the few candidates are sorted, never the backlog.
-- The rows are locked with SKIP LOCKED: a job another daemon is claiming is passed over,
-- and the lease condition is checked again on the row as it is once locked.
WITH RECURSIVE lanes (state, api) AS (
    SELECT s, a FROM unnest(:states::text[]) AS s, unnest(:apis::text[]) AS a
), priorities (state, api, priority) AS (
    SELECT l.state, l.api,
           (SELECT max(j.priority) FROM jobs j WHERE j.state = l.state AND j.api = l.api)
    FROM lanes l
    UNION ALL
    SELECT p.state, p.api,
           (SELECT max(j.priority) FROM jobs j
            WHERE j.state = p.state AND j.api = p.api AND j.priority < p.priority)
    FROM priorities p WHERE p.priority IS NOT NULL
), candidates AS (
    SELECT c.id FROM priorities p, LATERAL (
        SELECT j.id FROM jobs j
        WHERE j.state = p.state AND j.api = p.api AND j.priority = p.priority
          AND j.next_action_at <= :now
          AND (j.lease_until IS NULL OR j.lease_until < :now)
          AND (:node::text IS NULL OR j.node = :node OR (NOT :every_job::boolean AND NOT j.local))
        ORDER BY j.next_action_at, j.id
        LIMIT :limit
    ) c
    WHERE p.priority IS NOT NULL
)
SELECT j.*, m.name AS manifest_name
FROM jobs j JOIN manifests m ON m.id = j.manifest_id
WHERE j.id IN (SELECT id FROM candidates)
  AND j.state = ANY(:states::text[])
  AND j.next_action_at <= :now
  AND (j.lease_until IS NULL OR j.lease_until < :now)
ORDER BY j.priority DESC, j.next_action_at, j.id
LIMIT :limit
FOR UPDATE OF j SKIP LOCKED;

-- name: lease_jobs
UPDATE jobs SET lease_owner = :owner, lease_until = :until WHERE id = ANY(:id::bigint[]);

-- name: spend
INSERT INTO quota_ledger (quota, spent_at, amount)
SELECT * FROM unnest(:quota::text[], :at::float8[], :amount::float8[]);

-- name: next_due
-- The first unleased job of each (state, api) in jobs_due order; a leased job counts from
-- when its lease runs out (so a dead daemon's jobs are taken over on time; a live one's
-- heartbeat has moved that time on by then).
SELECT least(
    (SELECT min(c.next_action_at)
     FROM unnest(:states::text[]) AS s, unnest(:apis::text[]) AS a, LATERAL (
         SELECT j.next_action_at FROM jobs j
         WHERE j.state = s AND j.api = a
           AND (j.lease_until IS NULL OR j.lease_until < :now)
           AND (:node::text IS NULL OR j.node = :node
                OR (NOT :every_job::boolean AND NOT j.local))
         ORDER BY j.next_action_at
         LIMIT 1
     ) c),
    (SELECT min(greatest(j.next_action_at, j.lease_until)) FROM jobs j
     WHERE j.lease_owner IS NOT NULL AND j.lease_until >= :now
       AND j.state = ANY(:states::text[]) AND j.api = ANY(:apis::text[])
       AND (:node::text IS NULL OR j.node = :node
            OR (NOT :every_job::boolean AND NOT j.local)))
);

-- name: count_states
SELECT count(*) FROM jobs WHERE state = ANY(:states::text[]);

-- name: count_in_state
SELECT count(*) FROM jobs WHERE state = :state AND api = ANY(:apis::text[]);

-- name: any_in_states
SELECT 1 FROM jobs WHERE state = ANY(:states::text[]) LIMIT 1;

-- name: jobs_in_states
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state = ANY(:states::text[]) ORDER BY jobs.id;

-- name: lock_pause
SELECT paused_until, strikes FROM quotas WHERE name = :quota FOR UPDATE;

-- name: set_pause
UPDATE quotas SET paused_until = GREATEST(COALESCE(paused_until, :until), :until),
                  strikes = :strikes
WHERE name = :quota;

-- name: get_pause
SELECT paused_until FROM quotas WHERE name = :quota;

-- name: recover_leases
UPDATE jobs SET lease_owner = NULL, lease_until = NULL
WHERE lease_owner IS NOT NULL
  AND (lease_until < :now OR left(lease_owner, length(:node) + 1) = :node || ':');

-- name: renew_leases
UPDATE jobs SET lease_until = :until WHERE id = ANY(:id::bigint[]) AND lease_owner = :owner;

-- name: recent_failures
-- Walks jobs_failed_recent backwards (the state is spelled out, so that the partial
-- index applies): as many rows as asked for, however many jobs failed.
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state = 'failed' AND jobs.parent_id IS NULL
ORDER BY jobs.finished_at DESC, jobs.id DESC
LIMIT :limit;

-- name: manifests_to_finish
SELECT manifests.id FROM manifests
WHERE manifests.state = 'active' AND manifests.standing = 0
  AND (:node::text IS NULL OR manifests.node = :node)
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.manifest_id = manifests.id
                  AND jobs.state NOT IN ('done', 'failed', 'cancelled'))
ORDER BY manifests.id;

-- name: latest_manifest_by_name
SELECT id, state FROM manifests WHERE name = :name ORDER BY id DESC LIMIT 1 FOR UPDATE;

-- name: kv_prefix
SELECT key, value FROM kv WHERE starts_with(key, :prefix) ORDER BY key;

-- name: pending_hook_deliveries
-- A node delivers the hooks of the manifests it took in (their reports are on its disk).
SELECT hook_deliveries.*, manifests.name AS manifest_name, manifests.report_path
FROM hook_deliveries JOIN manifests ON manifests.id = hook_deliveries.manifest_id
WHERE hook_deliveries.state = 'pending' AND (:node::text IS NULL OR manifests.node = :node)
ORDER BY hook_deliveries.next_attempt_at, hook_deliveries.id;

-- name: enter_state
-- A claim moves the jobs entering its state, each counter given 0 or 1.
UPDATE jobs SET state = :state, updated_at = :now, submissions = submissions + :submissions,
                attempts = attempts + :attempts, polls = polls + :polls
WHERE id = ANY(:id::bigint[]);

-- name: all_manifests
SELECT id, name, path, state, created_at, finished_at, report_path, digest, node, standing
FROM manifests ORDER BY id;

-- name: insert_part
-- A part job of :parent_id, once (its output is the parent's and :suffix, unique in the
-- manifest); its manifest, audio, settings and node are the parent's.
INSERT INTO jobs (manifest_id, source, output, settings, settings_key, api, priority, node,
                  local, output_options, parent_id, part, state, next_action_at, created_at,
                  updated_at)
SELECT manifest_id, source, output || :suffix, settings, settings_key, api, priority, node,
       local, output_options, id, :part, 'queued', :now, :now, :now
FROM jobs WHERE id = :parent_id
ON CONFLICT (manifest_id, output) DO NOTHING;

-- name: part_counts
-- The part jobs alone (jobs_by_parent); subtracted from manifest_counts.
SELECT manifest_id, state, count(*) AS n FROM jobs WHERE parent_id IS NOT NULL
GROUP BY manifest_id, state;

-- name: standing_manifest
-- A standing manifest still open (new jobs may join it).
SELECT id, node FROM manifests WHERE id = :id AND state = 'active' AND standing = 1 FOR UPDATE;

-- name: open_standing
-- The standing manifests still open: a few rows, read at every look of the intake.
SELECT id, name, path, state, created_at, finished_at, report_path, digest, node, standing
FROM manifests WHERE state = 'active' AND standing = 1 ORDER BY id;
