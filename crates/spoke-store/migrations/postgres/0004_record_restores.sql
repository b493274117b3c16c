-- Version 4 of the SQLite store counts restores for the server's in-memory indexes
-- (`record_restores`). The PostgreSQL store keeps no such indexes, so this version changes
-- nothing here: it exists so that both stores' versions stay in step.
SELECT 1;
