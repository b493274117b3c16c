-- Version 5 of the SQLite store records how far its record journal has been applied
-- (`journal_progress`). The PostgreSQL store writes records in their own transactions, with no
-- journal, so this version changes nothing here: it exists so that both stores' versions stay
-- in step.
SELECT 1;
