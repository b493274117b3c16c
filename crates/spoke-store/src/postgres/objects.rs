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
use super::search::{unique_key, words};
use super::{in_tx, PostgresStore};
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
    created_source: WriteSource,
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
        "SELECT {COLUMNS}, version, created_source_type, created_source_id FROM objects
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
        created_source: WriteSource {
            source_type: r.get(6),
            source_id: r.get(7),
        },
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

pub(crate) fn text_words(
    account: AccountId,
    set: &PropertySet,
    properties: &BTreeMap<String, String>,
) -> Vec<String> {
    let text = searchable_text(&set.object_type.searchable_properties, properties);
    words(account, &set.object_type.object_type_id.0, &text)
}

async fn create_one(
    tx: &Transaction<'_>,
    account: AccountId,
    set: &PropertySet,
    writes: &PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let object_type = set.object_type.as_ref();
    let ot = object_type.object_type_id.0.as_str();
    let stmt = tx.prepare_cached("SELECT nextval('object_ids')").await?;
    let id = ObjectId(tx.query_one(&stmt, &[]).await?.get(0));
    let now = Timestamp::now();
    let mut properties: BTreeMap<String, String> = BTreeMap::new();
    for (name, write) in &writes.values {
        let value = write.apply(None);
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
            claim_unique(tx, account, set, name, value, id).await?;
        }
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO objects (account_id, id, object_type, properties, search, search_words,
             created_at, updated_at, archived_at, version, created_source_type, created_source_id)
             VALUES ($1, $2, $3, $4, $5, array_to_tsvector($6::text[]), $7, $7, NULL, 1, $8, $9)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &account.0,
            &id.0,
            &ot,
            &serde_json::to_string(&properties)?,
            &search_json(set, &properties),
            &text_words(account, set, &properties),
            &now.millis(),
            &source.source_type,
            &source.source_id,
        ],
    )
    .await?;
    Ok(ObjectRecord {
        id,
        properties,
        created_at: now,
        updated_at: now,
        archived_at: None,
    })
}

async fn insert_history(
    tx: &Transaction<'_>,
    account: AccountId,
    id: ObjectId,
    version: i64,
    at: Timestamp,
    source: &WriteSource,
    changes: &[(&str, &str)],
) -> StoreResult<()> {
    let stmt = tx
        .prepare_cached(
            "INSERT INTO property_history
             (account_id, object_id, property, version, value, timestamp, source_type, source_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (account_id, object_id, property, version) DO UPDATE SET
             value = EXCLUDED.value, timestamp = EXCLUDED.timestamp,
             source_type = EXCLUDED.source_type, source_id = EXCLUDED.source_id",
        )
        .await?;
    for (property, value) in changes {
        tx.execute(
            &stmt,
            &[
                &account.0,
                &id.0,
                property,
                &version,
                value,
                &at.millis(),
                &source.source_type,
                &source.source_id,
            ],
        )
        .await?;
    }
    Ok(())
}

/// Writes the implicit creation entry of a property before its first update (see SQLite's).
async fn backfill_creation_entry(
    tx: &Transaction<'_>,
    account: AccountId,
    row: &Row,
    property: &str,
) -> StoreResult<()> {
    let Some(value) = row
        .record
        .properties
        .get(property)
        .filter(|v| !v.is_empty())
    else {
        return Ok(());
    };
    let stmt = tx
        .prepare_cached(
            "INSERT INTO property_history
             (account_id, object_id, property, version, value, timestamp, source_type, source_id)
             SELECT $1, $2, $3, 1, $4, $5, $6, $7
             WHERE NOT EXISTS (SELECT 1 FROM property_history
                               WHERE account_id = $1 AND object_id = $2 AND property = $3)",
        )
        .await?;
    tx.execute(
        &stmt,
        &[
            &account.0,
            &row.record.id.0,
            &property,
            value,
            &row.record.created_at.millis(),
            &row.created_source.source_type,
            &row.created_source.source_id,
        ],
    )
    .await?;
    Ok(())
}

/// Locks records in id order before a batch updates them: concurrent batches touching the same
/// records then queue instead of deadlocking (each would otherwise lock in its input order).
async fn lock_in_id_order(
    tx: &Transaction<'_>,
    account: AccountId,
    mut ids: Vec<i64>,
) -> StoreResult<()> {
    if ids.len() < 2 {
        return Ok(());
    }
    ids.sort_unstable();
    ids.dedup();
    let stmt = tx
        .prepare_cached(
            "SELECT id FROM objects WHERE account_id = $1 AND id = ANY($2) ORDER BY id FOR UPDATE",
        )
        .await?;
    tx.query(&stmt, &[&account.0, &ids]).await?;
    Ok(())
}

async fn update_one(
    tx: &Transaction<'_>,
    account: AccountId,
    set: &PropertySet,
    id: ObjectId,
    writes: &PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let object_type = set.object_type.as_ref();
    let ot = object_type.object_type_id.0.as_str();
    let Some(row) = read_row(tx, account, ot, id, true).await? else {
        return Err(StoreError::NotFound);
    };
    let mut record = row.record.clone();
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
        if is_unique(set, name) {
            release_unique(tx, account, ot, Some(name), id).await?;
            if !new.is_empty() {
                claim_unique(tx, account, set, name, &new, id).await?;
            }
        }
        changed.push((name.clone(), new));
    }
    let now = Timestamp::now().max(record.created_at);
    let version = row.version + 1;
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
    let json = serde_json::to_string(&record.properties)?;
    let search = search_json(set, &record.properties);
    if text_changed {
        let stmt = tx
            .prepare_cached(
                "UPDATE objects SET properties = $1, search = $2, updated_at = $3, version = $4,
                 search_words = array_to_tsvector($7::text[])
                 WHERE account_id = $5 AND id = $6",
            )
            .await?;
        let words = text_words(account, set, &record.properties);
        tx.execute(
            &stmt,
            &[
                &json,
                &search,
                &now.millis(),
                &version,
                &account.0,
                &id.0,
                &words,
            ],
        )
        .await?;
    } else {
        let stmt = tx
            .prepare_cached(
                "UPDATE objects SET properties = $1, search = $2, updated_at = $3, version = $4
                 WHERE account_id = $5 AND id = $6",
            )
            .await?;
        tx.execute(
            &stmt,
            &[&json, &search, &now.millis(), &version, &account.0, &id.0],
        )
        .await?;
    }
    let lastmod = now.to_iso();
    let mut history: Vec<(&str, &str)> = changed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    history.push((object_type.lastmodified_property.as_str(), lastmod.as_str()));
    for (property, _) in &history {
        backfill_creation_entry(tx, account, &row, property).await?;
    }
    insert_history(tx, account, id, version, now, source, &history).await?;
    Ok(record)
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
        in_tx!(self, |tx| {
            let mut out = Vec::with_capacity(inputs.len());
            for input in &inputs {
                if mode == BatchMode::PerInput {
                    tx.batch_execute("SAVEPOINT input").await?;
                }
                let result = async {
                    let record = create_one(&tx, account, &set, &input.writes, &source).await?;
                    let links: Vec<AssociationLink> = input
                        .associations
                        .iter()
                        .map(|l| AssociationLink {
                            from_id: record.id,
                            ..l.clone()
                        })
                        .collect();
                    insert_links(&tx, account, &links).await?;
                    StoreResult::Ok(record)
                }
                .await;
                match mode {
                    BatchMode::AllOrNothing => out.push(Ok(result?)),
                    BatchMode::PerInput => {
                        match &result {
                            Err(StoreError::Transient(_)) | Err(StoreError::Internal(_)) => {
                                // The transaction itself failed: retry or fail the call.
                                return Err(result.err().unwrap_or(StoreError::NotFound));
                            }
                            Ok(_) => tx.batch_execute("RELEASE SAVEPOINT input").await?,
                            Err(_) => {
                                tx.batch_execute(
                                    "ROLLBACK TO SAVEPOINT input; RELEASE SAVEPOINT input",
                                )
                                .await?
                            }
                        }
                        out.push(result);
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
        in_tx!(self, |tx| {
            lock_in_id_order(&tx, account, inputs.iter().map(|(id, _)| id.0).collect()).await?;
            let mut out = Vec::with_capacity(inputs.len());
            for (id, writes) in &inputs {
                // update_one checks existence before it writes anything, so a missing id needs
                // no rollback; any other error fails the whole call.
                match update_one(&tx, account, &set, *id, writes, &source).await {
                    Err(StoreError::NotFound) => out.push(Err(StoreError::NotFound)),
                    other => out.push(Ok(other?)),
                }
            }
            Ok(out)
        })
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
        let mut attempt = 0;
        loop {
            let result = in_tx!(self, |tx| {
                let mut holders = Vec::with_capacity(inputs.len());
                for (value, _) in &inputs {
                    if let Some(id) = unique_holder(&tx, account, &set, &id_property, value).await?
                    {
                        holders.push(id.0);
                    }
                }
                lock_in_id_order(&tx, account, holders).await?;
                let mut out = Vec::with_capacity(inputs.len());
                for (value, writes) in &inputs {
                    match unique_holder(&tx, account, &set, &id_property, value).await? {
                        Some(id) => out.push((
                            update_one(&tx, account, &set, id, writes, &source).await?,
                            false,
                        )),
                        None => {
                            out.push((create_one(&tx, account, &set, writes, &source).await?, true))
                        }
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
                "SELECT property, value, timestamp, source_type, source_id FROM property_history
                 WHERE account_id = $1 AND object_id = $2 AND property = ANY($3)
                 ORDER BY property, version DESC",
                &[&account.0, &id.0, &names],
            )
            .await?;
        let mut out: BTreeMap<String, Vec<HistoryEntry>> = BTreeMap::new();
        for r in &rows {
            out.entry(r.get(0)).or_default().push(HistoryEntry {
                value: r.get(1),
                timestamp: Timestamp(r.get(2)),
                source_type: r.get(3),
                source_id: r.get(4),
            });
        }
        // Properties never updated: their one entry is the value set at creation.
        let row = client
            .query_opt(
                "SELECT properties, created_at, created_source_type, created_source_id
                 FROM objects WHERE account_id = $1 AND id = $2",
                &[&account.0, &id.0],
            )
            .await?;
        if let Some(r) = row {
            let current: BTreeMap<String, String> = serde_json::from_str(r.get::<_, &str>(0))?;
            for name in properties {
                if out.contains_key(name) {
                    continue;
                }
                if let Some(value) = current.get(name).filter(|v| !v.is_empty()) {
                    out.insert(
                        name.clone(),
                        vec![HistoryEntry {
                            value: value.clone(),
                            timestamp: Timestamp(r.get(1)),
                            source_type: r.get(2),
                            source_id: r.get(3),
                        }],
                    );
                }
            }
        }
        Ok(out)
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
                // the search indexes); their full-text words stay but every search excludes
                // archived records.
                release_unique(&tx, account, &ot, None, id).await?;
            }
            Ok(())
        })
    }
}
