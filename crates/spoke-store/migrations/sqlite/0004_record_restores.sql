-- How many restores (`spoke records restore`) the store has had. The server keeps in-memory
-- indexes of numeric keys (sort_keys.rs) that its own writer keeps current; a restore run by
-- another process on the same store is the one write to records they cannot see. Every restore
-- adds one here, and a server whose index was built at another count drops it.
CREATE TABLE record_restores (count INTEGER NOT NULL);
INSERT INTO record_restores (count) VALUES (0);
