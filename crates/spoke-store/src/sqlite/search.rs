//! Search over the key columns of `objects` (typed keys, see spoke_core::search): the
//! compiled filter tree becomes one parameterised SQL statement, served by the per-property
//! expression indexes this module creates, and by the `search_text` FTS5 table for `query`.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params_from_iter, Connection};
use spoke_core::ids::AccountId;
use spoke_core::object_type::{ObjectTypeDef, Registry};
use spoke_core::record::ObjectRecord;
use spoke_core::search::{
    contains_token, Cmp, Condition, Direction, Field, Key, SearchQuery, Test,
};
use spoke_core::value::PropertySet;

use super::column_search;
use super::objects::records_by_id;
use super::record_cache::{unique_hash, Lookup, RecordCache};
use super::sort_keys::{is_numeric, Column, NoPage};
use super::sort_walk;
use super::writer::WriteCtx;
use super::SqliteStore;
use crate::common::{
    builtin_indexed, is_sql_safe, is_sql_safe_type, retired_builtin_indexes, short_hash,
};
use crate::StoreResult;

/// How many columns a record's search keys are spread over (`k0`…`k15` of `objects`).
///
/// SQLite updates every index whose expression reads a column an UPDATE sets, whether or not the
/// index's key changed: with all keys in one column, a PATCH of three properties rewrote the
/// index entries of every indexed property of the record, each a random 4 KiB page written to
/// the WAL and again by the checkpoint. Spread by a hash of the property name, a PATCH sets
/// only the columns of the keys it changes, and the index of a property it does not touch
/// stays untouched unless that property shares a column with a changed one (1 in 16).
pub(crate) const KEY_COLUMNS: usize = 16;

/// The column (`0..KEY_COLUMNS`) that holds a property's search key: FNV-1a of its name. Fixed:
/// stores are written with it.
pub(crate) fn key_column(name: &str) -> usize {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    (h % KEY_COLUMNS as u32) as usize
}

/// The SQL expression of a property's search key. Filters, sorts and indexes must use this exact
/// text for SQLite to match them.
pub(crate) fn key_expr(name: &str) -> String {
    format!("json_extract(k{}, '$.\"{name}\"')", key_column(name))
}

/// A record's search keys as the JSON text of each key column (`None` for an empty column,
/// stored as NULL).
pub(crate) fn key_columns(
    keys: BTreeMap<String, serde_json::Value>,
) -> StoreResult<[Option<String>; KEY_COLUMNS]> {
    let mut split: [serde_json::Map<String, serde_json::Value>; KEY_COLUMNS] = Default::default();
    for (name, key) in keys {
        split[key_column(&name)].insert(name, key);
    }
    let mut out: [Option<String>; KEY_COLUMNS] = Default::default();
    for (column, keys) in out.iter_mut().zip(split) {
        if !keys.is_empty() {
            *column = Some(serde_json::to_string(&keys)?);
        }
    }
    Ok(out)
}

/// Sets every key column of one record (a rebuild: an update sets only the columns it changes).
pub(crate) fn write_key_columns(
    conn: &Connection,
    id: i64,
    keys: &[Option<String>; KEY_COLUMNS],
) -> StoreResult<()> {
    static SQL: OnceLock<String> = OnceLock::new();
    let sql = SQL.get_or_init(|| {
        let set: Vec<String> = (0..KEY_COLUMNS)
            .map(|c| format!("k{c} = jsonb(?{})", c + 1))
            .collect();
        format!(
            "UPDATE objects SET {} WHERE id = ?{}",
            set.join(", "),
            KEY_COLUMNS + 1
        )
    });
    let mut values: Vec<&dyn rusqlite::ToSql> =
        keys.iter().map(|k| k as &dyn rusqlite::ToSql).collect();
    values.push(&id);
    conn.prepare_cached(sql)?.execute(values.as_slice())?;
    Ok(())
}

/// `CREATE INDEX` for one property of one object type: keyed by account, then the property's
/// search key, over live records of that type only.
pub(crate) fn index_ddl(object_type: &str, property: &str) -> Option<String> {
    let name = index_name(object_type, property)?;
    Some(format!(
        "CREATE INDEX IF NOT EXISTS \"{name}\" ON objects (account_id, {}) \
         WHERE object_type = '{object_type}' AND archived_at IS NULL",
        key_expr(property),
    ))
}

/// The name of a property's search index; `None` for names that are not safe in SQL.
pub(crate) fn index_name(object_type: &str, property: &str) -> Option<String> {
    if !is_sql_safe(property) || !is_sql_safe_type(object_type) {
        return None;
    }
    Some(format!(
        "search_{}_{}_{}",
        object_type.replace('-', "_"),
        property,
        short_hash(property),
    ))
}

/// Creates the built-in search indexes of a type the first time this process writes a record of
/// it. Every index of the `objects` table costs every write to the table (SQLite opens a cursor
/// on each, partial or not), so types that are never used get none; creating them on a type's
/// first write costs nothing on an empty type and is a no-op once they exist, so start-up does
/// not depend on the data size.
pub(crate) fn ensure_builtin_indexes(ctx: &mut WriteCtx, ot: &ObjectTypeDef) -> StoreResult<()> {
    ensure_builtin_indexes_of(&ctx.conn, &mut ctx.indexed_types, &ot.object_type_id.0)
}

/// [`ensure_builtin_indexes`] by objectTypeId, with the applier's record of ensured types.
pub(crate) fn ensure_builtin_indexes_of(
    conn: &Connection,
    indexed_types: &mut std::collections::HashSet<String>,
    object_type: &str,
) -> StoreResult<()> {
    if indexed_types.contains(object_type) {
        return Ok(());
    }
    if let Some(builtin) = Registry::standard().resolve(object_type) {
        for name in builtin_indexed(&builtin) {
            if let Some(ddl) = index_ddl(object_type, name) {
                conn.execute_batch(&ddl)?;
            }
        }
    }
    indexed_types.insert(object_type.to_string());
    Ok(())
}

/// Drops the search indexes that nothing reads any more (`common::retired_builtin_indexes`):
/// once, at the first start of a newer Spoke on an older store.
pub(crate) fn drop_retired_indexes(conn: &Connection) -> StoreResult<()> {
    let names: Vec<String> = retired_builtin_indexes()
        .iter()
        .filter_map(|(object_type, property)| index_name(object_type, property))
        .collect();
    let existing: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'search_%'",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    for name in existing.iter().filter(|n| names.contains(n)) {
        conn.execute_batch(&format!("DROP INDEX IF EXISTS \"{name}\""))?;
    }
    Ok(())
}

/// Migration 2 (migrations/sqlite/0002_key_columns.sql), inside its transaction: copies every
/// record's keys from the `search` column to the key columns, drops `search`, and rebuilds the
/// search indexes on the key columns under their old names. Proportional to the store's size,
/// once, at the first start of this version on an older store.
pub(crate) fn move_keys_to_key_columns(conn: &Connection) -> StoreResult<()> {
    // The indexes on `search`, as (object type, property): their statements read
    // `... json_extract(search, '$."<property>"')) WHERE object_type = '<type>' ...`.
    let statements: Vec<String> = {
        let mut stmt = conn.prepare(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql LIKE '%(search,%'",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    let between = |sql: &str, start: &str, end: &str| -> Option<String> {
        let from = sql.find(start)? + start.len();
        let len = sql[from..].find(end)?;
        Some(sql[from..from + len].to_string())
    };
    let mut indexes = Vec::new();
    for sql in &statements {
        let (Some(property), Some(object_type)) = (
            between(sql, "'$.\"", "\"'"),
            between(sql, "object_type = '", "'"),
        ) else {
            return Err(crate::StoreError::Internal(format!(
                "unexpected search index: {sql}"
            )));
        };
        let name = index_name(&object_type, &property).ok_or_else(|| {
            crate::StoreError::Internal(format!("unsafe search index name: {sql}"))
        })?;
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))?;
        indexes.push((object_type, property));
    }
    let mut after = 0i64;
    loop {
        let rows: Vec<(i64, String)> = {
            let mut stmt = conn.prepare_cached(
                "SELECT id, json(search) FROM objects WHERE id > ?1 ORDER BY id LIMIT 10000",
            )?;
            let rows = stmt.query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect::<Result<_, _>>()?
        };
        let Some(&(last, _)) = rows.last() else {
            break;
        };
        for (id, json) in &rows {
            write_key_columns(conn, *id, &key_columns(serde_json::from_str(json)?)?)?;
        }
        after = last;
    }
    conn.execute_batch("ALTER TABLE objects DROP COLUMN search")?;
    for (object_type, property) in &indexes {
        if let Some(ddl) = index_ddl(object_type, property) {
            conn.execute_batch(&ddl)?;
        }
    }
    Ok(())
}

/// SQL functions the search statements use; registered on every read connection.
pub(crate) fn register_functions(conn: &Connection) -> StoreResult<()> {
    conn.create_scalar_function(
        "spoke_contains_token",
        2,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| {
            let value: Option<String> = ctx.get(0)?;
            let pattern: String = ctx.get(1)?;
            Ok(value.is_some_and(|v: String| contains_token(&v, &pattern)))
        },
    )?;
    Ok(())
}

pub(crate) fn key_value(key: &Key) -> SqlValue {
    match key {
        Key::Num(n) => SqlValue::Real(*n),
        Key::Text(s) => SqlValue::Text(s.clone()),
    }
}

/// A value of a search condition, as a bound parameter: the statement text then depends only on
/// the search's shape, so each reader connection prepares it once and reuses it (its statement
/// cache) — preparing was ~30% of the CPU of a search by email. Values never reach the SQL text.
fn bind(key: &Key, params: &mut Vec<SqlValue>) -> String {
    params.push(key_value(key));
    "?".into()
}

fn bind_text(t: &str, params: &mut Vec<SqlValue>) -> String {
    params.push(SqlValue::Text(t.to_string()));
    "?".into()
}

/// The lookup of a unique value: `?1` account, `?2` search key, `?3` a record id to ignore.
/// Served by the property's search index.
pub(crate) fn unique_lookup_sql(object_type: &str, property: &str) -> StoreResult<String> {
    if !is_sql_safe(property) || !is_sql_safe_type(object_type) {
        return Err(crate::StoreError::Internal(format!(
            "unsafe property name {property}"
        )));
    }
    Ok(format!(
        "SELECT id FROM objects WHERE account_id = ?1 AND object_type = '{object_type}' \
         AND archived_at IS NULL AND {} = ?2 AND id != ?3 LIMIT 1",
        key_expr(property)
    ))
}

fn field_expr(field: &Field) -> String {
    match field {
        Field::Id => "id".to_string(),
        Field::CreatedAt => "created_at".to_string(),
        Field::UpdatedAt => "updated_at".to_string(),
        Field::Key(n) | Field::MultiSelect(n) => key_expr(n),
    }
}

fn cmp_sql(c: Cmp) -> &'static str {
    match c {
        Cmp::Eq => "=",
        Cmp::Lt => "<",
        Cmp::Lte => "<=",
        Cmp::Gt => ">",
        Cmp::Gte => ">=",
    }
}

/// "Some selected option of a multi-select satisfies `test`" (`value` is each option).
fn any_option(expr: &str, test: &str) -> String {
    format!("EXISTS (SELECT 1 FROM json_each({expr}) WHERE {test})")
}

fn multi_condition_sql(expr: &str, test: &Test, params: &mut Vec<SqlValue>) -> String {
    let none = |t: String| format!("({expr} IS NULL OR NOT {})", any_option(expr, &t));
    match test {
        Test::Cmp(op, k) => {
            any_option(expr, &format!("value {} {}", cmp_sql(*op), bind(k, params)))
        }
        Test::Neq(k) => none(format!("value = {}", bind(k, params))),
        Test::Between(lo, hi) => {
            let lo = bind(lo, params);
            let hi = bind(hi, params);
            any_option(expr, &format!("value BETWEEN {lo} AND {hi}"))
        }
        Test::In(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| bind(k, params)).collect();
            any_option(expr, &format!("value IN ({})", marks.join(", ")))
        }
        Test::NotIn(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| bind(k, params)).collect();
            none(format!("value IN ({})", marks.join(", ")))
        }
        Test::HasProperty => format!("{expr} IS NOT NULL"),
        Test::NotHasProperty => format!("{expr} IS NULL"),
        // Token tests read the raw value; handled by the caller.
        Test::ContainsToken(_) | Test::NotContainsToken(_) => "0".into(),
    }
}

fn condition_sql(c: &Condition, params: &mut Vec<SqlValue>) -> String {
    let expr = field_expr(&c.field);
    let multi = matches!(c.field, Field::MultiSelect(_));
    let raw = match &c.field {
        Field::Id => "CAST(id AS TEXT)".to_string(),
        Field::CreatedAt => {
            "strftime('%Y-%m-%dT%H:%M:%fZ', created_at / 1000.0, 'unixepoch')".to_string()
        }
        Field::UpdatedAt => {
            "strftime('%Y-%m-%dT%H:%M:%fZ', updated_at / 1000.0, 'unixepoch')".to_string()
        }
        Field::Key(n) | Field::MultiSelect(n) => format!("json_extract(properties, '$.\"{n}\"')"),
    };
    let token_test = matches!(c.test, Test::ContainsToken(_) | Test::NotContainsToken(_));
    if multi && !token_test {
        return multi_condition_sql(&expr, &c.test, params);
    }
    match &c.test {
        Test::Cmp(op, k) => format!("{expr} {} {}", cmp_sql(*op), bind(k, params)),
        Test::Neq(k) => format!("({expr} IS NULL OR {expr} != {})", bind(k, params)),
        Test::Between(lo, hi) => {
            let lo = bind(lo, params);
            let hi = bind(hi, params);
            format!("{expr} BETWEEN {lo} AND {hi}")
        }
        Test::In(keys) | Test::NotIn(keys) if keys.is_empty() => {
            if matches!(c.test, Test::In(_)) {
                "0".into()
            } else {
                "1".into()
            }
        }
        Test::In(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| bind(k, params)).collect();
            format!("{expr} IN ({})", marks.join(", "))
        }
        Test::NotIn(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| bind(k, params)).collect();
            format!("({expr} IS NULL OR {expr} NOT IN ({}))", marks.join(", "))
        }
        Test::HasProperty => format!("{expr} IS NOT NULL"),
        Test::NotHasProperty => format!("{expr} IS NULL"),
        Test::ContainsToken(p) => {
            format!("spoke_contains_token({raw}, {})", bind_text(p, params))
        }
        Test::NotContainsToken(p) => {
            format!("NOT spoke_contains_token({raw}, {})", bind_text(p, params))
        }
    }
}

/// `WHERE …` of a search, with its parameters (the account first).
fn where_sql(account: AccountId, object_type: &str, q: &SearchQuery) -> (String, Vec<SqlValue>) {
    let mut params = Vec::new();
    // The account (an integer) and the object type (checked to be `\d+-\d+`) are literals, like
    // every value of the conditions (see `bind`): SQLite must see the type literally to use the
    // partial indexes.
    let mut sql = format!(
        "WHERE account_id = {} AND object_type = '{object_type}' AND archived_at IS NULL",
        account.0
    );
    if !q.groups.is_empty() {
        let groups: Vec<String> = q
            .groups
            .iter()
            .map(|g| {
                if g.is_empty() {
                    return "1".to_string();
                }
                let conds: Vec<String> = g.iter().map(|c| condition_sql(c, &mut params)).collect();
                format!("({})", conds.join(" AND "))
            })
            .collect();
        sql.push_str(&format!(" AND ({})", groups.join(" OR ")));
    }
    if !q.query_tokens.is_empty() {
        let expr = bind_text(
            &match_expr(account, object_type, &q.query_tokens),
            &mut params,
        );
        sql.push_str(&format!(
            " AND id IN (SELECT rowid FROM search_text WHERE search_text MATCH {expr})"
        ));
    }
    (sql, params)
}

fn order_sql(q: &SearchQuery) -> String {
    match &q.sort {
        // Default: creation order, oldest first (ids grow with creation).
        None => "ORDER BY id ASC".into(),
        Some(s) => {
            let expr = field_expr(&s.field);
            let dir = match s.direction {
                Direction::Ascending => "ASC",
                Direction::Descending => "DESC",
            };
            if s.field.always_set() {
                // No unset values: a plain order, which an index can serve.
                return format!("ORDER BY {expr} {dir}, id ASC");
            }
            // Records without a value sort last in both directions (unconfirmed in HubSpot;
            // what its search engine does by default).
            format!("ORDER BY {expr} IS NULL, {expr} {dir}, id ASC")
        }
    }
}

/// A page of a search by one statement: SQLite finds the matches, sorts them and pages.
fn plain_page(
    conn: &Connection,
    cache: &RecordCache,
    account: AccountId,
    object_type: &str,
    filter: &str,
    params: &[SqlValue],
    q: &SearchQuery,
) -> StoreResult<Vec<ObjectRecord>> {
    // LIMIT is a literal: SQLite plans with a bound LIMIT's value, so binding it re-prepares the
    // statement at its first step (measured: 13% of the CPU of a search by email); clients ask
    // for a few page sizes. OFFSET (the paging cursor) is bound, so paging reuses one statement.
    // Only the ids: the page's records come from the record cache (record_cache.rs).
    let sql = format!(
        "SELECT id FROM objects {filter} {} LIMIT {} OFFSET ?",
        order_sql(q),
        q.limit,
    );
    let mut page_params = params.to_vec();
    page_params.push(SqlValue::Integer(q.offset as i64));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(page_params.iter()), |r| r.get::<_, i64>(0))?;
    let ids = rows.collect::<Result<Vec<_>, _>>()?;
    records_by_id(conn, cache, account, object_type, &ids, kept(q))
}

impl SqliteStore {
    pub(crate) async fn search_objects_impl(
        &self,
        account: AccountId,
        set: Arc<PropertySet>,
        q: SearchQuery,
    ) -> StoreResult<(usize, Vec<ObjectRecord>)> {
        let ot = set.object_type.object_type_id.0.clone();
        if !is_sql_safe_type(&ot) {
            return Ok((0, Vec::new()));
        }
        let unique = unique_eq(&set, &q);
        if let Some((name, key)) = unique {
            if let Some(found) = self.unique_from_cache(account, &set, &ot, &q, name, key) {
                return found;
            }
        }
        // SQLite answers from here: it must have every write acknowledged before this search.
        self.writer.applied().await?;
        if q.groups.is_empty() && q.sort.is_none() && !q.query_tokens.is_empty() {
            return self.text_search(account, &ot, &q);
        }
        if let Some(found) = self.search_in_columns(account, &set, &ot, &q).await? {
            return Ok(found);
        }
        let unique = unique.map(|(name, key)| unique_hash(account, &ot, name, key));
        let (filter, params) = where_sql(account, &ot, &q);
        let column = self.sort_key_column(account, &set, &ot, &q).await;
        self.reads.with(|conn| {
            if let (Some(column), Some(sort)) = (&column, &q.sort) {
                // In any order: the column orders them (sorting 10,000 ids was 14% of a range
                // search).
                let matches = sort_walk::unordered_matching_ids(conn, &filter, &params)?;
                let seen = self.sort_keys.commits_begun();
                let total = matches.len();
                if total > q.offset + q.limit {
                    // Before the column is read: see `settled_through`.
                    let settled = self.sort_keys.settled_through(seen);
                    match column.page(&matches, sort.direction, q.offset, q.limit) {
                        Ok(ids) => {
                            let page =
                                records_by_id(conn, &self.cache, account, &ot, &ids, kept(&q))?;
                            return Ok((total, page));
                        }
                        // Made live by another process since the build: rebuilt with it by the
                        // next search; the walk serves this one.
                        Err(NoPage::Stale) if settled => {
                            self.sort_keys.forget(Some((account, &ot)))
                        }
                        // A record committed a moment ago, its key not applied yet (rebuilding
                        // for it cost ~0.2 s at a million records): the walk serves this one.
                        Err(NoPage::Stale) | Err(NoPage::Unusable) => {}
                    }
                }
            }
            if let Some(walk) = sort_walk::walk_sql(conn, account, &ot, &q)? {
                // One snapshot for the matches, the walk and the page.
                let tx = rusqlite::Transaction::new_unchecked(
                    conn,
                    rusqlite::TransactionBehavior::Deferred,
                )?;
                let matches = sort_walk::matching_ids(&tx, &filter, &params)?;
                let total = matches.len();
                let page = if total > q.offset + q.limit {
                    match sort_walk::walk_page(&tx, &walk, &matches, &q)? {
                        Some(ids) => records_by_id(&tx, &self.cache, account, &ot, &ids, kept(&q))?,
                        None => plain_page(&tx, &self.cache, account, &ot, &filter, &params, &q)?,
                    }
                } else {
                    plain_page(&tx, &self.cache, account, &ot, &filter, &params, &q)?
                };
                tx.commit()?;
                return Ok((total, page));
            }
            let out = plain_page(conn, &self.cache, account, &ot, &filter, &params, &q)?;
            if let (Some(hash), [record]) = (unique, out.as_slice()) {
                self.cache.map_unique(hash, record.id);
            }
            // A short, non-empty page is the last one: its end is the total, no count needed
            // (the common case of selective searches such as EQ on an email).
            let total =
                if !out.is_empty() && out.len() < q.limit || (out.is_empty() && q.offset == 0) {
                    q.offset + out.len()
                } else {
                    let n: i64 = conn
                        .prepare_cached(&format!("SELECT COUNT(*) FROM objects {filter}"))?
                        .query_row(params_from_iter(params.iter()), |r| r.get(0))?;
                    n as usize
                };
            Ok((total, out))
        })
    }

    /// A search for one unique value answered from the record cache: its unique-value map names
    /// the record, whose cached value is checked (see record_cache::unique_hash). `None` when
    /// the cache cannot answer (then SQLite does, and the answer is mapped for next time).
    fn unique_from_cache(
        &self,
        account: AccountId,
        set: &PropertySet,
        ot: &str,
        q: &SearchQuery,
        name: &str,
        key: &str,
    ) -> Option<StoreResult<(usize, Vec<ObjectRecord>)>> {
        let id = self
            .cache
            .unique_candidate(unique_hash(account, ot, name, key))?;
        // The property searched by is checked below: decoded with those returned.
        let keep: Option<Vec<String>> = kept(q).map(|returned| {
            let mut keep = returned.to_vec();
            keep.push(name.to_string());
            keep
        });
        let record = match self.cache.lookup_keeping(account, ot, id, keep.as_deref()) {
            Lookup::Live(Ok(r), _) => r,
            Lookup::Live(Err(e), _) => return Some(Err(e)),
            Lookup::Archived(..) | Lookup::Absent | Lookup::Miss => return None,
        };
        let def = set.get(name)?;
        let value = record.properties.get(name)?;
        if spoke_core::search::search_key(def, value) != Some(Key::Text(key.to_string())) {
            return None;
        }
        // One match at most (a unique value): the first page holds it.
        let page = if q.offset == 0 && q.limit > 0 {
            vec![record]
        } else {
            Vec::new()
        };
        Some(Ok((1, page)))
    }

    /// A range search answered from the key columns (column_search.rs): `None` when it is not
    /// one, or a column it needs is not ready (then SQLite answers).
    async fn search_in_columns(
        &self,
        account: AccountId,
        set: &PropertySet,
        ot: &str,
        q: &SearchQuery,
    ) -> StoreResult<Option<(usize, Vec<ObjectRecord>)>> {
        let Some((name, range)) = column_search::range_filter(set, q) else {
            return Ok(None);
        };
        let Ok(sort) = column_search::column_sort(set, q) else {
            return Ok(None);
        };
        let Some(filter) = self.key_column(account, ot, name).await else {
            return Ok(None);
        };
        let sort = match sort {
            None => None,
            Some((property, direction)) => match self.key_column(account, ot, property).await {
                Some(column) => Some((column, direction)),
                None => return Ok(None),
            },
        };
        self.reads.with(|conn| {
            let restores = column_search::restore_count(conn)?;
            let built = |c: &Column| c.restores() == Some(restores);
            if !built(&filter) || sort.as_ref().is_some_and(|(c, _)| !built(c)) {
                // Restored by another process since a build: the columns go, and are built
                // anew by the next search.
                self.sort_keys.forget(None);
                return Ok(None);
            }
            let (total, ids) = {
                let Some(_consistent) = self.sort_keys.consistent() else {
                    return Ok(None);
                };
                let Ok(matches) = filter.in_range(&range) else {
                    return Ok(None);
                };
                let total = matches.len();
                let ids = match &sort {
                    None => column_search::by_id(matches, q.offset, q.limit),
                    Some((column, direction)) => {
                        match column.page(&matches, *direction, q.offset, q.limit) {
                            Ok(ids) => ids,
                            Err(NoPage::Stale) => {
                                self.sort_keys.forget(Some((account, ot)));
                                return Ok(None);
                            }
                            Err(NoPage::Unusable) => return Ok(None),
                        }
                    }
                };
                (total, ids)
            };
            let page = records_by_id(conn, &self.cache, account, ot, &ids, kept(q))?;
            Ok(Some((total, page)))
        })
    }

    /// The in-memory sort key column of this search's sort (sort_keys.rs), built when new: for
    /// a filtered search sorted by a number, date or datetime other than what it filters on,
    /// the searches the sort walk serves. `None` for other searches, and while the column is
    /// built by another search or cannot be used (then the walk serves).
    async fn sort_key_column(
        &self,
        account: AccountId,
        set: &PropertySet,
        ot: &str,
        q: &SearchQuery,
    ) -> Option<Arc<Column>> {
        let sort = q.sort.as_ref()?;
        let Field::Key(name) = &sort.field else {
            return None;
        };
        if (q.groups.is_empty() && q.query_tokens.is_empty())
            || q.groups.iter().flatten().any(|c| c.field == sort.field)
            || !is_numeric(set, name)
        {
            return None;
        }
        self.key_column(account, ot, name).await
    }

    /// The key column of a number, date or datetime property (sort_keys.rs), built when new.
    /// `None` while another search builds it, when it cannot be used, and for a property
    /// without a search index (a column is built from the index).
    async fn key_column(&self, account: AccountId, ot: &str, name: &str) -> Option<Arc<Column>> {
        if let Ok(ready) = self.sort_keys.column(account, ot, name) {
            return ready;
        }
        let indexed = self
            .reads
            .with(|conn| sort_walk::has_key_index(conn, ot, name));
        if !matches!(indexed, Ok(true)) {
            return None;
        }
        let column = self.sort_keys.register(account, ot, name)?;
        // From here every write is logged for the column; the writer's current transaction
        // ends first (its writes then are in what the build reads).
        let built = match self.writer.run(|_| Ok(())).await {
            Ok(()) => self.reads.with(|conn| {
                // The keys and the restore count from one snapshot.
                let tx = rusqlite::Transaction::new_unchecked(
                    conn,
                    rusqlite::TransactionBehavior::Deferred,
                )?;
                let restores = column_search::restore_count(&tx)?;
                let keys = sort_walk::indexed_keys(&tx, account, ot, name)?;
                tx.commit()?;
                Ok(keys.map(|keys| (keys, restores)))
            }),
            Err(e) => Err(e),
        };
        match built {
            Ok(Some((keys, restores))) => {
                column.build(keys, restores);
                Some(column)
            }
            Ok(None) => {
                // The index went away meanwhile: the next search tries again.
                self.sort_keys.forget(Some((account, ot)));
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, property = %name, "cannot build a key column");
                column.abandon();
                None
            }
        }
    }

    /// `query` alone, in creation order: counted and paged in the full-text index, which holds
    /// only live records and is scoped by account and type, so only the page's records are read.
    /// One pass over the matches both counts them and picks the page: a prefix query merges the
    /// postings of every word it matches, which was half the cost when COUNT(*) and the page
    /// each ran the match.
    fn text_search(
        &self,
        account: AccountId,
        object_type: &str,
        q: &SearchQuery,
    ) -> StoreResult<(usize, Vec<ObjectRecord>)> {
        let expr = match_expr(account, object_type, &q.query_tokens);
        self.reads.with(|conn| {
            let mut total = 0usize;
            let mut page: Vec<i64> = Vec::with_capacity(q.limit);
            {
                let mut stmt = conn.prepare_cached(
                    "SELECT rowid FROM search_text WHERE search_text MATCH ?1 ORDER BY rowid",
                )?;
                let mut rows = stmt.query([&expr])?;
                while let Some(row) = rows.next()? {
                    if total >= q.offset && page.len() < q.limit {
                        page.push(row.get(0)?);
                    }
                    total += 1;
                }
            }
            let out = records_by_id(conn, &self.cache, account, object_type, &page, kept(q))?;
            Ok((total, out))
        })
    }
}

/// Every word of a record's searchable text is indexed with its account and type in front
/// (`s46231356t0x1z` + `annabel`), so that a `query` prefix (`s46231356t0x1zann*`) only ever
/// walks the terms of one account's type: counting the matches of a common name reads no
/// other account's or type's postings. The scope is letters and digits, so the tokenizer keeps
/// each scoped word whole; the `t` and `z` delimiters keep one scope from prefixing another.
pub(crate) fn scope(account: AccountId, object_type: &str) -> String {
    format!("s{}t{}z", account.0, object_type.replace('-', "x"))
}

/// A record's row text in `search_text`: its searchable properties' values, scoped; `None` when
/// it has none.
pub(crate) fn record_text(
    account: AccountId,
    set: &PropertySet,
    properties: &std::collections::BTreeMap<String, String>,
) -> Option<String> {
    let text =
        spoke_core::search::searchable_text(&set.object_type.searchable_properties, properties);
    (!text.is_empty()).then(|| scoped_text(account, &set.object_type.object_type_id.0, &text))
}

/// The indexed form of a record's searchable text.
pub(crate) fn scoped_text(account: AccountId, object_type: &str, text: &str) -> String {
    let scope = scope(account, object_type);
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("{scope}{}", w.to_lowercase()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A search whose only condition is one unique property EQ a text value (dedupe by email):
/// the property and its search key.
fn unique_eq<'a>(set: &PropertySet, q: &'a SearchQuery) -> Option<(&'a str, &'a str)> {
    let [group] = q.groups.as_slice() else {
        return None;
    };
    let [condition] = group.as_slice() else {
        return None;
    };
    let (Field::Key(name), Test::Cmp(Cmp::Eq, Key::Text(key))) =
        (&condition.field, &condition.test)
    else {
        return None;
    };
    let unique = set.get(name).is_some_and(|d| set.is_unique(d));
    (unique && q.query_tokens.is_empty()).then_some((name.as_str(), key.as_str()))
}

/// The FTS5 query for `query`'s tokens within one account and type: every token a prefix.
fn match_expr(account: AccountId, object_type: &str, tokens: &[String]) -> String {
    let scope = scope(account, object_type);
    tokens
        .iter()
        .map(|t| format!("\"{scope}{t}\"*"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The properties a search's records need: those it returns (`SearchQuery::properties`, set by
/// the caller to what the response carries), or all when none are named.
fn kept(q: &SearchQuery) -> Option<&[String]> {
    (!q.properties.is_empty()).then_some(q.properties.as_slice())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Durability;
    use spoke_core::search::{compile, PublicObjectSearchRequest, RESULT_CAP};

    /// The plan SQLite picks for a search, as `EXPLAIN QUERY PLAN` details.
    fn plan(store: &SqliteStore, set: &PropertySet, request: serde_json::Value) -> String {
        let req: PublicObjectSearchRequest = serde_json::from_value(request).unwrap();
        let q = compile(set, &req, Some(RESULT_CAP)).unwrap();
        let (filter, params) = where_sql(AccountId(1), &set.object_type.object_type_id.0, &q);
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT id FROM objects {filter} {} LIMIT 10",
            order_sql(&q)
        );
        store
            .reads
            .with(|conn| {
                let mut stmt = conn.prepare(&sql)?;
                let rows =
                    stmt.query_map(params_from_iter(params.iter()), |r| r.get::<_, String>(3))?;
                Ok(rows.collect::<Result<Vec<_>, _>>()?.join(" | "))
            })
            .unwrap()
    }

    /// Guards the speed of the common searches: they must use the search indexes, not scan.
    #[tokio::test]
    async fn common_searches_use_the_search_indexes() {
        use crate::{BatchMode, Store};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.sqlite3"), Durability::Process).unwrap();
        let contacts = Registry::standard().resolve("contacts").unwrap();
        let set = Arc::new(PropertySet::new(contacts, vec![], vec![]));
        // The first record of a type creates its built-in indexes.
        let source = spoke_core::record::WriteSource::api(None);
        let writes = vec![Default::default()];
        store
            .create_objects(
                AccountId(1),
                set.clone(),
                writes,
                BatchMode::AllOrNothing,
                source,
            )
            .await
            .unwrap();
        // Searches wait for the create to be in SQLite; this test reads plans directly.
        store.writer.applied().await.unwrap();
        let eq = plan(
            &store,
            &set,
            serde_json::json!({"filterGroups":[{"filters":[
            {"propertyName":"email","operator":"EQ","value":"a@b.com"}]}]}),
        );
        assert!(eq.contains("search_0_1_email"), "{eq}");
        let range = plan(
            &store,
            &set,
            serde_json::json!({"filterGroups":[{"filters":[
            {"propertyName":"createdate","operator":"BETWEEN","value":"0","highValue":"1000"}]}],
            "sorts":[{"propertyName":"createdate","direction":"DESCENDING"}]}),
        );
        assert!(range.contains("objects_by_created"), "{range}");
        assert!(
            !range.contains("TEMP B-TREE FOR ORDER BY"),
            "sorted by the index: {range}"
        );
        let text = plan(&store, &set, serde_json::json!({"query":"ann"}));
        assert!(text.contains("search_text"), "{text}");
        let all = plan(&store, &set, serde_json::json!({}));
        assert!(all.contains("objects_by_type"), "{all}");
        // A filter sorted by another property walks the sort's index in order (sort_walk.rs),
        // never sorting the type's records.
        for (sort, index) in [
            ("email", "search_0_1_email"),
            ("createdate", "objects_by_created"),
            ("hs_object_id", "objects_by_type"),
        ] {
            let req: PublicObjectSearchRequest = serde_json::from_value(serde_json::json!({
                "filterGroups":[{"filters":[{"propertyName":"firstname","operator":"HAS_PROPERTY"}]}],
                "sorts":[{"propertyName":sort,"direction":"DESCENDING"}]}))
            .unwrap();
            let q = compile(&set, &req, Some(RESULT_CAP)).unwrap();
            let walk_plan = store
                .reads
                .with(|conn| {
                    let walk = sort_walk::walk_sql(conn, AccountId(1), "0-1", &q)?
                        .unwrap_or_else(|| panic!("a walk for {sort}"));
                    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {walk}"))?;
                    let rows = stmt.query_map([], |r| r.get::<_, String>(3))?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?.join(" | "))
                })
                .unwrap();
            assert!(walk_plan.contains(index), "{sort}: {walk_plan}");
            assert!(!walk_plan.contains("TEMP B-TREE"), "{sort}: {walk_plan}");
        }
    }

    /// A record committed while a sorted search reads it from SQLite, before the writer has
    /// applied its sort key to the column, is served by the walk and leaves the column alone;
    /// one the column has never seen once every commit has settled (made live by another
    /// process) drops the type's columns.
    #[tokio::test]
    async fn a_record_committed_during_a_sorted_search_keeps_the_column() {
        use crate::{BatchMode, NewObject, Store};
        use spoke_core::ids::ObjectId;
        use spoke_core::property::PropertyDefinition;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let contacts = Registry::standard().resolve("contacts").unwrap();
        let rank: PropertyDefinition = serde_json::from_value(serde_json::json!({
            "name": "rank", "label": "rank", "type": "number", "fieldType": "number",
            "groupName": "contactinformation"}))
        .unwrap();
        let account = AccountId(1);
        store
            .create_property_definitions(account, &contacts, vec![rank.clone()])
            .await
            .unwrap();
        let set = Arc::new(PropertySet::new(contacts, vec![rank], vec![]));
        async fn create(
            store: &SqliteStore,
            set: &Arc<PropertySet>,
            ranks: &[u32],
        ) -> Vec<ObjectId> {
            let inputs = ranks
                .iter()
                .map(|r| NewObject {
                    writes: set
                        .validate(
                            &[
                                ("firstname".to_string(), "x".to_string()),
                                ("rank".to_string(), r.to_string()),
                            ],
                            true,
                        )
                        .unwrap(),
                    associations: vec![],
                })
                .collect();
            let created = store
                .create_objects(
                    AccountId(1),
                    set.clone(),
                    inputs,
                    BatchMode::AllOrNothing,
                    spoke_core::record::WriteSource::api(None),
                )
                .await
                .unwrap();
            created.into_iter().map(|r| r.unwrap().id).collect()
        }
        // A filter the columns cannot answer, sorted by a number: the walk path with a column.
        let req: PublicObjectSearchRequest = serde_json::from_value(serde_json::json!({
            "filterGroups": [{"filters": [{"propertyName": "firstname", "operator": "HAS_PROPERTY"}]}],
            "sorts": [{"propertyName": "rank", "direction": "DESCENDING"}], "limit": 2}))
        .unwrap();
        let q = compile(&set, &req, Some(RESULT_CAP)).unwrap();
        async fn top(
            store: &SqliteStore,
            set: &Arc<PropertySet>,
            q: &SearchQuery,
        ) -> (usize, Vec<ObjectId>) {
            let (total, page) = store
                .search_objects(AccountId(1), set.clone(), q.clone())
                .await
                .unwrap();
            (total, page.into_iter().map(|r| r.id).collect())
        }
        let column = |store: &SqliteStore| store.sort_keys.column(account, "0-1", "rank");
        let ids = create(&store, &set, &[5, 1, 4, 2, 3]).await;
        assert_eq!(top(&store, &set, &q).await, (5, vec![ids[0], ids[2]]));
        assert!(matches!(column(&store), Ok(Some(_))), "built by the search");

        // A commit in flight (begun, not yet applied); the record comes from another store on
        // the same file, so this store's columns never learn of it.
        store.sort_keys.commit_begins();
        let other = SqliteStore::open(&path, Durability::Process).unwrap();
        let late = create(&other, &set, &[9]).await;
        assert_eq!(top(&store, &set, &q).await, (6, vec![late[0], ids[0]]));
        assert!(
            matches!(column(&store), Ok(Some(_))),
            "a record that may be the in-flight commit's keeps the column"
        );

        // Every commit settled: the unknown record means a stale column.
        store.sort_keys.commit_settled();
        assert_eq!(top(&store, &set, &q).await, (6, vec![late[0], ids[0]]));
        assert!(column(&store).is_err(), "the stale column is dropped");
        // Rebuilt by the next search, with the record.
        assert_eq!(top(&store, &set, &q).await, (6, vec![late[0], ids[0]]));
        assert!(matches!(column(&store), Ok(Some(_))));
    }
}
