//! Search on PostgreSQL: the compiled filter tree becomes one SQL statement over the `search`
//! JSONB column (typed keys, see spoke_core::search), served by per-property partial expression
//! indexes, and over `object_words` (word prefixes as key ranges) for `query`. The semantics are
//! SQLite's (sqlite/search.rs); values are bound parameters here (PostgreSQL plans them per
//! execution without SQLite's re-prepare cost).

use std::sync::Arc;

use spoke_core::ids::AccountId;
use spoke_core::object_type::{ObjectTypeDef, Registry};
use spoke_core::record::ObjectRecord;
use spoke_core::search::{Cmp, Condition, Direction, Field, Key, SearchQuery, Test};
use spoke_core::value::PropertySet;
use tokio_postgres::types::ToSql;
use unicode_normalization::UnicodeNormalization;

use super::objects::to_record;
use super::{PostgresStore, DDL_LOCK};
use crate::common::{
    builtin_indexed, is_sql_safe, is_sql_safe_type, retired_builtin_indexes, short_hash,
};
use crate::StoreResult;

/// The SQL expression of a property's search key; filters, sorts and indexes use this text.
fn key_expr(name: &str) -> String {
    format!("(search -> '{name}')")
}

/// The name of a property's search index (`kind` "search") or statistics object ("stats"):
/// the hash of the type and property first, so that PostgreSQL's 63-byte cut of long names never
/// makes two of them collide.
fn object_name(kind: &str, object_type: &str, property: &str) -> String {
    let mut name = format!(
        "{kind}_{}_{}_{}",
        short_hash(&format!("{object_type}/{property}")),
        object_type.replace('-', "_"),
        property.to_ascii_lowercase()
    );
    name.truncate(63);
    name
}

/// Creates the search index of one property of one object type (keyed by account, then the
/// property's key, over live records of the type), inside the caller's transaction. Index DDL
/// from several nodes is serialised by an advisory lock.
pub(crate) async fn create_search_index(
    tx: &deadpool_postgres::Transaction<'_>,
    object_type: &str,
    property: &str,
) -> StoreResult<()> {
    if !is_sql_safe(property) || !is_sql_safe_type(object_type) {
        return Ok(());
    }
    let name = object_name("search", object_type, property);
    let exists = tx
        .query_opt("SELECT 1 FROM pg_class WHERE relname = $1", &[&name])
        .await?;
    if exists.is_some() {
        return Ok(());
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&DDL_LOCK])
        .await?;
    tx.batch_execute(&format!(
        "CREATE INDEX IF NOT EXISTS \"{name}\" ON objects (account_id, {}) \
         WHERE object_type = '{object_type}' AND archived_at IS NULL",
        key_expr(property)
    ))
    .await?;
    // The planner ignores a partial index's statistics, so without these it guesses that an
    // equality on a key matches 0.5% of all records — and at a million records prefers walking
    // every record in id order to find a page (measured: 3 searches by email per second).
    // Expression statistics (PostgreSQL 14+) give it the key's real distribution after ANALYZE.
    let stats = object_name("stats", object_type, property);
    tx.batch_execute(&format!(
        "CREATE STATISTICS IF NOT EXISTS \"{stats}\" ON ({}) FROM objects",
        key_expr(property)
    ))
    .await?;
    Ok(())
}

impl PostgresStore {
    /// Creates the built-in search indexes of a type before this process first writes one of
    /// its records (see SQLite's `ensure_builtin_indexes`), in a transaction of its own so that
    /// record writes never hold DDL locks.
    pub(crate) async fn ensure_builtin_indexes(&self, ot: &ObjectTypeDef) -> StoreResult<()> {
        let id = ot.object_type_id.0.clone();
        if self
            .indexed_types
            .lock()
            .map(|s| s.contains(&id))
            .unwrap_or(false)
        {
            return Ok(());
        }
        if let Some(builtin) = Registry::standard().resolve(&id) {
            let names: Vec<String> = builtin_indexed(&builtin)
                .into_iter()
                .map(str::to_string)
                .collect();
            super::in_tx!(self, |tx| {
                for name in &names {
                    create_search_index(&tx, &id, name).await?;
                }
                Ok(())
            })?;
        }
        if let Ok(mut s) = self.indexed_types.lock() {
            s.insert(id);
        }
        Ok(())
    }
}

/// Drops the search indexes (and their statistics) that nothing reads any more
/// (`common::retired_builtin_indexes`). Names are looked up first, so a node starting beside
/// running ones takes no lock on `objects` unless there is something to drop.
pub(crate) async fn drop_retired_indexes(pool: &deadpool_postgres::Pool) -> StoreResult<()> {
    let mut names: Vec<String> = Vec::new();
    for (object_type, property) in retired_builtin_indexes() {
        names.push(object_name("search", &object_type, &property));
        names.push(object_name("stats", &object_type, &property));
    }
    let client = pool.get().await?;
    let found = client
        .query(
            "SELECT c.relname, 'index' FROM pg_class c WHERE c.relname = ANY($1)
             UNION ALL SELECT s.stxname, 'statistics' FROM pg_statistic_ext s
             WHERE s.stxname = ANY($1)",
            &[&names],
        )
        .await?;
    for row in found {
        let name: String = row.get(0);
        let kind: &str = row.get(1);
        let kind = if kind == "index" {
            "INDEX"
        } else {
            "STATISTICS"
        };
        client
            .batch_execute(&format!("DROP {kind} IF EXISTS \"{name}\""))
            .await?;
    }
    Ok(())
}

/// Longest word kept in `object_words`: a B-tree entry must stay under ~2.7 KB, so longer words
/// (and query tokens) are cut to their first 200 characters. A `query` token longer than that
/// therefore matches any word sharing those 200 characters (SQLite's FTS5 has no such limit).
const MAX_WORD_CHARS: usize = 200;

/// Folds a word as SQLite's FTS5 `unicode61 remove_diacritics 2` tokenizer does: lower case,
/// without combining marks; cut to [`MAX_WORD_CHARS`].
fn fold(word: &str) -> String {
    word.to_lowercase()
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .take(MAX_WORD_CHARS)
        .collect()
}

/// The full-text words of a record's searchable text (as SQLite's FTS5 tokenizer splits and
/// folds them), each once.
pub(crate) fn words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(fold)
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The records of one account and type with a word starting with `prefix` (bound as
/// `$prefix`): one range of `object_words`' primary key.
fn word_range(account: &str, object_type: &str, prefix: &str) -> String {
    // Every word with the prefix sorts (byte order) between it and it followed by U+10FFFF.
    format!(
        "SELECT object_id FROM object_words WHERE account_id = {account} \
         AND object_type = '{object_type}' AND word >= {prefix} AND word < {prefix} || chr(1114111)"
    )
}

/// The ids of records matching every `query` token (a token is a word prefix).
fn query_ids(sql: &mut Sql, account: AccountId, object_type: &str, tokens: &[String]) -> String {
    let account = sql.bind(account.0);
    tokens
        .iter()
        .map(|t| {
            let t: String = fold(t).chars().filter(|c| c.is_alphanumeric()).collect();
            let prefix = format!("{}::text", sql.bind(t));
            word_range(&account, object_type, &prefix)
        })
        .collect::<Vec<_>>()
        .join(" INTERSECT ")
}

/// The key under which `unique_values` holds a unique value.
pub(crate) fn unique_key(key: &Key) -> String {
    match key {
        Key::Num(n) => format!("n:{n:?}"),
        Key::Text(t) => format!("t:{t}"),
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

struct Sql {
    params: Vec<Param>,
}

impl Sql {
    fn bind(&mut self, p: impl ToSql + Sync + Send + 'static) -> String {
        self.params.push(Box::new(p));
        format!("${}", self.params.len())
    }

    fn key(&mut self, key: &Key) -> String {
        // Stored values never hold U+0000 (validation refuses it; PostgreSQL cannot store it),
        // so a searched U+0000 becomes U+FFFF, a non-character no stored value holds either.
        let key = match key {
            Key::Text(t) if t.contains('\0') => Key::Text(t.replace('\0', "\u{ffff}")),
            other => other.clone(),
        };
        format!("{}::jsonb", self.bind(key.to_json()))
    }
}

fn field_expr(field: &Field) -> String {
    match field {
        Field::Id => "id".to_string(),
        Field::CreatedAt => "created_at".to_string(),
        Field::UpdatedAt => "updated_at".to_string(),
        Field::Key(n) | Field::MultiSelect(n) => key_expr(n),
    }
}

/// A value compared with `id`, `created_at` or `updated_at` (BIGINT columns): keys of those
/// fields are numbers.
fn column_value(sql: &mut Sql, field: &Field, key: &Key) -> String {
    match (field, key) {
        // Whole numbers as BIGINT, so that the columns' indexes serve the comparison.
        (Field::Id | Field::CreatedAt | Field::UpdatedAt, Key::Num(n))
            if n.fract() == 0.0 && n.abs() < 9.0e15 =>
        {
            format!("{}::bigint", sql.bind(*n as i64))
        }
        (Field::Id | Field::CreatedAt | Field::UpdatedAt, Key::Num(n)) => {
            format!("{}::float8", sql.bind(*n))
        }
        (Field::Id | Field::CreatedAt | Field::UpdatedAt, Key::Text(_)) => "NULL".into(),
        _ => sql.key(key),
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

fn any_option(expr: &str, test: &str) -> String {
    format!("EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof({expr}) = 'array' THEN {expr} ELSE '[]'::jsonb END) AS o(value) WHERE {test})")
}

fn multi_condition_sql(expr: &str, test: &Test, sql: &mut Sql) -> String {
    let none = |t: String| format!("({expr} IS NULL OR NOT {})", any_option(expr, &t));
    match test {
        Test::Cmp(op, k) => any_option(expr, &format!("value {} {}", cmp_sql(*op), sql.key(k))),
        Test::Neq(k) => none(format!("value = {}", sql.key(k))),
        Test::Between(lo, hi) => {
            let lo = sql.key(lo);
            let hi = sql.key(hi);
            any_option(expr, &format!("value BETWEEN {lo} AND {hi}"))
        }
        Test::In(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| sql.key(k)).collect();
            if marks.is_empty() {
                return "FALSE".into();
            }
            any_option(expr, &format!("value IN ({})", marks.join(", ")))
        }
        Test::NotIn(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| sql.key(k)).collect();
            if marks.is_empty() {
                return "TRUE".into();
            }
            none(format!("value IN ({})", marks.join(", ")))
        }
        Test::HasProperty => format!("{expr} IS NOT NULL"),
        Test::NotHasProperty => format!("{expr} IS NULL"),
        Test::ContainsToken(_) | Test::NotContainsToken(_) => "FALSE".into(),
    }
}

/// CONTAINS_TOKEN as a regular expression over the lower-cased raw value, with the semantics of
/// `spoke_core::search::contains_token`: the pattern's tokens in sequence, whole tokens, `*`
/// matching letters and digits within a token. `None` when the pattern has no token.
fn token_regex(pattern: &str) -> Option<String> {
    let lower = pattern.to_lowercase();
    let mut toks: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '*'))
        .filter(|t| !t.is_empty())
        .collect();
    if toks.first() == Some(&"*") && toks.len() > 1 {
        toks.remove(0);
    }
    if toks.is_empty() {
        return None;
    }
    const ALNUM: &str = "[[:alnum:]]";
    let parts: Vec<String> = toks
        .iter()
        .map(|t| {
            if t.chars().all(|c| c == '*') {
                format!("{ALNUM}+")
            } else {
                t.chars()
                    .map(|c| {
                        if c == '*' {
                            format!("{ALNUM}*")
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            }
        })
        .collect();
    Some(format!(
        "(^|[^[:alnum:]]){}([^[:alnum:]]|$)",
        parts.join("[^[:alnum:]]+")
    ))
}

fn condition_sql(c: &Condition, sql: &mut Sql) -> String {
    let expr = field_expr(&c.field);
    let raw = match &c.field {
        Field::Id => "id::text".to_string(),
        Field::CreatedAt => "to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')".to_string(),
        Field::UpdatedAt => "to_char(to_timestamp(updated_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')".to_string(),
        Field::Key(n) | Field::MultiSelect(n) => format!("(properties::jsonb ->> '{n}')"),
    };
    let token_test = matches!(c.test, Test::ContainsToken(_) | Test::NotContainsToken(_));
    if matches!(c.field, Field::MultiSelect(_)) && !token_test {
        return multi_condition_sql(&expr, &c.test, sql);
    }
    let value = |sql: &mut Sql, k: &Key| column_value(sql, &c.field, k);
    match &c.test {
        Test::Cmp(op, k) => format!("{expr} {} {}", cmp_sql(*op), value(sql, k)),
        Test::Neq(k) => format!("({expr} IS NULL OR {expr} <> {})", value(sql, k)),
        Test::Between(lo, hi) => {
            let lo = value(sql, lo);
            let hi = value(sql, hi);
            format!("{expr} BETWEEN {lo} AND {hi}")
        }
        Test::In(keys) if keys.is_empty() => "FALSE".into(),
        Test::NotIn(keys) if keys.is_empty() => "TRUE".into(),
        Test::In(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| value(sql, k)).collect();
            format!("{expr} IN ({})", marks.join(", "))
        }
        Test::NotIn(keys) => {
            let marks: Vec<String> = keys.iter().map(|k| value(sql, k)).collect();
            format!("({expr} IS NULL OR {expr} NOT IN ({}))", marks.join(", "))
        }
        Test::HasProperty => format!("{expr} IS NOT NULL"),
        Test::NotHasProperty => format!("{expr} IS NULL"),
        Test::ContainsToken(p) => match token_regex(p) {
            Some(re) => format!("COALESCE(lower({raw}) ~ {}, FALSE)", sql.bind(re)),
            None => "FALSE".into(),
        },
        Test::NotContainsToken(p) => match token_regex(p) {
            Some(re) => format!("NOT COALESCE(lower({raw}) ~ {}, FALSE)", sql.bind(re)),
            None => "TRUE".into(),
        },
    }
}

/// `WHERE …` of a search. The object type (checked to be `\d+-\d+`) is a literal, so that the
/// planner matches the partial indexes' predicates.
fn where_sql(account: AccountId, object_type: &str, q: &SearchQuery, sql: &mut Sql) -> String {
    let mut out = format!(
        "WHERE account_id = {} AND object_type = '{object_type}' AND archived_at IS NULL",
        sql.bind(account.0)
    );
    if !q.groups.is_empty() {
        let groups: Vec<String> = q
            .groups
            .iter()
            .map(|g| {
                if g.is_empty() {
                    return "TRUE".to_string();
                }
                let conds: Vec<String> = g.iter().map(|c| condition_sql(c, sql)).collect();
                format!("({})", conds.join(" AND "))
            })
            .collect();
        out.push_str(&format!(" AND ({})", groups.join(" OR ")));
    }
    if !q.query_tokens.is_empty() {
        let ids = query_ids(sql, account, object_type, &q.query_tokens);
        out.push_str(&format!(" AND id IN ({ids})"));
    }
    out
}

fn order_sql(q: &SearchQuery) -> String {
    match &q.sort {
        None => "ORDER BY id ASC".into(),
        Some(s) => {
            let expr = field_expr(&s.field);
            let dir = match s.direction {
                Direction::Ascending => "ASC",
                Direction::Descending => "DESC",
            };
            if s.field.always_set() {
                return format!("ORDER BY {expr} {dir}, id ASC");
            }
            // Unset values last in both directions, as on SQLite.
            format!("ORDER BY {expr} {dir} NULLS LAST, id ASC")
        }
    }
}

impl PostgresStore {
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
        if q.groups.is_empty() && q.sort.is_none() && !q.query_tokens.is_empty() {
            return self.text_search(account, &ot, &q).await;
        }
        let mut sql = Sql { params: Vec::new() };
        let filter = where_sql(account, &ot, &q, &mut sql);
        let count_params = sql.params.len();
        let limit = sql.bind(q.limit as i64);
        let offset = sql.bind(q.offset as i64);
        let page = format!(
            "SELECT id, properties, created_at, updated_at, archived_at FROM objects {filter} {} LIMIT {limit} OFFSET {offset}",
            order_sql(&q)
        );
        let client = self.client().await?;
        let params: Vec<&(dyn ToSql + Sync)> = sql
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let rows = client.query(&page, &params).await?;
        let out = rows
            .iter()
            .map(to_record)
            .collect::<StoreResult<Vec<_>>>()?;
        // A short, non-empty page is the last one: its end is the total, no count needed.
        let total = if !out.is_empty() && out.len() < q.limit || (out.is_empty() && q.offset == 0) {
            q.offset + out.len()
        } else {
            let n: i64 = client
                .query_one(
                    &format!("SELECT COUNT(*) FROM objects {filter}"),
                    &params[..count_params],
                )
                .await?
                .get(0);
            n as usize
        };
        Ok((total, out))
    }
}

impl PostgresStore {
    /// `query` alone, in creation order: counted and paged in `object_words` (which holds live
    /// records only), so only the page's records are read.
    async fn text_search(
        &self,
        account: AccountId,
        object_type: &str,
        q: &SearchQuery,
    ) -> StoreResult<(usize, Vec<ObjectRecord>)> {
        let mut sql = Sql { params: Vec::new() };
        let ids = query_ids(&mut sql, account, object_type, &q.query_tokens);
        let client = self.client().await?;
        let params: Vec<&(dyn ToSql + Sync)> = sql
            .params
            .iter()
            .map(|p| p.as_ref() as &(dyn ToSql + Sync))
            .collect();
        let total: i64 = client
            .query_one(&format!("SELECT COUNT(*) FROM ({ids}) AS m"), &params)
            .await?
            .get(0);
        let n = sql.params.len();
        let page = format!(
            "SELECT o.id, o.properties, o.created_at, o.updated_at, o.archived_at
             FROM (SELECT object_id FROM ({ids}) AS m ORDER BY object_id LIMIT ${} OFFSET ${}) AS p
             JOIN objects AS o ON o.account_id = ${} AND o.id = p.object_id
             WHERE o.archived_at IS NULL ORDER BY o.id",
            n + 1,
            n + 2,
            n + 3
        );
        let (limit, offset) = (q.limit as i64, q.offset as i64);
        let mut all = params.clone();
        all.push(&limit);
        all.push(&offset);
        all.push(&account.0);
        let rows = client.query(&page, &all).await?;
        let out = rows
            .iter()
            .map(to_record)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((total as usize, out))
    }
}

/// Records' words as two parallel arrays (record id, word), the shape `unnest` takes.
fn flatten_words(words: &[(i64, Vec<String>)]) -> (Vec<i64>, Vec<&str>) {
    words
        .iter()
        .flat_map(|(id, ws)| ws.iter().map(move |w| (*id, w.as_str())))
        .unzip()
}

/// Removes the given words of records from `object_words`, by primary key (an update removes
/// only the words its change took away).
pub(crate) async fn remove_words(
    tx: &deadpool_postgres::Transaction<'_>,
    account: AccountId,
    object_type: &str,
    words: &[(i64, Vec<String>)],
) -> StoreResult<()> {
    let (ids, all) = flatten_words(words);
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "DELETE FROM object_words AS w USING unnest($3::text[], $4::bigint[]) AS u(word, id)
             WHERE w.account_id = $1 AND w.object_type = $2 AND w.word = u.word
               AND w.object_id = u.id",
        )
        .await?;
    tx.execute(&stmt, &[&account.0, &object_type, &all, &ids])
        .await?;
    Ok(())
}

/// Writes words of records into `object_words` (live records only: archiving removes them),
/// after removing every word of the records in `replace`; one DELETE and one INSERT.
pub(crate) async fn write_words(
    tx: &deadpool_postgres::Transaction<'_>,
    account: AccountId,
    object_type: &str,
    replace: &[i64],
    words: &[(i64, Vec<String>)],
) -> StoreResult<()> {
    if !replace.is_empty() {
        let stmt = tx
            .prepare_cached(
                "DELETE FROM object_words WHERE account_id = $1 AND object_id = ANY($2)",
            )
            .await?;
        tx.execute(&stmt, &[&account.0, &replace]).await?;
    }
    let (ids, all) = flatten_words(words);
    if ids.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare_cached(
            "INSERT INTO object_words (account_id, object_type, word, object_id)
             SELECT $1, $2, u.w, u.i FROM unnest($3::text[], $4::bigint[]) AS u(w, i)
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&stmt, &[&account.0, &object_type, &all, &ids])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_regex_shapes() {
        assert_eq!(
            token_regex("*@hubspot.com").as_deref(),
            Some("(^|[^[:alnum:]])hubspot[^[:alnum:]]+com([^[:alnum:]]|$)")
        );
        assert_eq!(
            token_regex("ann*").as_deref(),
            Some("(^|[^[:alnum:]])ann[[:alnum:]]*([^[:alnum:]]|$)")
        );
        assert_eq!(token_regex("  "), None);
    }

    #[test]
    fn words_are_folded_like_sqlite_fts5() {
        assert_eq!(words("José O'Neil josé"), vec!["jose", "neil", "o"]);
        let long = "a".repeat(300);
        assert_eq!(words(&long)[0].len(), MAX_WORD_CHARS);
    }
}
