-- Version 7: what is written for a job (the formats chosen, the names of its channels), as
-- JSON; NULL for the defaults (every row written before this version). Kept apart from
-- the recognition settings: it never changes what the service is asked.

ALTER TABLE jobs ADD COLUMN output_options TEXT;
