//! Copying an account in and out of a PostgreSQL store (see crate::transfer).

use std::sync::Arc;

use serde_json::Value;
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::value::PropertySet;
use tokio_postgres::types::{ToSql, Type};

use super::objects::{claim_unique, search_json, text_words};
use super::search::{create_search_index, write_words};
use super::{in_tx, PostgresStore};
use crate::common::is_indexed;
use crate::transfer::{page_sql, Row, Table, OBJECTS};
use crate::{StoreError, StoreResult};

type Param = Box<dyn ToSql + Sync + Send>;

/// A cell as a parameter of the column type PostgreSQL expects.
fn param(v: &Value, ty: &Type) -> StoreResult<Param> {
    let bad = || StoreError::Internal(format!("cannot store {v} as {ty}"));
    Ok(match *ty {
        Type::INT8 => Box::new(match v {
            Value::Null => None,
            Value::Number(n) => Some(n.as_i64().ok_or_else(bad)?),
            _ => return Err(bad()),
        }),
        Type::TEXT | Type::VARCHAR => Box::new(match v {
            Value::Null => None,
            Value::String(s) => Some(s.clone()),
            _ => return Err(bad()),
        }),
        _ => return Err(bad()),
    })
}

fn cell(row: &tokio_postgres::Row, i: usize) -> StoreResult<Value> {
    Ok(match *row.columns()[i].type_() {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::from),
        _ => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::String),
    })
}

fn params_of(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

impl PostgresStore {
    pub(crate) async fn export_rows_impl(
        &self,
        account: AccountId,
        table: Table,
        after: Option<Row>,
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        let sql = page_sql(&table, after.is_some(), |i| format!("${i}"));
        let client = self.client().await?;
        let stmt = client.prepare_cached(&sql).await?;
        let types = stmt.params().to_vec();
        let mut cells: Vec<Value> = vec![Value::from(account.0)];
        cells.extend(after.iter().flatten().take(table.key_len).cloned());
        cells.push(Value::from(limit as i64));
        let params = cells
            .iter()
            .zip(&types)
            .map(|(c, t)| param(c, t))
            .collect::<StoreResult<Vec<_>>>()?;
        let rows = client.query(&stmt, &params_of(&params)).await?;
        rows.iter()
            .map(|r| (0..table.columns.len()).map(|i| cell(r, i)).collect())
            .collect()
    }

    pub(crate) async fn import_rows_impl(
        &self,
        account: AccountId,
        table: Table,
        rows: Vec<Row>,
    ) -> StoreResult<()> {
        let mut columns: Vec<&str> = table.columns.to_vec();
        let mut marks: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
        if table == OBJECTS {
            // Derived; rebuilt by reindex_objects.
            columns.push("search");
            marks.push("'{}'::jsonb".into());
        }
        let sql = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name,
            columns.join(", "),
            marks.join(", ")
        );
        let account_index = table
            .columns
            .iter()
            .position(|c| *c == table.account_column);
        in_tx!(self, |tx| {
            let stmt = tx.prepare_cached(&sql).await?;
            let types = stmt.params().to_vec();
            for row in &rows {
                if account_index.and_then(|i| row[i].as_i64()) != Some(account.0) {
                    return Err(StoreError::Internal(format!(
                        "a {} row of another account",
                        table.name
                    )));
                }
                let params = row
                    .iter()
                    .zip(&types)
                    .map(|(c, t)| param(c, t))
                    .collect::<StoreResult<Vec<_>>>()?;
                tx.execute(&stmt, &params_of(&params)).await?;
            }
            if table == OBJECTS {
                // Ids the copy brought in are never handed out again, by any node.
                tx.execute(
                    "SELECT setval('object_ids', GREATEST(
                         (SELECT COALESCE(MAX(id), 1) FROM objects),
                         (SELECT last_value FROM object_ids)))",
                    &[],
                )
                .await?;
            }
            Ok(())
        })
    }

    pub(crate) async fn reindex_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        after: ObjectId,
        limit: usize,
    ) -> StoreResult<Option<ObjectId>> {
        let ot = set.object_type.object_type_id.0.clone();
        if after.0 == 0 {
            // Once per type: the search indexes its records need.
            self.ensure_builtin_indexes(&set.object_type).await?;
            in_tx!(self, |tx| {
                for def in set.active() {
                    if !def.hubspot_defined && is_indexed(def) {
                        create_search_index(&tx, &ot, &def.name).await?;
                    }
                }
                Ok(())
            })?;
        }
        in_tx!(self, |tx| {
            let rows = tx
                .query(
                    "SELECT id, properties, archived_at FROM objects
                     WHERE account_id = $1 AND object_type = $2 AND id > $3 ORDER BY id LIMIT $4",
                    &[&account.0, &ot, &after.0, &(limit as i64)],
                )
                .await?;
            let mut last = None;
            for r in &rows {
                let id = ObjectId(r.get(0));
                let properties = serde_json::from_str(r.get::<_, &str>(1))?;
                let live = r.get::<_, Option<i64>>(2).is_none();
                tx.execute(
                    "UPDATE objects SET search = $1 WHERE account_id = $2 AND id = $3",
                    &[&search_json(&set, &properties), &account.0, &id.0],
                )
                .await?;
                let words = if live {
                    vec![(id.0, text_words(&set, &properties))]
                } else {
                    vec![]
                };
                write_words(&tx, account, &ot, &[id.0], &words).await?;
                if live {
                    for (name, value) in &properties {
                        if set.get(name).is_some_and(|d| set.is_unique(d)) && !value.is_empty() {
                            claim_unique(&tx, account, &set, name, value, id).await?;
                        }
                    }
                }
                last = Some(id);
            }
            Ok(last)
        })
    }
}
