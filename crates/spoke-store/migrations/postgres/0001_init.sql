-- Spoke's PostgreSQL schema, version 1: the same tables as SQLite's 0001 (migrations of the two
-- backends stay in step: a test compares their versions). Every table but `accounts` and
-- `tokens` is keyed by account first, and every index and unique constraint starts with the
-- account, so the schema can be distributed by account_id (Citus) without change.

-- `config_version` is bumped by every write to an account's definitions (properties, groups,
-- schemas, pipelines): each Spoke node checks it before trusting its cached definitions, so a
-- change made through one node is seen by every node on its next request.
CREATE TABLE accounts (
    id              BIGINT PRIMARY KEY,
    created_at      BIGINT NOT NULL,
    config_version  BIGINT NOT NULL DEFAULT 0
);

-- Tokens are kept as SHA-256 hashes: the store never holds a usable credential. Looked up by
-- hash before the account is known, so (under Citus) a reference table.
CREATE TABLE tokens (
    token_hash  TEXT PRIMARY KEY,
    account_id  BIGINT NOT NULL REFERENCES accounts(id),
    app_id      BIGINT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE property_definitions (
    account_id  BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, name)
);

CREATE TABLE property_groups (
    account_id  BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, name)
);

-- Record ids come from one sequence shared by every node, so they never collide.
CREATE SEQUENCE object_ids;

-- Records, as in SQLite. `search` holds the typed search keys as JSONB (the target of filters,
-- sorts and the per-property partial expression indexes `search_<type>_<property>_<hash>` the
-- store creates). The words `query` searches are in `object_words`.
CREATE TABLE objects (
    account_id  BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    properties  TEXT NOT NULL,
    search      JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    archived_at BIGINT,
    version     BIGINT NOT NULL,
    created_source_type TEXT NOT NULL DEFAULT 'API',
    created_source_id   TEXT,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX objects_by_type ON objects (account_id, object_type, id);
CREATE INDEX objects_by_created ON objects (account_id, object_type, created_at);
CREATE INDEX objects_by_updated ON objects (account_id, object_type, updated_at);

-- The full-text words of live records' searchable properties (what `query` searches), one row
-- per word and record, in byte order: a query token is a prefix, i.e. one index range, and
-- counting the records that match reads the index only (a GIN index over a tsvector in `objects`
-- had to visit every matching row to count it: 80 searches/s at a million contacts).
CREATE TABLE object_words (
    account_id  BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    word        TEXT COLLATE "C" NOT NULL,
    object_id   BIGINT NOT NULL,
    PRIMARY KEY (account_id, object_type, word, object_id)
);
CREATE INDEX object_words_by_object ON object_words (account_id, object_id);

-- Unique values of live records (SQLite checks them through its search indexes under its single
-- writer; with several nodes writing, a constraint decides): one row per unique property value,
-- keyed by its search key (`n:<number>` or `t:<lower-cased text>`).
CREATE TABLE unique_values (
    account_id  BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    property    TEXT NOT NULL,
    value_key   TEXT NOT NULL,
    object_id   BIGINT NOT NULL,
    PRIMARY KEY (account_id, object_type, property, value_key)
);
CREATE INDEX unique_values_by_object ON unique_values (account_id, object_id);

CREATE TABLE property_history (
    account_id  BIGINT NOT NULL,
    object_id   BIGINT NOT NULL,
    property    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    value       TEXT NOT NULL,
    timestamp   BIGINT NOT NULL,
    source_type TEXT NOT NULL,
    source_id   TEXT,
    PRIMARY KEY (account_id, object_id, property, version)
);

CREATE TABLE pipelines (
    account_id  BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    id          TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, id)
);

CREATE TABLE pipeline_audits (
    account_id  BIGINT NOT NULL,
    object_type TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    seq         BIGINT NOT NULL,
    stage_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    timestamp   BIGINT NOT NULL,
    raw_object  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, pipeline_id, seq)
);

CREATE TABLE owners (
    account_id  BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE object_schemas (
    account_id  BIGINT NOT NULL,
    id          BIGINT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX object_schemas_by_name ON object_schemas (account_id, lower(name));

CREATE TABLE associations (
    account_id  BIGINT NOT NULL,
    from_id     BIGINT NOT NULL,
    to_type     TEXT NOT NULL,
    to_id       BIGINT NOT NULL,
    type_id     BIGINT NOT NULL,
    from_type   TEXT NOT NULL,
    category    TEXT NOT NULL,
    PRIMARY KEY (account_id, from_id, to_type, to_id, type_id)
);

CREATE TABLE association_labels (
    account_id      BIGINT NOT NULL,
    from_type       TEXT NOT NULL,
    to_type         TEXT NOT NULL,
    type_id         BIGINT NOT NULL,
    name            TEXT NOT NULL,
    label           TEXT NOT NULL,
    inverse_type_id BIGINT NOT NULL,
    PRIMARY KEY (account_id, from_type, to_type, type_id)
);

CREATE TABLE association_limits (
    account_id  BIGINT NOT NULL,
    from_type   TEXT NOT NULL,
    to_type     TEXT NOT NULL,
    type_id     BIGINT NOT NULL,
    max_to      BIGINT NOT NULL,
    PRIMARY KEY (account_id, from_type, to_type, type_id)
);
