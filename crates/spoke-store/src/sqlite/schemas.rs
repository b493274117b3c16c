//! Custom object schemas.

use rand::Rng;
use rusqlite::{params, OptionalExtension};
use spoke_core::ids::AccountId;
use spoke_core::property::{PropertyDefinition, PropertyGroup};
use spoke_core::schema::ObjectSchemaDef;

use super::search::index_ddl;
use super::SqliteStore;
use crate::common::is_indexed;
use crate::{StoreError, StoreResult};

impl SqliteStore {
    pub(crate) async fn object_schemas_impl(
        &self,
        account: AccountId,
    ) -> StoreResult<Vec<ObjectSchemaDef>> {
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT definition FROM object_schemas WHERE account_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([account.0], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for json in rows {
                out.push(serde_json::from_str(&json?)?);
            }
            Ok(out)
        })
    }

    pub(crate) async fn create_object_schema_impl(
        &self,
        account: AccountId,
        schema: ObjectSchemaDef,
        group: PropertyGroup,
        properties: Vec<PropertyDefinition>,
    ) -> StoreResult<ObjectSchemaDef> {
        self.writer
            .run(move |ctx| {
                let taken: Option<i64> = ctx
                    .conn
                    .prepare_cached("SELECT id FROM object_schemas WHERE account_id = ?1 AND name = ?2 COLLATE NOCASE")?
                    .query_row(params![account.0, schema.name], |r| r.get(0))
                    .optional()?;
                if taken.is_some() {
                    return Err(StoreError::AlreadyExists(schema.name.clone()));
                }
                // Ids look like HubSpot's (`2-3465404`): 7 digits, unused in the account.
                let mut schema = schema.clone();
                loop {
                    schema.id = rand::rng().random_range(1_000_000..10_000_000);
                    let used: Option<i64> = ctx
                        .conn
                        .prepare_cached("SELECT id FROM object_schemas WHERE account_id = ?1 AND id = ?2")?
                        .query_row(params![account.0, schema.id], |r| r.get(0))
                        .optional()?;
                    if used.is_none() {
                        break;
                    }
                }
                let ot = schema.object_type_id();
                ctx.conn
                    .prepare_cached(
                        "INSERT INTO object_schemas (account_id, id, name, definition) VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![account.0, schema.id, schema.name, serde_json::to_string(&schema)?])?;
                ctx.conn
                    .prepare_cached(
                        "INSERT OR REPLACE INTO property_groups (account_id, object_type, name, definition)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![account.0, ot, group.name, serde_json::to_string(&group)?])?;
                for def in &properties {
                    ctx.conn
                        .prepare_cached(
                            "INSERT INTO property_definitions (account_id, object_type, name, definition)
                             VALUES (?1, ?2, ?3, ?4)",
                        )?
                        .execute(params![account.0, ot, def.name, serde_json::to_string(def)?])?;
                    if is_indexed(def) {
                        if let Some(ddl) = index_ddl(&ot, &def.name) {
                            ctx.conn.execute_batch(&ddl)?;
                        }
                    }
                }
                Ok(schema)
            })
            .await
    }

    pub(crate) async fn put_object_schema_impl(
        &self,
        account: AccountId,
        schema: ObjectSchemaDef,
    ) -> StoreResult<()> {
        self.writer
            .run(move |ctx| {
                let n = ctx
                    .conn
                    .prepare_cached("UPDATE object_schemas SET definition = ?3 WHERE account_id = ?1 AND id = ?2")?
                    .execute(params![account.0, schema.id, serde_json::to_string(&schema)?])?;
                if n == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    pub(crate) async fn purge_object_schema_impl(
        &self,
        account: AccountId,
        id: i64,
    ) -> StoreResult<()> {
        self.writer
            .run(move |ctx| {
                let ot = format!("2-{id}");
                ctx.conn.execute(
                    "DELETE FROM object_schemas WHERE account_id = ?1 AND id = ?2",
                    params![account.0, id],
                )?;
                ctx.conn.execute(
                    "DELETE FROM property_definitions WHERE account_id = ?1 AND object_type = ?2",
                    params![account.0, ot],
                )?;
                ctx.conn.execute(
                    "DELETE FROM property_groups WHERE account_id = ?1 AND object_type = ?2",
                    params![account.0, ot],
                )?;
                ctx.conn.execute(
                    "DELETE FROM pipelines WHERE account_id = ?1 AND object_type = ?2",
                    params![account.0, ot],
                )?;
                // The type's records stay, unreachable; none stays cached.
                ctx.cache_changes
                    .push(super::record_cache::CacheChange::Clear);
                ctx.sort_key_forgets.push(None);
                Ok(())
            })
            .await
    }
}
