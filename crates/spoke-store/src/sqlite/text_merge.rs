//! Merging the full-text index while the writer is idle.
//!
//! Every write transaction adds a segment to the FTS5 index, and every deleted or rewritten
//! record leaves a tombstone in the segment that holds its old words. A `query` reads every
//! segment and checks each posting against the tombstones. FTS5 merges only as a side effect
//! of writes (4 segments of a level into one of the next), never removes the tombstones of its
//! big oldest segment, and leaves its last merge half done when writes stop. After the bench's
//! upsert phases (200,000 records' text rewritten) a `query` ran at 1,550/s; the same store
//! fully merged ran at 3,100/s, p99 71 → 37 ms at 64 connections (A/B on one 1M store).
//!
//! So when the writer has been idle for a moment and the index has drifted far enough from one
//! clean segment, it merges everything into one, a few pages per transaction. "Far enough" is
//! 2% of the index's pages outside its largest segment, or 2% of its entries deleted. A full
//! merge rewrites the whole index (~1 s of CPU at 1M records), so it waits until there is that
//! much to gain, which bounds the rewriting to about fifty times the text written, all of it in
//! idle time. Lower bounds than these were measured too lax: 5% of the pages in 9 small
//! segments and 3% of the entries deleted (one round of the bench's upserts after a merge) made
//! `query` 30% slower than on the merged index.

use rusqlite::{Connection, OptionalExtension};

use crate::StoreResult;

/// Pages of the index one merge step writes: ~7 ms of the writer's time, the longest a write
/// arriving meanwhile waits for it.
const MERGE_PAGES: i64 = 64;

/// One step of merging the index into a single segment, in the open transaction, if it is
/// worth it (see the module docs). Returns whether there was work; `false` means there is none
/// until the next write.
pub fn merge_step(conn: &Connection) -> StoreResult<bool> {
    let block: Option<Vec<u8>> = conn
        .query_row(
            "SELECT block FROM search_text_data WHERE id = 10",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let Some(structure) = block.as_deref().and_then(Structure::decode) else {
        return Ok(false);
    };
    if !structure.worth_merging() {
        return Ok(false);
    }
    let before = conn.total_changes();
    // A negative page count merges segments of every level into one (FTS5's `merge` command).
    conn.execute(
        "INSERT INTO search_text (search_text, rank) VALUES ('merge', ?1)",
        [-MERGE_PAGES],
    )?;
    // FTS5's documented test: a merge that did work changed at least two rows.
    Ok(conn.total_changes() - before >= 2)
}

/// What the merge policy reads of FTS5's structure record (the row with id 10 of the
/// `_data` table; layout from `fts5StructureDecode` in SQLite's fts5_index.c).
#[derive(Debug, Default, PartialEq)]
struct Structure {
    /// Leaf pages of each segment.
    segment_pages: Vec<u64>,
    /// A level is in the middle of merging its segments.
    merging: bool,
    /// Deleted entries still in the segments, and all entries (structure version 2 only).
    tombstones: u64,
    entries: u64,
}

impl Structure {
    fn decode(b: &[u8]) -> Option<Structure> {
        let mut r = Reader { b, at: 4 }; // after the configuration cookie
        let v2 = b.get(4..8) == Some(&[0xff, 0, 0, 1]);
        if v2 {
            r.at += 4;
        }
        let levels = r.varint()?;
        let _segments = r.varint()?;
        let _write_counter = r.varint()?;
        let mut s = Structure::default();
        for _ in 0..levels {
            let merging = r.varint()?;
            let segments = r.varint()?;
            s.merging |= merging > 0;
            for _ in 0..segments {
                let _id = r.varint()?;
                let first = r.varint()?;
                let last = r.varint()?;
                s.segment_pages.push((last + 1).saturating_sub(first));
                if v2 {
                    let _origin1 = r.varint()?;
                    let _origin2 = r.varint()?;
                    let _tombstone_pages = r.varint()?;
                    s.tombstones += r.varint()?;
                    s.entries += r.varint()?;
                }
            }
        }
        Some(s)
    }

    fn worth_merging(&self) -> bool {
        let total: u64 = self.segment_pages.iter().sum();
        let largest = self.segment_pages.iter().copied().max().unwrap_or(0);
        self.merging
            || (self.segment_pages.len() > 1 && (total - largest) * 50 >= total)
            || (self.tombstones > 0 && self.tombstones * 50 >= self.entries)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    /// SQLite's variable-length integer: big-endian groups of 7 bits, the ninth byte whole.
    fn varint(&mut self) -> Option<u64> {
        let mut v: u64 = 0;
        for i in 0..9 {
            let byte = *self.b.get(self.at)?;
            self.at += 1;
            if i == 8 {
                return Some((v << 8) | u64::from(byte));
            }
            v = (v << 7) | u64::from(byte & 0x7f);
            if byte < 0x80 {
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::text::PendingText;

    fn structure(conn: &Connection) -> Structure {
        let block: Vec<u8> = conn
            .query_row(
                "SELECT block FROM search_text_data WHERE id = 10",
                [],
                |r| r.get(0),
            )
            .unwrap();
        Structure::decode(&block).expect("a structure record")
    }

    /// Many small transactions and rewrites leave many segments and tombstones; idle merging
    /// ends with one clean segment, every row still findable and the index consistent.
    #[test]
    fn idle_merging_ends_with_one_clean_segment() {
        crate::sqlite::setup();
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE VIRTUAL TABLE search_text USING fts5(text, content = '', \
             contentless_delete = 1, tokenize = 'unicode61 remove_diacritics 2');",
        )
        .unwrap();
        let mut pending = PendingText::new();
        for round in 0..60i64 {
            conn.execute_batch("BEGIN").unwrap();
            for i in 0..50 {
                let id = round * 50 + i;
                pending.insert(id, Some(format!("word{} common r{round}", id % 7)));
            }
            // Rewrite an older row too: the delete leaves a tombstone.
            if round > 0 {
                pending.replace((round - 1) * 50, Some("rewritten common".into()));
            }
            pending.apply(&conn).unwrap();
            conn.execute_batch("COMMIT").unwrap();
        }
        let before = structure(&conn);
        assert!(before.segment_pages.len() > 1, "{before:?}");
        assert!(before.worth_merging(), "{before:?}");
        let mut steps = 0;
        while merge_step(&conn).unwrap() {
            steps += 1;
            assert!(steps < 10_000, "merging does not end");
        }
        let after = structure(&conn);
        assert_eq!(after.segment_pages.len(), 1, "{after:?}");
        assert_eq!(after.tombstones, 0, "{after:?}");
        assert!(!after.merging && !after.worth_merging(), "{after:?}");
        assert!(
            !merge_step(&conn).unwrap(),
            "a merged index has nothing to merge"
        );
        conn.execute_batch("INSERT INTO search_text (search_text) VALUES ('integrity-check')")
            .unwrap();
        let count = |q: &str| -> i64 {
            conn.query_row(
                "SELECT count(*) FROM search_text WHERE search_text MATCH ?1",
                [q],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(count("common"), 3000);
        assert_eq!(count("rewritten"), 59);
        let word3 = (0..3000)
            .filter(|i| i % 7 == 3 && (i % 50 != 0 || *i == 2950))
            .count();
        assert_eq!(count("word3"), word3 as i64);
    }

    /// The writer itself merges once it is idle: many one-record transactions of text, then
    /// the index settles in one segment without any further write.
    #[tokio::test]
    async fn the_writer_merges_while_idle() {
        use crate::sqlite::SqliteStore;
        use crate::{BatchMode, Durability, NewObject, Store};
        use spoke_core::ids::AccountId;
        use spoke_core::object_type::Registry;
        use spoke_core::value::PropertySet;
        use std::sync::Arc;

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("s.sqlite3"), Durability::Process).unwrap(),
        );
        let contacts = Registry::standard().resolve("contacts").unwrap();
        let set = Arc::new(PropertySet::new(contacts, vec![], vec![]));
        let write = |i: usize| {
            let mut input = NewObject::default();
            input.writes.values.insert(
                "firstname".into(),
                spoke_core::value::WriteValue::Set(format!("Merge{i}")),
            );
            input
        };
        // Concurrent creates: each transaction groups a few, every one adds a segment.
        for round in 0..40 {
            let mut tasks = Vec::new();
            for i in 0..4 {
                let (store, set) = (store.clone(), set.clone());
                let input = write(round * 4 + i);
                tasks.push(tokio::spawn(async move {
                    let source = spoke_core::record::WriteSource::api(None);
                    store
                        .create_objects(
                            AccountId(1),
                            set,
                            vec![input],
                            BatchMode::AllOrNothing,
                            source,
                        )
                        .await
                        .unwrap()
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
        let mut segments = usize::MAX;
        for _ in 0..100 {
            segments = store
                .reads
                .with(|conn| Ok(structure(conn).segment_pages.len()))
                .unwrap();
            if segments == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(
            segments, 1,
            "the index was not merged within 5 s of the last write"
        );
    }

    #[test]
    fn the_policy_waits_for_enough_to_gain() {
        let s = |pages: &[u64], tombstones, entries| Structure {
            segment_pages: pages.to_vec(),
            merging: false,
            tombstones,
            entries,
        };
        assert!(!s(&[1000], 0, 100_000).worth_merging());
        assert!(!s(&[1000, 10, 9], 0, 100_000).worth_merging());
        assert!(s(&[1000, 11, 10], 0, 100_000).worth_merging());
        assert!(!s(&[1000], 1_999, 100_000).worth_merging());
        assert!(s(&[1000], 2_000, 100_000).worth_merging());
        assert!(Structure {
            merging: true,
            ..s(&[900, 100], 0, 0)
        }
        .worth_merging());
        assert_eq!(Structure::decode(&[0, 0, 0]), None);
    }

    #[test]
    fn varints_read_as_sqlite_writes_them() {
        let mut r = Reader {
            b: &[
                0x05, 0x81, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            ],
            at: 0,
        };
        assert_eq!(r.varint(), Some(5));
        assert_eq!(r.varint(), Some(128));
        assert_eq!(r.varint(), Some(u64::MAX));
        assert_eq!(r.varint(), None);
    }
}
