-- Named queries both databases run as they are (each dialect's own are in its sql/).
-- Each starts with a "-- name:" line; parameters are written :name.

-- name: manifest_by_digest
SELECT id, name, state FROM manifests WHERE digest = :digest ORDER BY id DESC LIMIT 1;

-- name: latest_run
-- The newest run of the manifest file ``digest`` named ``name``.
SELECT id, state FROM manifests WHERE name = :name AND digest = :digest
ORDER BY id DESC LIMIT 1;

-- name: files_taken
-- Every local file the runs of a manifest took, with its stamp and settings then.
SELECT jobs.source, jobs.source_stamp, jobs.settings_key
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE manifests.name = :name AND jobs.parent_id IS NULL AND jobs.source_stamp IS NOT NULL;

-- name: stop_standing
UPDATE manifests SET standing = 0 WHERE id = :id;

-- name: close_standing
UPDATE manifests SET standing = 0 WHERE name = :name AND state = 'active' AND standing = 1;

-- name: manifest_runs_by_name
SELECT id FROM manifests WHERE name = :name ORDER BY id;

-- name: active_manifest_by_name
SELECT id FROM manifests WHERE name = :name AND state = 'active';

-- name: finished_manifest_by_name
-- A finished manifest of another file (``digest``: this one's) with the name.
SELECT id FROM manifests WHERE name = :name AND state = 'finished' AND digest <> :digest
LIMIT 1;

-- name: job_by_id
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id WHERE jobs.id = :id;

-- name: find_leader
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.content_hash = :content_hash AND jobs.settings_key = :settings_key
  AND jobs.id <> :id AND jobs.leader_id IS NULL
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

-- name: quota_amounts
SELECT spent_at, amount FROM quota_ledger
WHERE quota = :quota AND spent_at > :since ORDER BY spent_at;

-- name: prune_quota
DELETE FROM quota_ledger WHERE quota = :quota AND spent_at <= :before;

-- name: manifest_counts
-- In the order of jobs_by_manifest (a covering index): no sort.
SELECT manifest_id, state, COUNT(*) AS n FROM jobs GROUP BY manifest_id, state;

-- name: manifest_jobs
-- The jobs people count: a split job's part jobs are not among them.
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.manifest_id = :manifest_id AND jobs.parent_id IS NULL ORDER BY jobs.id;

-- name: manifest_jobs_page
-- The same jobs a page at a time, in id order from after :after_id (an export's reading).
-- The unary + keeps the planner off jobs_by_manifest: a page walks the primary key from
-- :after_id (a manifest's jobs are near one another), not every job of the manifest.
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE +jobs.manifest_id = :manifest_id AND jobs.parent_id IS NULL AND jobs.id > :after_id
ORDER BY jobs.id LIMIT :limit;

-- name: manifest_parts
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.manifest_id = :manifest_id AND jobs.parent_id IS NOT NULL ORDER BY jobs.id;

-- name: parts_of
SELECT jobs.*, manifests.name AS manifest_name
FROM jobs JOIN manifests ON manifests.id = jobs.manifest_id
WHERE jobs.parent_id = :parent_id ORDER BY jobs.id;

-- name: cancel_parts_of
UPDATE jobs SET state = 'cancelled', error = :error, updated_at = :now, finished_at = :now
WHERE parent_id = :parent_id AND state NOT IN ('done', 'failed', 'cancelled');

-- name: finish_manifest
UPDATE manifests SET state = 'finished', finished_at = :now, report_path = :report_path,
                     path = :path
WHERE id = :id;

-- name: reopen_manifest
UPDATE manifests SET state = 'active', finished_at = NULL WHERE id = :id;

-- name: retry_parts
-- First the part jobs (those done are kept: not recognised twice), then retry_jobs.
UPDATE jobs SET state = 'queued', attempts = 0, error = NULL, next_action_at = :now,
                updated_at = :now, finished_at = NULL, leader_id = NULL, operation_id = NULL,
                lease_owner = NULL, lease_until = NULL, note = NULL
WHERE manifest_id = :manifest_id AND parent_id IS NOT NULL AND state IN ('failed', 'cancelled');

-- name: retry_jobs
-- A job that was split waits for its parts again, or, with every part done already, is
-- stitched at once; any other starts again from the queue.
UPDATE jobs SET state = CASE
                    WHEN NOT EXISTS (SELECT 1 FROM jobs AS p WHERE p.parent_id = jobs.id)
                        THEN 'queued'
                    WHEN EXISTS (SELECT 1 FROM jobs AS p
                                 WHERE p.parent_id = jobs.id AND p.state <> 'done')
                        THEN 'split'
                    ELSE 'fetching' END,
                attempts = 0, error = NULL, next_action_at = :now,
                updated_at = :now, finished_at = NULL, leader_id = NULL, operation_id = NULL,
                lease_owner = NULL, lease_until = NULL, note = NULL
WHERE manifest_id = :manifest_id AND parent_id IS NULL AND state IN ('failed', 'cancelled');

-- name: cancel_jobs
UPDATE jobs SET state = 'cancelled', error = 'cancelled by the operator', updated_at = :now,
                finished_at = :now
WHERE manifest_id = :manifest_id AND parent_id IS NULL
  AND state NOT IN ('done', 'failed', 'cancelled');

-- name: cancel_parts
UPDATE jobs SET state = 'cancelled', error = 'cancelled by the operator', updated_at = :now,
                finished_at = :now
WHERE manifest_id = :manifest_id AND parent_id IS NOT NULL
  AND state NOT IN ('done', 'failed', 'cancelled');

-- name: counts_by_state
SELECT state, COUNT(*) FROM jobs GROUP BY state;

-- name: kv_get
SELECT value FROM kv WHERE key = :key;

-- name: kv_set
INSERT INTO kv (key, value) VALUES (:key, :value)
ON CONFLICT (key) DO UPDATE SET value = excluded.value;

-- name: object_in_use
SELECT 1 FROM jobs
WHERE object_key = :object_key AND id <> :id
  AND state IN ('uploading', 'uploaded', 'submitting', 'running')
LIMIT 1;

-- name: content_in_use
-- A converted file is read until its job is uploaded (or, for an API taking the audio in
-- the request, submitted).
SELECT 1 FROM jobs
WHERE content_hash = :content_hash
  AND state IN ('queued', 'uploading', 'uploaded', 'submitting')
LIMIT 1;

-- name: set_manifest_on_finish
UPDATE manifests SET on_finish = :on_finish WHERE id = :id;

-- name: manifest_on_finish
SELECT on_finish FROM manifests WHERE id = :id;

-- name: insert_hook_delivery
INSERT INTO hook_deliveries (delivery_id, manifest_id, kind, origin, target, state,
                             next_attempt_at, created_at, updated_at)
VALUES (:delivery_id, :manifest_id, :kind, :origin, :target, 'pending', :now, :now, :now);

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

-- name: cancel_hook_deliveries
UPDATE hook_deliveries
SET state = 'failed', last_error = 'cancelled by the operator', updated_at = :now
WHERE state = 'pending' AND manifest_id IN (SELECT id FROM manifests WHERE name = :name);
