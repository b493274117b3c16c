//! Copying an account in and out of a SQLite store (see crate::transfer).

use std::sync::Arc;

use rusqlite::types::Value as SqlValue;
use rusqlite::{params, params_from_iter};
use serde_json::Value;
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::search::search_keys;
use spoke_core::value::PropertySet;

use super::search::{
    ensure_builtin_indexes, index_ddl, key_columns, record_text, write_key_columns,
};
use super::SqliteStore;
use crate::common::is_indexed;
use crate::transfer::{page_sql, Row, Table, OBJECTS};
use crate::{StoreError, StoreResult};

fn to_sql(v: &Value) -> StoreResult<SqlValue> {
    Ok(match v {
        Value::Null => SqlValue::Null,
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => return Err(StoreError::Internal(format!("not an integer: {n}"))),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        other => return Err(StoreError::Internal(format!("not a cell: {other}"))),
    })
}

fn from_sql(v: SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::from(i),
        SqlValue::Real(f) => Value::from(f),
        SqlValue::Text(s) => Value::String(s),
        SqlValue::Blob(b) => Value::String(hex::encode(b)),
    }
}

impl SqliteStore {
    pub(crate) async fn export_rows_impl(
        &self,
        account: AccountId,
        table: Table,
        after: Option<Row>,
        limit: usize,
    ) -> StoreResult<Vec<Row>> {
        let sql = page_sql(&table, after.is_some(), |i| format!("?{i}"));
        let mut args: Vec<SqlValue> = vec![SqlValue::Integer(account.0)];
        for cell in after.iter().flatten().take(table.key_len) {
            args.push(to_sql(cell)?);
        }
        args.push(SqlValue::Integer(limit as i64));
        self.writer.applied().await?;
        self.reads.with(|conn| {
            let mut stmt = conn.prepare_cached(&sql)?;
            let n = table.columns.len();
            let rows = stmt.query_map(params_from_iter(args.iter()), |r| {
                (0..n)
                    .map(|i| r.get::<_, SqlValue>(i).map(from_sql))
                    .collect::<Result<Row, _>>()
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) async fn import_rows_impl(
        &self,
        account: AccountId,
        table: Table,
        rows: Vec<Row>,
    ) -> StoreResult<()> {
        // The objects' key columns are derived: left NULL here, rebuilt by reindex_objects.
        let columns: Vec<&str> = table.columns.to_vec();
        let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
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
        self.writer
            .run(move |ctx| {
                let mut stmt = ctx.conn.prepare_cached(&sql)?;
                let mut max_id = 0;
                for row in &rows {
                    let cells = row.iter().map(to_sql).collect::<StoreResult<Vec<_>>>()?;
                    // Every row must belong to the account being copied.
                    if account_index.map(|i| &cells[i]) != Some(&SqlValue::Integer(account.0)) {
                        return Err(StoreError::Internal(format!(
                            "a {} row of another account",
                            table.name
                        )));
                    }
                    if table == OBJECTS {
                        if let SqlValue::Integer(id) = cells[1] {
                            max_id = max_id.max(id);
                        }
                    }
                    stmt.execute(params_from_iter(cells.iter()))?;
                }
                // Ids the copy brought in are never handed out again by this store.
                ctx.next_object_id
                    .fetch_max(max_id + 1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            })
            .await
    }

    pub(crate) async fn reindex_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        after: ObjectId,
        limit: usize,
    ) -> StoreResult<Option<ObjectId>> {
        self.writer
            .run(move |ctx| {
                let ot = set.object_type.object_type_id.0.clone();
                if after.0 == 0 {
                    // Once per type: the search indexes its records need.
                    ensure_builtin_indexes(ctx, &set.object_type)?;
                    for def in set.active() {
                        if !def.hubspot_defined && is_indexed(def) {
                            if let Some(ddl) = index_ddl(&ot, &def.name) {
                                ctx.conn.execute_batch(&ddl)?;
                            }
                        }
                    }
                }
                let rows: Vec<(i64, String, Option<i64>)> = {
                    let mut stmt = ctx.conn.prepare_cached(
                        "SELECT id, properties, archived_at FROM objects
                         WHERE account_id = ?1 AND object_type = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
                    )?;
                    let rows = stmt.query_map(
                        params![account.0, ot, after.0, limit as i64],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )?;
                    rows.collect::<Result<_, _>>()?
                };
                for (id, json, archived) in &rows {
                    let properties = serde_json::from_str(json)?;
                    write_key_columns(&ctx.conn, *id, &key_columns(search_keys(&set, &properties))?)?;
                    let text = archived
                        .is_none()
                        .then(|| record_text(account, &set, &properties))
                        .flatten();
                    ctx.text.replace(*id, text);
                }
                // Their keys may have changed: the type's sort key columns are rebuilt.
                ctx.sort_key_forgets.push(Some((account, ot.clone())));
                Ok(rows.last().map(|(id, _, _)| ObjectId(*id)))
            })
            .await
    }
}
