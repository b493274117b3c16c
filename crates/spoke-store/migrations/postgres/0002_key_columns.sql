-- Version 2 splits SQLite's `search` column into key columns (see sqlite/0002_key_columns.sql),
-- because SQLite rewrites every expression index on a column an UPDATE sets. PostgreSQL needs
-- no such change: an UPDATE that changes an indexed column (every write changes updated_at)
-- adds an entry to every index of the table for the new row version, whichever columns those
-- indexes read. This step keeps the two stores' versions in step.
SELECT 1;
