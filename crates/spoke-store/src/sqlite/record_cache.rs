//! A process-wide cache of live records, kept by the writer, shared by every reader.
//!
//! SQLite's page cache belongs to one connection: with several readers (one per busy worker
//! thread) each keeps its own, and a point read at a million records descends the table's
//! B-tree and `pread`s its leaf from the OS on nearly every GET — ~40% of a GET's CPU in
//! profiles. This cache holds each live record once, as its stored `properties` text, so a
//! read by id takes one hash lookup instead.
//!
//! Correctness rests on three rules:
//! - **The writer is the only source of change, and writes through.** After a group
//!   transaction commits (and before any of its writes is acknowledged) the writer applies its
//!   records to the cache: a created or updated record replaces its entry, an archived one is
//!   removed. A rolled-back group applies nothing. So a read after an acknowledged write sees
//!   it (read-your-writes), as reads from SQLite do.
//! - **Readers fill only what no commit can have overtaken.** A reader that missed reads the
//!   row from SQLite and may add it, but only when no commit was applied since before its read
//!   began ([`RecordCache::read_start`], checked under the shard's lock): otherwise its row may
//!   be older than the entry the writer has just set or removed.
//! - **Only live records are cached.** Archived records are read from SQLite. The one change
//!   another process makes to records, `spoke records restore`, turns archived records live,
//!   which a cache of live records never holds, so the server sees it at once.
//!
//! Entries carry their account and object type, and a lookup must match both (a token of one
//! account never reaches another's record through the cache). The cache is bounded by bytes;
//! past its budget a shard drops entries in its table's order (effectively random: fine for
//! uniform access, and every drop only costs a later read from SQLite).
//!
//! Sorted and filtered reads still come from SQLite's indexes; only the rows they return come
//! from here. Such a page may show a record in a state newer than the index snapshot that
//! selected it, when a write commits between the two; a search never returns a write older than
//! the last acknowledged one.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::record::ObjectRecord;
use spoke_core::time::Timestamp;

use crate::StoreResult;

/// Shards (each its own lock and table): two busy reader threads and the writer rarely meet.
const SHARDS: usize = 64;

/// Bytes an entry costs besides its properties text: the entry itself, its reference count and
/// its slot in the table (an estimate of the allocator's and table's overhead).
const ENTRY_OVERHEAD: usize = 112;

/// The default budget: the benchmark's million contacts take ~430 MiB.
pub const DEFAULT_BUDGET_BYTES: usize = 512 << 20;

/// One live record, as stored.
#[derive(Debug)]
pub struct CachedRecord {
    pub account: AccountId,
    pub object_type: Arc<str>,
    /// The record's `properties` column: a JSON object of strings.
    pub properties: Box<str>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl CachedRecord {
    fn bytes(&self) -> usize {
        self.properties.len() + ENTRY_OVERHEAD
    }

    pub fn to_record(&self, id: ObjectId) -> StoreResult<ObjectRecord> {
        let properties: BTreeMap<String, String> = serde_json::from_str(&self.properties)?;
        Ok(ObjectRecord {
            id,
            properties,
            created_at: self.created_at,
            updated_at: self.updated_at,
            archived_at: None,
        })
    }
}

/// What a committed write does to the cache.
#[derive(Debug)]
pub enum CacheChange {
    /// The record's live state after the write.
    Put(ObjectId, Arc<CachedRecord>),
    /// The record is no longer live (or its entry can no longer be trusted).
    Remove(ObjectId),
    /// Every entry goes (a change to many records at once).
    Clear,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<i64, Arc<CachedRecord>>,
    bytes: usize,
}

impl Shard {
    fn insert(&mut self, id: i64, record: Arc<CachedRecord>) {
        self.bytes += record.bytes();
        if let Some(old) = self.entries.insert(id, record) {
            self.bytes -= old.bytes();
        }
    }

    fn remove(&mut self, id: i64) {
        if let Some(old) = self.entries.remove(&id) {
            self.bytes -= old.bytes();
        }
    }

    /// Drops entries until the shard is within `budget`, sparing `keep` (just inserted).
    fn shrink(&mut self, budget: usize, keep: i64) {
        if self.bytes <= budget {
            return;
        }
        let mut drop = Vec::new();
        let mut freed = 0;
        for (id, record) in &self.entries {
            if self.bytes - freed <= budget {
                break;
            }
            if *id != keep {
                freed += record.bytes();
                drop.push(*id);
            }
        }
        for id in drop {
            self.remove(id);
        }
    }
}

pub struct RecordCache {
    shards: Vec<Mutex<Shard>>,
    /// Bytes per shard.
    shard_budget: usize,
    /// Commits applied so far (see the module docs: readers' fills check it).
    applied: AtomicU64,
    /// Object type ids, shared by the entries that carry them.
    types: Mutex<HashMap<String, Arc<str>>>,
}

/// A reader's mark, taken before it reads from SQLite (see [`RecordCache::fill`]).
#[derive(Debug, Clone, Copy)]
pub struct ReadStart(u64);

impl RecordCache {
    /// A cache of at most about `budget` bytes; 0 disables it.
    pub fn new(budget: usize) -> RecordCache {
        RecordCache {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            shard_budget: budget / SHARDS,
            applied: AtomicU64::new(0),
            types: Mutex::default(),
        }
    }

    fn enabled(&self) -> bool {
        self.shard_budget > 0
    }

    fn shard(&self, id: i64) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // Ids are sequential: spread neighbours over the shards.
        let i = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
        self.shards[i as usize % SHARDS].lock().ok()
    }

    /// The shared copy of an object type id.
    pub fn object_type(&self, ot: &str) -> Arc<str> {
        let Ok(mut types) = self.types.lock() else {
            return Arc::from(ot);
        };
        if let Some(t) = types.get(ot) {
            return Arc::clone(t);
        }
        let t: Arc<str> = Arc::from(ot);
        types.insert(ot.to_string(), Arc::clone(&t));
        t
    }

    /// The live record `id` of `account` and `object_type`, when cached.
    pub fn get(
        &self,
        account: AccountId,
        object_type: &str,
        id: ObjectId,
    ) -> Option<Arc<CachedRecord>> {
        if !self.enabled() {
            return None;
        }
        let shard = self.shard(id.0)?;
        let record = shard.entries.get(&id.0)?;
        (record.account == account && &*record.object_type == object_type)
            .then(|| Arc::clone(record))
    }

    /// Taken by a reader before it reads rows from SQLite that it may [`fill`](Self::fill).
    pub fn read_start(&self) -> ReadStart {
        ReadStart(self.applied.load(Ordering::SeqCst))
    }

    /// Adds a live record a reader read from SQLite, unless a commit was applied since its
    /// `start` (the row may be older than what the writer set or removed since) or the record
    /// is cached already.
    pub fn fill(&self, start: ReadStart, id: ObjectId, record: CachedRecord) {
        if !self.enabled() {
            return;
        }
        let Some(mut shard) = self.shard(id.0) else {
            return;
        };
        if self.applied.load(Ordering::SeqCst) != start.0 || shard.entries.contains_key(&id.0) {
            return;
        }
        shard.insert(id.0, Arc::new(record));
        shard.shrink(self.shard_budget, id.0);
    }

    /// Applies one committed transaction's changes (the writer, after COMMIT, before it answers
    /// any of the transaction's writes).
    pub fn apply(&self, changes: Vec<CacheChange>) {
        if changes.is_empty() || !self.enabled() {
            return;
        }
        // First: a reader that read before this commit and checks after this point adds
        // nothing, so it cannot put back an entry changed below.
        self.applied.fetch_add(1, Ordering::SeqCst);
        for change in changes {
            match change {
                CacheChange::Put(id, record) => {
                    if let Some(mut shard) = self.shard(id.0) {
                        shard.insert(id.0, record);
                        shard.shrink(self.shard_budget, id.0);
                    }
                }
                CacheChange::Remove(id) => {
                    if let Some(mut shard) = self.shard(id.0) {
                        shard.remove(id.0);
                    }
                }
                CacheChange::Clear => {
                    for shard in &self.shards {
                        if let Ok(mut shard) = shard.lock() {
                            *shard = Shard::default();
                        }
                    }
                }
            }
        }
    }

    /// Bytes held (as the budget counts them).
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.bytes))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(account: i64, ot: &str, text: &str) -> CachedRecord {
        CachedRecord {
            account: AccountId(account),
            object_type: Arc::from(ot),
            properties: text.into(),
            created_at: Timestamp(1),
            updated_at: Timestamp(2),
        }
    }

    #[test]
    fn a_lookup_must_match_the_account_and_the_type() {
        let cache = RecordCache::new(1 << 20);
        let start = cache.read_start();
        cache.fill(start, ObjectId(7), record(1, "0-1", r#"{"a":"b"}"#));
        assert!(cache.get(AccountId(1), "0-1", ObjectId(7)).is_some());
        assert!(cache.get(AccountId(2), "0-1", ObjectId(7)).is_none());
        assert!(cache.get(AccountId(1), "0-2", ObjectId(7)).is_none());
        let r = cache
            .get(AccountId(1), "0-1", ObjectId(7))
            .unwrap()
            .to_record(ObjectId(7))
            .unwrap();
        assert_eq!(r.properties["a"], "b");
        assert_eq!(r.updated_at, Timestamp(2));
    }

    /// A reader that read before a commit must not put back what the commit changed.
    #[test]
    fn a_fill_that_a_commit_overtook_is_dropped() {
        let cache = RecordCache::new(1 << 20);
        let before = cache.read_start();
        // The writer archives the record the reader has just read as live.
        cache.apply(vec![CacheChange::Remove(ObjectId(5))]);
        cache.fill(before, ObjectId(5), record(1, "0-1", "{}"));
        assert!(cache.get(AccountId(1), "0-1", ObjectId(5)).is_none());
        // A reader that started after it fills.
        cache.fill(cache.read_start(), ObjectId(5), record(1, "0-1", "{}"));
        assert!(cache.get(AccountId(1), "0-1", ObjectId(5)).is_some());
    }

    /// A fill never replaces an entry: the writer's is at least as new.
    #[test]
    fn a_fill_keeps_the_writers_entry() {
        let cache = RecordCache::new(1 << 20);
        cache.apply(vec![CacheChange::Put(
            ObjectId(3),
            Arc::new(record(1, "0-1", r#"{"v":"new"}"#)),
        )]);
        cache.fill(
            cache.read_start(),
            ObjectId(3),
            record(1, "0-1", r#"{"v":"old"}"#),
        );
        let r = cache.get(AccountId(1), "0-1", ObjectId(3)).unwrap();
        assert_eq!(&*r.properties, r#"{"v":"new"}"#);
        cache.apply(vec![CacheChange::Clear]);
        assert!(cache.get(AccountId(1), "0-1", ObjectId(3)).is_none());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn the_cache_stays_within_its_budget() {
        let budget = 256 << 10;
        let cache = RecordCache::new(budget);
        let text = "x".repeat(400);
        for id in 0..10_000 {
            cache.apply(vec![CacheChange::Put(
                ObjectId(id),
                Arc::new(record(1, "0-1", &text)),
            )]);
        }
        assert!(cache.bytes() <= budget, "{}", cache.bytes());
        assert!(cache.bytes() > budget / 2, "{}", cache.bytes());
        // The newest entry is always kept.
        assert!(cache.get(AccountId(1), "0-1", ObjectId(9_999)).is_some());
        let off = RecordCache::new(0);
        off.fill(off.read_start(), ObjectId(1), record(1, "0-1", "{}"));
        assert!(off.get(AccountId(1), "0-1", ObjectId(1)).is_none());
    }
}

/// The cache seen through the store: what a caller reads after each kind of write.
#[cfg(test)]
mod store_tests {
    use std::sync::Arc;

    use spoke_core::ids::{AccountId, ObjectId};
    use spoke_core::object_type::Registry;
    use spoke_core::record::WriteSource;
    use spoke_core::value::PropertySet;

    use crate::sqlite::SqliteStore;
    use crate::{BatchMode, Durability, NewObject, Store, StoreError};

    const A: AccountId = AccountId(1);

    fn contacts() -> Arc<PropertySet> {
        let ot = Registry::standard().resolve("contacts").unwrap();
        Arc::new(PropertySet::new(ot, vec![], vec![]))
    }

    fn input(set: &PropertySet, values: &[(&str, &str)]) -> NewObject {
        let values: Vec<(String, String)> = values
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        NewObject {
            writes: set.validate(&values, true).unwrap(),
            associations: vec![],
        }
    }

    async fn create(store: &SqliteStore, set: &Arc<PropertySet>, email: &str) -> ObjectId {
        let mut out = store
            .create_objects(
                A,
                set.clone(),
                vec![input(set, &[("email", email)])],
                BatchMode::AllOrNothing,
                WriteSource::api(None),
            )
            .await
            .unwrap();
        out.pop().unwrap().unwrap().id
    }

    async fn email(store: &SqliteStore, set: &PropertySet, id: ObjectId) -> Option<String> {
        store
            .get_object(A, &set.object_type, id, false)
            .await
            .unwrap()
            .map(|r| r.properties["email"].clone())
    }

    #[tokio::test]
    async fn reads_see_every_acknowledged_write() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.sqlite3"), Durability::Process).unwrap();
        let set = contacts();
        let id = create(&store, &set, "a@example.com").await;
        assert_eq!(
            email(&store, &set, id).await.as_deref(),
            Some("a@example.com")
        );
        let writes = set
            .validate(&[("email".into(), "b@example.com".into())], false)
            .unwrap();
        store
            .update_objects(A, set.clone(), vec![(id, writes)], WriteSource::api(None))
            .await
            .unwrap();
        assert_eq!(
            email(&store, &set, id).await.as_deref(),
            Some("b@example.com")
        );
        // Another account's token, or another type, never reaches the cached record.
        assert!(store
            .get_object(AccountId(2), &set.object_type, id, false)
            .await
            .unwrap()
            .is_none());
        let companies = Registry::standard().resolve("companies").unwrap();
        assert!(store
            .get_object(A, &companies, id, false)
            .await
            .unwrap()
            .is_none());
        store
            .archive_objects(A, &set.object_type, vec![id])
            .await
            .unwrap();
        assert_eq!(email(&store, &set, id).await, None);
        let archived = store
            .get_object(A, &set.object_type, id, true)
            .await
            .unwrap()
            .unwrap();
        assert!(archived.archived());
    }

    /// A failing input of a per-input batch leaves no record behind, in the cache either.
    #[tokio::test]
    async fn a_rolled_back_input_is_never_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.sqlite3"), Durability::Process).unwrap();
        let set = contacts();
        create(&store, &set, "taken@example.com").await;
        let out = store
            .create_objects(
                A,
                set.clone(),
                vec![
                    input(&set, &[("email", "fresh@example.com")]),
                    input(&set, &[("email", "taken@example.com")]),
                ],
                BatchMode::PerInput,
                WriteSource::api(None),
            )
            .await
            .unwrap();
        let fresh = out[0].as_ref().unwrap().id;
        assert!(matches!(out[1], Err(StoreError::UniqueConflict { .. })));
        // The failed input had the next id.
        assert_eq!(email(&store, &set, ObjectId(fresh.0 + 1)).await, None);
        assert_eq!(
            email(&store, &set, fresh).await.as_deref(),
            Some("fresh@example.com")
        );
    }

    /// `spoke records restore` writes from another process: the server sees the record at once.
    #[tokio::test]
    async fn a_restore_by_another_process_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let server = SqliteStore::open(&path, Durability::Process).unwrap();
        let set = contacts();
        let id = create(&server, &set, "back@example.com").await;
        assert!(email(&server, &set, id).await.is_some());
        server
            .archive_objects(A, &set.object_type, vec![id])
            .await
            .unwrap();
        assert_eq!(email(&server, &set, id).await, None);
        let admin = SqliteStore::open(&path, Durability::Full).unwrap();
        assert_eq!(
            admin
                .restore_objects(A, set.clone(), vec![id])
                .await
                .unwrap(),
            vec![id]
        );
        drop(admin);
        assert_eq!(
            email(&server, &set, id).await.as_deref(),
            Some("back@example.com")
        );
    }
}
