//! Records, their history and their unique values.

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::{ObjectTypeDef, OBJECT_ID_PROPERTY};
use spoke_core::record::{HistoryEntry, ObjectRecord, WriteSource};
use spoke_core::time::Timestamp;
use spoke_core::value::PropertyWrites;

use super::writer::WriteCtx;
use super::SqliteStore;
use crate::{StoreError, StoreResult};

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
        "SELECT properties, created_at, updated_at, archived_at, version FROM objects
         WHERE id = ?1 AND account_id = ?2 AND object_type = ?3",
    )?;
    let row = stmt
        .query_row(params![id.0, account.0, object_type], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, i64>(4)?,
            ))
        })
        .optional()?;
    let Some((json, created, updated, archived, version)) = row else {
        return Ok(None);
    };
    Ok(Some(Row {
        record: ObjectRecord {
            id,
            properties: serde_json::from_str(&json)?,
            created_at: Timestamp(created),
            updated_at: Timestamp(updated),
            archived_at: archived.map(Timestamp),
        },
        version,
    }))
}

fn insert_history(
    ctx: &WriteCtx,
    account: AccountId,
    id: ObjectId,
    version: i64,
    at: Timestamp,
    source: &WriteSource,
    changes: &[(&str, &str)],
) -> StoreResult<()> {
    let mut stmt = ctx.conn.prepare_cached(
        "INSERT OR REPLACE INTO property_history
         (account_id, object_id, property, version, value, timestamp, source_type, source_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (property, value) in changes {
        stmt.execute(params![
            account.0,
            id.0,
            property,
            version,
            value,
            at.millis(),
            source.source_type,
            source.source_id
        ])?;
    }
    Ok(())
}

/// Claims `value` of a unique property for `id`, failing if another record holds it.
fn claim_unique(
    ctx: &WriteCtx,
    account: AccountId,
    object_type: &str,
    property: &str,
    value: &str,
    id: ObjectId,
) -> StoreResult<()> {
    let holder: Option<i64> = ctx
        .conn
        .prepare_cached(
            "SELECT object_id FROM unique_values
             WHERE account_id = ?1 AND object_type = ?2 AND property = ?3 AND value = ?4",
        )?
        .query_row(params![account.0, object_type, property, value], |r| {
            r.get(0)
        })
        .optional()?;
    match holder {
        Some(other) if other != id.0 => Err(StoreError::UniqueConflict {
            property: property.to_string(),
            value: value.to_string(),
            existing: ObjectId(other),
            on: Some(id),
        }),
        Some(_) => Ok(()),
        None => {
            ctx.conn
                .prepare_cached(
                    "INSERT INTO unique_values (account_id, object_type, property, value, object_id)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(params![account.0, object_type, property, value, id.0])?;
            Ok(())
        }
    }
}

fn release_unique(
    ctx: &WriteCtx,
    account: AccountId,
    object_type: &str,
    property: &str,
    value: &str,
    id: ObjectId,
) -> StoreResult<()> {
    ctx.conn
        .prepare_cached(
            "DELETE FROM unique_values WHERE account_id = ?1 AND object_type = ?2 AND property = ?3
             AND value = ?4 AND object_id = ?5",
        )?
        .execute(params![account.0, object_type, property, value, id.0])?;
    Ok(())
}

fn create_one(
    ctx: &mut WriteCtx,
    account: AccountId,
    object_type: &ObjectTypeDef,
    writes: PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
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
            claim_unique(ctx, account, ot, name, value, id)?;
        }
    }
    ctx.conn
        .prepare_cached(
            "INSERT INTO objects (id, account_id, object_type, properties, created_at, updated_at,
             archived_at, version) VALUES (?1, ?2, ?3, ?4, ?5, ?5, NULL, 1)",
        )?
        .execute(params![
            id.0,
            account.0,
            ot,
            serde_json::to_string(&properties)?,
            now.millis()
        ])?;
    let changes: Vec<(&str, &str)> = properties
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    insert_history(ctx, account, id, 1, now, source, &changes)?;
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
    object_type: &ObjectTypeDef,
    id: ObjectId,
    writes: PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let ot = object_type.object_type_id.0.as_str();
    let Some(Row {
        mut record,
        version,
    }) = read_row(&ctx.conn, account, ot, id)?
    else {
        return Err(StoreError::NotFound);
    };
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
        if writes.unique.contains(name) {
            if let Some(old) = old.filter(|o| !o.is_empty()) {
                release_unique(ctx, account, ot, name, old, id)?;
            }
            if !new.is_empty() {
                claim_unique(ctx, account, ot, name, &new, id)?;
            }
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
    ctx.conn
        .prepare_cached(
            "UPDATE objects SET properties = ?1, updated_at = ?2, version = ?3 WHERE id = ?4",
        )?
        .execute(params![
            serde_json::to_string(&record.properties)?,
            now.millis(),
            version,
            id.0
        ])?;
    let lastmod = now.to_iso();
    let mut history: Vec<(&str, &str)> = changed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    history.push((object_type.lastmodified_property.as_str(), lastmod.as_str()));
    insert_history(ctx, account, id, version, now, source, &history)?;
    Ok(record)
}

impl SqliteStore {
    pub(crate) async fn create_objects_impl(
        &self,
        account: AccountId,
        object_type: Arc<ObjectTypeDef>,
        inputs: Vec<PropertyWrites>,
        source: WriteSource,
    ) -> StoreResult<Vec<ObjectRecord>> {
        self.writer
            .run(move |ctx| {
                inputs
                    .into_iter()
                    .map(|writes| create_one(ctx, account, &object_type, writes, &source))
                    .collect()
            })
            .await
    }

    pub(crate) async fn update_object_impl(
        &self,
        account: AccountId,
        object_type: Arc<ObjectTypeDef>,
        id: ObjectId,
        writes: PropertyWrites,
        source: WriteSource,
    ) -> StoreResult<ObjectRecord> {
        self.writer
            .run(move |ctx| update_one(ctx, account, &object_type, id, writes, &source))
            .await
    }

    pub(crate) async fn get_object_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        id: ObjectId,
        archived: bool,
    ) -> StoreResult<Option<ObjectRecord>> {
        let ot = object_type.object_type_id.0.as_str();
        self.reads.with(|conn| {
            Ok(read_row(conn, account, ot, id)?
                .map(|row| row.record)
                .filter(|r| archived || !r.archived()))
        })
    }

    pub(crate) async fn find_by_unique_value_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        property: &str,
        value: &str,
    ) -> StoreResult<Option<ObjectId>> {
        let ot = object_type.object_type_id.0.as_str();
        self.reads.with(|conn| {
            Ok(conn
                .prepare_cached(
                    "SELECT object_id FROM unique_values
                     WHERE account_id = ?1 AND object_type = ?2 AND property = ?3 AND value = ?4",
                )?
                .query_row(params![account.0, ot, property, value], |r| r.get(0))
                .optional()?
                .map(ObjectId))
        })
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
            "SELECT property, value, timestamp, source_type, source_id FROM property_history
             WHERE account_id = ? AND object_id = ? AND property IN ({placeholders})
             ORDER BY property, version DESC"
        );
        self.reads.with(|conn| {
            let mut stmt = conn.prepare(&sql)?;
            let mut args: Vec<rusqlite::types::Value> = vec![account.0.into(), id.0.into()];
            args.extend(properties.iter().map(|p| p.clone().into()));
            let rows = stmt.query_map(params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    HistoryEntry {
                        value: r.get(1)?,
                        timestamp: Timestamp(r.get(2)?),
                        source_type: r.get(3)?,
                        source_id: r.get(4)?,
                    },
                ))
            })?;
            let mut out: BTreeMap<String, Vec<HistoryEntry>> = BTreeMap::new();
            for row in rows {
                let (property, entry) = row?;
                out.entry(property).or_default().push(entry);
            }
            Ok(out)
        })
    }

    pub(crate) async fn archive_objects_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        ids: Vec<ObjectId>,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        self.writer
            .run(move |ctx| {
                let now = Timestamp::now();
                for id in ids {
                    let Some(Row { record, version }) = read_row(&ctx.conn, account, &ot, id)?
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
                    // Unique values are released so the value can be used again (HubSpot's
                    // behaviour for archived records' unique values is unconfirmed).
                    for (property, value) in &record.properties {
                        release_unique(ctx, account, &ot, property, value, id)?;
                    }
                }
                Ok(())
            })
            .await
    }
}
