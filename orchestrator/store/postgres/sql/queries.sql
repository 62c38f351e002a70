-- Named queries of the PostgreSQL store. Each starts with a "-- name:" line; parameters
-- are written :name and sent as $1, $2... in the order they first appear.

-- name: lock_manifest_name
-- Daemons taking manifests of one name in take turns (released at the end of the transaction).
SELECT pg_advisory_xact_lock(hashtextextended('speechkit-orchestrator manifest ' || :name, 0));

-- name: insert_manifest
INSERT INTO manifests (name, path, digest, node, state, created_at)
VALUES (:name, :path, :digest, :node, 'active', :now)
RETURNING id;

-- name: manifest_by_digest
SELECT id, name, state FROM manifests WHERE digest = :digest ORDER BY id DESC LIMIT 1;

-- name: active_manifest_by_name
SELECT id FROM manifests WHERE name = :name AND state = 'active';

-- name: insert_jobs
INSERT INTO jobs (manifest_id, source, output, settings, settings_key, api, priority, node,
                  local, output_options, state, next_action_at, created_at, updated_at)
SELECT :manifest_id, j.source, j.output, j.settings, j.settings_key, j.api, j.priority, :node,
       j.local, j.output_options, 'queued', :now, :now, :now
FROM unnest(:sources::text[], :outputs::text[], :settings::text[], :settings_keys::text[],
            :apis::text[], :priorities::int[], :locals::boolean[], :output_options::text[])
     AS j (source, output, settings, settings_key, api, priority, local, output_options);

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
UPDATE jobs SET lease_owner = :owner, lease_until = :until WHERE id = ANY(:ids::bigint[]);

-- name: spend
INSERT INTO quota_ledger (quota, spent_at, amount)
SELECT * FROM unnest(:quotas::text[], :times::float8[], :amounts::float8[]);

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

-- name: job_by_id
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id WHERE jobs.id = :id;

-- name: jobs_in_states
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state = ANY(:states::text[]) ORDER BY jobs.id;

-- name: find_leader
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.content_hash = :content_hash AND jobs.settings_key = :settings_key
  AND jobs.id <> :id AND jobs.leader_id IS NULL
  AND jobs.state IN ('uploading', 'uploaded', 'submitting', 'running', 'fetching')
ORDER BY jobs.id LIMIT 1;

-- name: object_in_use
SELECT 1 FROM jobs
WHERE object_key = :object_key AND id <> :id
  AND state IN ('uploading', 'uploaded', 'submitting', 'running')
LIMIT 1;

-- name: release_followers
UPDATE jobs SET state = :state, leader_id = NULL, next_action_at = :now, updated_at = :now,
                attempts = 0
WHERE leader_id = :leader_id AND state = 'waiting';

-- name: get_result
SELECT operation_id, response FROM results
WHERE content_hash = :content_hash AND settings_key = :settings_key;

-- name: put_result
INSERT INTO results (content_hash, settings_key, operation_id, response, created_at)
VALUES (:content_hash, :settings_key, :operation_id, :response, :now)
ON CONFLICT (content_hash, settings_key) DO UPDATE
SET operation_id = excluded.operation_id, response = excluded.response,
    created_at = excluded.created_at;

-- name: quota_spent
SELECT spent_at FROM quota_ledger WHERE quota = :quota AND spent_at > :since ORDER BY spent_at;

-- name: quota_amounts
SELECT spent_at, amount FROM quota_ledger
WHERE quota = :quota AND spent_at > :since ORDER BY spent_at;

-- name: prune_quota
DELETE FROM quota_ledger WHERE quota = :quota AND spent_at <= :before;

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
UPDATE jobs SET lease_until = :until WHERE id = ANY(:ids::bigint[]) AND lease_owner = :owner;

-- name: manifest_counts
SELECT manifests.id, manifests.name, manifests.path, manifests.state, manifests.created_at,
       manifests.finished_at, manifests.report_path, manifests.digest, manifests.node,
       jobs.state AS job_state, count(jobs.id) AS n
FROM manifests LEFT JOIN jobs ON jobs.manifest_id = manifests.id
GROUP BY manifests.id, jobs.state
ORDER BY manifests.id;

-- name: recent_failures
-- Walks jobs_failed_recent backwards (the state is spelled out, so that the partial
-- index applies): as many rows as asked for, however many jobs failed.
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state = 'failed'
ORDER BY jobs.finished_at DESC, jobs.id DESC
LIMIT :limit;

-- name: manifest_jobs
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.manifest_id = :manifest_id ORDER BY jobs.id;

-- name: manifests_to_finish
SELECT manifests.id FROM manifests
WHERE manifests.state = 'active'
  AND (:node::text IS NULL OR manifests.node = :node)
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.manifest_id = manifests.id
                  AND jobs.state NOT IN ('done', 'failed', 'cancelled'))
ORDER BY manifests.id;

-- name: finish_manifest
UPDATE manifests SET state = 'finished', finished_at = :now, report_path = :report_path,
                     path = :path
WHERE id = :id;

-- name: reopen_manifest
UPDATE manifests SET state = 'active', finished_at = NULL WHERE id = :id;

-- name: latest_manifest_by_name
SELECT id, state FROM manifests WHERE name = :name ORDER BY id DESC LIMIT 1 FOR UPDATE;

-- name: retry_jobs
UPDATE jobs SET state = 'queued', attempts = 0, error = NULL, next_action_at = :now,
                updated_at = :now, finished_at = NULL, leader_id = NULL, operation_id = NULL,
                lease_owner = NULL, lease_until = NULL, note = NULL
WHERE manifest_id = :manifest_id AND state IN ('failed', 'cancelled');

-- name: cancel_jobs
UPDATE jobs SET state = 'cancelled', error = 'cancelled by the operator', updated_at = :now,
                finished_at = :now
WHERE manifest_id = :manifest_id AND state NOT IN ('done', 'failed', 'cancelled');

-- name: counts_by_state
SELECT state, count(*) FROM jobs GROUP BY state;

-- name: kv_lock
SELECT pg_advisory_xact_lock(hashtextextended('speechkit-orchestrator kv ' || :key, 0));

-- name: kv_get
SELECT value FROM kv WHERE key = :key;

-- name: kv_set
INSERT INTO kv (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: kv_prefix
SELECT key, value FROM kv WHERE starts_with(key, :prefix) ORDER BY key;

-- name: set_manifest_on_finish
UPDATE manifests SET on_finish = :on_finish WHERE id = :id;

-- name: manifest_on_finish
SELECT on_finish FROM manifests WHERE id = :id;

-- name: insert_hook_delivery
INSERT INTO hook_deliveries (delivery_id, manifest_id, kind, origin, target, state,
                             next_attempt_at, created_at, updated_at)
VALUES (:delivery_id, :manifest_id, :kind, :origin, :target, 'pending', :now, :now, :now);

-- name: pending_hook_deliveries
-- A node delivers the hooks of the manifests it took in (their reports are on its disk).
SELECT hook_deliveries.*, manifests.name AS manifest_name, manifests.report_path
FROM hook_deliveries JOIN manifests ON manifests.id = hook_deliveries.manifest_id
WHERE hook_deliveries.state = 'pending' AND (:node::text IS NULL OR manifests.node = :node)
ORDER BY hook_deliveries.next_attempt_at, hook_deliveries.id;

-- name: all_hook_deliveries
SELECT hook_deliveries.*, manifests.name AS manifest_name, manifests.report_path
FROM hook_deliveries JOIN manifests ON manifests.id = hook_deliveries.manifest_id
ORDER BY hook_deliveries.manifest_id, hook_deliveries.id;

-- name: record_hook_delivery
UPDATE hook_deliveries
SET state = :state, attempts = :attempts, next_attempt_at = :next_attempt_at,
    last_error = :last_error, updated_at = :now,
    delivered_at = CASE WHEN :state = 'delivered' THEN :now ELSE delivered_at END
WHERE id = :id AND state = 'pending';
