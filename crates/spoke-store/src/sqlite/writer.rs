//! The single writer: one thread owns the write connection and runs every write job. Jobs that
//! queue up while a transaction commits are run together in the next transaction (group commit),
//! and are answered only after COMMIT returns, so an acknowledged write is as durable as the
//! connection's `synchronous` setting makes it.
//!
//! The group runs optimistically without savepoints: a savepoint per job costs a sub-journal
//! copy of every page it touches and makes FTS5 flush its pending terms (measured at ~10% of
//! the writer's time while seeding). Jobs fail rarely (input is validated before it reaches the
//! store); when one does, the whole group is rolled back and each job is run again in its own
//! transaction, so a failing job never changes what the others commit. Jobs are therefore
//! closures that can run more than once.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::checkpoint::WriterGate;
use super::record_cache::{CacheChange, RecordCache};
use super::sort_keys::{SortKeyChange, SortKeys};
use super::text::PendingText;
use super::text_merge;
use crate::{StoreError, StoreResult};

/// State owned by the writer thread, handed to every job.
pub struct WriteCtx {
    pub conn: Connection,
    /// Next record id; ids are allocated here, so they never collide and need no table.
    pub next_object_id: i64,
    /// Object types whose built-in search indexes this process has ensured.
    pub indexed_types: HashSet<String>,
    /// Full-text changes of the open transaction, written at COMMIT (see text.rs).
    pub text: PendingText,
    /// Where the writer pauses, between transactions, while the WAL restarts (checkpoint.rs).
    pub gate: Arc<WriterGate>,
    /// The readers' record cache, and what the open transaction does to it: applied after
    /// COMMIT, dropped at ROLLBACK (record_cache.rs).
    pub cache: Arc<RecordCache>,
    pub cache_changes: Vec<CacheChange>,
    /// The in-memory sort keys, and the open transaction's changes to them: applied after
    /// COMMIT (sort_keys.rs). `sort_key_forgets`: types whose columns go (`None`: all).
    pub sort_keys: Arc<SortKeys>,
    pub sort_key_changes: Vec<SortKeyChange>,
    pub sort_key_forgets: Vec<Option<(spoke_core::ids::AccountId, String)>>,
}

/// A queued write: `run` may be called more than once (each time in a fresh transaction after
/// a rollback); `finish` answers the caller with the outcome of the last run and the commit.
trait Job: Send {
    /// Runs the writes; `false` when they failed and must not be committed.
    fn run(&mut self, ctx: &mut WriteCtx) -> bool;
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

impl<T, F> Job for TypedJob<T, F>
where
    T: Send,
    F: FnMut(&mut WriteCtx) -> StoreResult<T> + Send,
{
    fn run(&mut self, ctx: &mut WriteCtx) -> bool {
        let f = &mut self.f;
        let result = catch_unwind(AssertUnwindSafe(|| f(ctx)))
            .unwrap_or_else(|_| Err(StoreError::Internal("a write job panicked".into())));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn records(&self) -> usize {
        self.records
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
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

/// Most jobs grouped into one transaction.
const MAX_GROUP: usize = 256;

/// Most records written in one transaction. Every page a transaction dirties stays in the
/// writer's page cache until COMMIT; past the cache SQLite spills pages to the WAL mid-
/// transaction and writes them again when they are dirtied again. Sixty-four batch upserts of
/// 100 (one per connection) dirty ~70,000 pages, more than the 256 MiB cache holds.
const MAX_GROUP_RECORDS: usize = 2_000;

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    pub fn start(ctx: WriteCtx) -> Writer {
        let (tx, rx) = mpsc::channel::<Box<dyn Job>>();
        thread::Builder::new()
            .name("spoke-writer".into())
            .spawn(move || run(ctx, rx))
            .expect("spawn the writer thread");
        Writer { tx }
    }

    /// Runs `f` in the next group transaction and returns its result once that transaction has
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
        let job: Box<dyn Job> = Box::new(TypedJob {
            f,
            records,
            result: None,
            reply,
        });
        self.tx
            .send(job)
            .map_err(|_| StoreError::Internal("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("the writer dropped a job".into()))?
    }
}

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

/// How long the writer waits without a job before it merges the full-text index.
const IDLE_BEFORE_MERGE: Duration = Duration::from_millis(200);

/// The next job; while there is none and the full-text index needs merging, merges it one
/// step at a time (text.rs). `None` when the store is closing.
fn next_job(ctx: &mut WriteCtx, rx: &mpsc::Receiver<Box<dyn Job>>) -> Option<Box<dyn Job>> {
    let mut waited = false;
    loop {
        if !ctx.text.merge_due() {
            return rx.recv().ok();
        }
        let job = if waited {
            rx.try_recv()
                .map_err(|e| e == mpsc::TryRecvError::Disconnected)
        } else {
            rx.recv_timeout(IDLE_BEFORE_MERGE)
                .map_err(|e| e == mpsc::RecvTimeoutError::Disconnected)
        };
        match job {
            Ok(job) => return Some(job),
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

fn run(mut ctx: WriteCtx, rx: mpsc::Receiver<Box<dyn Job>>) {
    // A job that did not fit in the last group starts the next one.
    let mut next: Option<Box<dyn Job>> = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match next_job(&mut ctx, &rx) {
                Some(job) => job,
                None => return,
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
        ctx.gate.pass();
        if let Err(e) = begin(&ctx.conn) {
            tracing::error!(error = %e, "could not begin a write transaction");
            for job in group {
                job.finish(Err(e.clone()));
            }
            continue;
        }
        let all_ok = group.iter_mut().all(|job| job.run(&mut ctx));
        if all_ok {
            let outcome = commit(&mut ctx);
            for job in group {
                job.finish(outcome.clone());
            }
            continue;
        }
        // Some job failed: undo the group and give every job a transaction of its own.
        rollback(&mut ctx);
        for mut job in group {
            let outcome = begin(&ctx.conn).and_then(|_| {
                if job.run(&mut ctx) {
                    commit(&mut ctx)
                } else {
                    rollback(&mut ctx);
                    Ok(())
                }
            });
            job.finish(outcome);
        }
    }
}
