-- Version 9: a recording too long for the service is split into part jobs. A part job
-- names the job it is a part of (parent_id) and its place in the recording (part, JSON:
-- index, count, start_s, end_s); every other job has neither. The parts of a job are found
-- through an index of the part jobs alone: most jobs are not parts and pay nothing for it.

ALTER TABLE jobs ADD COLUMN parent_id INTEGER REFERENCES jobs (id);
ALTER TABLE jobs ADD COLUMN part TEXT;
CREATE INDEX jobs_by_parent ON jobs (parent_id) WHERE parent_id IS NOT NULL;
