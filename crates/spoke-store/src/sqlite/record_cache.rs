//! A process-wide cache of live records, kept by the writer, shared by every reader.
//!
//! SQLite's page cache belongs to one connection: with several readers (one per busy worker
//! thread) each keeps its own, and a point read at a million records descends the table's
//! B-tree and `pread`s its leaf from the OS on nearly every GET — ~40% of a GET's CPU in
//! profiles. This cache holds each live record once, in a compact encoding (see `Encoded`), so a
//! read by id takes one hash lookup instead.
//!
//! Correctness rests on three rules:
//! - **The writer is the only source of change, and writes through.** After a group
//!   transaction commits (and before any of its writes is acknowledged) the writer applies its
//!   records to the cache: a created or updated record replaces its entry, an archived one is
//!   removed. A rolled-back group applies nothing. So a read after an acknowledged write sees
//!   it (read-your-writes), as reads from SQLite do.
//! - **Readers fill only what no commit can have overtaken.** A reader that missed reads the
//!   row from SQLite and may add it, but only when the record is not pending and no write was
//!   made visible or applied since before its read began ([`RecordCache::read_start`], checked
//!   under the shard's lock): otherwise its row may be older than the entry the writer has just
//!   set or removed. (SQLite lags the pending writes: a row read while an archive was pending,
//!   and cached once it was applied, would bring the record back.) The warm-up after a start
//!   (warm_up.rs) fills by the same rule.
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
//! from here. The one exception is a search for one unique value (dedupe by email): a map of
//! unique values beside the entries names the record, and its cached value is checked. Such a page may show a record in a state newer than the index snapshot that
//! selected it, when a write commits between the two; a search never returns a write older than
//! the last acknowledged one.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::record::ObjectRecord;
use spoke_core::time::Timestamp;

use crate::{StoreError, StoreResult};

/// Shards (each its own lock and table): two busy reader threads and the writer rarely meet.
const SHARDS: usize = 64;

/// Bytes an entry costs besides its encoding: its slot in the table and the allocator's
/// rounding (an estimate).
const ENTRY_OVERHEAD: usize = 48;

/// The default budget. The benchmark's million contacts take ~280 MiB of it.
pub const DEFAULT_BUDGET_BYTES: usize = 384 << 20;

/// A cached record is one allocation: its account, object type (an index into the cache's
/// names), creation and last-modified times, its version (the write counter that keys history
/// rows), then each property as its name's index and its value, lengths as varints. About half the size of the stored JSON text, and one allocation
/// instead of two per property as a map: at a million contacts that is ~280 MiB instead of
/// ~600 MiB measured for the JSON text in an `Arc`.
pub type Encoded = Box<[u8]>;

const HEADER: usize = 8 + 4 + 8 + 8 + 8;

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        n |= ((b & 0x7f) as usize) << shift;
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

fn get_i64(bytes: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    i64::from_le_bytes(b)
}

/// Names (object type ids and property names) by index, shared by every entry.
#[derive(Default)]
struct Names {
    index: HashMap<String, u32>,
    names: Vec<Arc<str>>,
}

/// What a committed write does to the cache.
#[derive(Debug)]
pub enum CacheChange {
    /// The record's live state after the write.
    Put(ObjectId, Encoded),
    /// The record is no longer live (or its entry can no longer be trusted).
    Remove(ObjectId),
    /// Every entry goes (a change to many records at once).
    Clear,
    /// The record holds this unique value now ([`unique_hash`]).
    MapUnique(u64, ObjectId),
    /// The record no longer holds this unique value.
    UnmapUnique(u64, ObjectId),
}

impl CacheChange {
    /// A change to the unique-value map: `id` holds the value `hash` now, or no longer.
    pub fn unique(hash: u64, id: ObjectId, holds: bool) -> CacheChange {
        if holds {
            CacheChange::MapUnique(hash, id)
        } else {
            CacheChange::UnmapUnique(hash, id)
        }
    }
}

/// Shards of the unique-value map.
const UNIQUE_SHARDS: usize = 16;

/// The key of a unique value in the unique-value map: a hash of the account, object type,
/// property and search key. A lookup only names a candidate, which the caller checks against
/// the cached record's value, so a collision or a stale mapping costs a read from SQLite,
/// never a wrong answer.
pub fn unique_hash(account: AccountId, object_type: &str, property: &str, key: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (account.0, object_type, property, key).hash(&mut h);
    h.finish()
}

/// What a lookup without SQLite found (see [`RecordCache::lookup`]).
pub enum Lookup {
    /// A live record and its version.
    Live(StoreResult<ObjectRecord>, i64),
    /// A record a pending write archived, and its version.
    Archived(StoreResult<ObjectRecord>, i64),
    /// A pending record of another account or object type: none for this caller.
    Absent,
    /// Not known here: SQLite has the record's latest state, if any.
    Miss,
}

/// A record with a write the journal holds but SQLite does not have yet (writer.rs): its state
/// after that write. Kept outside the budget until the applier has written it to SQLite.
pub struct Pending {
    /// The journal position of the record's latest write.
    pub lsn: u64,
    pub encoded: Encoded,
    pub archived_at: Option<i64>,
    /// The pending unique values it took ([`RecordCache::pend_unique`]), released with it.
    pub unique: Vec<u64>,
}

#[derive(Default)]
struct Shard {
    entries: HashMap<i64, Encoded>,
    bytes: usize,
}

fn cost(e: &Encoded) -> usize {
    e.len() + ENTRY_OVERHEAD
}

impl Shard {
    fn insert(&mut self, id: i64, record: Encoded) {
        self.bytes += cost(&record);
        if let Some(old) = self.entries.insert(id, record) {
            self.bytes -= cost(&old);
        }
    }

    fn remove(&mut self, id: i64) {
        if let Some(old) = self.entries.remove(&id) {
            self.bytes -= cost(&old);
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
                freed += cost(record);
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
    names: RwLock<Names>,
    /// Unique value ([`unique_hash`]) → the record holding it, for searches by a unique value
    /// (dedupe by email). 16 bytes a value, outside the budget: mappings of evicted records
    /// stay, and only send their lookups to SQLite.
    unique: Vec<Mutex<HashMap<u64, i64>>>,
    /// Whether `unique` names the holder of every unique text value a record holds, so that a
    /// value it does not name is free (see [`Self::unique_complete`]): the lowest bit; the rest
    /// counts the times it stopped being so (a warm-up that began before one cannot end it).
    unique_state: AtomicU64,
    /// Records whose latest write SQLite does not have yet, by id (see [`Pending`]); readers
    /// look here first. Their number, so that reads skip the look-up when there are none.
    pending: Vec<Mutex<HashMap<i64, Pending>>>,
    pending_count: std::sync::atomic::AtomicUsize,
    /// Unique values taken by pending writes (a hash of account, type, property and key) →
    /// the records that took them: with SQLite's unique index, where the writer finds the
    /// holder of a unique value. Only the writer reads it; every candidate is checked.
    pending_unique: Vec<Mutex<HashMap<u64, Vec<i64>>>>,
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
            names: RwLock::default(),
            unique: (0..UNIQUE_SHARDS).map(|_| Mutex::default()).collect(),
            unique_state: AtomicU64::new(0),
            pending: (0..SHARDS).map(|_| Mutex::default()).collect(),
            pending_count: std::sync::atomic::AtomicUsize::new(0),
            pending_unique: (0..UNIQUE_SHARDS).map(|_| Mutex::default()).collect(),
        }
    }

    fn pending_shard(&self, id: i64) -> Option<std::sync::MutexGuard<'_, HashMap<i64, Pending>>> {
        let i = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
        self.pending[i as usize % SHARDS].lock().ok()
    }

    /// The writer, once a write is journaled: `id`'s state until the applier has written it.
    pub fn pend(&self, id: ObjectId, mut pending: Pending) {
        let Some(mut shard) = self.pending_shard(id.0) else {
            return;
        };
        match shard.remove(&id.0) {
            Some(old) => pending.unique.extend(old.unique),
            None => {
                self.pending_count.fetch_add(1, Ordering::AcqRel);
            }
        }
        shard.insert(id.0, pending);
    }

    /// The applier, after a commit: `runs` records, each with the journal position of its last
    /// applied write, are no longer pending. Counted as a commit for readers' fills first (see
    /// [`Self::fill`]): a reader that read a row before this commit may not cache it once the
    /// record is no longer pending.
    pub fn unpend_all(&self, runs: impl IntoIterator<Item = (ObjectId, u64)>) {
        self.applied.fetch_add(1, Ordering::SeqCst);
        for (id, lsn) in runs {
            self.unpend(id, lsn);
        }
    }

    /// Once SQLite has `id`'s writes through `lsn`: the record is read from the cache or SQLite
    /// again, unless a later write is pending.
    fn unpend(&self, id: ObjectId, lsn: u64) {
        let released = {
            let Some(mut shard) = self.pending_shard(id.0) else {
                return;
            };
            if shard.get(&id.0).is_none_or(|p| p.lsn > lsn) {
                return;
            }
            let Some(p) = shard.remove(&id.0) else {
                return;
            };
            self.pending_count.fetch_sub(1, Ordering::AcqRel);
            p.unique
        };
        for hash in released {
            if let Some(mut shard) = self.pending_unique_shard(hash) {
                if let Some(ids) = shard.get_mut(&hash) {
                    ids.retain(|&i| i != id.0);
                    if ids.is_empty() {
                        shard.remove(&hash);
                    }
                }
            }
        }
    }

    fn pending_unique_shard(
        &self,
        hash: u64,
    ) -> Option<std::sync::MutexGuard<'_, HashMap<u64, Vec<i64>>>> {
        self.pending_unique[(hash >> 60) as usize % UNIQUE_SHARDS]
            .lock()
            .ok()
    }

    /// The writer: a pending write of `id` takes the unique value `hash` (before [`Self::pend`]
    /// of that write, which lists it in `unique`).
    pub fn pend_unique(&self, hash: u64, id: ObjectId) {
        if let Some(mut shard) = self.pending_unique_shard(hash) {
            let ids = shard.entry(hash).or_default();
            if !ids.contains(&id.0) {
                ids.push(id.0);
            }
        }
    }

    /// Records that pending writes gave the unique value `hash` (to be checked: a later write
    /// may have changed it).
    pub fn pending_unique_candidates(&self, hash: u64) -> Vec<i64> {
        self.pending_unique_shard(hash)
            .and_then(|s| s.get(&hash).cloned())
            .unwrap_or_default()
    }

    /// Whether the cache keeps live records (pending ones are kept regardless).
    pub fn enabled(&self) -> bool {
        self.shard_budget > 0
    }

    fn shard(&self, id: i64) -> Option<std::sync::MutexGuard<'_, Shard>> {
        // Ids are sequential: spread neighbours over the shards.
        let i = (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 58;
        self.shards[i as usize % SHARDS].lock().ok()
    }

    /// The index of a name, added when new.
    fn name_index(&self, name: &str) -> Option<u32> {
        if let Some(&i) = self.names.read().ok()?.index.get(name) {
            return Some(i);
        }
        let mut names = self.names.write().ok()?;
        if let Some(&i) = names.index.get(name) {
            return Some(i);
        }
        let i = u32::try_from(names.names.len()).ok()?;
        names.names.push(Arc::from(name));
        names.index.insert(name.to_string(), i);
        Some(i)
    }

    /// A record's cache entry; `None` when the cache is off.
    pub fn encode(
        &self,
        account: AccountId,
        object_type: &str,
        properties: &BTreeMap<String, String>,
        created_at: Timestamp,
        updated_at: Timestamp,
        version: i64,
    ) -> Option<Encoded> {
        if !self.enabled() {
            return None;
        }
        self.encode_always(
            account,
            object_type,
            properties,
            created_at,
            updated_at,
            version,
        )
    }

    /// [`Self::encode`] whether or not the cache is on (pending records are kept regardless).
    pub fn encode_always(
        &self,
        account: AccountId,
        object_type: &str,
        properties: &BTreeMap<String, String>,
        created_at: Timestamp,
        updated_at: Timestamp,
        version: i64,
    ) -> Option<Encoded> {
        let size: usize = properties
            .iter()
            .map(|(k, v)| v.len() + 4 + k.len() / 8)
            .sum();
        let mut out = Vec::with_capacity(HEADER + size);
        out.extend_from_slice(&account.0.to_le_bytes());
        out.extend_from_slice(&self.name_index(object_type)?.to_le_bytes());
        out.extend_from_slice(&created_at.millis().to_le_bytes());
        out.extend_from_slice(&updated_at.millis().to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        for (name, value) in properties {
            put_varint(&mut out, self.name_index(name)? as usize);
            put_varint(&mut out, value.len());
            out.extend_from_slice(value.as_bytes());
        }
        Some(out.into_boxed_slice())
    }

    /// `bytes` decoded, when it is an entry of `account`'s `object_type` (`None` otherwise).
    /// One look at the names for both (a shared lock that every read takes).
    fn decode_own(
        &self,
        bytes: &[u8],
        account: AccountId,
        object_type: &str,
        id: ObjectId,
        keep: Option<&[String]>,
    ) -> Option<StoreResult<ObjectRecord>> {
        if bytes.len() < HEADER || get_i64(bytes, 0) != account.0 {
            return None;
        }
        let names = self.names.read().ok()?;
        let mut ot = [0u8; 4];
        ot.copy_from_slice(&bytes[8..12]);
        if names.names.get(u32::from_le_bytes(ot) as usize)?.as_ref() != object_type {
            return None;
        }
        Some(decode(bytes, id, &names, keep))
    }

    /// What the store knows of a record without SQLite: a pending write's state (live or
    /// archived, see [`Self::pend`]), else the cached live record, with its version.
    pub fn lookup(&self, account: AccountId, object_type: &str, id: ObjectId) -> Lookup {
        self.lookup_keeping(account, object_type, id, None)
    }

    /// [`Self::lookup`] with only the properties named in `keep`, when given: a read that
    /// returns a few properties of many (GET's default set) decodes only those.
    pub fn lookup_keeping(
        &self,
        account: AccountId,
        object_type: &str,
        id: ObjectId,
        keep: Option<&[String]>,
    ) -> Lookup {
        if self.pending_count.load(Ordering::Acquire) > 0 {
            if let Some(shard) = self.pending_shard(id.0) {
                if let Some(p) = shard.get(&id.0) {
                    let Some(record) = self.decode_own(&p.encoded, account, object_type, id, keep)
                    else {
                        // Another account's or type's record: for this caller it does not
                        // exist, in SQLite either (it is pending, so SQLite is older).
                        return Lookup::Absent;
                    };
                    let version = get_i64(&p.encoded, 28);
                    let record = record.map(|mut r| {
                        r.archived_at = p.archived_at.map(Timestamp);
                        r
                    });
                    return match p.archived_at {
                        None => Lookup::Live(record, version),
                        Some(_) => Lookup::Archived(record, version),
                    };
                }
            }
        }
        if !self.enabled() {
            return Lookup::Miss;
        }
        let Some(shard) = self.shard(id.0) else {
            return Lookup::Miss;
        };
        let Some(bytes) = shard.entries.get(&id.0) else {
            return Lookup::Miss;
        };
        match self.decode_own(bytes, account, object_type, id, keep) {
            Some(record) => Lookup::Live(record, get_i64(bytes, 28)),
            None => Lookup::Miss,
        }
    }

    /// The live record `id` of `account` and `object_type`, when the cache has it (pending or
    /// cached); `None` otherwise, archived by a pending write included.
    #[cfg(test)]
    pub fn get(
        &self,
        account: AccountId,
        object_type: &str,
        id: ObjectId,
    ) -> Option<StoreResult<ObjectRecord>> {
        match self.lookup(account, object_type, id) {
            Lookup::Live(record, _) => Some(record),
            Lookup::Archived(..) | Lookup::Absent | Lookup::Miss => None,
        }
    }

    fn unique_shard(&self, hash: u64) -> Option<std::sync::MutexGuard<'_, HashMap<u64, i64>>> {
        self.unique[(hash >> 60) as usize % UNIQUE_SHARDS]
            .lock()
            .ok()
    }

    /// The record that may hold a unique value (to be checked against its cached value).
    pub fn unique_candidate(&self, hash: u64) -> Option<ObjectId> {
        if !self.enabled() {
            return None;
        }
        self.unique_shard(hash)?.get(&hash).copied().map(ObjectId)
    }

    /// Notes that a reader found the record holding a unique value (safe at any time: every
    /// lookup is checked, see [`unique_hash`]). It never replaces a mapping: the writer's are
    /// the latest, and a reader's may be older than the write that moved the value.
    pub fn map_unique(&self, hash: u64, id: ObjectId) {
        if !self.enabled() {
            return;
        }
        if let Some(mut shard) = self.unique_shard(hash) {
            shard.entry(hash).or_insert(id.0);
        }
    }

    /// The writer: `id` holds the unique value `hash` now. A mapping of another record can
    /// only be a reader's stale one or another value with the same hash; either way the map may
    /// no longer name every holder, so it stops being complete.
    fn take_unique(&self, hash: u64, id: ObjectId) {
        if !self.enabled() {
            return;
        }
        if let Some(mut shard) = self.unique_shard(hash) {
            if shard.insert(hash, id.0).is_some_and(|old| old != id.0) {
                self.unique_incomplete();
            }
        }
    }

    /// Whether the map of unique values names the holder of every unique text value that a
    /// record holds, pending writes included: then a value it does not name is free, and the
    /// writer need not look it up in SQLite (~a quarter of its work a created record).
    ///
    /// True only from [`Self::set_unique_complete`], which the store calls when it opens an
    /// empty store with its journal: every record is then created by this process's writer,
    /// which maps each value it gives and unmaps each it releases. Anything else that could put
    /// a value in SQLite behind the map's back ends it for the rest of the process: a `Clear`,
    /// a new unique property definition (an old property's values may come back under it), and
    /// a restore by another process (the writer compares `record_restores`, plan.rs).
    ///
    /// On a store with records, the warm-up after a start (warm_up.rs) maps the unique values
    /// of every live record, and the map is complete once it has read them all, unless one of
    /// those events happened since it began ([`Self::set_unique_complete_since`]).
    pub fn unique_complete(&self) -> bool {
        self.enabled() && self.unique_state.load(Ordering::SeqCst) & 1 == 1
    }

    pub fn set_unique_complete(&self) {
        self.unique_state.fetch_or(1, Ordering::SeqCst);
    }

    pub fn unique_incomplete(&self) {
        let _ = self
            .unique_state
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |s| {
                Some(((s >> 1) + 1) << 1)
            });
    }

    /// How many times the map stopped being complete (see [`Self::set_unique_complete_since`]).
    pub fn unique_generation(&self) -> u64 {
        self.unique_state.load(Ordering::SeqCst) >> 1
    }

    /// Complete, unless it stopped being so since `generation` was read.
    pub fn set_unique_complete_since(&self, generation: u64) {
        let _ = self.unique_state.compare_exchange(
            generation << 1,
            (generation << 1) | 1,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// The warm-up: `id` holds the unique value `hash` as its row was read. Never replaces a
    /// mapping; `false` when the map names another record for it (a later write, or another
    /// value with the same hash: the map cannot be known complete then).
    pub fn map_unique_read(&self, hash: u64, id: ObjectId) -> bool {
        if !self.enabled() {
            return false;
        }
        match self.unique_shard(hash) {
            Some(mut shard) => *shard.entry(hash).or_insert(id.0) == id.0,
            None => false,
        }
    }

    /// Taken by a reader before it reads rows from SQLite that it may [`fill`](Self::fill).
    pub fn read_start(&self) -> ReadStart {
        ReadStart(self.applied.load(Ordering::SeqCst))
    }

    /// Adds a live record a reader read from SQLite (`encoded` by [`Self::encode`]), unless a
    /// commit was applied since its `start` (the row may be older than what the writer set or
    /// removed since) or the record is cached already.
    ///
    /// `false` when it was refused because a commit was applied since `start` (the row may be
    /// stale: read it again to cache it).
    pub fn fill(&self, start: ReadStart, id: ObjectId, encoded: Option<Encoded>) -> bool {
        let Some(encoded) = encoded else {
            return true;
        };
        // A pending record's row in SQLite is older than its latest write, which the writer put
        // in the cache itself. Checked before the commit count: a record that stopped being
        // pending since `start` was counted (`unpend_all`), so its row is refused below.
        if self.pending_count.load(Ordering::Acquire) > 0
            && self
                .pending_shard(id.0)
                .is_some_and(|shard| shard.contains_key(&id.0))
        {
            return true;
        }
        let Some(mut shard) = self.shard(id.0) else {
            return true;
        };
        if self.applied.load(Ordering::SeqCst) != start.0 {
            return false;
        }
        if shard.entries.contains_key(&id.0) {
            return true;
        }
        shard.insert(id.0, encoded);
        shard.shrink(self.shard_budget, id.0);
        true
    }

    /// Whether the cache holds nine tenths of its budget (a warm-up stops there: past its
    /// budget a shard only replaces entries).
    pub fn nearly_full(&self) -> bool {
        let held: usize = self
            .shards
            .iter()
            .filter_map(|s| s.lock().ok().map(|s| s.bytes))
            .sum();
        held >= self.shard_budget * SHARDS / 10 * 9
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
                    for shard in &self.unique {
                        if let Ok(mut shard) = shard.lock() {
                            shard.clear();
                        }
                    }
                    self.unique_incomplete();
                }
                CacheChange::MapUnique(hash, id) => self.take_unique(hash, id),
                CacheChange::UnmapUnique(hash, id) => {
                    if let Some(mut shard) = self.unique_shard(hash) {
                        if shard.get(&hash) == Some(&id.0) {
                            shard.remove(&hash);
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

fn decode(
    bytes: &[u8],
    id: ObjectId,
    names: &Names,
    keep: Option<&[String]>,
) -> StoreResult<ObjectRecord> {
    let corrupt = || StoreError::Internal("a corrupt record cache entry".into());
    let mut properties = BTreeMap::new();
    let mut at = HEADER;
    while at < bytes.len() {
        let name = get_varint(bytes, &mut at).ok_or_else(corrupt)?;
        let len = get_varint(bytes, &mut at).ok_or_else(corrupt)?;
        let value = bytes.get(at..at + len).ok_or_else(corrupt)?;
        at += len;
        let name = names.names.get(name).ok_or_else(corrupt)?;
        if keep.is_some_and(|keep| !keep.iter().any(|k| k.as_str() == name.as_ref())) {
            continue;
        }
        let value = std::str::from_utf8(value).map_err(|_| corrupt())?;
        properties.insert(name.to_string(), value.to_string());
    }
    Ok(ObjectRecord {
        id,
        properties,
        created_at: Timestamp(get_i64(bytes, 12)),
        updated_at: Timestamp(get_i64(bytes, 20)),
        archived_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn entry(
        cache: &RecordCache,
        account: i64,
        ot: &str,
        pairs: &[(&str, &str)],
    ) -> Option<Encoded> {
        cache.encode(
            AccountId(account),
            ot,
            &props(pairs),
            Timestamp(1),
            Timestamp(2),
            1,
        )
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let cache = RecordCache::new(1 << 20);
        let long = "é".repeat(200);
        let written = props(&[("email", "a@b.com"), ("empty", ""), ("long", &long)]);
        let e = cache.encode(
            AccountId(3),
            "2-7",
            &written,
            Timestamp(-5),
            Timestamp(1 << 40),
            7,
        );
        cache.fill(cache.read_start(), ObjectId(9), e);
        let r = cache
            .get(AccountId(3), "2-7", ObjectId(9))
            .unwrap()
            .unwrap();
        assert_eq!(r.properties, written);
        assert_eq!(
            (r.created_at, r.updated_at),
            (Timestamp(-5), Timestamp(1 << 40))
        );
        assert_eq!(r.id, ObjectId(9));
        assert!(!r.archived());
    }

    #[test]
    fn a_lookup_must_match_the_account_and_the_type() {
        let cache = RecordCache::new(1 << 20);
        let start = cache.read_start();
        cache.fill(start, ObjectId(7), entry(&cache, 1, "0-1", &[("a", "b")]));
        assert!(cache.get(AccountId(1), "0-1", ObjectId(7)).is_some());
        assert!(cache.get(AccountId(2), "0-1", ObjectId(7)).is_none());
        assert!(cache.get(AccountId(1), "0-2", ObjectId(7)).is_none());
    }

    /// A reader that read before a commit must not put back what the commit changed.
    #[test]
    fn a_fill_that_a_commit_overtook_is_dropped() {
        let cache = RecordCache::new(1 << 20);
        let before = cache.read_start();
        // The writer archives the record the reader has just read as live.
        cache.apply(vec![CacheChange::Remove(ObjectId(5))]);
        cache.fill(before, ObjectId(5), entry(&cache, 1, "0-1", &[]));
        assert!(cache.get(AccountId(1), "0-1", ObjectId(5)).is_none());
        // A reader that started after it fills.
        cache.fill(
            cache.read_start(),
            ObjectId(5),
            entry(&cache, 1, "0-1", &[]),
        );
        assert!(cache.get(AccountId(1), "0-1", ObjectId(5)).is_some());
    }

    /// A fill never replaces an entry: the writer's is at least as new.
    #[test]
    fn a_fill_keeps_the_writers_entry() {
        let cache = RecordCache::new(1 << 20);
        let new = entry(&cache, 1, "0-1", &[("v", "new")]).unwrap();
        cache.apply(vec![CacheChange::Put(ObjectId(3), new)]);
        cache.fill(
            cache.read_start(),
            ObjectId(3),
            entry(&cache, 1, "0-1", &[("v", "old")]),
        );
        let r = cache
            .get(AccountId(1), "0-1", ObjectId(3))
            .unwrap()
            .unwrap();
        assert_eq!(r.properties["v"], "new");
        cache.apply(vec![CacheChange::Clear]);
        assert!(cache.get(AccountId(1), "0-1", ObjectId(3)).is_none());
        assert_eq!(cache.bytes(), 0);
    }

    /// A read of a few properties decodes only those; the record's own columns are whole.
    #[test]
    fn a_lookup_keeps_only_the_properties_asked_for() {
        let cache = RecordCache::new(1 << 20);
        let e = entry(&cache, 1, "0-1", &[("a", "1"), ("b", "2"), ("c", "3")]);
        cache.apply(vec![CacheChange::Put(ObjectId(4), e.unwrap())]);
        let keep = ["c".to_string(), "a".to_string(), "z".to_string()];
        let Lookup::Live(Ok(record), _) =
            cache.lookup_keeping(AccountId(1), "0-1", ObjectId(4), Some(&keep))
        else {
            panic!("not cached");
        };
        assert_eq!(record.properties, props(&[("a", "1"), ("c", "3")]));
        let Lookup::Live(Ok(all), _) = cache.lookup(AccountId(1), "0-1", ObjectId(4)) else {
            panic!("not cached");
        };
        assert_eq!(all.properties.len(), 3);
    }

    /// A warm-up that began before the map stopped being complete cannot make it complete.
    #[test]
    fn completeness_lost_during_a_warm_up_stays_lost() {
        let cache = RecordCache::new(1 << 20);
        let generation = cache.unique_generation();
        cache.unique_incomplete();
        cache.set_unique_complete_since(generation);
        assert!(!cache.unique_complete());
        cache.set_unique_complete_since(cache.unique_generation());
        assert!(cache.unique_complete());
        cache.unique_incomplete();
        assert!(!cache.unique_complete());
    }

    #[test]
    fn the_cache_stays_within_its_budget() {
        let budget = 256 << 10;
        let cache = RecordCache::new(budget);
        let text = "x".repeat(400);
        for id in 0..10_000 {
            let e = entry(&cache, 1, "0-1", &[("t", &text)]).unwrap();
            cache.apply(vec![CacheChange::Put(ObjectId(id), e)]);
        }
        assert!(cache.bytes() <= budget, "{}", cache.bytes());
        assert!(cache.bytes() > budget / 2, "{}", cache.bytes());
        // The newest entry is always kept.
        assert!(cache.get(AccountId(1), "0-1", ObjectId(9_999)).is_some());
        let off = RecordCache::new(0);
        assert!(entry(&off, 1, "0-1", &[]).is_none());
        off.fill(off.read_start(), ObjectId(1), None);
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
            .get_object(A, &set.object_type, id, false, None)
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
            .get_object(AccountId(2), &set.object_type, id, false, None)
            .await
            .unwrap()
            .is_none());
        let companies = Registry::standard().resolve("companies").unwrap();
        assert!(store
            .get_object(A, &companies, id, false, None)
            .await
            .unwrap()
            .is_none());
        store
            .archive_objects(A, set.clone(), vec![id])
            .await
            .unwrap();
        assert_eq!(email(&store, &set, id).await, None);
        let archived = store
            .get_object(A, &set.object_type, id, true, None)
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

    /// The unique-value map only names candidates: a wrong or stale mapping never answers.
    #[tokio::test]
    async fn a_search_by_a_unique_value_checks_the_record() {
        use spoke_core::search::{compile, PublicObjectSearchRequest, RESULT_CAP};
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("s.sqlite3"), Durability::Process).unwrap();
        let set = contacts();
        let id = create(&store, &set, "real@example.com").await;
        let search = |email: &str| {
            let req: PublicObjectSearchRequest = serde_json::from_value(serde_json::json!({
                "filterGroups": [{"filters": [
                    {"propertyName": "email", "operator": "EQ", "value": email}]}]}))
            .unwrap();
            compile(&set, &req, Some(RESULT_CAP)).unwrap()
        };
        let hit = store
            .search_objects(A, set.clone(), search("REAL@example.com"))
            .await
            .unwrap();
        assert_eq!((hit.0, hit.1[0].id), (1, id));
        // A mapping of another value to the record (a hash collision, say).
        let bogus = super::unique_hash(A, "0-1", "email", "other@example.com");
        store.cache.map_unique(bogus, id);
        let miss = store
            .search_objects(A, set.clone(), search("other@example.com"))
            .await
            .unwrap();
        assert_eq!((miss.0, miss.1.len()), (0, 0));
    }

    /// `spoke records restore` writes from another process: the server sees the record at once.
    /// (The other process has no journal of its own: the server owns it.)
    #[tokio::test]
    async fn a_restore_by_another_process_is_seen_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let server = SqliteStore::open(&path, Durability::Process).unwrap();
        let set = contacts();
        let id = create(&server, &set, "back@example.com").await;
        assert!(email(&server, &set, id).await.is_some());
        server
            .archive_objects(A, set.clone(), vec![id])
            .await
            .unwrap();
        assert_eq!(email(&server, &set, id).await, None);
        // Another process sees what the server's applier has written to SQLite (within
        // milliseconds of the acknowledgement: see writer.rs).
        server.writer.applied().await.unwrap();
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
