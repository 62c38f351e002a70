-- Version 3: claims and wake-ups served by an index at any size of backlog.
--
-- A claim asks for due jobs of some states and APIs, highest priority first, then earliest
-- due. One query per (priority, state, API) walks `jobs_claim` in exactly that order and
-- stops after the rows it needs: no sort of the due rows, no scan of the table. The few
-- (priority, API) pairs in use are kept in `job_classes`, so a claim knows which to ask.

DROP INDEX jobs_due;
CREATE INDEX jobs_claim ON jobs (state, api, priority, next_action_at);

CREATE TABLE job_classes (
    priority  INTEGER NOT NULL,
    api       TEXT NOT NULL,
    PRIMARY KEY (priority, api)
) WITHOUT ROWID;
INSERT OR IGNORE INTO job_classes (priority, api) SELECT DISTINCT priority, api FROM jobs;

-- Whether another job still needs an uploaded object, before deleting it.
CREATE INDEX jobs_by_object ON jobs (object_key) WHERE object_key IS NOT NULL;
