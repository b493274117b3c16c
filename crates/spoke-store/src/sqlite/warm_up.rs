//! Filling the record cache after a start, in the background.
//!
//! The record cache (record_cache.rs) starts empty, and until a record is in it every read of
//! it by id, and every write to it (the writer plans against its latest state), reads its row
//! from SQLite: a B-tree descent and `pread`s of pages that the connection's page cache drops
//! whenever the applier commits. Measured on a restarted server with 1M contacts: the
//! journaling writer spent ~45% of its time a PATCH reading rows, and a phase of random PATCHes
//! touches too few records in its first minutes to warm the cache by itself.
//!
//! So `spoke serve` reads the live records in id order on a thread of its own, at a lower
//! priority than the threads that answer requests, until the cache is nearly at its budget
//! (then a full cache would only replace entries) or every record is in. It adds them with the
//! readers' rule (`RecordCache::fill`): a row goes in only if no write was made visible since
//! before it was read, so a row older than the latest write of its record is never cached;
//! rows refused that way are read again. Start-up does not wait for it: the server listens at
//! once, and reads not yet warmed go to SQLite as before.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::time::Timestamp;

use super::objects::parse_properties;
use super::record_cache::RecordCache;
use crate::StoreResult;

/// Rows read per query: small, so that a batch is read between two writes made visible even
/// under a heavy write load (each one makes the rows read before it stale).
const BATCH: usize = 64;

/// Stops the warm-up when the store is dropped.
#[derive(Default)]
pub(crate) struct WarmUp {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl WarmUp {
    /// Starts filling `cache` from the store at `path`; a second call does nothing.
    pub fn start(&mut self, path: PathBuf, cache: Arc<RecordCache>) {
        if self.thread.is_some() || !cache.enabled() {
            return;
        }
        let stop = Arc::clone(&self.stop);
        self.thread = thread::Builder::new()
            .name("spoke-warm-up".into())
            .spawn(move || {
                lower_priority();
                let started = Instant::now();
                match warm(&path, &cache, &stop) {
                    Ok(records) => tracing::info!(
                        records,
                        ms = started.elapsed().as_millis() as u64,
                        "record cache warmed"
                    ),
                    Err(e) => tracing::warn!(error = %e, "record cache warm-up stopped"),
                }
            })
            .map_err(|e| tracing::warn!(error = %e, "cannot start the record cache warm-up"))
            .ok();
    }

    /// Tests: waits until the warm-up has ended.
    #[cfg(test)]
    pub fn wait(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for WarmUp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The serving threads come first: this thread takes the CPU they leave (`nice` 10).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on this thread's own id; a failure only keeps the priority.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10);
    }
}

/// Reads live records in id order into `cache`; how many went in.
fn warm(path: &std::path::Path, cache: &RecordCache, stop: &AtomicBool) -> StoreResult<usize> {
    let conn: Connection = super::open_reader(path)?;
    let mut after = 0i64;
    let mut added = 0usize;
    let mut refused_in_a_row = 0u32;
    loop {
        if stop.load(Ordering::SeqCst) || cache.nearly_full() {
            return Ok(added);
        }
        let start = cache.read_start();
        let mut stmt = conn.prepare_cached(
            "SELECT id, account_id, object_type, properties, created_at, updated_at, version
             FROM objects WHERE id > ?1 AND archived_at IS NULL ORDER BY id LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![after, BATCH as i64])?;
        let mut read = 0usize;
        let mut refused = false;
        while let Some(r) = rows.next()? {
            read += 1;
            let id = ObjectId(r.get(0)?);
            let account = AccountId(r.get(1)?);
            let object_type: String = r.get(2)?;
            let properties: String = r.get(3)?;
            let properties = parse_properties(&properties)?;
            let encoded = cache.encode(
                account,
                &object_type,
                &properties,
                Timestamp(r.get(4)?),
                Timestamp(r.get(5)?),
                r.get(6)?,
            );
            if !cache.fill(start, id, encoded) {
                // A write was made visible since this batch was read: read on from here.
                refused = true;
                break;
            }
            added += 1;
            after = id.0;
        }
        drop(rows);
        if read == 0 {
            return Ok(added);
        }
        if refused {
            refused_in_a_row += 1;
            // Under a write load that makes every batch stale, wait for a pause a little.
            if refused_in_a_row > 8 {
                thread::sleep(Duration::from_millis(2));
            }
        } else {
            refused_in_a_row = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spoke_core::ids::{AccountId, ObjectId};
    use spoke_core::object_type::Registry;
    use spoke_core::record::WriteSource;
    use spoke_core::value::PropertySet;

    use crate::sqlite::record_cache::Lookup;
    use crate::sqlite::SqliteStore;
    use crate::{BatchMode, Durability, NewObject, Store};

    const A: AccountId = AccountId(1);

    fn contacts() -> Arc<PropertySet> {
        Arc::new(PropertySet::new(
            Registry::standard().resolve("contacts").unwrap(),
            vec![],
            vec![],
        ))
    }

    fn writes(set: &PropertySet, name: &str, value: &str) -> spoke_core::value::PropertyWrites {
        set.validate(&[(name.to_string(), value.to_string())], false)
            .unwrap()
    }

    /// After a restart the warm-up caches every live record, and none in a state older than its
    /// latest write, while writes keep changing them.
    #[tokio::test]
    async fn the_warm_up_caches_the_latest_state_of_live_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let set = contacts();
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let inputs: Vec<NewObject> = (0..20_000)
            .map(|i| NewObject {
                writes: set
                    .validate(&[("firstname".to_string(), format!("n{i}"))], true)
                    .unwrap(),
                associations: vec![],
            })
            .collect();
        let ids: Vec<ObjectId> = store
            .create_objects(
                A,
                set.clone(),
                inputs,
                BatchMode::AllOrNothing,
                WriteSource::api(None),
            )
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.unwrap().id)
            .collect();
        let archived = ids[10];
        store
            .archive_objects(A, set.clone(), vec![archived])
            .await
            .unwrap();
        drop(store);

        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        assert!(matches!(store.cache.lookup(A, "0-1", ids[0]), Lookup::Miss));
        store.start_warm_up();
        // Writes while it runs: each makes the rows read before it stale.
        for &id in ids.iter().skip(3).step_by(13) {
            store
                .archive_objects(A, set.clone(), vec![id])
                .await
                .unwrap();
        }
        for round in 0..3 {
            for &id in ids.iter().step_by(7) {
                if id == archived || (id.0 - ids[3].0) % 13 == 0 && id.0 >= ids[3].0 {
                    continue;
                }
                store
                    .update_objects(
                        A,
                        set.clone(),
                        vec![(id, writes(&set, "lastname", &format!("r{round}")))],
                        WriteSource::api(None),
                    )
                    .await
                    .unwrap();
            }
        }
        store.warm_up.lock().unwrap().wait();
        store.writer.applied().await.unwrap();
        for (i, &id) in ids.iter().enumerate() {
            let cached = store.cache.lookup(A, "0-1", id);
            if id == archived || i >= 3 && (i - 3) % 13 == 0 {
                assert!(matches!(cached, Lookup::Miss), "archived {id:?} cached");
                continue;
            }
            let Lookup::Live(Ok(record), _) = cached else {
                panic!("{id:?} is not cached");
            };
            assert_eq!(record.properties["firstname"], format!("n{i}"));
            let lastname = record.properties.get("lastname").map(String::as_str);
            let expected = (i % 7 == 0).then_some("r2");
            assert_eq!(lastname, expected, "record {id:?}");
        }
    }

    /// A row read while the record's archive was pending, and cached only after the applier
    /// wrote the archive, would bring the record back as live: the applier's commit counts
    /// against fills that read before it.
    #[tokio::test]
    async fn a_row_read_before_the_applier_wrote_its_archive_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let set = contacts();
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let input = NewObject {
            writes: writes(&set, "firstname", "gone"),
            associations: vec![],
        };
        let id = store
            .create_objects(
                A,
                set.clone(),
                vec![input],
                BatchMode::AllOrNothing,
                WriteSource::api(None),
            )
            .await
            .unwrap()
            .remove(0)
            .unwrap()
            .id;
        drop(store);
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        store.writer.hold(true);
        store
            .archive_objects(A, set.clone(), vec![id])
            .await
            .unwrap();
        // A reader (or the warm-up) reads the row SQLite still has: live.
        let start = store.cache.read_start();
        let conn = crate::sqlite::open_reader(&path).unwrap();
        let (record, version) = crate::sqlite::objects::read_row(&conn, A, "0-1", id)
            .unwrap()
            .unwrap();
        assert!(!record.archived());
        // The applier writes the archive; the record is no longer pending.
        store.writer.applied().await.unwrap();
        let encoded = store.cache.encode(
            A,
            "0-1",
            &record.properties,
            record.created_at,
            record.updated_at,
            version,
        );
        assert!(
            !store.cache.fill(start, id, encoded),
            "a stale row was taken"
        );
        assert!(matches!(store.cache.lookup(A, "0-1", id), Lookup::Miss));
    }
}
