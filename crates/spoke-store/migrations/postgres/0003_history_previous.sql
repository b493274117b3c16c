-- The same as sqlite/0003_history_previous.sql: each history row also holds the value its write
-- replaced, from which readers derive the implicit creation entry; NULL in older rows, whose
-- creation entry is a row of its own.
ALTER TABLE property_history ADD COLUMN previous TEXT;
