-- Record writes are acknowledged once they are in the record journal (`spoke.journal/` beside
-- this file, see sqlite/journal.rs) and written to these tables later, many at a time. Each such
-- transaction also sets `applied_lsn`, the journal position it reached, so that at start-up the
-- journal's later writes, and only those, are applied again.
CREATE TABLE journal_progress (applied_lsn INTEGER NOT NULL);
INSERT INTO journal_progress (applied_lsn) VALUES (0);
