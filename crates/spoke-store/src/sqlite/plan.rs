//! Working out record writes: what a create, update or archive makes of a record, checked
//! against the record's latest state and every unique value, as [`RecordOp`]s.
//!
//! The writer plans against the latest state of every record, which is not all in SQLite: a
//! record with a journaled write that the applier has not written yet is pending in the record
//! cache (record_cache.rs, `Pending`), and writes planned earlier in the same group (or job, or
//! input) are in [`Layer`]s that become pending only once the group is journaled. So a look-up
//! goes layers, then pending and cached records, then SQLite; and the holder of a unique value
//! is found among the candidates the layers, the pending writes and SQLite's unique index name,
//! each checked against its latest state.
//!
//! In a store without a journal (another process owns it, see journal.rs) the same plans are
//! applied to SQLite at once, inside the writer's transaction; then SQLite is the latest state
//! and the cache is not consulted (its changes wait for COMMIT).

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::OBJECT_ID_PROPERTY;
use spoke_core::record::{ObjectRecord, WriteSource};
use spoke_core::search::{search_key, search_keys, Key};
use spoke_core::time::Timestamp;
use spoke_core::value::{PropertySet, PropertyWrites};

use super::objects::read_row;
use super::record_cache::{unique_hash, CacheChange, Encoded, Lookup, RecordCache};
use super::record_ops::{HistoryRow, LinkRow, OpKind, RecordOp, TextChange};
use super::search::{key_column, key_columns, key_value, record_text, unique_lookup_sql};
use crate::{AssociationLink, StoreError, StoreResult};

/// A record's state as a write planned it.
#[derive(Debug, Clone)]
pub(crate) struct Planned {
    pub account: i64,
    pub object_type: String,
    pub record: ObjectRecord,
    pub version: i64,
}

/// The writes of one group, job or input, not yet journaled: the records' latest states, the
/// unique values they took, their ops and their changes to the cache's unique-value map.
#[derive(Default)]
pub(crate) struct Layer {
    pub records: HashMap<i64, Planned>,
    /// Unique values taken (see `pending_hash`) → the records that took them.
    pub unique: HashMap<u64, Vec<i64>>,
    pub ops: Vec<RecordOp>,
    /// Changes to the cache's map of unique text values: (hash, record, holds it now).
    pub unique_changes: Vec<(u64, ObjectId, bool)>,
}

impl Layer {
    /// Takes `top`'s writes over (they came after this layer's).
    pub fn absorb(&mut self, top: Layer) {
        self.records.extend(top.records);
        for (hash, ids) in top.unique {
            self.unique.entry(hash).or_default().extend(ids);
        }
        self.ops.extend(top.ops);
        self.unique_changes.extend(top.unique_changes);
    }

    /// The cache changes of the records written: each one's latest state replaces its entry
    /// (an archived one leaves), then the unique-value map's changes.
    pub fn cache_changes(&self, cache: &RecordCache) -> Vec<CacheChange> {
        let mut out = Vec::with_capacity(self.records.len() + self.unique_changes.len());
        for p in self.records.values() {
            let entry = (!p.record.archived() && cache.enabled())
                .then(|| p.encode(cache))
                .flatten();
            out.push(match entry {
                Some(e) => CacheChange::Put(p.record.id, e),
                None => CacheChange::Remove(p.record.id),
            });
        }
        out.extend(
            self.unique_changes
                .iter()
                .map(|&(hash, id, holds)| CacheChange::unique(hash, id, holds)),
        );
        out
    }
}

impl Planned {
    /// The record's cache entry (whether or not the cache keeps live records: pending ones
    /// are kept regardless).
    pub fn encode(&self, cache: &RecordCache) -> Option<Encoded> {
        cache.encode_always(
            AccountId(self.account),
            &self.object_type,
            &self.record.properties,
            self.record.created_at,
            self.record.updated_at,
            self.version,
        )
    }
}

/// A record's latest state and version, as the planner found it.
pub(crate) struct Current {
    pub record: ObjectRecord,
    pub version: i64,
}

/// Plans record writes (see the module docs).
pub(crate) struct Planner<'a> {
    pub conn: &'a Connection,
    pub cache: &'a RecordCache,
    /// Whether the cache (pending and cached records) holds the latest states: true for the
    /// journaling writer, false inside a SQLite transaction (see the module docs).
    pub use_cache: bool,
    pub next_id: &'a AtomicI64,
    /// The group's layer first, then the job's, then an input's.
    pub layers: &'a mut Vec<Layer>,
    /// Whether a unique value the cache's map does not name is free (checked once a group).
    pub unique_map: &'a UniqueMapCheck,
}

/// Whether the writer may take the cache's map of unique values as complete
/// ([`RecordCache::unique_complete`]): a value it names no holder of is then free, without a
/// look-up in SQLite. A restore by another process (`spoke records restore`, which counts
/// itself in `record_restores`) brings values back behind the map's back; the count is read
/// once a group, the first time the answer is needed, and a change ends completeness.
pub(crate) struct UniqueMapCheck {
    /// `record_restores` when the store was opened; `None`: never complete.
    restores_at_open: Option<i64>,
    answer: Cell<Option<bool>>,
}

impl UniqueMapCheck {
    pub fn new(restores_at_open: Option<i64>) -> UniqueMapCheck {
        UniqueMapCheck {
            restores_at_open,
            answer: Cell::new(None),
        }
    }

    /// Never complete: SQLite is always asked.
    pub fn off() -> UniqueMapCheck {
        UniqueMapCheck::new(None)
    }

    fn complete(&self, cache: &RecordCache, conn: &Connection) -> bool {
        let Some(at_open) = self.restores_at_open else {
            return false;
        };
        if !cache.unique_complete() {
            return false;
        }
        if let Some(answer) = self.answer.get() {
            return answer;
        }
        let now: Option<i64> = conn
            .prepare_cached("SELECT count FROM record_restores")
            .and_then(|mut s| s.query_row([], |r| r.get(0)))
            .ok();
        let answer = now == Some(at_open);
        if !answer {
            tracing::info!("records were restored by another process: unique values are looked up in SQLite from now on");
            cache.unique_incomplete();
        }
        self.answer.set(Some(answer));
        answer
    }
}

/// The key a unique value is found by among pending writes: its account, type, property and
/// search key (numbers too, unlike the cache's map of text values).
fn pending_hash(account: AccountId, object_type: &str, property: &str, key: &Key) -> u64 {
    match key {
        Key::Text(k) => unique_hash(account, object_type, property, k),
        Key::Num(n) => unique_hash(
            account,
            object_type,
            property,
            &format!("\0{}", n.to_bits()),
        ),
    }
}

impl Planner<'_> {
    /// The latest state of a record of `account`'s `object_type`, live or archived.
    pub fn current(
        &self,
        account: AccountId,
        object_type: &str,
        id: ObjectId,
    ) -> StoreResult<Option<Current>> {
        for layer in self.layers.iter().rev() {
            if let Some(p) = layer.records.get(&id.0) {
                if p.account != account.0 || p.object_type != object_type {
                    return Ok(None);
                }
                return Ok(Some(Current {
                    record: p.record.clone(),
                    version: p.version,
                }));
            }
        }
        if self.use_cache {
            match self.cache.lookup(account, object_type, id) {
                Lookup::Live(record, version) | Lookup::Archived(record, version) => {
                    return Ok(Some(Current {
                        record: record?,
                        version,
                    }))
                }
                Lookup::Absent => return Ok(None),
                Lookup::Miss => {}
            }
        }
        Ok(read_row(self.conn, account, object_type, id)?
            .map(|(record, version)| Current { record, version }))
    }

    /// The live record other than `except` whose unique `property` has `value`'s search key.
    pub fn holder(
        &self,
        account: AccountId,
        set: &PropertySet,
        property: &str,
        value: &str,
        except: Option<ObjectId>,
    ) -> StoreResult<Option<ObjectId>> {
        Ok(self
            .holder_state(account, set, property, value, except)?
            .map(|c| c.record.id))
    }

    /// [`Self::holder`] with the holder's latest state (an upsert updates it next).
    pub fn holder_state(
        &self,
        account: AccountId,
        set: &PropertySet,
        property: &str,
        value: &str,
        except: Option<ObjectId>,
    ) -> StoreResult<Option<Current>> {
        let Some(def) = set.get(property) else {
            return Ok(None);
        };
        let Some(key) = search_key(def, value) else {
            return Ok(None);
        };
        let ot = set.object_type.object_type_id.0.as_str();
        let holds = |id: ObjectId| -> StoreResult<Option<Current>> {
            if Some(id) == except {
                return Ok(None);
            }
            Ok(self.current(account, ot, id)?.filter(|c| {
                !c.record.archived()
                    && c.record
                        .properties
                        .get(property)
                        .and_then(|v| search_key(def, v))
                        .as_ref()
                        == Some(&key)
            }))
        };
        let hash = pending_hash(account, ot, property, &key);
        let mut candidates: Vec<i64> = Vec::new();
        for layer in self.layers.iter().rev() {
            if let Some(ids) = layer.unique.get(&hash) {
                candidates.extend(ids.iter().rev());
            }
        }
        if self.use_cache {
            candidates.extend(self.cache.pending_unique_candidates(hash));
            if let Key::Text(k) = &key {
                if let Some(id) = self
                    .cache
                    .unique_candidate(unique_hash(account, ot, property, k))
                {
                    candidates.push(id.0);
                }
            }
        }
        for id in candidates {
            if let Some(holder) = holds(ObjectId(id))? {
                return Ok(Some(holder));
            }
        }
        if self.use_cache
            && matches!(key, Key::Text(_))
            && self.unique_map.complete(self.cache, self.conn)
        {
            return Ok(None);
        }
        // SQLite's holder, as of what the applier has written: a later write may have changed
        // it (then no live record holds the value but a pending one, found above).
        let sql = unique_lookup_sql(ot, property)?;
        let stored: Option<i64> = self
            .conn
            .prepare_cached(&sql)?
            .query_row(
                params![account.0, key_value(&key), except.map_or(0, |i| i.0)],
                |r| r.get(0),
            )
            .optional()?;
        match stored {
            Some(id) => holds(ObjectId(id)),
            None => Ok(None),
        }
    }

    /// Fails with a conflict when a record other than `id` holds `value` of `property`.
    fn check_unique(
        &self,
        account: AccountId,
        set: &PropertySet,
        property: &str,
        value: &str,
        id: ObjectId,
    ) -> StoreResult<()> {
        match self.holder(account, set, property, value, Some(id))? {
            Some(other) => Err(StoreError::UniqueConflict {
                property: property.to_string(),
                value: value.to_string(),
                existing: other,
                on: Some(id),
            }),
            None => Ok(()),
        }
    }

    fn top(&mut self) -> &mut Layer {
        if self.layers.is_empty() {
            self.layers.push(Layer::default());
        }
        let last = self.layers.len() - 1;
        &mut self.layers[last]
    }

    /// Runs `f` in a layer of its own: its writes count only when it succeeds (an input of a
    /// per-input batch).
    pub fn input<T>(&mut self, f: impl FnOnce(&mut Self) -> StoreResult<T>) -> StoreResult<T> {
        self.layers.push(Layer::default());
        let result = f(self);
        if let Some(top) = self.layers.pop() {
            if result.is_ok() {
                self.top().absorb(top);
            }
        }
        result
    }

    /// Records a planned write: the record's new state, its op, and its unique values (those
    /// the write set: `taken`; those it gave up: `released`).
    fn push(
        &mut self,
        set: Option<&PropertySet>,
        planned: Planned,
        op: RecordOp,
        taken: &BTreeMap<&str, &str>,
        released: &BTreeMap<&str, &str>,
    ) {
        let account = AccountId(planned.account);
        let id = ObjectId(planned.record.id.0);
        let ot = planned.object_type.clone();
        let mut unique = Vec::new();
        let mut changes = Vec::new();
        for (map, holds) in [(released, false), (taken, true)] {
            for (name, value) in map {
                let Some(key) = set
                    .and_then(|s| s.get(name))
                    .and_then(|d| search_key(d, value))
                else {
                    continue;
                };
                if holds {
                    unique.push((pending_hash(account, &ot, name, &key), id.0));
                }
                if let Key::Text(k) = key {
                    changes.push((unique_hash(account, &ot, name, &k), id, holds));
                }
            }
        }
        let top = self.top();
        top.records.insert(id.0, planned);
        for (hash, id) in unique {
            top.unique.entry(hash).or_default().push(id);
        }
        top.ops.push(op);
        top.unique_changes.extend(changes);
    }
}

/// The unique-value properties among `properties`, with their values.
fn unique_values<'a>(
    set: &PropertySet,
    properties: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> BTreeMap<&'a str, &'a str> {
    properties
        .into_iter()
        .filter(|(name, value)| {
            !value.is_empty() && set.get(name).is_some_and(|d| set.is_unique(d))
        })
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// Plans the creation of a record, with the associations to make with it (their `from_id` is
/// the new record's).
pub(crate) fn create(
    p: &mut Planner<'_>,
    account: AccountId,
    set: &Arc<PropertySet>,
    writes: &PropertyWrites,
    links: &[AssociationLink],
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let object_type = set.object_type.as_ref();
    let ot = object_type.object_type_id.0.as_str();
    let id = ObjectId(p.next_id.fetch_add(1, Ordering::Relaxed));
    let now = Timestamp::now();
    let mut properties: BTreeMap<String, String> = BTreeMap::new();
    for (name, write) in &writes.values {
        let value = write.apply(None);
        // Clearing a property that never had a value is a no-op on create.
        if !value.is_empty() {
            properties.insert(name.clone(), value);
        }
    }
    let iso = now.to_iso();
    properties.insert(object_type.createdate_property.clone(), iso.clone());
    properties.insert(object_type.lastmodified_property.clone(), iso);
    properties.insert(OBJECT_ID_PROPERTY.to_string(), id.to_string());
    for name in &writes.unique {
        if let Some(value) = properties.get(name) {
            p.check_unique(account, set, name, value, id)?;
        }
    }
    let keys = key_columns(search_keys(set, &properties))?;
    let op = RecordOp {
        lsn: 0,
        kind: OpKind::Create,
        account: account.0,
        object_type: ot.to_string(),
        id: id.0,
        version: 1,
        at: now.millis(),
        properties: serde_json::to_string(&properties)?,
        keys: keys
            .into_iter()
            .enumerate()
            .map(|(c, k)| (c as u8, k))
            .collect(),
        text: TextChange::Set(record_text(account, set, &properties)),
        history: Vec::new(),
        source_type: source.source_type.clone(),
        source_id: source.source_id.clone(),
        links: links
            .iter()
            .map(|l| LinkRow {
                to_type: l.to_type.clone(),
                to_id: l.to_id.0,
                type_id: l.type_id,
                inverse_type_id: l.inverse_type_id,
                category: l.category.clone(),
            })
            .collect(),
        set: Some(Arc::clone(set)),
    };
    let record = ObjectRecord {
        id,
        properties,
        created_at: now,
        updated_at: now,
        archived_at: None,
    };
    let taken = unique_values(set, &record.properties);
    let planned = Planned {
        account: account.0,
        object_type: ot.to_string(),
        record: record.clone(),
        version: 1,
    };
    // No history rows: every value set here has the implicit creation entry.
    p.push(Some(set), planned, op, &taken, &BTreeMap::new());
    Ok(record)
}

/// Plans a partial update of a live record: `NotFound` for a missing or archived one.
pub(crate) fn update(
    p: &mut Planner<'_>,
    account: AccountId,
    set: &Arc<PropertySet>,
    id: ObjectId,
    writes: &PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let ot = set.object_type.object_type_id.0.as_str();
    let Some(current) = p.current(account, ot, id)? else {
        return Err(StoreError::NotFound);
    };
    update_current(p, account, set, current, writes, source)
}

/// [`update`] of a record whose latest state the caller has (an upsert's holder).
pub(crate) fn update_current(
    p: &mut Planner<'_>,
    account: AccountId,
    set: &Arc<PropertySet>,
    current: Current,
    writes: &PropertyWrites,
    source: &WriteSource,
) -> StoreResult<ObjectRecord> {
    let object_type = set.object_type.as_ref();
    let ot = object_type.object_type_id.0.as_str();
    let id = current.record.id;
    if current.record.archived() {
        return Err(StoreError::NotFound);
    }
    let mut record = current.record;
    let mut changed: Vec<(String, String)> = Vec::new();
    for (name, write) in &writes.values {
        let old = record.properties.get(name).map(String::as_str);
        let new = write.apply(old);
        if old.unwrap_or("") == new && old.is_some() {
            continue;
        }
        if writes.unique.contains(name) && !new.is_empty() {
            p.check_unique(account, set, name, &new, id)?;
        }
        changed.push((name.clone(), new));
    }
    let now = Timestamp::now().max(record.created_at);
    let version = current.version + 1;
    let lastmod = now.to_iso();
    // The history rows, with the values the write replaces (read before they are replaced).
    let previous = |name: &str| record.properties.get(name).cloned().unwrap_or_default();
    let mut history: Vec<HistoryRow> = changed
        .iter()
        .map(|(name, value)| HistoryRow {
            property: name.clone(),
            value: value.clone(),
            previous: previous(name),
        })
        .collect();
    history.push(HistoryRow {
        property: object_type.lastmodified_property.clone(),
        value: lastmod.clone(),
        previous: previous(&object_type.lastmodified_property),
    });
    let unique_changed: Vec<&String> = changed
        .iter()
        .filter(|(n, _)| writes.unique.contains(n))
        .map(|(n, _)| n)
        .collect();
    let released: Vec<(String, String)> = unique_changed
        .iter()
        .filter_map(|n| record.properties.get_key_value(n.as_str()))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    for (name, value) in &changed {
        record.properties.insert(name.clone(), value.clone());
    }
    record
        .properties
        .insert(object_type.lastmodified_property.clone(), lastmod);
    record.updated_at = now;
    let text_changed = changed
        .iter()
        .any(|(name, _)| object_type.searchable_properties.contains(name));
    // Only the key columns of the properties written (with the last-modified date's), so that
    // SQLite leaves the indexes of the others alone (see search::KEY_COLUMNS).
    let mut written = [false; super::search::KEY_COLUMNS];
    for name in changed
        .iter()
        .map(|(name, _)| name)
        .chain([&object_type.lastmodified_property])
    {
        written[key_column(name)] = true;
    }
    let keys = key_columns(search_keys(
        set,
        record
            .properties
            .iter()
            .filter(|(name, _)| written[key_column(name)]),
    ))?;
    let op = RecordOp {
        lsn: 0,
        kind: OpKind::Update,
        account: account.0,
        object_type: ot.to_string(),
        id: id.0,
        version,
        at: now.millis(),
        properties: serde_json::to_string(&record.properties)?,
        keys: keys
            .into_iter()
            .enumerate()
            .filter(|(c, _)| written[*c])
            .map(|(c, k)| (c as u8, k))
            .collect(),
        text: if text_changed {
            TextChange::Set(record_text(account, set, &record.properties))
        } else {
            TextChange::Keep
        },
        history,
        source_type: source.source_type.clone(),
        source_id: source.source_id.clone(),
        links: Vec::new(),
        set: Some(Arc::clone(set)),
    };
    let released = unique_values(set, released.iter().map(|(n, v)| (n, v)));
    let taken = unique_values(
        set,
        unique_changed
            .iter()
            .filter_map(|n| record.properties.get_key_value(n.as_str())),
    );
    let planned = Planned {
        account: account.0,
        object_type: ot.to_string(),
        record: record.clone(),
        version,
    };
    p.push(Some(set), planned, op, &taken, &released);
    Ok(record)
}

/// Plans the archive of a record; `false` (nothing planned) for one that is missing or archived.
/// Archived records leave the search indexes, so their unique values can be used again
/// (HubSpot's behaviour here is unconfirmed): the holder of a value is always checked to be
/// live, so nothing needs releasing here.
pub(crate) fn archive(
    p: &mut Planner<'_>,
    account: AccountId,
    set: &PropertySet,
    id: ObjectId,
    at: Timestamp,
) -> StoreResult<bool> {
    let ot = set.object_type.object_type_id.0.as_str();
    let Some(current) = p.current(account, ot, id)? else {
        return Ok(false);
    };
    if current.record.archived() {
        return Ok(false);
    }
    let mut record = current.record;
    record.archived_at = Some(at);
    let version = current.version + 1;
    let op = RecordOp {
        lsn: 0,
        kind: OpKind::Archive,
        account: account.0,
        object_type: ot.to_string(),
        id: id.0,
        version,
        at: at.millis(),
        properties: String::new(),
        keys: Vec::new(),
        text: TextChange::Set(None),
        history: Vec::new(),
        source_type: String::new(),
        source_id: None,
        links: Vec::new(),
        set: None,
    };
    let planned = Planned {
        account: account.0,
        object_type: ot.to_string(),
        record,
        version,
    };
    // Its unique values leave the cache's map, which must name only live holders to be taken
    // as complete (record_cache.rs, `unique_complete`).
    let held = planned.record.properties.clone();
    let released = unique_values(set, &held);
    p.push(Some(set), planned, op, &BTreeMap::new(), &released);
    Ok(true)
}
