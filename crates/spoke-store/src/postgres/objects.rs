//! Records, their history and their unique values, with SQLite's semantics (sqlite/objects.rs):
//! the same implicit creation entry in the history, the same system properties. Differences
//! come from several nodes writing at once: updates lock the record's row (`FOR UPDATE`), so
//! concurrent PATCHes of one record apply one after the other and lose nothing; unique values
//! are claimed in `unique_values`, whose primary key lets exactly one of two concurrent writers
//! of a value win.

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Transaction};
use serde_json::Value;
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::{ObjectTypeDef, OBJECT_ID_PROPERTY};
use spoke_core::record::{HistoryEntry, ObjectRecord, WriteSource};
use spoke_core::search::{search_key, search_keys, searchable_text};
use spoke_core::time::Timestamp;
use spoke_core::value::{PropertySet, PropertyWrites};

use super::associations::insert_links;
use super::search::{remove_words, unique_key, words, write_words};
use super::{in_tx, PostgresStore};
use crate::common::HistoryRows;
use crate::{AssociationLink, BatchMode, NewObject, StoreError, StoreResult};

const COLUMNS: &str = "id, properties, created_at, updated_at, archived_at";

pub(crate) fn to_record(r: &tokio_postgres::Row) -> StoreResult<ObjectRecord> {
    Ok(ObjectRecord {
        id: ObjectId(r.get(0)),
        properties: serde_json::from_str(r.get::<_, &str>(1))?,
        created_at: Timestamp(r.get(2)),
        updated_at: Timestamp(r.get(3)),
        archived_at: r.get::<_, Option<i64>>(4).map(Timestamp),
    })
}

struct Row {
    record: ObjectRecord,
    version: i64,
}

/// One record with its write counter; `lock` takes its row lock for the rest of the transaction.
async fn read_row(
    c: &impl GenericClient,
    account: AccountId,
    object_type: &str,
    id: ObjectId,
    lock: bool,
) -> StoreResult<Option<Row>> {
    let sql = format!(
        "SELECT {COLUMNS}, version FROM objects
         WHERE account_id = $1 AND id = $2 AND object_type = $3{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let stmt = c.prepare_cached(&sql).await?;
    let Some(r) = c
        .query_opt(&stmt, &[&account.0, &id.0, &object_type])
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(Row {
        record: to_record(&r)?,
        version: r.get(5),
    }))
}

fn is_unique(set: &PropertySet, name: &str) -> bool {
    set.get(name).is_some_and(|d| set.is_unique(d))
}

/// Claims `value` of a unique property for record `id`; another live record holding it is a
/// conflict. A concurrent claim of the same value by another transaction waits for it and then
/// conflicts (or succeeds if it rolled back).
pub(crate) async fn claim_unique(
    tx: &Transaction<'_>,
    account: AccountId,
    set: &PropertySet,
    property: &str,
    value: &str,
    id: ObjectId,
) -> StoreResult<()> {
    let Some(key) = set.get(property).and_then(|def| search_key(def, value)) else {
        return Ok(());
    };
    let ot = set.object_type.object_type_id.0.as_str();
    let key = unique_key(&key);
    let stmt = tx
        .prepare_cached(
            "INSERT INTO unique_values (account_id, object_type, property, value_key, object_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await?;
    if tx
        .execute(&stmt, &[&account.0, &ot, &property, &key, &id.0])
        .await?
        == 1
    {
        return Ok(());
    }
    let holder = unique_holder_by_key(tx, account, ot, property, &key).await?;
    match holder {
        Some(other) if other != id => Err(StoreError::UniqueConflict {
            property: property.to_string(),
            value: value.to_string(),
            existing: other,
            on: Some(id),
        }),
        _ => Ok(()),
    }
}

async fn release_unique(
    tx: &Transaction<'_>,
    account: AccountId,
    object_type: &str,
    property: Option<&str>,
    id: ObjectId,
) -> StoreResult<()> {
    match property {
        Some(p) => {
            tx.execute(
                "DELETE FROM unique_values WHERE account_id = $1 AND object_id = $2
                 AND object_type = $3 AND property = $4",
                &[&account.0, &id.0, &object_type, &p],
            )
            .await?
        }
        None => {
            tx.execute(
                "DELETE FROM unique_values WHERE account_id = $1 AND object_id = $2
                 AND object_type = $3",
                &[&account.0, &id.0, &object_type],
            )
            .await?
        }
    };
    Ok(())
}

async fn unique_holder_by_key(
    c: &impl GenericClient,
    account: AccountId,
    object_type: &str,
    property: &str,
    key: &str,
) -> StoreResult<Option<ObjectId>> {
    let stmt = c
        .prepare_cached(
            "SELECT object_id FROM unique_values WHERE account_id = $1 AND object_type = $2
             AND property = $3 AND value_key = $4",
        )
        .await?;
    Ok(
        c.query_opt(&stmt, &[&account.0, &object_type, &property, &key])
            .await?
            .map(|r| ObjectId(r.get(0))),
    )
}

async fn unique_holder(
    c: &impl GenericClient,
    account: AccountId,
    set: &PropertySet,
    property: &str,
    value: &str,
) -> StoreResult<Option<ObjectId>> {
    let Some(key) = set.get(property).and_then(|def| search_key(def, value)) else {
        return Ok(None);
    };
    unique_holder_by_key(
        c,
        account,
        &set.object_type.object_type_id.0,
        property,
        &unique_key(&key),
    )
    .await
}

pub(crate) fn search_json(set: &PropertySet, properties: &BTreeMap<String, String>) -> Value {
    Value::Object(search_keys(set, properties).into_iter().collect())
}

pub(crate) fn text_words(set: &PropertySet, properties: &BTreeMap<String, String>) -> Vec<String> {
    words(&searchable_text(
        &set.object_type.searchable_properties,
        properties,
    ))
}

/// One record during a batch update: its row as read (for implicit creation entries) and its
/// state after the inputs applied so far.
struct Pending {
    row: Row,
    record: ObjectRecord,
    version: i64,
    text_changed: bool,
    touched: bool,
}

/// Applies partial updates to records, in input order, with a constant number of statements
/// (whatever the batch size): the records are read and locked in id order, the changes
/// computed here, then written with one UPDATE and two history INSERTs over arrays. A missing
/// or archived id is `Err(NotFound)` for that input; a unique clash fails the call.
async fn update_many(
    tx: &Transaction<'_>,
    account: AccountId,
    set: &PropertySet,
    inputs: &[(ObjectId, &PropertyWrites)],
    source: &WriteSource,
) -> StoreResult<Vec<StoreResult<ObjectRecord>>> {
    let object_type = set.object_type.as_ref();
    let ot = object_type.object_type_id.0.as_str();
    let mut ids: Vec<i64> = inputs.iter().map(|(id, _)| id.0).collect();
    ids.sort_unstable();
    ids.dedup();
    // Locks in id order: concurrent batches touching the same records queue instead of
    // deadlocking.
    let stmt = tx
        .prepare_cached(&format!(
            "SELECT {COLUMNS}, version, object_type
             FROM objects WHERE account_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE"
        ))
        .await?;
    let mut pending: BTreeMap<i64, Pending> = BTreeMap::new();
    for r in tx.query(&stmt, &[&account.0, &ids]).await? {
        if r.get::<_, &str>(6) != ot {
            continue;
        }
        let record = to_record(&r)?;
        if record.archived() {
            continue;
        }
        let row = Row {
            record: record.clone(),
            version: r.get(5),
        };
        pending.insert(
            record.id.0,
            Pending {
                version: row.version,
                row,
                record,
                text_changed: false,
                touched: false,
            },
        );
    }
    let now = Timestamp::now();
    let mut history = HistoryInserts::default();
    let mut out = Vec::with_capacity(inputs.len());
    for (id, writes) in inputs {
        let Some(p) = pending.get_mut(&id.0) else {
            out.push(Err(StoreError::NotFound));
            continue;
        };
        let mut changed: Vec<(String, String)> = Vec::new();
        for (name, write) in &writes.values {
            let old = p.record.properties.get(name).map(String::as_str);
            let new = write.apply(old);
            if old.unwrap_or("") == new && old.is_some() {
                continue;
            }
            if is_unique(set, name) {
                release_unique(tx, account, ot, Some(name), *id).await?;
                if !new.is_empty() {
                    claim_unique(tx, account, set, name, &new, *id).await?;
                }
            }
            changed.push((name.clone(), new));
        }
        let at = now.max(p.record.created_at);
        p.version += 1;
        p.touched = true;
        // The values these changes replace, kept in their history rows: the implicit creation
        // entry is derived from them (see sqlite/0003_history_previous.sql).
        let mut previous: BTreeMap<String, String> = changed
            .iter()
            .map(|(name, _)| name)
            .chain([&object_type.lastmodified_property])
            .map(|name| {
                let old = p.record.properties.get(name).cloned().unwrap_or_default();
                (name.clone(), old)
            })
            .collect();
        for (name, value) in &changed {
            p.record.properties.insert(name.clone(), value.clone());
            p.text_changed |= object_type.searchable_properties.contains(name);
        }
        let lastmod = at.to_iso();
        p.record
            .properties
            .insert(object_type.lastmodified_property.clone(), lastmod.clone());
        p.record.updated_at = at;
        changed.push((object_type.lastmodified_property.clone(), lastmod));
        for (property, value) in changed {
            let previous = previous.remove(&property).unwrap_or_default();
            let change = HistoryChange {
                property,
                value,
                previous,
            };
            history.push(id.0, p.version, change, at, source);
        }
        out.push(Ok(p.record.clone()));
    }
    let touched: Vec<&Pending> = pending.values().filter(|p| p.touched).collect();
    if touched.is_empty() {
        return Ok(out);
    }
    let mut cols = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Full-text words: only those the change took away or brought (a last name changed is one
    // word out and one in, not every word of the record rewritten).
    let mut gone: Vec<(i64, Vec<String>)> = Vec::new();
    let mut added: Vec<(i64, Vec<String>)> = Vec::new();
    for p in &touched {
        cols.0.push(p.record.id.0);
        cols.1.push(serde_json::to_string(&p.record.properties)?);
        cols.2.push(search_json(set, &p.record.properties));
        cols.3.push(p.record.updated_at.millis());
        cols.4.push(p.version);
        if p.text_changed {
            let before = text_words(set, &p.row.record.properties);
            let after = text_words(set, &p.record.properties);
            let id = p.record.id.0;
            gone.push((
                id,
                before
                    .iter()
                    .filter(|w| !after.contains(w))
                    .cloned()
                    .collect(),
            ));
            added.push((
                id,
                after.into_iter().filter(|w| !before.contains(w)).collect(),
            ));
        }
    }
    let stmt = tx
        .prepare_cached(
            "UPDATE objects AS o SET properties = u.properties, search = u.search,
                 updated_at = u.updated_at, version = u.version
             FROM unnest($2::bigint[], $3::text[], $4::jsonb[], $5::bigint[], $6::bigint[])
                  AS u(id, properties, search, updated_at, version)
             WHERE o.account_id = $1 AND o.id = ANY($2) AND o.id = u.id",
        )
        .await?;
    tx.execute(
        &stmt,
        &[&account.0, &cols.0, &cols.1, &cols.2, &cols.3, &cols.4],
    )
    .await?;
    remove_words(tx, account, ot, &gone).await?;
    write_words(tx, account, ot, &[], &added).await?;
    history
        .insert(
            tx,
            account,
            "ON CONFLICT (account_id, object_id, property, version) DO UPDATE SET
                 value = EXCLUDED.value, timestamp = EXCLUDED.timestamp,
                 source_type = EXCLUDED.source_type, source_id = EXCLUDED.source_id",
        )
        .await?;
    Ok(out)
}

/// One changed property of a write: its new value and the value it replaced ("" for none).
struct HistoryChange {
    property: String,
    value: String,
    previous: String,
}

/// History rows to insert with one statement.
#[derive(Default)]
struct HistoryInserts {
    ids: Vec<i64>,
    properties: Vec<String>,
    versions: Vec<i64>,
    values: Vec<String>,
    previous: Vec<String>,
    timestamps: Vec<i64>,
    source_types: Vec<String>,
    source_ids: Vec<Option<String>>,
}

impl HistoryInserts {
    fn push(
        &mut self,
        id: i64,
        version: i64,
        change: HistoryChange,
        at: Timestamp,
        source: &WriteSource,
    ) {
        self.ids.push(id);
        self.properties.push(change.property);
        self.versions.push(version);
        self.values.push(change.value);
        self.previous.push(change.previous);
        self.timestamps.push(at.millis());
        self.source_types.push(source.source_type.clone());
        self.source_ids.push(source.source_id.clone());
    }

    async fn insert(
        &self,
        tx: &Transaction<'_>,
        account: AccountId,
        tail: &str,
    ) -> StoreResult<()> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO property_history
                 (account_id, object_id, property, version, value, timestamp, source_type, source_id,
                  previous)
                 SELECT $1, u.id, u.property, u.version, u.value, u.ts, u.st, u.sid, u.previous
                 FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::text[], $6::bigint[],
                             $7::text[], $8::text[], $9::text[])
                      AS u(id, property, version, value, ts, st, sid, previous)
                 {tail}"
            ))
            .await?;
        tx.execute(
            &stmt,
            &[
                &account.0,
                &self.ids,
                &self.properties,
                &self.versions,
                &self.values,
                &self.timestamps,
                &self.source_types,
                &self.source_ids,
                &self.previous,
            ],
        )
        .await?;
        Ok(())
    }
}

/// Creates records with a constant number of statements: ids from the sequence in one query,
/// unique values claimed with one INSERT (a value already held, or repeated within the inputs,
/// fails the call with `UniqueConflict`), records inserted with one INSERT over arrays.
async fn create_many(
    tx: &Transaction<'_>,
    account: AccountId,
    set: &PropertySet,
    inputs: &[&NewObject],
    source: &WriteSource,
) -> StoreResult<Vec<ObjectRecord>> {
    if inputs.is_empty() {
        return Ok(Vec::new());
    }
    let object_type = set.object_type.as_ref();
    let ot = object_type.object_type_id.0.as_str();
    let stmt = tx
        .prepare_cached("SELECT nextval('object_ids') FROM generate_series(1, $1::bigint)")
        .await?;
    let mut ids: Vec<i64> = tx
        .query(&stmt, &[&(inputs.len() as i64)])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    ids.sort_unstable();
    let now = Timestamp::now();
    let iso = now.to_iso();
    let mut records = Vec::with_capacity(inputs.len());
    let mut claims: Vec<(String, String, String, i64)> = Vec::new(); // property, key, value, id
    for (input, &id) in inputs.iter().zip(&ids) {
        let mut properties: BTreeMap<String, String> = BTreeMap::new();
        for (name, write) in &input.writes.values {
            let value = write.apply(None);
            if !value.is_empty() {
                properties.insert(name.clone(), value);
            }
        }
        properties.insert(object_type.createdate_property.clone(), iso.clone());
        properties.insert(object_type.lastmodified_property.clone(), iso.clone());
        properties.insert(OBJECT_ID_PROPERTY.to_string(), id.to_string());
        for name in &input.writes.unique {
            if let Some(value) = properties.get(name) {
                if let Some(key) = set.get(name).and_then(|d| search_key(d, value)) {
                    claims.push((name.clone(), unique_key(&key), value.clone(), id));
                }
            }
        }
        records.push(ObjectRecord {
            id: ObjectId(id),
            properties,
            created_at: now,
            updated_at: now,
            archived_at: None,
        });
    }
    if !claims.is_empty() {
        let stmt = tx
            .prepare_cached(
                "INSERT INTO unique_values (account_id, object_type, property, value_key, object_id)
                 SELECT $1, $2, u.p, u.k, u.i FROM unnest($3::text[], $4::text[], $5::bigint[])
                      AS u(p, k, i)
                 ON CONFLICT DO NOTHING RETURNING object_id, property",
            )
            .await?;
        let props: Vec<&str> = claims.iter().map(|c| c.0.as_str()).collect();
        let keys: Vec<&str> = claims.iter().map(|c| c.1.as_str()).collect();
        let owners: Vec<i64> = claims.iter().map(|c| c.3).collect();
        let claimed: std::collections::HashSet<(i64, String)> = tx
            .query(&stmt, &[&account.0, &ot, &props, &keys, &owners])
            .await?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        if let Some((property, key, value, id)) = claims
            .iter()
            .find(|c| !claimed.contains(&(c.3, c.0.clone())))
        {
            let existing = unique_holder_by_key(tx, account, ot, property, key)
                .await?
                .unwrap_or(ObjectId(*id));
            return Err(StoreError::UniqueConflict {
                property: property.clone(),
                value: value.clone(),
                existing,
                on: Some(ObjectId(*id)),
            });
        }
    }
    let (mut jsons, mut searches, mut words) = (Vec::new(), Vec::new(), Vec::new());
    for r in &records {
        jsons.push(serde_json::to_string(&r.properties)?);
        searches.push(search_json(set, &r.properties));
        words.push((r.id.0, text_words(set, &r.properties)));
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO objects (account_id, id, object_type, properties, search,
                 created_at, updated_at, archived_at, version, created_source_type, created_source_id)
             SELECT $1, u.id, $2, u.properties, u.search, $3, $3, NULL, 1, $4, $5
             FROM unnest($6::bigint[], $7::text[], $8::jsonb[]) AS u(id, properties, search)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &account.0,
            &ot,
            &now.millis(),
            &source.source_type,
            &source.source_id,
            &ids,
            &jsons,
            &searches,
        ],
    )
    .await?;
    write_words(tx, account, ot, &[], &words).await?;
    let links: Vec<AssociationLink> = inputs
        .iter()
        .zip(&records)
        .flat_map(|(input, record)| {
            input.associations.iter().map(|l| AssociationLink {
                from_id: record.id,
                ..l.clone()
            })
        })
        .collect();
    insert_links(tx, account, &links).await?;
    Ok(records)
}

impl PostgresStore {
    pub(crate) async fn create_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        inputs: Vec<NewObject>,
        mode: BatchMode,
        source: WriteSource,
    ) -> StoreResult<Vec<StoreResult<ObjectRecord>>> {
        self.ensure_builtin_indexes(&set.object_type).await?;
        if mode == BatchMode::AllOrNothing {
            let all: Vec<&NewObject> = inputs.iter().collect();
            let records = in_tx!(self, |tx| create_many(&tx, account, &set, &all, &source)
                .await)?;
            return Ok(records.into_iter().map(Ok).collect());
        }
        // Per input: each in a savepoint, so a failing one rolls back only itself.
        in_tx!(self, |tx| {
            let mut out = Vec::with_capacity(inputs.len());
            for input in &inputs {
                tx.batch_execute("SAVEPOINT input").await?;
                let result = create_many(&tx, account, &set, &[input], &source)
                    .await
                    .map(|mut r| r.remove(0));
                match result {
                    Err(e @ (StoreError::Transient(_) | StoreError::Internal(_))) => {
                        // The transaction itself failed: retry or fail the call.
                        return Err(e);
                    }
                    Ok(record) => {
                        tx.batch_execute("RELEASE SAVEPOINT input").await?;
                        out.push(Ok(record));
                    }
                    Err(e) => {
                        tx.batch_execute("ROLLBACK TO SAVEPOINT input; RELEASE SAVEPOINT input")
                            .await?;
                        out.push(Err(e));
                    }
                }
            }
            Ok(out)
        })
    }

    pub(crate) async fn update_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        inputs: Vec<(ObjectId, PropertyWrites)>,
        source: WriteSource,
    ) -> StoreResult<Vec<StoreResult<ObjectRecord>>> {
        let refs: Vec<(ObjectId, &PropertyWrites)> = inputs.iter().map(|(i, w)| (*i, w)).collect();
        in_tx!(self, |tx| update_many(&tx, account, &set, &refs, &source)
            .await)
    }

    pub(crate) async fn upsert_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        id_property: String,
        inputs: Vec<(String, PropertyWrites)>,
        source: WriteSource,
    ) -> StoreResult<Vec<(ObjectRecord, bool)>> {
        self.ensure_builtin_indexes(&set.object_type).await?;
        let ot = set.object_type.object_type_id.0.clone();
        // Each input's unique key (the server refuses repeated values in one batch).
        let keys: Vec<Option<String>> = inputs
            .iter()
            .map(|(v, _)| {
                set.get(&id_property)
                    .and_then(|d| search_key(d, v))
                    .map(|k| unique_key(&k))
            })
            .collect();
        let wanted: Vec<&str> = keys.iter().flatten().map(String::as_str).collect();
        let mut attempt = 0;
        loop {
            let result = in_tx!(self, |tx| {
                let stmt = tx
                    .prepare_cached(
                        // One primary-key lookup per value, whatever the statistics say (with
                        // none yet, `value_key = ANY($4)` was planned as a filter over every
                        // value of the property: 50 ms per batch at 100k contacts).
                        "SELECT k.key, u.object_id FROM unnest($4::text[]) AS k(key)
                         JOIN LATERAL (SELECT object_id FROM unique_values WHERE account_id = $1
                             AND object_type = $2 AND property = $3 AND value_key = k.key) AS u
                         ON TRUE",
                    )
                    .await?;
                let holders: BTreeMap<String, i64> = tx
                    .query(&stmt, &[&account.0, &ot, &id_property, &wanted])
                    .await?
                    .iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                let holder_of = |i: usize| keys[i].as_ref().and_then(|k| holders.get(k)).copied();
                let updates: Vec<(ObjectId, &PropertyWrites)> = (0..inputs.len())
                    .filter_map(|i| holder_of(i).map(|id| (ObjectId(id), &inputs[i].1)))
                    .collect();
                let creates: Vec<NewObject> = (0..inputs.len())
                    .filter(|i| holder_of(*i).is_none())
                    .map(|i| NewObject {
                        writes: inputs[i].1.clone(),
                        associations: vec![],
                    })
                    .collect();
                let mut updated = update_many(&tx, account, &set, &updates, &source)
                    .await?
                    .into_iter();
                let create_refs: Vec<&NewObject> = creates.iter().collect();
                let mut created = create_many(&tx, account, &set, &create_refs, &source)
                    .await?
                    .into_iter();
                let mut out = Vec::with_capacity(inputs.len());
                for i in 0..inputs.len() {
                    if holder_of(i).is_some() {
                        let record = updated.next().ok_or_else(|| {
                            StoreError::Internal("upsert: missing update".into())
                        })??;
                        out.push((record, false));
                    } else {
                        let record = created
                            .next()
                            .ok_or_else(|| StoreError::Internal("upsert: missing create".into()))?;
                        out.push((record, true));
                    }
                }
                Ok(out)
            });
            // Another node created one of these values between our lookup and our create: run
            // again, now updating that record (as a single writer would have).
            match result {
                Err(StoreError::UniqueConflict { ref property, .. })
                    if *property == id_property && attempt < 3 =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    pub(crate) async fn get_object_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        id: ObjectId,
        archived: bool,
    ) -> StoreResult<Option<ObjectRecord>> {
        let client = self.client().await?;
        Ok(
            read_row(&client, account, &object_type.object_type_id.0, id, false)
                .await?
                .map(|row| row.record)
                .filter(|r| archived || !r.archived()),
        )
    }

    pub(crate) async fn get_objects_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        ids: &[ObjectId],
        archived: bool,
    ) -> StoreResult<Vec<ObjectRecord>> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM objects WHERE account_id = $1 AND object_type = $2
                 AND id = ANY($3)"
            ))
            .await?;
        let wanted: Vec<i64> = ids.iter().map(|i| i.0).collect();
        let rows = client
            .query(&stmt, &[&account.0, &object_type.object_type_id.0, &wanted])
            .await?;
        let mut found: BTreeMap<i64, ObjectRecord> = BTreeMap::new();
        for r in &rows {
            let record = to_record(r)?;
            if archived || !record.archived() {
                found.insert(record.id.0, record);
            }
        }
        // In the order asked, each once.
        Ok(ids.iter().filter_map(|i| found.remove(&i.0)).collect())
    }

    pub(crate) async fn list_objects_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        after: ObjectId,
        limit: usize,
        archived: bool,
    ) -> StoreResult<Vec<ObjectRecord>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {COLUMNS} FROM objects
             WHERE account_id = $1 AND object_type = $2 AND id >= $3 AND archived_at IS {} NULL
             ORDER BY id LIMIT $4",
            if archived { "NOT" } else { "" }
        );
        let stmt = client.prepare_cached(&sql).await?;
        let rows = client
            .query(
                &stmt,
                &[
                    &account.0,
                    &object_type.object_type_id.0,
                    &after.0,
                    &(limit as i64),
                ],
            )
            .await?;
        rows.iter().map(to_record).collect()
    }

    pub(crate) async fn find_by_unique_value_impl(
        &self,
        account: AccountId,
        set: &PropertySet,
        property: &str,
        value: &str,
    ) -> StoreResult<Option<ObjectId>> {
        let client = self.client().await?;
        unique_holder(&client, account, set, property, value).await
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
        let client = self.client().await?;
        let names: Vec<&str> = properties.iter().map(String::as_str).collect();
        let rows = client
            .query(
                "SELECT property, value, timestamp, source_type, source_id, previous
                 FROM property_history
                 WHERE account_id = $1 AND object_id = $2 AND property = ANY($3)
                 ORDER BY property, version DESC",
                &[&account.0, &id.0, &names],
            )
            .await?;
        let mut history = HistoryRows::default();
        for r in &rows {
            let entry = HistoryEntry {
                value: r.get(1),
                timestamp: Timestamp(r.get(2)),
                source_type: r.get(3),
                source_id: r.get(4),
            };
            history.push(r.get(0), entry, r.get(5));
        }
        let row = client
            .query_opt(
                "SELECT properties, created_at, created_source_type, created_source_id
                 FROM objects WHERE account_id = $1 AND id = $2",
                &[&account.0, &id.0],
            )
            .await?;
        let Some(r) = row else {
            return Ok(BTreeMap::new());
        };
        let current: BTreeMap<String, String> = serde_json::from_str(r.get::<_, &str>(0))?;
        Ok(history.with_creation_entries(
            properties,
            &current,
            Timestamp(r.get(1)),
            r.get(2),
            r.get(3),
        ))
    }

    pub(crate) async fn restore_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        ids: Vec<ObjectId>,
    ) -> StoreResult<Vec<ObjectId>> {
        let ot = set.object_type.object_type_id.0.clone();
        in_tx!(self, |tx| {
            let mut restored = Vec::new();
            for &id in &ids {
                let Some(row) = read_row(&tx, account, &ot, id, true).await? else {
                    continue;
                };
                if !row.record.archived() {
                    continue;
                }
                for (name, value) in &row.record.properties {
                    if is_unique(&set, name) && !value.is_empty() {
                        claim_unique(&tx, account, &set, name, value, id).await?;
                    }
                }
                tx.execute(
                    "UPDATE objects SET archived_at = NULL, version = $1
                     WHERE account_id = $2 AND id = $3",
                    &[&(row.version + 1), &account.0, &id.0],
                )
                .await?;
                let words = text_words(&set, &row.record.properties);
                write_words(&tx, account, &ot, &[], &[(id.0, words)]).await?;
                restored.push(id);
            }
            Ok(restored)
        })
    }

    pub(crate) async fn archive_objects_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        ids: Vec<ObjectId>,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        in_tx!(self, |tx| {
            let now = Timestamp::now();
            for &id in &ids {
                let Some(row) = read_row(&tx, account, &ot, id, true).await? else {
                    continue;
                };
                if row.record.archived() {
                    continue;
                }
                tx.execute(
                    "UPDATE objects SET archived_at = $1, version = $2
                     WHERE account_id = $3 AND id = $4",
                    &[&now.millis(), &(row.version + 1), &account.0, &id.0],
                )
                .await?;
                // Archived records release their unique values (as on SQLite, where they leave
                // the search indexes) and leave the full-text words.
                release_unique(&tx, account, &ot, None, id).await?;
                write_words(&tx, account, &ot, &[id.0], &[]).await?;
            }
            Ok(())
        })
    }
}
