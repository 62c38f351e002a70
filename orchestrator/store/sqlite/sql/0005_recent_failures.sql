-- Version 5: the newest failures (the status page's list) read through an index of the
-- failed jobs alone, newest first: a walk of as many rows as are shown, whatever the size
-- of the table. Every failed job has its finished_at (set with the state).

CREATE INDEX jobs_failed_recent ON jobs (finished_at, id) WHERE state = 'failed';
