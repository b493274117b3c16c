-- Spoke's SQLite schema, version 1. Every table carries account_id and every query filters on it.

CREATE TABLE accounts (
    id          INTEGER PRIMARY KEY,
    created_at  INTEGER NOT NULL
);

-- Tokens are kept as SHA-256 hashes: the store never holds a usable credential.
CREATE TABLE tokens (
    token_hash  TEXT PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    app_id      INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Custom property definitions, and built-in ones an account has edited (JSON of
-- spoke_core::property::PropertyDefinition). Archived definitions stay, with archivedAt set.
CREATE TABLE property_definitions (
    account_id  INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, name)
) WITHOUT ROWID;

CREATE TABLE property_groups (
    account_id  INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, name)
) WITHOUT ROWID;

-- Records. `id` is unique across the whole store (so a point read is one rowid lookup); HubSpot
-- only promises uniqueness per object type, which this satisfies. `properties` is one JSON object
-- of name -> string, system properties included. `search` holds the same values as typed search
-- keys (spoke_core::search), in SQLite's binary JSONB (json_extract reads it without parsing
-- text): the target of search filters, sorts and the per-property expression indexes
-- `search_<type>_<property>` that the store creates.
CREATE TABLE objects (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    properties  TEXT NOT NULL,
    search      BLOB NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    archived_at INTEGER,
    version     INTEGER NOT NULL,
    -- Where the create came from: the first history entry of every value set at creation.
    created_source_type TEXT NOT NULL DEFAULT 'API',
    created_source_id   TEXT
);
CREATE INDEX objects_by_type ON objects (account_id, object_type, id);
-- Search on the create and last-modified dates (every type has them) reads these columns.
CREATE INDEX objects_by_created ON objects (account_id, object_type, created_at);
CREATE INDEX objects_by_updated ON objects (account_id, object_type, updated_at);

-- Every value a property has had; `version` is the record's write counter at that write.
-- Values set when the record was created get no rows (creating a record writes one row, not one
-- per property): a property without rows has one implicit entry, its current value at the
-- record's creation. The first update of such a property writes that entry before its own.
CREATE TABLE property_history (
    account_id  INTEGER NOT NULL,
    object_id   INTEGER NOT NULL,
    property    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    value       TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    source_type TEXT NOT NULL,
    source_id   TEXT,
    PRIMARY KEY (account_id, object_id, property, version)
) WITHOUT ROWID;


-- The text searched by `query`: the values of each record's searchable properties, rowid = the
-- record id. Contentless: the text itself lives in `objects`.
CREATE VIRTUAL TABLE search_text USING fts5(
    text,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 2'
);

-- Pipelines an account created or edited (JSON of spoke_core::pipeline::Pipeline, stages
-- included); HubSpot's default pipelines are built in until edited.
CREATE TABLE pipelines (
    account_id  INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    id          TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, id)
) WITHOUT ROWID;

-- Every change to a pipeline or stage; `stage_id` is '' for the pipeline itself.
CREATE TABLE pipeline_audits (
    account_id  INTEGER NOT NULL,
    object_type TEXT NOT NULL,
    pipeline_id TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    stage_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    timestamp   INTEGER NOT NULL,
    raw_object  TEXT NOT NULL,
    PRIMARY KEY (account_id, object_type, pipeline_id, seq)
) WITHOUT ROWID;

-- Owners of an account (JSON of spoke_core::owner::Owner). Each account starts with one, its
-- own user; more are added with `spoke owners create`.
CREATE TABLE owners (
    account_id  INTEGER NOT NULL,
    id          INTEGER NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;

-- Custom object types (JSON of spoke_core::schema::ObjectSchemaDef); `id` is the <n> of the
-- objectTypeId 2-<n>. Their properties live in property_definitions under object_type '2-<n>'.
CREATE TABLE object_schemas (
    account_id  INTEGER NOT NULL,
    id          INTEGER NOT NULL,
    name        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;
CREATE UNIQUE INDEX object_schemas_by_name ON object_schemas (account_id, name COLLATE NOCASE);

-- Associations between records, one row per type and direction (A->B with a type, B->A with
-- its inverse), so both ends read them with one index range. Rows stay while a record is
-- archived (reads hide them) and show again when it is restored.
CREATE TABLE associations (
    account_id  INTEGER NOT NULL,
    from_id     INTEGER NOT NULL,
    to_type     TEXT NOT NULL,
    to_id       INTEGER NOT NULL,
    type_id     INTEGER NOT NULL,
    from_type   TEXT NOT NULL,
    category    TEXT NOT NULL,
    PRIMARY KEY (account_id, from_id, to_type, to_id, type_id)
) WITHOUT ROWID;

-- An account's association labels, one row per direction.
CREATE TABLE association_labels (
    account_id      INTEGER NOT NULL,
    from_type       TEXT NOT NULL,
    to_type         TEXT NOT NULL,
    type_id         INTEGER NOT NULL,
    name            TEXT NOT NULL,
    label           TEXT NOT NULL,
    inverse_type_id INTEGER NOT NULL,
    PRIMARY KEY (account_id, from_type, to_type, type_id)
) WITHOUT ROWID;

-- Per association type limits an account configured: at most `max_to` targets per record.
CREATE TABLE association_limits (
    account_id  INTEGER NOT NULL,
    from_type   TEXT NOT NULL,
    to_type     TEXT NOT NULL,
    type_id     INTEGER NOT NULL,
    max_to      INTEGER NOT NULL,
    PRIMARY KEY (account_id, from_type, to_type, type_id)
) WITHOUT ROWID;
