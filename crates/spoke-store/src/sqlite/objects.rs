//! Records: their writes (planned in plan.rs, journaled and applied in writer.rs), reads by id
//! and in id order, their history and their unique values.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::record::{HistoryEntry, ObjectRecord, WriteSource};
use spoke_core::search::search_key;
use spoke_core::time::Timestamp;
use spoke_core::value::{PropertySet, PropertyWrites};

use super::plan::{self, Layer, Planner, UniqueMapCheck};
use super::record_cache::{CacheChange, Lookup, RecordCache};
use super::search::{key_value, unique_lookup_sql};
use super::SqliteStore;
use crate::common::HistoryRows;
use crate::{BatchMode, NewObject, StoreError, StoreResult};

/// A record row in any state, with its version, read from SQLite.
pub(crate) fn read_row(
    conn: &Connection,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
) -> StoreResult<Option<(ObjectRecord, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT properties, created_at, updated_at, archived_at, version
         FROM objects WHERE id = ?1 AND account_id = ?2 AND object_type = ?3",
    )?;
    let row = stmt
        .query_row(params![id.0, account.0, object_type], |r| {
            Ok((
                // Parsed straight from SQLite's buffer, without a copy into a String.
                parse_properties(r.get_ref(0)?.as_str()?),
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    let Some((properties, created, updated, archived, version)) = row else {
        return Ok(None);
    };
    Ok(Some((
        ObjectRecord {
            id,
            properties: properties?,
            created_at: Timestamp(created),
            updated_at: Timestamp(updated),
            archived_at: archived.map(Timestamp),
        },
        version,
    )))
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
pub(crate) fn parse_properties(json: &str) -> StoreResult<BTreeMap<String, String>> {
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
    keep: Option<&[String]>,
) -> StoreResult<Vec<ObjectRecord>> {
    let mut out = Vec::with_capacity(ids.len());
    for &id in ids {
        if let Some(record) =
            record_by_id(conn, cache, account, object_type, ObjectId(id), false, keep)?
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
        "SELECT properties, created_at, updated_at, version FROM objects
         WHERE id = ?1 AND account_id = ?2 AND object_type = ?3 AND archived_at IS NULL",
    )?;
    let row = stmt
        .query_row(params![id.0, account.0, object_type], |r| {
            Ok((
                // Parsed straight from SQLite's buffer, without a copy into a String.
                parse_properties(r.get_ref(0)?.as_str()?),
                Timestamp(r.get(1)?),
                Timestamp(r.get(2)?),
                r.get::<_, i64>(3)?,
            ))
        })
        .optional()?;
    let Some((properties, created_at, updated_at, version)) = row else {
        return Ok(None);
    };
    let properties = properties?;
    let encoded = cache.encode(
        account,
        object_type,
        &properties,
        created_at,
        updated_at,
        version,
    );
    cache.fill(start, id, encoded);
    Ok(Some(ObjectRecord {
        id,
        properties,
        created_at,
        updated_at,
        archived_at: None,
    }))
}

/// What the record cache knows of a record (pending or cached): `Err(())` when it does not
/// (then SQLite has the record's latest state).
fn known_record(
    cache: &RecordCache,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
    archived: bool,
    keep: Option<&[String]>,
) -> Result<StoreResult<Option<ObjectRecord>>, ()> {
    match cache.lookup_keeping(account, object_type, id, keep) {
        Lookup::Live(record, _) => Ok(record.map(Some)),
        Lookup::Archived(record, _) if archived => Ok(record.map(Some)),
        Lookup::Archived(..) | Lookup::Absent => Ok(Ok(None)),
        Lookup::Miss => Err(()),
    }
}

/// One record by id: a pending or cached one from the record cache, else from SQLite (a live
/// one then goes into the cache); archived ones only when `archived`.
fn record_by_id(
    conn: &Connection,
    cache: &RecordCache,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
    archived: bool,
    keep: Option<&[String]>,
) -> StoreResult<Option<ObjectRecord>> {
    if let Ok(known) = known_record(cache, account, object_type, id, archived, keep) {
        return known;
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
    Ok(read_row(conn, account, object_type, id)?.map(|(record, _)| record))
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
            .records(inputs.len(), move |p| {
                let mut out = Vec::with_capacity(inputs.len());
                for input in &inputs {
                    let create = |p: &mut Planner<'_>| {
                        plan::create(
                            p,
                            account,
                            &set,
                            &input.writes,
                            &input.associations,
                            &source,
                        )
                    };
                    match mode {
                        BatchMode::AllOrNothing => out.push(Ok(create(p)?)),
                        BatchMode::PerInput => out.push(p.input(create)),
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
            .records(inputs.len(), move |p| {
                let mut out = Vec::with_capacity(inputs.len());
                for &(id, ref writes) in &inputs {
                    // plan::update checks existence before it plans anything, so a missing id
                    // needs no undo; any other error fails the whole call.
                    match plan::update(p, account, &set, id, writes, &source) {
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
            .records(inputs.len(), move |p| {
                let mut out = Vec::with_capacity(inputs.len());
                for (value, writes) in &inputs {
                    // The holder's state, found checking it, is what the update starts from.
                    match p.holder_state(account, &set, &id_property, value, None)? {
                        Some(holder) => out.push((
                            plan::update_current(p, account, &set, holder, writes, &source)?,
                            false,
                        )),
                        None => {
                            out.push((plan::create(p, account, &set, writes, &[], &source)?, true))
                        }
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
        keep: Option<&[String]>,
    ) -> StoreResult<Vec<ObjectRecord>> {
        let ot = object_type.object_type_id.0.as_str();
        self.reads.with(|conn| {
            let mut out: Vec<ObjectRecord> = Vec::with_capacity(ids.len());
            for &id in ids {
                if out.iter().any(|r| r.id == id) {
                    continue;
                }
                if let Some(record) =
                    record_by_id(conn, &self.cache, account, ot, id, archived, keep)?
                {
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
        self.writer.applied().await?;
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

    /// One record by id; with `keep`, a record from the cache carries only those properties (a
    /// record read from SQLite carries all).
    pub(crate) async fn get_object_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        id: ObjectId,
        archived: bool,
        keep: Option<&[String]>,
    ) -> StoreResult<Option<ObjectRecord>> {
        let ot = object_type.object_type_id.0.as_str();
        // A hit needs no read connection; a miss is not looked up in the cache twice.
        if let Ok(known) = known_record(&self.cache, account, ot, id, archived, keep) {
            return known;
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
        self.writer.applied().await?;
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
        self.writer.applied().await?;
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
        // With a journal, the applier's transactions write no records of their own and the
        // cache holds the latest state of every record (pending writes included); without, the
        // transaction's own writes reach the cache only at COMMIT (see plan.rs).
        let use_cache = self.writer.journaled();
        self.writer
            .run_records(ids.len(), move |ctx| {
                let mut restored = Vec::new();
                for &id in &ids {
                    let Some((record, version)) = read_row(&ctx.conn, account, &ot, id)? else {
                        continue;
                    };
                    if !record.archived() {
                        continue;
                    }
                    {
                        let mut layers = vec![Layer::default()];
                        let unique_map = UniqueMapCheck::off();
                        let p = Planner {
                            conn: &ctx.conn,
                            cache: &ctx.cache,
                            use_cache,
                            next_id: &ctx.next_object_id,
                            layers: &mut layers,
                            unique_map: &unique_map,
                        };
                        for (name, value) in &record.properties {
                            if !set.get(name).is_some_and(|d| set.is_unique(d)) || value.is_empty()
                            {
                                continue;
                            }
                            if let Some(other) = p.holder(account, &set, name, value, Some(id))? {
                                return Err(StoreError::UniqueConflict {
                                    property: name.clone(),
                                    value: value.clone(),
                                    existing: other,
                                    on: Some(id),
                                });
                            }
                        }
                    }
                    ctx.conn
                        .prepare_cached(
                            "UPDATE objects SET archived_at = NULL, version = ?1 WHERE id = ?2",
                        )?
                        .execute(params![version + 1, id.0])?;
                    // Readers cache it on their next read.
                    ctx.cache_changes.push(CacheChange::Remove(id));
                    let text = super::search::record_text(account, &set, &record.properties);
                    ctx.text.insert(id.0, text);
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
                    // Their unique values are back, and the cache's map does not name them.
                    ctx.cache.unique_incomplete();
                }
                Ok(restored)
            })
            .await
    }

    pub(crate) async fn archive_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        ids: Vec<ObjectId>,
    ) -> StoreResult<()> {
        self.writer
            .records(ids.len(), move |p| {
                let now = Timestamp::now();
                for &id in &ids {
                    plan::archive(p, account, &set, id, now)?;
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

    /// What a failed input of a per-input batch planned is undone with it, even when it failed
    /// after its record was planned: nothing of it is journaled, pending or cached.
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
            .records(1, move |p| {
                Ok(p.input(|p| {
                    let record = plan::create(
                        p,
                        AccountId(1),
                        &job_set,
                        &writes,
                        &[],
                        &WriteSource::api(None),
                    )?;
                    Err::<ObjectRecord, _>(StoreError::Internal(format!("after {}", record.id)))
                }))
            })
            .await
            .unwrap();
        let Err(StoreError::Internal(message)) = outcome else {
            panic!("the input did not fail: {outcome:?}");
        };
        let id = ObjectId(message.trim_start_matches("after ").parse().unwrap());
        let read = store
            .get_object(AccountId(1), &set.object_type, id, true, None)
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
        let mut store = SqliteStore::open(&path, Durability::Process).unwrap();
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
        // The store is closed (its writes all in SQLite) while the rows below are written: as
        // if by an older Spoke.
        drop(store);
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
        store = SqliteStore::open(&path, Durability::Process).unwrap();
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
