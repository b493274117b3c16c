//! The write path: two threads.
//!
//! **The journaling writer** takes record writes (creates, updates, upserts, archives). Jobs
//! that queue up while it works are planned together (plan.rs), their ops appended to the
//! journal as one frame — one `write`, and one fsync with `--durability full` (group commit) —
//! then made visible (the records become pending in the record cache) and acknowledged. It
//! never waits for SQLite's pages.
//!
//! **The applier** owns the SQLite write connection. It takes the journaled ops in runs of up
//! to [`MAX_RUN`], sorted by record id, and writes each run in one transaction, with the journal
//! position it reached (`journal_progress`); then the run's records are no longer pending, and
//! the journal segments it covered are deleted. A write applied this way costs a
//! fraction of one written per request: the run's rows and index entries share pages, and the
//! WAL and the checkpoint carry each page once per run instead of once per request (measured:
//! 34–50 µs of CPU a PATCH-shaped update at a million contacts in runs of thousands, against
//! 78–98 µs in groups of 64). It also runs every other write (definitions, associations,
//! pipelines, …) as before: grouped into shared transactions, each only after the ops journaled
//! before it was submitted are applied, so it sees every acknowledged record write.
//!
//! Reads that SQLite answers (search, list, history, associations) first wait until the
//! applier has caught up with every write acknowledged before they started (see
//! [`Writer::applied`]); reads by id are answered from the pending records and the cache.
//!
//! A store opened while another process owns the journal has no journaling writer: its record
//! writes are planned and applied inside the applier's transactions, as all writes were before
//! the journal.
//!
//! The applier's transactions run optimistically without savepoints: a savepoint per job costs
//! a sub-journal copy of every page it touches and makes FTS5 flush its pending terms (measured
//! at ~10% of the writer's time while seeding). Jobs fail rarely (input is validated before it
//! reaches the store); when one does, the whole group is rolled back and each job is run again
//! in its own transaction, so a failing job never changes what the others commit. Jobs are
//! therefore closures that can run more than once.

use std::collections::{HashSet, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use spoke_core::ids::{AccountId, ObjectId};
use tokio::sync::{oneshot, watch};

use super::checkpoint::WriterGate;
use super::journal::{Journal, Segments};
use super::plan::{Layer, Planner, UniqueMapCheck};
use super::record_cache::{CacheChange, Pending, RecordCache};
use super::record_ops::{self, ApplyState, OpKind, RecordOp};
use super::sort_keys::{SortKeyChange, SortKeys};
use super::text::PendingText;
use super::text_merge;
use crate::{StoreError, StoreResult};

/// State owned by the applier thread, handed to every job it runs.
pub struct WriteCtx {
    pub conn: Connection,
    /// Object types whose built-in search indexes this process has ensured.
    pub indexed_types: HashSet<String>,
    /// Full-text changes of the open transaction, written at COMMIT (see text.rs).
    pub text: PendingText,
    /// Where the applier pauses, between transactions, while the WAL restarts (checkpoint.rs).
    pub gate: Arc<WriterGate>,
    /// The readers' record cache, and what the open transaction does to it: applied after
    /// COMMIT, dropped at ROLLBACK (record_cache.rs).
    pub cache: Arc<RecordCache>,
    pub cache_changes: Vec<CacheChange>,
    /// The in-memory sort keys, and the open transaction's changes to them: applied after
    /// COMMIT (sort_keys.rs). `sort_key_forgets`: types whose columns go (`None`: all).
    pub sort_keys: Arc<SortKeys>,
    pub sort_key_changes: Vec<SortKeyChange>,
    pub sort_key_forgets: Vec<Option<(AccountId, String)>>,
    /// Record ids are allocated here, by whichever thread plans a create.
    pub next_object_id: Arc<AtomicI64>,
}

/// A queued write: `run` may be called more than once (each time in a fresh transaction after
/// a rollback); `finish` answers the caller with the outcome of the last run and the commit.
trait Job<C: ?Sized>: Send {
    /// Runs the writes; `false` when they failed and must not be committed.
    fn run(&mut self, ctx: &mut C) -> bool;
    fn finish(self: Box<Self>, commit: StoreResult<()>);
    /// How many records the job writes (see [`MAX_GROUP_RECORDS`]).
    fn records(&self) -> usize;
}

struct TypedJob<T, F> {
    f: F,
    records: usize,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> TypedJob<T, F> {
    fn finish_with(self, commit: StoreResult<()>) {
        let result = self
            .result
            .unwrap_or_else(|| Err(StoreError::Internal("a write job did not run".into())));
        // A failed job's own error wins; a successful one reports the commit's outcome.
        let _ = self.reply.send(match result {
            Ok(v) => commit.map(|_| v),
            Err(e) => Err(e),
        });
    }
}

fn guarded<T>(f: impl FnOnce() -> StoreResult<T>) -> StoreResult<T> {
    catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(StoreError::Internal("a write job panicked".into())))
}

impl<T, F> Job<WriteCtx> for TypedJob<T, F>
where
    T: Send,
    F: FnMut(&mut WriteCtx) -> StoreResult<T> + Send,
{
    fn run(&mut self, ctx: &mut WriteCtx) -> bool {
        let f = &mut self.f;
        let result = guarded(|| f(ctx));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn records(&self) -> usize {
        self.records
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        self.finish_with(commit)
    }
}

/// A record job, planned by the journaling writer.
trait RecordJob: Send {
    fn run(&mut self, p: &mut Planner<'_>) -> bool;
    fn finish(self: Box<Self>, commit: StoreResult<()>);
    fn records(&self) -> usize;
}

impl<T, F> RecordJob for TypedJob<T, F>
where
    T: Send,
    F: FnMut(&mut Planner<'_>) -> StoreResult<T> + Send,
{
    fn run(&mut self, p: &mut Planner<'_>) -> bool {
        let f = &mut self.f;
        let result = guarded(|| f(p));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn records(&self) -> usize {
        self.records
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        self.finish_with(commit)
    }
}

/// Most jobs grouped into one transaction (or one journal frame).
const MAX_GROUP: usize = 256;

/// Most records written in one of the applier's transactions of jobs. Every page a transaction
/// dirties stays in the writer's page cache until COMMIT; past the cache SQLite spills pages to
/// the WAL mid-transaction and writes them again when they are dirtied again.
const MAX_GROUP_RECORDS: usize = 2_000;

/// Most ops in one run of the applier: its dirty pages stay within the connection's page cache,
/// and a journaling writer that waits for room (below) waits for one run at most (~0.3 s of
/// PATCHes at a million contacts). Runs of 10,000 measured no cheaper (within noise) and
/// doubled those waits.
pub(crate) const MAX_RUN: usize = 5_000;

/// The applier starts a run once this many ops wait, or once the oldest has waited
/// [`MAX_DELAY`] (or when a read or a job waits for it): under load, runs are large, which is
/// what makes them cheap; a lone write reaches the SQLite file within a second (other
/// processes, such as `spoke accounts copy`, read that file).
const MIN_RUN: usize = 5_000;
const MAX_DELAY: Duration = Duration::from_millis(1000);

/// The journaling writer waits (backpressure) while the ops not yet applied hold this much
/// memory: a burst of writes is absorbed at the journal's speed up to here, then goes at the
/// applier's.
const MAX_BACKLOG_BYTES: usize = 32 << 20;

/// How long a read waits for the applier before it gives up with an error (the applier keeps
/// failing: a full disk, say).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Journaled ops the applier has not written yet, shared by the two threads.
pub(crate) struct Backlog {
    state: Mutex<BacklogState>,
    /// Signalled when the applier has made room.
    room: Condvar,
    /// A reader or a job waits for the applier: apply without waiting for a run to fill.
    hurry: AtomicBool,
    /// Tests: the applier applies only when hurried (see [`Writer::hold`]).
    held: AtomicBool,
    /// The applier's last run failed (it is tried again): a full backlog then fails writes.
    failing: AtomicBool,
    /// How long the applier's last run took per op (ns): the writer paces itself by it while
    /// the backlog is over half full (see [`pace`]).
    op_nanos: AtomicU64,
    /// The journal position of the last acknowledged op.
    published: AtomicU64,
    /// The journal position SQLite has reached.
    applied: watch::Sender<u64>,
}

#[derive(Default)]
struct BacklogState {
    ops: VecDeque<RecordOp>,
    /// What `ops` and the run being applied hold ([`RecordOp::weight`]).
    bytes: usize,
    /// When the oldest of `ops` was journaled.
    since: Option<Instant>,
}

impl Backlog {
    fn new(applied: u64) -> Backlog {
        Backlog {
            state: Mutex::default(),
            room: Condvar::new(),
            hurry: AtomicBool::new(false),
            held: AtomicBool::new(false),
            failing: AtomicBool::new(false),
            op_nanos: AtomicU64::new(0),
            published: AtomicU64::new(applied),
            applied: watch::channel(applied).0,
        }
    }
}

enum ApplierMsg {
    /// A job, to run once SQLite has every op journaled up to `after`.
    Job(Box<dyn Job<WriteCtx>>, u64),
    /// The backlog has grown, or someone waits for it.
    Nudge,
}

struct Journaled {
    tx: mpsc::Sender<Box<dyn RecordJob>>,
    backlog: Arc<Backlog>,
}

pub struct Writer {
    applier: Option<mpsc::Sender<ApplierMsg>>,
    journaled: Option<Journaled>,
    next_object_id: Arc<AtomicI64>,
    threads: Vec<JoinHandle<()>>,
}

/// What the journaling writer needs besides the applier's channel.
pub(crate) struct JournalSide {
    pub journal: Journal,
    /// Its own read connection, for the latest state of records that are not pending.
    pub conn: Connection,
    /// The journal position SQLite has reached (after recovery), and the next one to write.
    pub applied: u64,
    pub next_lsn: u64,
    /// `record_restores` after recovery (see plan.rs, `UniqueMapCheck`).
    pub restores_at_open: i64,
}

impl Writer {
    /// Starts the applier, and the journaling writer when this process owns the journal.
    pub fn start(ctx: WriteCtx, journal: Option<JournalSide>) -> Writer {
        let (applier_tx, applier_rx) = mpsc::channel::<ApplierMsg>();
        let next_object_id = Arc::clone(&ctx.next_object_id);
        let cache = Arc::clone(&ctx.cache);
        let mut threads = Vec::new();
        let mut journaled = None;
        let backlog = journal.as_ref().map(|j| Arc::new(Backlog::new(j.applied)));
        let closed = journal.as_ref().map(|j| Arc::clone(&j.journal.closed));
        {
            let backlog = backlog.clone();
            threads.push(
                thread::Builder::new()
                    .name("spoke-applier".into())
                    .spawn(move || applier(ctx, applier_rx, backlog, closed))
                    .expect("spawn the applier thread"),
            );
        }
        if let (Some(side), Some(backlog)) = (journal, backlog) {
            let (tx, rx) = mpsc::channel::<Box<dyn RecordJob>>();
            let applier = applier_tx.clone();
            let b = Arc::clone(&backlog);
            let ids = Arc::clone(&next_object_id);
            threads.push(
                thread::Builder::new()
                    .name("spoke-writer".into())
                    .spawn(move || journaling_writer(side, rx, b, applier, ids, cache))
                    .expect("spawn the writer thread"),
            );
            journaled = Some(Journaled { tx, backlog });
        }
        Writer {
            applier: Some(applier_tx),
            journaled,
            next_object_id,
            threads,
        }
    }

    /// Runs `f` in the applier's next group transaction, once every record write acknowledged
    /// before this call is in SQLite, and returns its result once that transaction has
    /// committed. An `Err` from `f` leaves nothing of `f` committed. `f` may be called more than
    /// once (see the module docs), so it must not consume what it captures.
    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
    {
        self.run_records(1, f).await
    }

    /// [`Writer::run`] for a job that writes `records` records (a batch), so that a group's
    /// transaction stays within the page cache.
    pub async fn run_records<T, F>(&self, records: usize, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Box<dyn Job<WriteCtx>> = Box::new(TypedJob {
            f,
            records,
            result: None,
            reply,
        });
        let after = self
            .journaled
            .as_ref()
            .map_or(0, |j| j.backlog.published.load(Ordering::SeqCst));
        if let Some(j) = &self.journaled {
            if after > *j.backlog.applied.borrow() {
                j.backlog.hurry.store(true, Ordering::SeqCst);
            }
        }
        self.applier
            .as_ref()
            .ok_or_else(stopped)?
            .send(ApplierMsg::Job(job, after))
            .map_err(|_| stopped())?;
        rx.await
            .map_err(|_| StoreError::Internal("the writer dropped a job".into()))?
    }

    /// Runs a record job: planned against the latest state of every record, journaled and
    /// acknowledged (with a journal), or planned and applied in one of the applier's
    /// transactions (without). `f` may be called more than once.
    pub async fn records<T, F>(&self, records: usize, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&mut Planner<'_>) -> StoreResult<T> + Send + 'static,
    {
        let Some(j) = &self.journaled else {
            let ids = Arc::clone(&self.next_object_id);
            let mut f = f;
            return self
                .run_records(records, move |ctx| plan_and_apply(ctx, &ids, &mut f))
                .await;
        };
        let (reply, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Box<dyn RecordJob> = Box::new(TypedJob {
            f,
            records,
            result: None,
            reply,
        });
        j.tx.send(job).map_err(|_| stopped())?;
        rx.await
            .map_err(|_| StoreError::Internal("the writer dropped a job".into()))?
    }

    /// Waits until SQLite has every record write acknowledged before this call (a read that
    /// SQLite answers must see them).
    pub async fn applied(&self) -> StoreResult<()> {
        let Some(j) = &self.journaled else {
            return Ok(());
        };
        let target = j.backlog.published.load(Ordering::SeqCst);
        let mut applied = j.backlog.applied.subscribe();
        if *applied.borrow() >= target {
            return Ok(());
        }
        j.backlog.hurry.store(true, Ordering::SeqCst);
        if let Some(a) = &self.applier {
            let _ = a.send(ApplierMsg::Nudge);
        }
        let reached = tokio::time::timeout(SETTLE_TIMEOUT, async {
            applied.wait_for(|&a| a >= target).await.is_ok()
        })
        .await;
        match reached {
            Ok(true) => Ok(()),
            Ok(false) => Err(stopped()),
            Err(_) => Err(StoreError::Internal(
                "the store could not apply acknowledged writes in time (see the server log)".into(),
            )),
        }
    }

    /// Whether writes are journaled (this process owns the journal).
    pub fn journaled(&self) -> bool {
        self.journaled.is_some()
    }

    /// Tests: while held, the applier writes journaled ops to SQLite only when a read or a job
    /// waits for them, so that a test can look at (or copy) the files with writes pending.
    #[cfg(test)]
    pub fn hold(&self, held: bool) {
        if let Some(j) = &self.journaled {
            j.backlog.held.store(held, Ordering::SeqCst);
            if let Some(a) = &self.applier {
                let _ = a.send(ApplierMsg::Nudge);
            }
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Internal("the writer has stopped".into())
}

impl Drop for Writer {
    /// Stops both threads; the applier writes what is left of the backlog first, so that a
    /// store closed cleanly leaves an empty journal (and starts without recovering anything).
    fn drop(&mut self) {
        self.journaled = None;
        self.applier = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// A record job without a journal: planned on the applier's connection (SQLite is the latest
/// state inside its transaction) and applied at once.
fn plan_and_apply<T, F>(ctx: &mut WriteCtx, ids: &AtomicI64, f: &mut F) -> StoreResult<T>
where
    F: FnMut(&mut Planner<'_>) -> StoreResult<T>,
{
    let mut layers = vec![Layer::default()];
    let out = {
        let unique_map = UniqueMapCheck::off();
        let mut p = Planner {
            conn: &ctx.conn,
            cache: &ctx.cache,
            use_cache: false,
            next_id: ids,
            layers: &mut layers,
            unique_map: &unique_map,
        };
        f(&mut p)?
    };
    let layer = layers.pop().unwrap_or_default();
    {
        let mut state = ApplyState {
            indexed_types: &mut ctx.indexed_types,
            text: &mut ctx.text,
        };
        for ops in record_ops::by_record(&layer.ops).values() {
            record_ops::apply(&ctx.conn, &mut state, ops)?;
        }
    }
    ctx.cache_changes.extend(layer.cache_changes(&ctx.cache));
    sort_key_changes(&ctx.sort_keys, &layer.ops, &mut ctx.sort_key_changes);
    Ok(out)
}

/// The sort key changes of applied ops: each record's last op decides.
fn sort_key_changes(sort_keys: &SortKeys, ops: &[RecordOp], out: &mut Vec<SortKeyChange>) {
    for (_, ops) in record_ops::by_record(ops) {
        let Some(op) = ops.last() else { continue };
        let account = AccountId(op.account);
        if !sort_keys.has_columns(account, &op.object_type) {
            continue;
        }
        if op.kind == OpKind::Archive {
            sort_keys.archived(account, &op.object_type, op.id, out);
            continue;
        }
        let (Some(set), Ok(properties)) = (
            op.set.as_ref(),
            serde_json::from_str::<std::collections::BTreeMap<String, String>>(&op.properties),
        ) else {
            continue;
        };
        sort_keys.changes(account, set, op.id, &properties, out);
    }
}

// --- the journaling writer --------------------------------------------------------------------

fn journaling_writer(
    mut side: JournalSide,
    rx: mpsc::Receiver<Box<dyn RecordJob>>,
    backlog: Arc<Backlog>,
    applier: mpsc::Sender<ApplierMsg>,
    ids: Arc<AtomicI64>,
    cache: Arc<RecordCache>,
) {
    let mut next_lsn = side.next_lsn;
    let mut next: Option<Box<dyn RecordJob>> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            },
        };
        let mut records = first.records();
        let mut group = vec![first];
        while group.len() < MAX_GROUP && records < MAX_GROUP_RECORDS {
            match rx.try_recv() {
                Ok(job) if records + job.records() > MAX_GROUP_RECORDS => {
                    next = Some(job);
                    break;
                }
                Ok(job) => {
                    records += job.records();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        if let Err(e) = wait_for_room(&backlog, &applier) {
            for job in group {
                job.finish(Err(e.clone()));
            }
            continue;
        }
        let unique_map = UniqueMapCheck::new(Some(side.restores_at_open));
        let mut layers = vec![Layer::default()];
        for job in group.iter_mut() {
            layers.push(Layer::default());
            let success = {
                let mut p = Planner {
                    conn: &side.conn,
                    cache: &cache,
                    use_cache: true,
                    next_id: &ids,
                    layers: &mut layers,
                    unique_map: &unique_map,
                };
                job.run(&mut p)
            };
            let top = layers.pop().unwrap_or_default();
            if success {
                if let Some(group_layer) = layers.last_mut() {
                    group_layer.absorb(top);
                }
            }
        }
        let mut layer = layers.pop().unwrap_or_default();
        for op in &mut layer.ops {
            op.lsn = next_lsn;
            next_lsn += 1;
        }
        let outcome = side.journal.append(&layer.ops);
        let ops = layer.ops.len();
        if outcome.is_ok() {
            publish(&cache, &backlog, layer);
            let _ = applier.send(ApplierMsg::Nudge);
        }
        // A failed job's own error wins over the group's outcome (see `finish_with`).
        for job in group {
            job.finish(outcome.clone());
        }
        pace(&backlog, ops);
    }
}

/// Once the backlog is over half full, the writer takes writes in at the applier's pace: after
/// each group it waits as long as the applier takes for that many ops. Without it, a writer
/// ahead of the applier filled the backlog, then stopped for the rest of a run (~0.3 s) with
/// every connection's request waiting, which was the PATCH phase's p99 (120–290 ms).
fn pace(backlog: &Backlog, ops: usize) {
    let over_half = backlog
        .state
        .lock()
        .is_ok_and(|s| s.bytes > MAX_BACKLOG_BYTES / 2);
    if !over_half {
        return;
    }
    let nanos = backlog.op_nanos.load(Ordering::Relaxed) * ops as u64;
    // Bounded: a slow run (a checkpoint's pause, say) does not stall the writer for long.
    thread::sleep(Duration::from_nanos(nanos.min(50_000_000)));
}

/// Waits while the backlog is full (the applier is behind).
fn wait_for_room(backlog: &Backlog, applier: &mpsc::Sender<ApplierMsg>) -> StoreResult<()> {
    let Ok(mut state) = backlog.state.lock() else {
        return Err(StoreError::Internal("the backlog is poisoned".into()));
    };
    if state.bytes > MAX_BACKLOG_BYTES {
        tracing::debug!(
            bytes = state.bytes,
            "the applier is behind: the writer waits"
        );
    }
    while state.bytes > MAX_BACKLOG_BYTES {
        if backlog.failing.load(Ordering::SeqCst) {
            // The applier cannot write (a full disk, say): writes fail rather than wait.
            return Err(StoreError::Internal(
                "the store cannot apply acknowledged writes (see the server log)".into(),
            ));
        }
        backlog.hurry.store(true, Ordering::SeqCst);
        let _ = applier.send(ApplierMsg::Nudge);
        state = match backlog.room.wait_timeout(state, Duration::from_millis(100)) {
            Ok((s, _)) => s,
            Err(_) => return Err(StoreError::Internal("the backlog is poisoned".into())),
        };
    }
    Ok(())
}

/// Makes a journaled group visible: its records pending (readers and later plans see them),
/// its ops queued for the applier.
fn publish(cache: &RecordCache, backlog: &Backlog, layer: Layer) {
    let Some(last) = layer.ops.last().map(|op| op.lsn) else {
        return;
    };
    let mut latest: std::collections::HashMap<i64, u64> =
        std::collections::HashMap::with_capacity(layer.records.len());
    for op in &layer.ops {
        latest.insert(op.id, op.lsn);
    }
    let mut taken: std::collections::HashMap<i64, Vec<u64>> = std::collections::HashMap::new();
    for (&hash, ids) in &layer.unique {
        for &id in ids {
            cache.pend_unique(hash, ObjectId(id));
            taken.entry(id).or_default().push(hash);
        }
    }
    let mut changes = Vec::with_capacity(layer.records.len() + layer.unique_changes.len());
    for (id, p) in layer.records {
        let Some(encoded) = p.encode(cache) else {
            continue;
        };
        let archived_at = p.record.archived_at.map(|t| t.millis());
        changes.push(if archived_at.is_none() && cache.enabled() {
            CacheChange::Put(ObjectId(id), encoded.clone())
        } else {
            CacheChange::Remove(ObjectId(id))
        });
        cache.pend(
            ObjectId(id),
            Pending {
                lsn: latest.get(&id).copied().unwrap_or(last),
                encoded,
                archived_at,
                unique: taken.remove(&id).unwrap_or_default(),
            },
        );
    }
    changes.extend(
        layer
            .unique_changes
            .iter()
            .map(|&(hash, id, holds)| CacheChange::unique(hash, id, holds)),
    );
    cache.apply(changes);
    let Ok(mut state) = backlog.state.lock() else {
        return;
    };
    if state.ops.is_empty() {
        state.since = Some(Instant::now());
    }
    for op in layer.ops {
        state.bytes += op.weight();
        state.ops.push_back(op);
    }
    backlog.published.store(last, Ordering::SeqCst);
}

// --- the applier ------------------------------------------------------------------------------

fn begin(conn: &Connection) -> StoreResult<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(StoreError::from)
}

/// Writes the held-back full-text changes and commits; then the committed records go to the
/// record cache, before any job of the transaction is answered.
fn commit(ctx: &mut WriteCtx) -> StoreResult<()> {
    // Counted for searches that compare what they read from SQLite with the sort key columns
    // (sort_keys.rs, `settled_through`): from here until the changes are applied, a reader may
    // see this transaction's records in SQLite but not yet in the columns.
    ctx.sort_keys.commit_begins();
    let result = ctx
        .text
        .apply(&ctx.conn)
        .and_then(|_| ctx.conn.execute_batch("COMMIT").map_err(StoreError::from));
    match &result {
        Ok(()) => {
            ctx.cache.apply(std::mem::take(&mut ctx.cache_changes));
            let changes = std::mem::take(&mut ctx.sort_key_changes);
            ctx.sort_keys.apply(changes);
            for scope in std::mem::take(&mut ctx.sort_key_forgets) {
                ctx.sort_keys
                    .forget(scope.as_ref().map(|(a, ot)| (*a, ot.as_str())));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "commit failed");
            rollback(ctx);
        }
    }
    ctx.sort_keys.commit_settled();
    result
}

/// Rolls back the open transaction. Indexes a job created in it are gone too, so the record of
/// ensured indexes is dropped (re-ensuring is a cheap no-op for those that exist).
fn rollback(ctx: &mut WriteCtx) {
    let _ = ctx.conn.execute_batch("ROLLBACK");
    ctx.indexed_types.clear();
    ctx.text.clear();
    ctx.cache_changes.clear();
    ctx.sort_key_changes.clear();
    ctx.sort_key_forgets.clear();
}

/// How long the applier waits without work before it merges the full-text index.
const IDLE_BEFORE_MERGE: Duration = Duration::from_millis(200);

/// Applies one run of journaled ops in one transaction (see the module docs); `false` when
/// there were none.
///
/// When the transaction fails, it is tried again with each record's ops in a savepoint of their
/// own: a record whose ops cannot be written (a bug, or rows written behind the store's back)
/// must not hold up every later write. Its ops are set aside in the journal directory's
/// `unapplied.log` (same frames as the journal) with an error in the log, and the rest commits.
/// A failure of the transaction as a whole (a full disk) leaves the run queued for later.
fn apply_run(
    ctx: &mut WriteCtx,
    backlog: &Backlog,
    closed: Option<&Segments>,
) -> StoreResult<bool> {
    let (run, bytes) = {
        let Ok(mut state) = backlog.state.lock() else {
            return Err(StoreError::Internal("the backlog is poisoned".into()));
        };
        let n = state.ops.len().min(MAX_RUN);
        let run: Vec<RecordOp> = state.ops.drain(..n).collect();
        state.since = (!state.ops.is_empty()).then(Instant::now);
        let bytes: usize = run.iter().map(RecordOp::weight).sum();
        (run, bytes)
    };
    let Some(last) = run.last().map(|op| op.lsn) else {
        return Ok(false);
    };
    let started = Instant::now();
    let mut outcome = write_run(ctx, &run, last, false).map(|_| ());
    tracing::debug!(
        ops = run.len(),
        ms = started.elapsed().as_millis() as u64,
        "applied a run of journaled writes"
    );
    if let Err(e) = &outcome {
        tracing::error!(error = %e, "cannot apply a run of journaled writes; applying record by record");
        outcome = write_run(ctx, &run, last, true).map(|failed| {
            if failed.is_empty() {
                return;
            }
            let ops: Vec<&RecordOp> = run.iter().filter(|op| failed.contains(&op.id)).collect();
            tracing::error!(
                records = ?failed,
                "journaled writes of these records cannot be applied; set aside in unapplied.log"
            );
            if let Some(closed) = closed {
                if let Err(e) = closed.set_aside(&ops) {
                    tracing::error!(error = %e, "cannot write unapplied.log");
                }
            }
        });
    }
    backlog.failing.store(outcome.is_err(), Ordering::SeqCst);
    if let Err(e) = outcome {
        tracing::error!(error = %e, "cannot apply journaled writes; retrying");
        // Back at the front, in order, for the next attempt.
        if let Ok(mut state) = backlog.state.lock() {
            for op in run.into_iter().rev() {
                state.ops.push_front(op);
            }
            state.since.get_or_insert_with(Instant::now);
        }
        return Err(e);
    }
    ctx.cache.unpend_all(
        record_ops::by_record(&run)
            .into_iter()
            .filter_map(|(id, ops)| ops.last().map(|op| (ObjectId(id), op.lsn))),
    );
    backlog.applied.send_replace(last);
    backlog.op_nanos.store(
        started.elapsed().as_nanos() as u64 / run.len().max(1) as u64,
        Ordering::Relaxed,
    );
    if let Some(closed) = closed {
        closed.release_through(last);
    }
    if let Ok(mut state) = backlog.state.lock() {
        state.bytes = state.bytes.saturating_sub(bytes);
    }
    backlog.room.notify_all();
    Ok(true)
}

/// One transaction of [`apply_run`]: the run's records, each in a savepoint when `isolate`;
/// the records that failed (only when isolating: otherwise a failure fails the transaction).
fn write_run(
    ctx: &mut WriteCtx,
    run: &[RecordOp],
    last: u64,
    isolate: bool,
) -> StoreResult<Vec<i64>> {
    ctx.gate.pass();
    let written = begin(&ctx.conn).and_then(|()| {
        let mut state = ApplyState {
            indexed_types: &mut ctx.indexed_types,
            text: &mut ctx.text,
        };
        write_ops(&ctx.conn, &mut state, run, last, isolate)
    });
    let failed = match written {
        Ok(failed) => failed,
        Err(e) => {
            rollback(ctx);
            return Err(e);
        }
    };
    let applied: Vec<RecordOp>;
    let applied = if failed.is_empty() {
        run
    } else {
        applied = run
            .iter()
            .filter(|op| !failed.contains(&op.id))
            .cloned()
            .collect();
        &applied
    };
    let mut changes = Vec::new();
    sort_key_changes(&ctx.sort_keys, applied, &mut changes);
    ctx.sort_key_changes = changes;
    // On failure, commit() has rolled back.
    commit(ctx).map(|()| failed)
}

/// Writes a run of ops (in journal order) into the open transaction, record by record in id
/// order, and the journal position it reaches; with `isolate`, each record in a savepoint of
/// its own, and the ids of the records whose ops failed (without, a failure fails the call).
/// Also what recovery runs.
pub(crate) fn write_ops(
    conn: &Connection,
    state: &mut ApplyState<'_>,
    run: &[RecordOp],
    last: u64,
    isolate: bool,
) -> StoreResult<Vec<i64>> {
    let mut failed = Vec::new();
    for (id, ops) in record_ops::by_record(run) {
        if !isolate {
            record_ops::apply(conn, state, &ops)?;
            continue;
        }
        conn.execute_batch("SAVEPOINT record")?;
        match record_ops::apply(conn, state, &ops) {
            Ok(()) => conn.execute_batch("RELEASE record")?,
            Err(e) => {
                tracing::error!(error = %e, record = id, "a record's journaled writes fail");
                conn.execute_batch("ROLLBACK TO record; RELEASE record")?;
                failed.push(id);
            }
        }
    }
    if !failed.is_empty() {
        // Indexes a rolled-back create made are gone: ensure them again next time.
        state.indexed_types.clear();
    }
    conn.prepare_cached("UPDATE journal_progress SET applied_lsn = ?1")?
        .execute([last as i64])?;
    Ok(failed)
}

/// Whether the backlog should be applied now, and if not, how long until it should.
fn due(backlog: &Backlog) -> (bool, Option<Duration>) {
    let Ok(state) = backlog.state.lock() else {
        return (false, None);
    };
    let Some(since) = state.since.filter(|_| !state.ops.is_empty()) else {
        return (false, None);
    };
    if backlog.hurry.load(Ordering::SeqCst) {
        return (true, None);
    }
    if backlog.held.load(Ordering::SeqCst) {
        return (false, None);
    }
    if state.ops.len() >= MIN_RUN {
        return (true, None);
    }
    let waited = since.elapsed();
    if waited >= MAX_DELAY {
        (true, None)
    } else {
        (false, Some(MAX_DELAY - waited))
    }
}

fn applier(
    mut ctx: WriteCtx,
    rx: mpsc::Receiver<ApplierMsg>,
    backlog: Option<Arc<Backlog>>,
    closed: Option<Arc<Segments>>,
) {
    // A job that did not fit in the last group starts the next one.
    let mut next: Option<(Box<dyn Job<WriteCtx>>, u64)> = None;
    loop {
        if let Some(b) = &backlog {
            let (now, wait) = due(b);
            if now {
                if b.state
                    .lock()
                    .map(|s| s.ops.len() <= MAX_RUN)
                    .unwrap_or(true)
                {
                    b.hurry.store(false, Ordering::SeqCst);
                }
                if apply_run(&mut ctx, b, closed.as_deref()).is_err() {
                    // Logged; the ops stay queued and are tried again.
                    thread::sleep(Duration::from_millis(500));
                }
                continue;
            }
            if next.is_none() {
                if let Some(wait) = wait {
                    match rx.recv_timeout(wait) {
                        Ok(ApplierMsg::Job(job, after)) => next = Some((job, after)),
                        Ok(ApplierMsg::Nudge) | Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            }
        }
        let first = match next.take() {
            Some(job) => job,
            None => match next_msg(&mut ctx, &rx) {
                Some(ApplierMsg::Job(job, after)) => (job, after),
                Some(ApplierMsg::Nudge) => continue,
                None => break,
            },
        };
        let mut after = first.1;
        let mut records = first.0.records();
        let mut group = vec![first.0];
        while group.len() < MAX_GROUP && records < MAX_GROUP_RECORDS {
            match rx.try_recv() {
                Ok(ApplierMsg::Job(job, a)) if records + job.records() > MAX_GROUP_RECORDS => {
                    next = Some((job, a));
                    break;
                }
                Ok(ApplierMsg::Job(job, a)) => {
                    records += job.records();
                    after = after.max(a);
                    group.push(job);
                }
                Ok(ApplierMsg::Nudge) => {}
                Err(_) => break,
            }
        }
        // The jobs see every record write acknowledged before they were submitted.
        if let Some(b) = &backlog {
            let mut caught_up = true;
            while *b.applied.borrow() < after {
                match apply_run(&mut ctx, b, closed.as_deref()) {
                    Ok(true) => {}
                    // Nothing left: everything published is applied.
                    Ok(false) => break,
                    Err(_) => {
                        caught_up = false;
                        break;
                    }
                }
            }
            if !caught_up {
                for job in group {
                    job.finish(Err(StoreError::Internal(
                        "cannot apply journaled writes (see the server log)".into(),
                    )));
                }
                continue;
            }
        }
        run_group(&mut ctx, group);
    }
    // The store is closing (the journaling writer has stopped): what is journaled goes to
    // SQLite, and the journal is emptied.
    if let Some(b) = &backlog {
        loop {
            match apply_run(&mut ctx, b, closed.as_deref()) {
                Ok(true) => {}
                Ok(false) => {
                    if let Some(closed) = &closed {
                        closed.clear();
                    }
                    tracing::debug!("the journal is applied");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "journaled writes stay in the journal for the next start");
                    break;
                }
            }
        }
    }
}

/// Runs a group of jobs in one transaction (see the module docs).
fn run_group(ctx: &mut WriteCtx, mut group: Vec<Box<dyn Job<WriteCtx>>>) {
    ctx.gate.pass();
    if let Err(e) = begin(&ctx.conn) {
        tracing::error!(error = %e, "could not begin a write transaction");
        for job in group {
            job.finish(Err(e.clone()));
        }
        return;
    }
    let all_ok = group.iter_mut().all(|job| job.run(ctx));
    if all_ok {
        let outcome = commit(ctx);
        for job in group {
            job.finish(outcome.clone());
        }
        return;
    }
    // Some job failed: undo the group and give every job a transaction of its own.
    rollback(ctx);
    for mut job in group {
        let outcome = begin(&ctx.conn).and_then(|_| {
            if job.run(ctx) {
                commit(ctx)
            } else {
                rollback(ctx);
                Ok(())
            }
        });
        job.finish(outcome);
    }
}

/// The next message; while there is none and the full-text index needs merging, merges it one
/// step at a time (text.rs). `None` when the store is closing.
fn next_msg(ctx: &mut WriteCtx, rx: &mpsc::Receiver<ApplierMsg>) -> Option<ApplierMsg> {
    let mut waited = false;
    loop {
        if !ctx.text.merge_due() {
            return rx.recv().ok();
        }
        let msg = if waited {
            rx.try_recv()
                .map_err(|e| e == mpsc::TryRecvError::Disconnected)
        } else {
            rx.recv_timeout(IDLE_BEFORE_MERGE)
                .map_err(|e| e == mpsc::RecvTimeoutError::Disconnected)
        };
        match msg {
            Ok(msg) => return Some(msg),
            Err(true) => return None,
            Err(false) => waited = true,
        }
        ctx.gate.pass();
        let step = begin(&ctx.conn).and_then(|_| {
            let worked = text_merge::merge_step(&ctx.conn)?;
            ctx.conn.execute_batch("COMMIT")?;
            Ok(worked)
        });
        match step {
            Ok(true) => {}
            Ok(false) => ctx.text.merged(),
            Err(e) => {
                // Merging is an optimisation: give up until the next write.
                tracing::warn!(error = %e, "full-text merge step failed");
                let _ = ctx.conn.execute_batch("ROLLBACK");
                ctx.text.merged();
            }
        }
    }
}
