//! The full-text writes of the open write transaction, held back and applied just before
//! COMMIT. FTS5 keeps new terms in an in-memory hash until the transaction ends, but flushes
//! that hash to disk as a new segment whenever a write is a delete or goes to a rowid not above
//! the last one written — which every update of a record's text does when the same transaction
//! also created records (a batch upsert: measured at ~25% of the writer's time in flushes and
//! the merges of the tiny segments they leave). Applied here, deletes come first (the hash is
//! still empty) and inserts follow in rowid order, so a transaction flushes once, at COMMIT.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use crate::StoreResult;

/// What one record's row in `search_text` becomes at COMMIT.
struct TextOp {
    /// The record may have text from an earlier transaction, which goes first.
    delete: bool,
    /// Its text afterwards (already scoped, see `search::scoped_text`); `None` for no row.
    insert: Option<String>,
}

pub struct PendingText {
    ops: BTreeMap<i64, TextOp>,
    /// Text was written since the index was last found merged (see text_merge.rs).
    merge_due: bool,
}

impl PendingText {
    /// Nothing held back. The index may have been left mid-merge by the last process, so the
    /// writer's first idle moment checks it.
    pub fn new() -> PendingText {
        PendingText {
            ops: BTreeMap::new(),
            merge_due: true,
        }
    }

    /// A record that may already be in `search_text` now has `text`.
    pub fn replace(&mut self, id: i64, text: Option<String>) {
        self.ops
            .entry(id)
            .or_insert(TextOp {
                delete: true,
                insert: None,
            })
            .insert = text;
    }

    /// A record that is not in `search_text` (new, or restored from the archive) gets `text`.
    pub fn insert(&mut self, id: i64, text: Option<String>) {
        self.ops
            .entry(id)
            .or_insert(TextOp {
                delete: false,
                insert: None,
            })
            .insert = text;
    }

    /// Forgets everything (the transaction was rolled back).
    pub fn clear(&mut self) {
        self.ops.clear();
    }

    /// Writes the held-back changes into the open transaction.
    pub fn apply(&mut self, conn: &Connection) -> StoreResult<()> {
        if self.ops.is_empty() {
            return Ok(());
        }
        {
            let mut delete = conn.prepare_cached("DELETE FROM search_text WHERE rowid = ?1")?;
            for (id, _) in self.ops.iter().filter(|(_, op)| op.delete) {
                delete.execute([id])?;
            }
            let mut insert =
                conn.prepare_cached("INSERT INTO search_text (rowid, text) VALUES (?1, ?2)")?;
            for (id, op) in &self.ops {
                if let Some(text) = &op.insert {
                    insert.execute(params![id, text])?;
                }
            }
        }
        self.ops.clear();
        self.merge_due = true;
        Ok(())
    }

    /// Whether the writer should spend idle time merging the index (text_merge.rs).
    pub fn merge_due(&self) -> bool {
        self.merge_due
    }

    /// The index needs no merging until the next write.
    pub fn merged(&mut self) {
        self.merge_due = false;
    }
}
