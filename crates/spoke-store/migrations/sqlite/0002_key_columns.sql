-- Search keys move from the one `search` column to sixteen key columns, k0…k15, each holding
-- the typed keys of the properties whose names hash to it (sqlite/search.rs, KEY_COLUMNS): an
-- UPDATE then sets only the columns of the keys it changes, and SQLite leaves the expression
-- indexes on the other columns alone. The store's migration code then copies every record's
-- keys over, rebuilds the search indexes on their new columns and drops `search`
-- (sqlite/mod.rs, migrate).
ALTER TABLE objects ADD COLUMN k0 BLOB;
ALTER TABLE objects ADD COLUMN k1 BLOB;
ALTER TABLE objects ADD COLUMN k2 BLOB;
ALTER TABLE objects ADD COLUMN k3 BLOB;
ALTER TABLE objects ADD COLUMN k4 BLOB;
ALTER TABLE objects ADD COLUMN k5 BLOB;
ALTER TABLE objects ADD COLUMN k6 BLOB;
ALTER TABLE objects ADD COLUMN k7 BLOB;
ALTER TABLE objects ADD COLUMN k8 BLOB;
ALTER TABLE objects ADD COLUMN k9 BLOB;
ALTER TABLE objects ADD COLUMN k10 BLOB;
ALTER TABLE objects ADD COLUMN k11 BLOB;
ALTER TABLE objects ADD COLUMN k12 BLOB;
ALTER TABLE objects ADD COLUMN k13 BLOB;
ALTER TABLE objects ADD COLUMN k14 BLOB;
ALTER TABLE objects ADD COLUMN k15 BLOB;
