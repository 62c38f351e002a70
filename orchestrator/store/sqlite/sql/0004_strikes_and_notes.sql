-- Version 4: a quota paused after a 429 counts the 429s in a row (each one pauses it
-- longer when the service sends no Retry-After); a job that ended well may carry a note
-- ("no speech recognised") for its manifest's report.

ALTER TABLE quota_pauses ADD COLUMN strikes INTEGER NOT NULL DEFAULT 1;
ALTER TABLE jobs ADD COLUMN note TEXT;
