-- Version 2: each job's API in a column of its own, so a stage claims the jobs of the APIs
-- that share a quota; leases looked up by owner when a daemon recovers its own.

ALTER TABLE jobs ADD COLUMN api TEXT NOT NULL DEFAULT 'v2';
UPDATE jobs SET api = COALESCE(json_extract(settings, '$.api'), 'v2');

DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (state, api, next_action_at);
CREATE INDEX jobs_by_lease_owner ON jobs (lease_owner) WHERE lease_owner IS NOT NULL;
