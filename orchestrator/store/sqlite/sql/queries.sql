-- Named queries of the SQLite store. Each starts with a "-- name:" line.

-- name: insert_manifest
INSERT INTO manifests (name, path, digest, state, created_at)
VALUES (:name, :path, :digest, 'active', :now)
RETURNING id;

-- name: manifest_by_digest
SELECT id, name, state FROM manifests WHERE digest = :digest ORDER BY id DESC LIMIT 1;

-- name: active_manifest_by_name
SELECT id FROM manifests WHERE name = :name AND state = 'active';

-- name: insert_job
INSERT INTO jobs (manifest_id, source, output, settings, settings_key, priority, api,
                  output_options, state, next_action_at, created_at, updated_at)
VALUES (:manifest_id, :source, :output, :settings, :settings_key, :priority, :api,
        :output_options, 'queued', :now, :now, :now);

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

-- name: lease_job
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

-- name: job_by_id
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id WHERE jobs.id = :id;

-- name: find_leader
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.content_hash = :content_hash AND jobs.settings_key = :settings_key
  AND jobs.id != :id AND jobs.leader_id IS NULL
  AND jobs.state IN ('uploading', 'uploaded', 'submitting', 'running', 'fetching')
ORDER BY jobs.id LIMIT 1;

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

-- name: prune_quota
DELETE FROM quota_ledger WHERE quota = :quota AND spent_at <= :before;

-- name: set_pause
INSERT INTO quota_pauses (quota, until, strikes) VALUES (:quota, :until, :strikes)
ON CONFLICT (quota) DO UPDATE SET until = MAX(until, excluded.until), strikes = excluded.strikes;

-- name: get_pause
SELECT until, strikes FROM quota_pauses WHERE quota = :quota;

-- name: recover_leases
UPDATE jobs SET lease_owner = NULL, lease_until = NULL
WHERE lease_owner IS NOT NULL
  AND (lease_until < :now OR substr(lease_owner, 1, length(:node) + 1) = :node || ':');

-- name: renew_lease
UPDATE jobs SET lease_until = :until WHERE id = :id AND lease_owner = :owner;

-- name: kv_prefix
SELECT key, value FROM kv WHERE substr(key, 1, length(:prefix)) = :prefix ORDER BY key;

-- name: all_manifests
SELECT id, name, path, state, created_at, finished_at, report_path, digest
FROM manifests ORDER BY id;

-- name: manifest_counts
-- In the order of jobs_by_manifest (a covering index): no sort.
SELECT manifest_id, state, COUNT(*) AS n FROM jobs GROUP BY manifest_id, state;

-- name: manifest_jobs
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.manifest_id = :manifest_id ORDER BY jobs.id;

-- name: recent_failures
-- Walks jobs_failed_recent backwards (the state is spelled out, so that the partial
-- index applies): as many rows as asked for, however many jobs failed. Left to itself,
-- SQLite (with no statistics) would take every failed job through jobs_claim and sort them.
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs INDEXED BY jobs_failed_recent JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state = 'failed'
ORDER BY jobs.finished_at DESC, jobs.id DESC
LIMIT :limit;

-- name: unfinished_manifests_without_active_jobs
SELECT manifests.id FROM manifests
WHERE manifests.state = 'active'
  AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.manifest_id = manifests.id
                  AND jobs.state NOT IN ('done', 'failed', 'cancelled'));

-- name: finish_manifest
UPDATE manifests SET state = 'finished', finished_at = :now, report_path = :report_path,
                     path = :path
WHERE id = :id;

-- name: reopen_manifest
UPDATE manifests SET state = 'active', finished_at = NULL WHERE id = :id;

-- name: latest_manifest_by_name
SELECT id, state FROM manifests WHERE name = :name ORDER BY id DESC LIMIT 1;

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
SELECT state, COUNT(*) FROM jobs GROUP BY state;

-- name: kv_get
SELECT value FROM kv WHERE key = :key;

-- name: kv_set
INSERT INTO kv (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: object_in_use
SELECT 1 FROM jobs
WHERE object_key = :object_key AND id != :id
  AND state IN ('uploading', 'uploaded', 'submitting', 'running')
LIMIT 1;

-- name: jobs_in_states
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.state IN (SELECT value FROM json_each(:states)) ORDER BY jobs.id;

-- name: spend_amount
INSERT INTO quota_ledger (quota, spent_at, amount) VALUES (:quota, :now, :amount);

-- name: quota_amounts
SELECT spent_at, amount FROM quota_ledger
WHERE quota = :quota AND spent_at > :since ORDER BY spent_at;

-- name: set_manifest_on_finish
UPDATE manifests SET on_finish = :on_finish WHERE id = :id;

-- name: manifest_on_finish
SELECT on_finish FROM manifests WHERE id = :id;

-- name: insert_hook_delivery
INSERT INTO hook_deliveries (delivery_id, manifest_id, kind, origin, target, state,
                             next_attempt_at, created_at, updated_at)
VALUES (:delivery_id, :manifest_id, :kind, :origin, :target, 'pending', :now, :now, :now);

-- name: pending_hook_deliveries
SELECT hook_deliveries.*, manifests.name AS manifest_name, manifests.report_path
FROM hook_deliveries JOIN manifests ON manifests.id = hook_deliveries.manifest_id
WHERE hook_deliveries.state = 'pending'
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
