//! Records, their history and their unique values.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, ToSql};
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::{ObjectTypeDef, OBJECT_ID_PROPERTY};
use spoke_core::record::{HistoryEntry, ObjectRecord, WriteSource};
use spoke_core::search::{search_key, search_keys};
use spoke_core::time::Timestamp;
use spoke_core::value::{PropertySet, PropertyWrites};

use super::associations::insert_links;
use super::record_cache::{unique_hash, CacheChange, RecordCache};
use super::search::{
    ensure_builtin_indexes, key_column, key_columns, key_value, record_text, unique_lookup_sql,
    KEY_COLUMNS,
};
use super::writer::WriteCtx;
use super::SqliteStore;
use crate::common::HistoryRows;
use crate::{AssociationLink, BatchMode, NewObject, StoreError, StoreResult};

/// A record row as read inside the writer.
struct Row {
    record: ObjectRecord,
    version: i64,
}

fn read_row(
    conn: &Connection,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
) -> StoreResult<Option<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT properties, created_at, updated_at, archived_at, version
         FROM objects WHERE id = ?1 AND account_id = ?2 AND object_type = ?3",
    )?;
    let row = stmt
        .query_row(params![id.0, account.0, object_type], |r| {
            Ok((
                (
                    // Parsed straight from SQLite's buffer, without a copy into a String.
                    parse_properties(r.get_ref(0)?.as_str()?),
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ),
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    let Some(((properties, created, updated, archived), version)) = row else {
        return Ok(None);
    };
    Ok(Some(Row {
        record: ObjectRecord {
            id,
            properties: properties?,
            created_at: Timestamp(created),
            updated_at: Timestamp(updated),
            archived_at: archived.map(Timestamp),
        },
        version,
    }))
}

/// One change of a property by a write: its name, its new value and the value it replaced (""
/// when it had none).
struct HistoryChange<'a> {
    property: &'a str,
    value: &'a str,
    previous: &'a str,
}

/// Writes one history row per changed property, with the value it replaced: the property's
/// implicit creation entry is derived from its oldest row's `previous` (`HistoryRows`), so the
/// first update of a property needs no look-up and no extra row. `version` is new for every
/// write of the record, so the rows never collide.
///
/// One INSERT per row on purpose: an `INSERT` of several rows (or `INSERT … SELECT`) may write
/// more than one row, so SQLite gives it a statement journal, and opening one makes FTS5 flush
/// the transaction's pending full-text terms to disk as a new segment — measured at ~15% of the
/// writer's time in batch upserts that mix creates and updates.
fn insert_history(
    ctx: &WriteCtx,
    account: AccountId,
    id: ObjectId,
    version: i64,
    at: Timestamp,
    source: &WriteSource,
    changes: &[HistoryChange],
) -> StoreResult<()> {
    let mut stmt = ctx.conn.prepare_cached(
        "INSERT INTO property_history
         (account_id, object_id, property, version, value, timestamp, source_type, source_id,
          previous)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for change in changes {
        stmt.execute(params![
            account.0,
            id.0,
            change.property,
            version,
            change.value,
            at.millis(),
            source.source_type,
            source.source_id,
            change.previous
        ])?;
    }
    Ok(())
}

/// Checks that no other live record holds `value` of a unique property. Uniqueness is kept on
/// the property's search key (so strings compare case-insensitively, as HubSpot does for email)
/// through the property's search index; the single writer makes check-then-write safe.
fn check_unique(
    ctx: &WriteCtx,
    account: AccountId,
    set: &PropertySet,
    property: &str,
    value: &str,
    id: ObjectId,
) -> StoreResult<()> {
    match unique_holder(&ctx.conn, account, set, property, value, Some(id))? {
        Some(other) => Err(StoreError::UniqueConflict {
            property: property.to_string(),
            value: value.to_string(),
            existing: other,
            on: Some(id),
        }),
        None => Ok(()),
    }
}

/// A record's unique values as search keys (text keys only: the unique-value map of the record
/// cache serves searches by them), with their property names.
fn unique_text_keys<'a>(
    set: &'a PropertySet,
    properties: impl IntoIterator<Item = (&'a String, &'a String)> + 'a,
) -> impl Iterator<Item = (&'a str, String)> + 'a {
    properties.into_iter().filter_map(move |(name, value)| {
        let def = set.get(name).filter(|d| set.is_unique(d))?;
        match search_key(def, value)? {
            spoke_core::search::Key::Text(k) => Some((name.as_str(), k)),
            spoke_core::search::Key::Num(_) => None,
        }
    })
}

/// The unique-value map changes for a record's unique values among `properties`: it holds them
/// now (`MapUnique`) or no longer (`UnmapUnique`).
fn unique_changes<'a>(
    set: &'a PropertySet,
    account: AccountId,
    ot: &'a str,
    id: ObjectId,
    properties: impl IntoIterator<Item = (&'a String, &'a String)> + 'a,
    holds: bool,
) -> impl Iterator<Item = CacheChange> + 'a {
    unique_text_keys(set, properties).map(move |(name, key)| {
        let hash = unique_hash(account, ot, name, &key);
        if holds {
            CacheChange::MapUnique(hash, id)
        } else {
            CacheChange::UnmapUnique(hash, id)
        }
    })
}

/// What a write does to a record's row in `search_text`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum TextWrite {
    Insert,
    Replace,
    Keep,
}

/// Maintains a record's searchable text (the `search_text` full-text index).
fn write_text(
    ctx: &mut WriteCtx,
    account: AccountId,
    set: &PropertySet,
    id: ObjectId,
    properties: &BTreeMap<String, String>,
    text: TextWrite,
) {
    if text != TextWrite::Keep {
        let scoped = record_text(account, set, properties);
        match text {
            TextWrite::Insert => ctx.text.insert(id.0, scoped),
            _ => ctx.text.replace(id.0, scoped),
        }
    }
}

/// `INSERT` of a record: `?1`–`?4` id, account, type, properties; `?5`… the key columns; then
/// the creation time and source.
fn insert_sql() -> &'static str {
    static SQL: OnceLock<String> = OnceLock::new();
    SQL.get_or_init(|| {
        let columns: Vec<String> = (0..KEY_COLUMNS).map(|c| format!("k{c}")).collect();
        let values: Vec<String> = (0..KEY_COLUMNS)
            .map(|c| format!("jsonb(?{})", c + 5))
            .collect();
        let t = KEY_COLUMNS + 5;
        format!(
            "INSERT INTO objects (id, account_id, object_type, properties, {}, created_at,
             updated_at, archived_at, version, created_source_type, created_source_id)
             VALUES (?1, ?2, ?3, ?4, {}, ?{t}, ?{t}, NULL, 1, ?{}, ?{})",
            columns.join(", "),
            values.join(", "),
            t + 1,
            t + 2,
        )
    })
}

fn create_one(
    ctx: &mut WriteCtx,
    account: AccountId,
    set: &PropertySet,
    writes: &PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let object_type = set.object_type.as_ref();
    ensure_builtin_indexes(ctx, object_type)?;
    let ot = object_type.object_type_id.0.as_str();
    let id = ObjectId(ctx.next_object_id);
    ctx.next_object_id += 1;
    let now = Timestamp::now();
    let mut properties: BTreeMap<String, String> = BTreeMap::new();
    for (name, write) in &writes.values {
        let value = write.apply(None);
        // Clearing a property that never had a value is a no-op on create.
        if !value.is_empty() {
            properties.insert(name.clone(), value);
        }
    }
    let iso = now.to_iso();
    properties.insert(object_type.createdate_property.clone(), iso.clone());
    properties.insert(object_type.lastmodified_property.clone(), iso);
    properties.insert(OBJECT_ID_PROPERTY.to_string(), id.to_string());
    for name in &writes.unique {
        if let Some(value) = properties.get(name) {
            check_unique(ctx, account, set, name, value, id)?;
        }
    }
    write_text(ctx, account, set, id, &properties, TextWrite::Insert);
    let keys = key_columns(search_keys(set, &properties))?;
    let json = serde_json::to_string(&properties)?;
    let millis = now.millis();
    let mut values: Vec<&dyn ToSql> = vec![&id.0, &account.0, &ot, &json];
    values.extend(keys.iter().map(|k| k as &dyn ToSql));
    values.extend([
        &millis as &dyn ToSql,
        &source.source_type,
        &source.source_id,
    ]);
    ctx.conn
        .prepare_cached(insert_sql())?
        .execute(values.as_slice())?;
    if let Some(cached) = ctx.cache.encode(account, ot, &properties, now, now) {
        ctx.cache_changes.push(CacheChange::Put(id, cached));
        ctx.cache_changes
            .extend(unique_changes(set, account, ot, id, &properties, true));
    }
    ctx.sort_keys
        .changes(account, set, id.0, &properties, &mut ctx.sort_key_changes);
    // No history rows: every value set here has the implicit creation entry.
    Ok(ObjectRecord {
        id,
        properties,
        created_at: now,
        updated_at: now,
        archived_at: None,
    })
}

fn update_one(
    ctx: &mut WriteCtx,
    account: AccountId,
    set: &PropertySet,
    id: ObjectId,
    writes: &PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let object_type = set.object_type.as_ref();
    let ot = object_type.object_type_id.0.as_str();
    let Some(row) = read_row(&ctx.conn, account, ot, id)? else {
        return Err(StoreError::NotFound);
    };
    let mut record = row.record.clone();
    let version = row.version;
    if record.archived() {
        return Err(StoreError::NotFound);
    }
    let mut changed: Vec<(String, String)> = Vec::new();
    for (name, write) in &writes.values {
        let old = record.properties.get(name).map(String::as_str);
        let new = write.apply(old);
        if old.unwrap_or("") == new && old.is_some() {
            continue;
        }
        if writes.unique.contains(name) && !new.is_empty() {
            check_unique(ctx, account, set, name, &new, id)?;
        }
        changed.push((name.clone(), new));
    }
    let now = Timestamp::now().max(record.created_at);
    let version = version + 1;
    for (name, value) in &changed {
        record.properties.insert(name.clone(), value.clone());
    }
    record
        .properties
        .insert(object_type.lastmodified_property.clone(), now.to_iso());
    record.updated_at = now;
    let text_changed = changed
        .iter()
        .any(|(name, _)| object_type.searchable_properties.contains(name));
    let text = if text_changed {
        TextWrite::Replace
    } else {
        TextWrite::Keep
    };
    write_text(ctx, account, set, id, &record.properties, text);
    // Only the key columns of the properties written are set (with the last-modified date's),
    // so that SQLite leaves the indexes of the others alone (see KEY_COLUMNS).
    let mut written = [false; KEY_COLUMNS];
    for name in changed
        .iter()
        .map(|(name, _)| name)
        .chain([&object_type.lastmodified_property])
    {
        written[key_column(name)] = true;
    }
    let keys = key_columns(search_keys(
        set,
        record
            .properties
            .iter()
            .filter(|(name, _)| written[key_column(name)]),
    ))?;
    let json = serde_json::to_string(&record.properties)?;
    let millis = now.millis();
    let mut sql = String::from("UPDATE objects SET properties = ?1, updated_at = ?2, version = ?3");
    let mut values: Vec<&dyn ToSql> = vec![&json, &millis, &version];
    for (column, keys) in keys.iter().enumerate().filter(|(c, _)| written[*c]) {
        values.push(keys);
        sql.push_str(&format!(", k{column} = jsonb(?{})", values.len()));
    }
    values.push(&id.0);
    sql.push_str(&format!(" WHERE id = ?{}", values.len()));
    ctx.conn.prepare_cached(&sql)?.execute(values.as_slice())?;
    if let Some(cached) = ctx
        .cache
        .encode(account, ot, &record.properties, record.created_at, now)
    {
        ctx.cache_changes.push(CacheChange::Put(id, cached));
        for (name, _) in changed.iter().filter(|(n, _)| writes.unique.contains(n)) {
            let old = row.record.properties.get_key_value(name);
            let new = record.properties.get_key_value(name);
            ctx.cache_changes
                .extend(unique_changes(set, account, ot, id, old, false));
            ctx.cache_changes
                .extend(unique_changes(set, account, ot, id, new, true));
        }
    }
    ctx.sort_keys.changes(
        account,
        set,
        id.0,
        &record.properties,
        &mut ctx.sort_key_changes,
    );
    let lastmod = now.to_iso();
    let previous = |name: &str| row.record.properties.get(name).map_or("", String::as_str);
    let mut history: Vec<HistoryChange> = changed
        .iter()
        .map(|(name, value)| HistoryChange {
            property: name,
            value,
            previous: previous(name),
        })
        .collect();
    history.push(HistoryChange {
        property: &object_type.lastmodified_property,
        value: &lastmod,
        previous: previous(&object_type.lastmodified_property),
    });
    insert_history(ctx, account, id, version, now, source, &history)?;
    Ok(record)
}

/// Runs `f` in a nested savepoint, so that a failing input of a per-input batch rolls back
/// only its own changes.
fn in_input_savepoint<T>(
    ctx: &mut WriteCtx,
    f: impl FnOnce(&mut WriteCtx) -> StoreResult<T>,
) -> StoreResult<StoreResult<T>> {
    ctx.conn.execute_batch("SAVEPOINT input")?;
    let changes = (ctx.cache_changes.len(), ctx.sort_key_changes.len());
    let result = f(ctx);
    match &result {
        Ok(_) => ctx.conn.execute_batch("RELEASE input")?,
        Err(_) => {
            ctx.conn.execute_batch("ROLLBACK TO input; RELEASE input")?;
            // What the input did is undone, in the cache too.
            ctx.cache_changes.truncate(changes.0);
            ctx.sort_key_changes.truncate(changes.1);
        }
    }
    Ok(result)
}

/// The live record (other than `except`) whose unique property has `value`'s search key.
fn unique_holder(
    conn: &Connection,
    account: AccountId,
    set: &PropertySet,
    property: &str,
    value: &str,
    except: Option<ObjectId>,
) -> StoreResult<Option<ObjectId>> {
    let Some(key) = set.get(property).and_then(|def| search_key(def, value)) else {
        return Ok(None);
    };
    let sql = unique_lookup_sql(&set.object_type.object_type_id.0, property)?;
    Ok(conn
        .prepare_cached(&sql)?
        .query_row(
            params![account.0, key_value(&key), except.map_or(0, |i| i.0)],
            |r| r.get(0),
        )
        .optional()?
        .map(ObjectId))
}

/// The stored `properties` column: a JSON object of strings.
fn parse_properties(json: &str) -> StoreResult<BTreeMap<String, String>> {
    Ok(serde_json::from_str(json)?)
}

/// A record row's columns with its properties already parsed (see [`to_record`]).
pub(crate) type RecordColumns = (
    i64,
    StoreResult<BTreeMap<String, String>>,
    i64,
    i64,
    Option<i64>,
);

pub(crate) fn record_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RecordColumns> {
    Ok((
        r.get(0)?,
        parse_properties(r.get_ref(1)?.as_str()?),
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
    ))
}

pub(crate) fn to_record(row: RecordColumns) -> StoreResult<ObjectRecord> {
    let (id, properties, created, updated, archived) = row;
    Ok(ObjectRecord {
        id: ObjectId(id),
        properties: properties?,
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
        archived_at: archived.map(Timestamp),
    })
}

/// Reads the live records of `ids` of one type, in that order (one that went away since is
/// left out): from the record cache, else from SQLite (and then into the cache).
pub(crate) fn records_by_id(
    conn: &Connection,
    cache: &RecordCache,
    account: AccountId,
    object_type: &str,
    ids: &[i64],
) -> StoreResult<Vec<ObjectRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some(record) = record_by_id(conn, cache, account, object_type, ObjectId(id), false)?
        {
            out.push(record);
        }
    }
    Ok(out)
}

/// A live record read from SQLite, which then goes into the record cache (unless a commit
/// overtook the read, see record_cache.rs).
fn read_live_filling(
    conn: &Connection,
    cache: &RecordCache,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
) -> StoreResult<Option<ObjectRecord>> {
    let start = cache.read_start();
    let mut stmt = conn.prepare_cached(
        "SELECT properties, created_at, updated_at FROM objects
         WHERE id = ?1 AND account_id = ?2 AND object_type = ?3 AND archived_at IS NULL",
    )?;
    let row = stmt
        .query_row(params![id.0, account.0, object_type], |r| {
            Ok((
                // Parsed straight from SQLite's buffer, without a copy into a String.
                parse_properties(r.get_ref(0)?.as_str()?),
                Timestamp(r.get(1)?),
                Timestamp(r.get(2)?),
            ))
        })
        .optional()?;
    let Some((properties, created_at, updated_at)) = row else {
        return Ok(None);
    };
    let properties = properties?;
    let encoded = cache.encode(account, object_type, &properties, created_at, updated_at);
    cache.fill(start, id, encoded);
    Ok(Some(ObjectRecord {
        id,
        properties,
        created_at,
        updated_at,
        archived_at: None,
    }))
}

/// One record by id: a live one from the record cache or, filling it, from SQLite; an
/// archived one (when `archived`) from SQLite.
fn record_by_id(
    conn: &Connection,
    cache: &RecordCache,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
    archived: bool,
) -> StoreResult<Option<ObjectRecord>> {
    if let Some(cached) = cache.get(account, object_type, id) {
        return Ok(Some(cached?));
    }
    stored_record(conn, cache, account, object_type, id, archived)
}

/// [`record_by_id`] for a record the cache did not have: from SQLite only.
fn stored_record(
    conn: &Connection,
    cache: &RecordCache,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
    archived: bool,
) -> StoreResult<Option<ObjectRecord>> {
    if let Some(record) = read_live_filling(conn, cache, account, object_type, id)? {
        return Ok(Some(record));
    }
    if !archived {
        return Ok(None);
    }
    Ok(read_row(conn, account, object_type, id)?.map(|row| row.record))
}

impl SqliteStore {
    pub(crate) async fn create_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        inputs: Vec<NewObject>,
        mode: BatchMode,
        source: WriteSource,
    ) -> StoreResult<Vec<StoreResult<ObjectRecord>>> {
        self.writer
            .run_records(inputs.len(), move |ctx| {
                let mut out = Vec::with_capacity(inputs.len());
                for input in &inputs {
                    let create = |ctx: &mut WriteCtx| {
                        let record = create_one(ctx, account, &set, &input.writes, &source)?;
                        let links: Vec<AssociationLink> = input
                            .associations
                            .iter()
                            .map(|l| AssociationLink {
                                from_id: record.id,
                                ..l.clone()
                            })
                            .collect();
                        insert_links(ctx, account, &links)?;
                        Ok(record)
                    };
                    match mode {
                        BatchMode::AllOrNothing => out.push(Ok(create(ctx)?)),
                        BatchMode::PerInput => out.push(in_input_savepoint(ctx, create)?),
                    }
                }
                Ok(out)
            })
            .await
    }

    pub(crate) async fn update_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        inputs: Vec<(ObjectId, PropertyWrites)>,
        source: WriteSource,
    ) -> StoreResult<Vec<StoreResult<ObjectRecord>>> {
        self.writer
            .run_records(inputs.len(), move |ctx| {
                let mut out = Vec::with_capacity(inputs.len());
                for &(id, ref writes) in &inputs {
                    // update_one checks existence before it writes anything, so a missing id
                    // needs no rollback; any other error fails the whole call.
                    match update_one(ctx, account, &set, id, writes, &source) {
                        Err(StoreError::NotFound) => out.push(Err(StoreError::NotFound)),
                        other => out.push(Ok(other?)),
                    }
                }
                Ok(out)
            })
            .await
    }

    pub(crate) async fn upsert_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        id_property: String,
        inputs: Vec<(String, PropertyWrites)>,
        source: WriteSource,
    ) -> StoreResult<Vec<(ObjectRecord, bool)>> {
        self.writer
            .run_records(inputs.len(), move |ctx| {
                let mut out = Vec::with_capacity(inputs.len());
                for (value, writes) in &inputs {
                    match unique_holder(&ctx.conn, account, &set, &id_property, value, None)? {
                        Some(id) => {
                            out.push((update_one(ctx, account, &set, id, writes, &source)?, false))
                        }
                        None => out.push((create_one(ctx, account, &set, writes, &source)?, true)),
                    }
                }
                Ok(out)
            })
            .await
    }

    pub(crate) async fn get_objects_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        ids: &[ObjectId],
        archived: bool,
    ) -> StoreResult<Vec<ObjectRecord>> {
        let ot = object_type.object_type_id.0.as_str();
        self.reads.with(|conn| {
            let mut out: Vec<ObjectRecord> = Vec::with_capacity(ids.len());
            for &id in ids {
                if out.iter().any(|r| r.id == id) {
                    continue;
                }
                if let Some(record) = record_by_id(conn, &self.cache, account, ot, id, archived)? {
                    out.push(record);
                }
            }
            Ok(out)
        })
    }

    pub(crate) async fn list_objects_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        after: ObjectId,
        limit: usize,
        archived: bool,
    ) -> StoreResult<Vec<ObjectRecord>> {
        let ot = object_type.object_type_id.0.as_str();
        let sql = if archived {
            "SELECT id, properties, created_at, updated_at, archived_at FROM objects
             WHERE account_id = ?1 AND object_type = ?2 AND id >= ?3 AND archived_at IS NOT NULL
             ORDER BY id LIMIT ?4"
        } else {
            "SELECT id, properties, created_at, updated_at, archived_at FROM objects
             WHERE account_id = ?1 AND object_type = ?2 AND id >= ?3 AND archived_at IS NULL
             ORDER BY id LIMIT ?4"
        };
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            let rows = stmt.query_map(
                params![account.0, ot, after.0, limit as i64],
                record_from_row,
            )?;
            let mut out = Vec::with_capacity(limit);
            for row in rows {
                out.push(to_record(row?)?);
            }
            Ok(out)
        })
    }

    pub(crate) async fn get_object_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        id: ObjectId,
        archived: bool,
    ) -> StoreResult<Option<ObjectRecord>> {
        let ot = object_type.object_type_id.0.as_str();
        // A hit needs no read connection; a miss is not looked up in the cache twice.
        if let Some(cached) = self.cache.get(account, ot, id) {
            return Ok(Some(cached?));
        }
        self.reads
            .with(|conn| stored_record(conn, &self.cache, account, ot, id, archived))
    }

    pub(crate) async fn find_by_unique_value_impl(
        &self,
        account: AccountId,
        set: &PropertySet,
        property: &str,
        value: &str,
    ) -> StoreResult<Option<ObjectId>> {
        self.reads
            .with(|conn| unique_holder(conn, account, set, property, value, None))
    }

    pub(crate) async fn property_history_impl(
        &self,
        account: AccountId,
        id: ObjectId,
        properties: &[String],
    ) -> StoreResult<BTreeMap<String, Vec<HistoryEntry>>> {
        if properties.is_empty() {
            return Ok(BTreeMap::new());
        }
        let placeholders = vec!["?"; properties.len()].join(", ");
        let sql = format!(
            "SELECT property, value, timestamp, source_type, source_id, previous
             FROM property_history
             WHERE account_id = ? AND object_id = ? AND property IN ({placeholders})
             ORDER BY property, version DESC"
        );
        self.reads.with(|conn| {
            let mut rows = HistoryRows::default();
            {
                let mut stmt = conn.prepare(&sql)?;
                let mut args: Vec<rusqlite::types::Value> = vec![account.0.into(), id.0.into()];
                args.extend(properties.iter().map(|p| p.clone().into()));
                let mut read = stmt.query(params_from_iter(args))?;
                while let Some(r) = read.next()? {
                    let entry = HistoryEntry {
                        value: r.get(1)?,
                        timestamp: Timestamp(r.get(2)?),
                        source_type: r.get(3)?,
                        source_id: r.get(4)?,
                    };
                    rows.push(r.get(0)?, entry, r.get(5)?);
                }
            }
            let row: Option<(String, i64, String, Option<String>)> = conn
                .prepare_cached(
                    "SELECT properties, created_at, created_source_type, created_source_id
                     FROM objects WHERE id = ?1 AND account_id = ?2",
                )?
                .query_row(params![id.0, account.0], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .optional()?;
            let Some((json, created, source_type, source_id)) = row else {
                return Ok(BTreeMap::new());
            };
            let current: BTreeMap<String, String> = serde_json::from_str(&json)?;
            Ok(rows.with_creation_entries(
                properties,
                &current,
                Timestamp(created),
                &source_type,
                source_id.as_deref(),
            ))
        })
    }

    pub(crate) async fn restore_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        ids: Vec<ObjectId>,
    ) -> StoreResult<Vec<ObjectId>> {
        let ot = set.object_type.object_type_id.0.clone();
        self.writer
            .run_records(ids.len(), move |ctx| {
                let mut restored = Vec::new();
                for &id in &ids {
                    let Some(row) = read_row(&ctx.conn, account, &ot, id)? else {
                        continue;
                    };
                    if !row.record.archived() {
                        continue;
                    }
                    for (name, value) in &row.record.properties {
                        if set.get(name).is_some_and(|d| set.is_unique(d)) && !value.is_empty() {
                            check_unique(ctx, account, &set, name, value, id)?;
                        }
                    }
                    ctx.conn
                        .prepare_cached(
                            "UPDATE objects SET archived_at = NULL, version = ?1 WHERE id = ?2",
                        )?
                        .execute(params![row.version + 1, id.0])?;
                    // Readers cache it on their next read.
                    ctx.cache_changes.push(CacheChange::Remove(id));
                    write_text(
                        ctx,
                        account,
                        &set,
                        id,
                        &row.record.properties,
                        TextWrite::Insert,
                    );
                    restored.push(id);
                }
                if !restored.is_empty() {
                    // Counted for servers on this store that keep in-memory key columns: this
                    // may be another process than theirs (see sort_keys.rs). This process
                    // drops its own.
                    ctx.conn
                        .prepare_cached("UPDATE record_restores SET count = count + 1")?
                        .execute([])?;
                    ctx.sort_key_forgets.push(None);
                }
                Ok(restored)
            })
            .await
    }

    pub(crate) async fn archive_objects_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        ids: Vec<ObjectId>,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        self.writer
            .run_records(ids.len(), move |ctx| {
                let now = Timestamp::now();
                for &id in &ids {
                    let Some(Row {
                        record, version, ..
                    }) = read_row(&ctx.conn, account, &ot, id)?
                    else {
                        continue;
                    };
                    if record.archived() {
                        continue;
                    }
                    ctx.conn
                        .prepare_cached(
                            "UPDATE objects SET archived_at = ?1, version = ?2 WHERE id = ?3",
                        )?
                        .execute(params![now.millis(), version + 1, id.0])?;
                    ctx.text.remove(id.0);
                    ctx.cache_changes.push(CacheChange::Remove(id));
                    ctx.sort_keys
                        .archived(account, &ot, id.0, &mut ctx.sort_key_changes);
                    // Archived records leave the search indexes, so their unique values can be
                    // used again (HubSpot's behaviour here is unconfirmed).
                }
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Durability, Store};

    /// What a failed input of a per-input batch put in the cache is undone with its writes,
    /// even when it failed after its record was written (an association, say).
    #[tokio::test]
    async fn a_failed_input_leaves_nothing_in_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.sqlite3"), Durability::Process).unwrap();
        let ot = spoke_core::object_type::Registry::standard()
            .resolve("contacts")
            .unwrap();
        let set = Arc::new(PropertySet::new(ot, vec![], vec![]));
        let writes = set
            .validate(&[("email".into(), "gone@example.com".into())], true)
            .unwrap();
        let job_set = set.clone();
        let outcome = store
            .writer
            .run(move |ctx| {
                in_input_savepoint(ctx, |ctx| {
                    let record = create_one(
                        ctx,
                        AccountId(1),
                        &job_set,
                        &writes,
                        &WriteSource::api(None),
                    )?;
                    Err::<ObjectRecord, _>(StoreError::Internal(format!("after {}", record.id)))
                })
            })
            .await
            .unwrap();
        let Err(StoreError::Internal(message)) = outcome else {
            panic!("the input did not fail: {outcome:?}");
        };
        let id = ObjectId(message.trim_start_matches("after ").parse().unwrap());
        let read = store
            .get_object(AccountId(1), &set.object_type, id, true)
            .await
            .unwrap();
        assert!(read.is_none(), "{read:?}");
    }

    /// A store migrated from version 2 holds history rows without `previous`, with each creation
    /// entry as a row of its own: they read as before, and updates after the migration add to
    /// them without a second creation entry.
    #[tokio::test]
    async fn history_written_before_version_3_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let account = AccountId(1);
        let ot = spoke_core::object_type::Registry::standard()
            .resolve("contacts")
            .unwrap();
        let set = Arc::new(PropertySet::new(ot, vec![], vec![]));
        let writes = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            set.validate(&pairs, false).unwrap()
        };
        let created = store
            .create_objects(
                account,
                set.clone(),
                vec![NewObject {
                    writes: writes(&[("firstname", "One"), ("lastname", "L")]),
                    associations: vec![],
                }],
                BatchMode::AllOrNothing,
                WriteSource::api(None),
            )
            .await
            .unwrap();
        let record = created.into_iter().next().unwrap().unwrap();
        let id = record.id;
        // The first update of `firstname`, as version 2 wrote it: the creation entry (version 1)
        // and the update's own row, neither with `previous`.
        {
            let conn = Connection::open(&path).unwrap();
            let created_at = record.created_at.millis();
            for (version, value, at) in [(1, "One", created_at), (2, "Two", created_at + 5)] {
                conn.execute(
                    "INSERT INTO property_history
                     (account_id, object_id, property, version, value, timestamp, source_type)
                     VALUES (1, ?1, 'firstname', ?2, ?3, ?4, 'API')",
                    params![id.0, version, value, at],
                )
                .unwrap();
            }
            conn.execute(
                "UPDATE objects SET version = 2,
                 properties = json_set(properties, '$.firstname', 'Two') WHERE id = ?1",
                params![id.0],
            )
            .unwrap();
        }
        store
            .update_objects(
                account,
                set.clone(),
                vec![(id, writes(&[("firstname", "Three"), ("lastname", "M")]))],
                WriteSource::api(None),
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap();
        let history = store
            .property_history(account, id, &["firstname".into(), "lastname".into()])
            .await
            .unwrap();
        let values =
            |name: &str| -> Vec<String> { history[name].iter().map(|e| e.value.clone()).collect() };
        assert_eq!(values("firstname"), ["Three", "Two", "One"]);
        // Written since version 3: the creation entry comes from the update's `previous`.
        assert_eq!(values("lastname"), ["M", "L"]);
        assert_eq!(history["lastname"][1].timestamp, record.created_at);
    }
}
