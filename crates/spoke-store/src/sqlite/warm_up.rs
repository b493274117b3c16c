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
//!
//! It also maps every live record's unique values in the cache's map of unique values, past the
//! cache's budget too (16 bytes a value). Once it has read them all, the map names every holder
//! and the writer no longer looks values up in SQLite (record_cache.rs, `unique_complete`): a
//! mapping it adds never replaces one, so a row older than a later write can only leave a
//! mapping that names a record no longer holding the value, which every look-up checks.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection};
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::{ObjectTypeDef, Registry};
use spoke_core::schema::ObjectSchemaDef;
use spoke_core::search::{search_key, Key};
use spoke_core::time::Timestamp;
use spoke_core::value::PropertySet;

use super::objects::parse_properties;
use super::properties::load;
use super::record_cache::{unique_hash, RecordCache};
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
    let generation = cache.unique_generation();
    let mut unique = UniqueValues::default();
    let mut after = 0i64;
    let mut added = 0usize;
    let mut refused_in_a_row = 0u32;
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(added);
        }
        let filling = !cache.nearly_full();
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
            unique.map(&conn, cache, account, &object_type, id, &properties)?;
            if !filling {
                after = id.0;
                continue;
            }
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
            if unique.complete {
                cache.set_unique_complete_since(generation);
            }
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

/// The unique values the warm-up has mapped, and whether the map can be complete.
struct UniqueValues {
    /// Each (account, object type)'s definitions; `None`: a type it cannot resolve.
    sets: HashMap<(i64, String), Option<PropertySet>>,
    complete: bool,
}

impl Default for UniqueValues {
    fn default() -> Self {
        UniqueValues {
            sets: HashMap::new(),
            complete: true,
        }
    }
}

impl UniqueValues {
    fn map(
        &mut self,
        conn: &Connection,
        cache: &RecordCache,
        account: AccountId,
        object_type: &str,
        id: ObjectId,
        properties: &std::collections::BTreeMap<String, String>,
    ) -> StoreResult<()> {
        let key = (account.0, object_type.to_string());
        if !self.sets.contains_key(&key) {
            let set = property_set(conn, account, object_type)?;
            self.sets.insert(key.clone(), set);
        }
        let Some(Some(set)) = self.sets.get(&key) else {
            self.complete = false;
            return Ok(());
        };
        for (name, value) in properties {
            if value.is_empty() {
                continue;
            }
            let Some(def) = set.get(name).filter(|d| set.is_unique(d)) else {
                continue;
            };
            if let Some(Key::Text(k)) = search_key(def, value) {
                let hash = unique_hash(account, object_type, name, &k);
                if !cache.map_unique_read(hash, id) {
                    self.complete = false;
                }
            }
        }
        Ok(())
    }
}

/// An object type's definitions as the writer plans with them (the server builds the same set
/// from the same rows); `None` for a type that is neither built in nor a stored schema.
fn property_set(
    conn: &Connection,
    account: AccountId,
    object_type: &str,
) -> StoreResult<Option<PropertySet>> {
    let def: std::sync::Arc<ObjectTypeDef> = match Registry::standard().resolve(object_type) {
        Some(def) => def,
        None => {
            let Some(n) = object_type
                .strip_prefix("2-")
                .and_then(|n| n.parse::<i64>().ok())
            else {
                return Ok(None);
            };
            let json: Option<String> = conn
                .prepare_cached(
                    "SELECT definition FROM object_schemas WHERE account_id = ?1 AND id = ?2",
                )?
                .query_row(params![account.0, n], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            let Some(json) = json else {
                return Ok(None);
            };
            let schema: ObjectSchemaDef = serde_json::from_str(&json)?;
            std::sync::Arc::new(schema.to_type_def())
        }
    };
    let definitions = load(conn, "property_definitions", account, object_type)?;
    let groups = load(conn, "property_groups", account, object_type)?;
    Ok(Some(PropertySet::new(def, definitions, groups)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use spoke_core::ids::{AccountId, ObjectId};
    use spoke_core::record::WriteSource;
    use spoke_core::value::PropertySet;

    use crate::sqlite::journal_tests::{contacts, create, update};
    use crate::sqlite::record_cache::Lookup;
    use crate::sqlite::SqliteStore;
    use crate::{BatchMode, Durability, NewObject, Store, StoreError};

    const A: AccountId = AccountId(1);

    /// Creates one record a value, each with `name` set to it, in one batch.
    async fn create_all(
        store: &SqliteStore,
        set: &Arc<PropertySet>,
        name: &str,
        values: impl Iterator<Item = String>,
    ) -> Vec<ObjectId> {
        let inputs: Vec<NewObject> = values
            .map(|value| NewObject {
                writes: set.validate(&[(name.to_string(), value)], true).unwrap(),
                associations: vec![],
            })
            .collect();
        store
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
            .collect()
    }

    /// After a restart the warm-up caches every live record, and none in a state older than its
    /// latest write, while writes keep changing them.
    #[tokio::test]
    async fn the_warm_up_caches_the_latest_state_of_live_records() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let set = contacts();
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let ids = create_all(
            &store,
            &set,
            "firstname",
            (0..20_000).map(|i| format!("n{i}")),
        )
        .await;
        // Archived before the restart, and while the warm-up runs.
        let archived_before = 10;
        let archived_during = |i: usize| i >= 3 && (i - 3).is_multiple_of(13);
        store
            .archive_objects(A, set.clone(), vec![ids[archived_before]])
            .await
            .unwrap();
        drop(store);

        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        assert!(matches!(store.cache.lookup(A, "0-1", ids[0]), Lookup::Miss));
        store.start_warm_up();
        // Writes while it runs: each makes the rows read before it stale.
        for (_, &id) in ids.iter().enumerate().filter(|&(i, _)| archived_during(i)) {
            store
                .archive_objects(A, set.clone(), vec![id])
                .await
                .unwrap();
        }
        for round in 0..3 {
            for (i, &id) in ids.iter().enumerate().step_by(7) {
                if i == archived_before || archived_during(i) {
                    continue;
                }
                let lastname = format!("r{round}");
                update(&store, &set, id, &[("lastname", &lastname)])
                    .await
                    .unwrap();
            }
        }
        store.warm_up.lock().unwrap().wait();
        store.writer.applied().await.unwrap();
        for (i, &id) in ids.iter().enumerate() {
            let cached = store.cache.lookup(A, "0-1", id);
            if i == archived_before || archived_during(i) {
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
        let id = create(&store, &set, &[("firstname", "gone")])
            .await
            .unwrap();
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

    /// On a store opened with records, the warm-up maps every live record's unique values;
    /// then the writer takes the map as complete, and a value taken before the restart is still
    /// refused to another record.
    #[tokio::test]
    async fn after_the_warm_up_the_map_of_unique_values_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let set = contacts();
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let ids = create_all(
            &store,
            &set,
            "email",
            (0..500).map(|i| format!("w{i}@example.com")),
        )
        .await;
        drop(store);
        // A small cache: the warm-up stops filling it early and maps every value regardless.
        let store = SqliteStore::open_with_cache(&path, Durability::Process, 64 << 10).unwrap();
        assert!(!store.cache.unique_complete());
        store.start_warm_up();
        store.warm_up.lock().unwrap().wait();
        assert!(store.cache.unique_complete());
        for i in [0usize, 250, 499] {
            let email = format!("W{i}@example.com");
            let again = create(&store, &set, &[("email", &email)]).await;
            assert!(
                matches!(&again, Err(StoreError::UniqueConflict { existing, .. }) if *existing == ids[i]),
                "{again:?}"
            );
        }
        create(&store, &set, &[("email", "new@example.com")])
            .await
            .unwrap();
        assert!(store.cache.unique_complete());
    }
}
