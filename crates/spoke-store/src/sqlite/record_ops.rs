//! A record write as the journal holds it ([`RecordOp`]), its binary form, and how a run of them
//! is applied to SQLite.
//!
//! An op carries everything its rows need — the record's properties after the write as the
//! stored JSON, the key columns it sets, its full-text change, its history rows, its inline
//! associations — so that applying it needs no property definitions: the journal's recovery at
//! start-up applies what a crashed process acknowledged with the very code the live applier runs.
//!
//! Ops are applied by record, in id order (see [`apply`]): every op of one record in the run
//! becomes one row write, which is what makes applying a large run cheaper per record than
//! writing each request's rows as it comes (neighbouring rows share pages, index entries of
//! nearby records share pages, and a record written twice is written once).

use std::collections::BTreeMap;
use std::sync::Arc;

use rusqlite::{params, Connection, ToSql};
use spoke_core::value::PropertySet;

use super::search::{ensure_builtin_indexes_of, KEY_COLUMNS};
use super::text::PendingText;
use crate::{StoreError, StoreResult};

/// What a write does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpKind {
    Create,
    Update,
    Archive,
}

/// One changed property of an update: its history row (`previous` is the value it replaced,
/// from which the property's implicit creation entry is derived, see common::HistoryRows).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistoryRow {
    pub property: String,
    pub value: String,
    pub previous: String,
}

/// An association created with its record (one direction; the other is written beside it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinkRow {
    pub to_type: String,
    pub to_id: i64,
    pub type_id: i64,
    pub inverse_type_id: i64,
    pub category: String,
}

/// What a write does to the record's row in the full-text index.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TextChange {
    /// Unchanged.
    Keep,
    /// Its searchable text is now this (`None`: none; an archive removes it).
    Set(Option<String>),
}

/// One acknowledged write of one record.
#[derive(Clone)]
pub(crate) struct RecordOp {
    /// Its place in the journal: ops are applied in this order.
    pub lsn: u64,
    pub kind: OpKind,
    pub account: i64,
    /// The objectTypeId (`0-1`, `2-7`).
    pub object_type: String,
    pub id: i64,
    /// The record's write counter after this write (history rows are keyed by it).
    pub version: i64,
    /// When: the creation, last-modified or archive time (epoch ms).
    pub at: i64,
    /// The record's properties after the write, as stored (`Create`, `Update`).
    pub properties: String,
    /// The key columns the write sets, with their JSON text (`None`: NULL).
    pub keys: Vec<(u8, Option<String>)>,
    pub text: TextChange,
    /// `Update`: one row per changed property.
    pub history: Vec<HistoryRow>,
    /// `Create`: where the record came from; `Update`: the history rows' source.
    pub source_type: String,
    pub source_id: Option<String>,
    /// `Create`: associations made with the record.
    pub links: Vec<LinkRow>,
    /// The definitions the write was made with, for the in-memory sort keys the applier keeps
    /// (not journaled: a recovering process has no sort keys yet).
    pub set: Option<Arc<PropertySet>>,
}

impl std::fmt::Debug for RecordOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordOp")
            .field("lsn", &self.lsn)
            .field("kind", &self.kind)
            .field("id", &self.id)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl RecordOp {
    /// Roughly the memory it holds, for bounding the applier's backlog.
    pub fn weight(&self) -> usize {
        200 + self.properties.len()
            + self
                .keys
                .iter()
                .map(|(_, k)| k.as_ref().map_or(0, String::len))
                .sum::<usize>()
            + match &self.text {
                TextChange::Set(Some(t)) => t.len(),
                _ => 0,
            }
            + self
                .history
                .iter()
                .map(|h| 48 + h.property.len() + h.value.len() + h.previous.len())
                .sum::<usize>()
            + self.links.len() * 64
    }
}

// --- binary form ------------------------------------------------------------------------------

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_i64(out: &mut Vec<u8>, n: i64) {
    // Zig-zag, so that small negative numbers stay short.
    put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(0),
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
    }
}

/// Reads what [`RecordOp::encode`] wrote; every read is checked (a journal may end torn).
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

fn corrupt() -> StoreError {
    StoreError::Internal("a corrupt journal record".into())
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    pub fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn byte(&mut self) -> StoreResult<u8> {
        let b = *self.bytes.get(self.at).ok_or_else(corrupt)?;
        self.at += 1;
        Ok(b)
    }

    pub fn varint(&mut self) -> StoreResult<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(corrupt())
    }

    fn i64(&mut self) -> StoreResult<i64> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn str(&mut self) -> StoreResult<String> {
        let len = usize::try_from(self.varint()?).map_err(|_| corrupt())?;
        let end = self.at.checked_add(len).ok_or_else(corrupt)?;
        let s = self.bytes.get(self.at..end).ok_or_else(corrupt)?;
        self.at = end;
        String::from_utf8(s.to_vec()).map_err(|_| corrupt())
    }

    fn opt_str(&mut self) -> StoreResult<Option<String>> {
        match self.byte()? {
            0 => Ok(None),
            1 => Ok(Some(self.str()?)),
            _ => Err(corrupt()),
        }
    }
}

impl RecordOp {
    /// Appends the op's binary form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.lsn);
        out.push(match self.kind {
            OpKind::Create => 0,
            OpKind::Update => 1,
            OpKind::Archive => 2,
        });
        put_i64(out, self.account);
        put_str(out, &self.object_type);
        put_i64(out, self.id);
        put_i64(out, self.version);
        put_i64(out, self.at);
        put_str(out, &self.properties);
        put_varint(out, self.keys.len() as u64);
        for (column, key) in &self.keys {
            out.push(*column);
            put_opt_str(out, key.as_deref());
        }
        match &self.text {
            TextChange::Keep => out.push(0),
            TextChange::Set(None) => out.push(1),
            TextChange::Set(Some(t)) => {
                out.push(2);
                put_str(out, t);
            }
        }
        put_varint(out, self.history.len() as u64);
        for h in &self.history {
            put_str(out, &h.property);
            put_str(out, &h.value);
            put_str(out, &h.previous);
        }
        put_str(out, &self.source_type);
        put_opt_str(out, self.source_id.as_deref());
        put_varint(out, self.links.len() as u64);
        for l in &self.links {
            put_str(out, &l.to_type);
            put_i64(out, l.to_id);
            put_i64(out, l.type_id);
            put_i64(out, l.inverse_type_id);
            put_str(out, &l.category);
        }
    }

    /// Reads one op written by [`RecordOp::encode`].
    pub fn decode(r: &mut Reader<'_>) -> StoreResult<RecordOp> {
        let lsn = r.varint()?;
        let kind = match r.byte()? {
            0 => OpKind::Create,
            1 => OpKind::Update,
            2 => OpKind::Archive,
            _ => return Err(corrupt()),
        };
        let account = r.i64()?;
        let object_type = r.str()?;
        let id = r.i64()?;
        let version = r.i64()?;
        let at = r.i64()?;
        let properties = r.str()?;
        let n = r.varint()?;
        let mut keys = Vec::new();
        for _ in 0..n {
            let column = r.byte()?;
            if usize::from(column) >= KEY_COLUMNS {
                return Err(corrupt());
            }
            keys.push((column, r.opt_str()?));
        }
        let text = match r.byte()? {
            0 => TextChange::Keep,
            1 => TextChange::Set(None),
            2 => TextChange::Set(Some(r.str()?)),
            _ => return Err(corrupt()),
        };
        let n = r.varint()?;
        let mut history = Vec::new();
        for _ in 0..n {
            history.push(HistoryRow {
                property: r.str()?,
                value: r.str()?,
                previous: r.str()?,
            });
        }
        let source_type = r.str()?;
        let source_id = r.opt_str()?;
        let n = r.varint()?;
        let mut links = Vec::new();
        for _ in 0..n {
            links.push(LinkRow {
                to_type: r.str()?,
                to_id: r.i64()?,
                type_id: r.i64()?,
                inverse_type_id: r.i64()?,
                category: r.str()?,
            });
        }
        Ok(RecordOp {
            lsn,
            kind,
            account,
            object_type,
            id,
            version,
            at,
            properties,
            keys,
            text,
            history,
            source_type,
            source_id,
            links,
            set: None,
        })
    }
}

// --- applying ---------------------------------------------------------------------------------

/// What the applier keeps between runs: the types whose built-in indexes exist, and the
/// full-text changes of the open transaction.
pub(crate) struct ApplyState<'a> {
    pub indexed_types: &'a mut std::collections::HashSet<String>,
    pub text: &'a mut PendingText,
}

/// `INSERT` of a created record: `?1`–`?4` id, account, type, properties; `?5`… the key
/// columns; then the creation time, the last-modified time, the archive time, the version and
/// the creation source.
fn insert_sql() -> &'static str {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    SQL.get_or_init(|| {
        let columns: Vec<String> = (0..KEY_COLUMNS).map(|c| format!("k{c}")).collect();
        let values: Vec<String> = (0..KEY_COLUMNS)
            .map(|c| format!("jsonb(?{})", c + 5))
            .collect();
        let t = KEY_COLUMNS + 5;
        format!(
            "INSERT INTO objects (id, account_id, object_type, properties, {}, created_at,
             updated_at, archived_at, version, created_source_type, created_source_id)
             VALUES (?1, ?2, ?3, ?4, {}, ?{t}, ?{}, ?{}, ?{}, ?{}, ?{})",
            columns.join(", "),
            values.join(", "),
            t + 1,
            t + 2,
            t + 3,
            t + 4,
            t + 5,
        )
    })
}

const INSERT_HISTORY: &str = "INSERT INTO property_history
     (account_id, object_id, property, version, value, timestamp, source_type, source_id,
      previous)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// Inserts one direction of an association and its inverse. `OR IGNORE`: a link repeated in
/// one create's input is one association (it is one in HubSpot too).
const INSERT_LINK: &str = "INSERT OR IGNORE INTO associations
     (account_id, from_id, to_type, to_id, type_id, from_type, category)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Writes `ops` into the open transaction. Every op of one record is folded into one row write:
/// its rows end as if the ops had been applied one by one, in `lsn` order. The caller orders
/// the records (by id, for locality) and commits.
pub(crate) fn apply(
    conn: &Connection,
    state: &mut ApplyState<'_>,
    ops: &[&RecordOp],
) -> StoreResult<()> {
    let Some(first) = ops.first() else {
        return Ok(());
    };
    let last = ops[ops.len() - 1];
    let created = first.kind == OpKind::Create;
    // The key columns the ops set, the latest value of each.
    let mut keys: [Option<Option<&str>>; KEY_COLUMNS] = [None; KEY_COLUMNS];
    for op in ops {
        for (column, key) in &op.keys {
            keys[usize::from(*column)] = Some(key.as_deref());
        }
    }
    let written = ops.iter().rev().find(|op| op.kind != OpKind::Archive);
    let archived_at = (last.kind == OpKind::Archive).then_some(last.at);
    if created {
        ensure_builtin_indexes_of(conn, state.indexed_types, &first.object_type)?;
        let Some(written) = written else {
            return Err(StoreError::Internal("a create without properties".into()));
        };
        let none: Option<&str> = None;
        let mut values: Vec<&dyn ToSql> = vec![
            &first.id,
            &first.account,
            &first.object_type,
            &written.properties,
        ];
        for key in &keys {
            values.push(match key {
                Some(k) => k as &dyn ToSql,
                None => &none as &dyn ToSql,
            });
        }
        values.extend([
            &first.at as &dyn ToSql,
            &written.at,
            &archived_at,
            &last.version,
            &first.source_type,
            &first.source_id,
        ]);
        conn.prepare_cached(insert_sql())?
            .execute(values.as_slice())?;
    } else {
        // Only the columns the ops change: SQLite rewrites every index that reads a column an
        // UPDATE sets (and every search index reads `archived_at`, in its WHERE clause).
        let mut sql = String::from("UPDATE objects SET version = ?1");
        let mut values: Vec<&dyn ToSql> = vec![&last.version];
        if archived_at.is_some() {
            values.push(&archived_at);
            sql.push_str(&format!(", archived_at = ?{}", values.len()));
        }
        if let Some(written) = written {
            values.push(&written.properties);
            sql.push_str(&format!(", properties = ?{}", values.len()));
            values.push(&written.at);
            sql.push_str(&format!(", updated_at = ?{}", values.len()));
        }
        for (column, key) in keys.iter().enumerate() {
            if let Some(key) = key {
                values.push(key);
                sql.push_str(&format!(", k{column} = jsonb(?{})", values.len()));
            }
        }
        values.push(&first.id);
        sql.push_str(&format!(
            " WHERE id = ?{} AND account_id = ?{}",
            values.len(),
            values.len() + 1
        ));
        values.push(&first.account);
        let changed = conn.prepare_cached(&sql)?.execute(values.as_slice())?;
        if changed != 1 {
            return Err(StoreError::Internal(format!(
                "the journal updates record {} that the store does not have",
                first.id
            )));
        }
    }
    {
        let mut history = conn.prepare_cached(INSERT_HISTORY)?;
        for op in ops.iter().filter(|op| op.kind == OpKind::Update) {
            for h in &op.history {
                history.execute(params![
                    op.account,
                    op.id,
                    h.property,
                    op.version,
                    h.value,
                    op.at,
                    op.source_type,
                    op.source_id,
                    h.previous
                ])?;
            }
        }
    }
    if created {
        let mut link = conn.prepare_cached(INSERT_LINK)?;
        for l in &first.links {
            link.execute(params![
                first.account,
                first.id,
                l.to_type,
                l.to_id,
                l.type_id,
                first.object_type,
                l.category
            ])?;
            link.execute(params![
                first.account,
                l.to_id,
                first.object_type,
                first.id,
                l.inverse_type_id,
                l.to_type,
                l.category
            ])?;
        }
    }
    // The text: the last op that changed it decides.
    if let Some(TextChange::Set(text)) = ops
        .iter()
        .rev()
        .map(|op| &op.text)
        .find(|t| **t != TextChange::Keep)
    {
        if created {
            state.text.insert(first.id, text.clone());
        } else {
            state.text.replace(first.id, text.clone());
        }
    }
    Ok(())
}

/// Groups a run of ops by record, in id order, each record's ops in journal order.
pub(crate) fn by_record<'a>(
    ops: impl IntoIterator<Item = &'a RecordOp>,
) -> BTreeMap<i64, Vec<&'a RecordOp>> {
    let mut out: BTreeMap<i64, Vec<&RecordOp>> = BTreeMap::new();
    for op in ops {
        out.entry(op.id).or_default().push(op);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op() -> RecordOp {
        RecordOp {
            lsn: 1 << 40,
            kind: OpKind::Update,
            account: 46_231_356,
            object_type: "2-7".into(),
            id: 12_345,
            version: 3,
            at: -5,
            properties: r#"{"a":"é"}"#.into(),
            keys: vec![(0, Some("{}".into())), (15, None)],
            text: TextChange::Set(Some("s1t0x1zann".into())),
            history: vec![HistoryRow {
                property: "a".into(),
                value: "é".into(),
                previous: String::new(),
            }],
            source_type: "API".into(),
            source_id: Some("app".into()),
            links: vec![LinkRow {
                to_type: "0-2".into(),
                to_id: 9,
                type_id: 279,
                inverse_type_id: 280,
                category: "HUBSPOT_DEFINED".into(),
            }],
            set: None,
        }
    }

    #[test]
    fn an_op_reads_back_as_written() {
        let a = op();
        let mut b = op();
        b.kind = OpKind::Archive;
        b.text = TextChange::Set(None);
        b.source_id = None;
        let mut bytes = Vec::new();
        a.encode(&mut bytes);
        b.encode(&mut bytes);
        let mut r = Reader::new(&bytes);
        for want in [a, b] {
            let got = RecordOp::decode(&mut r).unwrap();
            assert_eq!(
                (got.lsn, got.kind, got.account, &got.object_type, got.id),
                (
                    want.lsn,
                    want.kind,
                    want.account,
                    &want.object_type,
                    want.id
                )
            );
            assert_eq!((got.version, got.at), (want.version, want.at));
            assert_eq!((&got.properties, &got.keys), (&want.properties, &want.keys));
            assert_eq!((&got.text, &got.history), (&want.text, &want.history));
            assert_eq!(
                (&got.source_type, &got.source_id, &got.links),
                (&want.source_type, &want.source_id, &want.links)
            );
        }
        assert!(r.done());
    }

    #[test]
    fn a_torn_op_is_an_error_not_a_panic() {
        let mut bytes = Vec::new();
        op().encode(&mut bytes);
        for cut in 0..bytes.len() {
            assert!(RecordOp::decode(&mut Reader::new(&bytes[..cut])).is_err());
        }
    }
}
