-- Version 10: folders that grow. A job taken from a local file records the file's stamp
-- when it was taken ("size:mtime_ns"): a manifest naming folders, submitted again, takes
-- only the files whose path, stamp and settings no earlier run of it took. A standing
-- manifest (`watch: true`) keeps taking new files until it is closed: standing is 1 while
-- it is open, 0 for every other manifest and once it is closed.

ALTER TABLE jobs ADD COLUMN source_stamp TEXT;
ALTER TABLE manifests ADD COLUMN standing INTEGER NOT NULL DEFAULT 0;
