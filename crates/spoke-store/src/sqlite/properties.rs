//! Stored property definitions and groups (custom ones and edited built-ins).

use rusqlite::{params, Connection};
use spoke_core::ids::AccountId;
use spoke_core::object_type::ObjectTypeDef;
use spoke_core::property::{PropertyDefinition, PropertyGroup};

use super::search::index_ddl;
use super::SqliteStore;
use crate::common::is_indexed;
use crate::{StoreError, StoreResult};

pub(crate) fn load<T: serde::de::DeserializeOwned>(
    conn: &Connection,
    table: &str,
    account: AccountId,
    object_type: &str,
) -> StoreResult<Vec<T>> {
    // `table` is one of two constants below, never input.
    let sql = format!(
        "SELECT definition FROM {table} WHERE account_id = ?1 AND object_type = ?2 ORDER BY name"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![account.0, object_type], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for json in rows {
        out.push(serde_json::from_str(&json?)?);
    }
    Ok(out)
}

impl SqliteStore {
    pub(crate) async fn property_definitions_impl(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
    ) -> StoreResult<(Vec<PropertyDefinition>, Vec<PropertyGroup>)> {
        let ot = object_type.object_type_id.0.as_str();
        self.reads.with(|conn| {
            Ok((
                load(conn, "property_definitions", account, ot)?,
                load(conn, "property_groups", account, ot)?,
            ))
        })
    }

    pub(crate) async fn write_property_definitions(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        definitions: Vec<PropertyDefinition>,
        create_only: bool,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        self.writer
            .run(move |ctx| {
                for def in &definitions {
                    let json = serde_json::to_string(def)?;
                    let verb = if create_only { "INSERT OR IGNORE" } else { "INSERT OR REPLACE" };
                    let n = ctx.conn.execute(
                        &format!(
                            "{verb} INTO property_definitions (account_id, object_type, name, definition)
                             VALUES (?1, ?2, ?3, ?4)"
                        ),
                        params![account.0, ot, def.name, json],
                    )?;
                    if n == 0 {
                        return Err(StoreError::AlreadyExists(def.name.clone()));
                    }
                    if def.has_unique_value {
                        // Records may hold values of an archived property of this name that
                        // the cache's map of unique values never named.
                        ctx.cache.unique_incomplete();
                    }
                    if create_only && is_indexed(def) {
                        if let Some(ddl) = index_ddl(&ot, &def.name) {
                            ctx.conn.execute_batch(&ddl)?;
                        }
                    }
                }
                // A definition may change how values are keyed (its type, or a name defined
                // anew): the type's in-memory sort keys are rebuilt on their next use.
                ctx.sort_key_forgets.push(Some((account, ot.clone())));
                Ok(())
            })
            .await
    }

    pub(crate) async fn write_property_group(
        &self,
        account: AccountId,
        object_type: &ObjectTypeDef,
        group: PropertyGroup,
        create_only: bool,
    ) -> StoreResult<()> {
        let ot = object_type.object_type_id.0.clone();
        self.writer
            .run(move |ctx| {
                let json = serde_json::to_string(&group)?;
                let verb = if create_only {
                    "INSERT OR IGNORE"
                } else {
                    "INSERT OR REPLACE"
                };
                let n = ctx.conn.execute(
                    &format!(
                        "{verb} INTO property_groups (account_id, object_type, name, definition)
                         VALUES (?1, ?2, ?3, ?4)"
                    ),
                    params![account.0, ot, group.name, json],
                )?;
                if n == 0 {
                    return Err(StoreError::AlreadyExists(group.name.clone()));
                }
                Ok(())
            })
            .await
    }
}
