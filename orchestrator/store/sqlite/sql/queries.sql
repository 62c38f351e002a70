-- Named queries of the SQLite store (those both databases share: store/sql/queries.sql).
-- Each starts with a "-- name:" line; a list parameter is JSON text, read with json_each.

-- name: insert_manifest
INSERT INTO manifests (name, path, digest, state, created_at, standing)
VALUES (:name, :path, :digest, 'active', :now, :standing)
RETURNING id;

-- name: insert_jobs
INSERT INTO jobs (manifest_id, source, output, settings, settings_key, priority, api,
                  output_options, source_stamp, state, next_action_at, created_at, updated_at)
VALUES (:manifest_id, :source, :output, :settings, :settings_key, :priority, :api,
        :output_options, :source_stamp, 'queued', :now, :now, :now);

-- name: job_classes
SELECT priority, api FROM job_classes ORDER BY priority DESC, api DESC;

-- name: add_job_class
INSERT OR IGNORE INTO job_classes (priority, api) VALUES (:priority, :api);

-- name: due_ids
-- Walks jobs_claim in order: equality on (state, api, priority), a range on the due time.
SELECT id, next_action_at FROM jobs INDEXED BY jobs_claim
WHERE state = :state AND api = :api AND priority = :priority AND next_action_at <= :now
  AND (lease_until IS NULL OR lease_until < :now)
ORDER BY next_action_at, id
LIMIT :limit;

-- name: jobs_by_ids
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.id IN (SELECT value FROM json_each(:ids));

-- name: lease_jobs
UPDATE jobs SET lease_owner = :owner, lease_until = :until WHERE id = :id;

-- name: next_unleased
SELECT next_action_at FROM jobs INDEXED BY jobs_claim
WHERE state = :state AND api = :api AND priority = :priority
  AND (lease_until IS NULL OR lease_until < :now)
ORDER BY next_action_at
LIMIT 1;

-- name: next_lease_end
-- A leased job comes due when its lease runs out (a dead daemon's job is taken over then);
-- only the leased rows are read, through their partial index.
SELECT MIN(MAX(next_action_at, lease_until)) FROM jobs INDEXED BY jobs_by_lease_owner
WHERE lease_owner IS NOT NULL AND lease_until >= :now
  AND state IN (SELECT value FROM json_each(:states))
  AND (:apis IS NULL OR api IN (SELECT value FROM json_each(:apis)));

-- name: any_in_states
SELECT 1 FROM jobs WHERE state IN (SELECT value FROM json_each(:states)) LIMIT 1;

-- name: count_in_state
SELECT COUNT(*) FROM jobs
WHERE state = :state AND (:apis IS NULL OR api IN (SELECT value FROM json_each(:apis)));

-- name: count_states
SELECT COUNT(*) FROM jobs WHERE state IN (SELECT value FROM json_each(:states));

-- name: set_pause
INSERT INTO quota_pauses (quota, until, strikes) VALUES (:quota, :until, :strikes)
ON CONFLICT (quota) DO UPDATE SET until = MAX(until, excluded.until), strikes = excluded.strikes;

-- name: get_pause
SELECT until, strikes FROM quota_pauses WHERE quota = :quota;

-- name: recover_leases
UPDATE jobs SET lease_owner = NULL, lease_until = NULL
WHERE lease_owner IS NOT NULL
  AND (lease_until < :now OR substr(lease_owner, 1, length(:node) + 1) = :node || ':');

-- name: renew_leases
UPDATE jobs SET lease_until = :until WHERE id = :id AND lease_owner = :owner;

-- name: kv_prefix
SELECT key, value FROM kv WHERE substr(key, 1, length(:prefix)) = :prefix ORDER BY key;

-- name: all_manifests
-- One daemon per file: every manifest is its own (no node kept).
SELECT id, name, path, state, created_at, finished_at, report_path, digest, '' AS node,
       standing
FROM manifests ORDER BY id;

-- name: recent_failures
-- Walks jobs_failed_recent backwards (the state is spelled out, so that the partial
-- index applies): as many rows as asked for, however many jobs failed. Left to itself,
-- SQLite (with no statistics) would take every failed job through jobs_claim and sort them.
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs INDEXED BY jobs_failed_recent JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state = 'failed' AND jobs.parent_id IS NULL
ORDER BY jobs.finished_at DESC, jobs.id DESC
LIMIT :limit;

-- name: manifests_to_finish
SELECT manifests.id FROM manifests
WHERE manifests.state = 'active' AND manifests.standing = 0
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.manifest_id = manifests.id
                  AND jobs.state NOT IN ('done', 'failed', 'cancelled'));

-- name: latest_manifest_by_name
SELECT id, state FROM manifests WHERE name = :name ORDER BY id DESC LIMIT 1;

-- name: jobs_in_states
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state IN (SELECT value FROM json_each(:states)) ORDER BY jobs.id;

-- name: spend
INSERT INTO quota_ledger (quota, spent_at, amount) VALUES (:quota, :at, :amount);

-- name: pending_hook_deliveries
SELECT hook_deliveries.*, manifests.name AS manifest_name, manifests.report_path
FROM hook_deliveries JOIN manifests ON manifests.id = hook_deliveries.manifest_id
WHERE hook_deliveries.state = 'pending'
ORDER BY hook_deliveries.next_attempt_at, hook_deliveries.id;

-- name: enter_state
-- A claim moves the jobs entering its state, each counter given 0 or 1.
UPDATE jobs SET state = :state, updated_at = :now, submissions = submissions + :submissions,
                attempts = attempts + :attempts, polls = polls + :polls
WHERE id = :id;

-- name: insert_part
-- A part job of :parent_id, once (its output is the parent's and :suffix, unique in the
-- manifest); its manifest, audio and settings are the parent's.
INSERT INTO jobs (manifest_id, source, output, settings, settings_key, priority, api,
                  output_options, parent_id, part, state, next_action_at, created_at,
                  updated_at)
SELECT manifest_id, source, output || :suffix, settings, settings_key, priority, api,
       output_options, id, :part, 'queued', :now, :now, :now
FROM jobs WHERE id = :parent_id
ON CONFLICT (manifest_id, output) DO NOTHING;

-- name: part_counts
-- Walks jobs_by_parent (the part jobs alone: left to itself, SQLite would read every job
-- through jobs_by_manifest); subtracted from manifest_counts.
SELECT manifest_id, state, COUNT(*) AS n FROM jobs INDEXED BY jobs_by_parent
WHERE parent_id IS NOT NULL
GROUP BY manifest_id, state;

-- name: standing_manifest
-- A standing manifest still open (new jobs may join it).
SELECT id, '' AS node FROM manifests WHERE id = :id AND state = 'active' AND standing = 1;

-- name: open_standing
-- The standing manifests still open: a few rows, read at every look of the intake.
SELECT id, name, path, state, created_at, finished_at, report_path, digest, '' AS node, standing
FROM manifests WHERE state = 'active' AND standing = 1 ORDER BY id;
