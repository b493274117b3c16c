//! The single writer: one thread owns the write connection and runs every write job. Jobs that
//! queue up while a transaction commits are run together in the next transaction (group commit),
//! each inside its own SAVEPOINT so one job's failure rolls back only that job. Replies are sent
//! only after COMMIT returns, so an acknowledged write is as durable as the connection's
//! `synchronous` setting makes it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;

use rusqlite::Connection;
use tokio::sync::oneshot;

use crate::{StoreError, StoreResult};

/// State owned by the writer thread, handed to every job.
pub struct WriteCtx {
    pub conn: Connection,
    /// Next record id; ids are allocated here, so they never collide and need no table.
    pub next_object_id: i64,
}

type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
type Job = Box<dyn FnOnce(&mut WriteCtx) -> Completion + Send>;

/// Most jobs grouped into one transaction.
const MAX_GROUP: usize = 256;

#[derive(Clone)]
pub struct Writer {
    tx: mpsc::Sender<Job>,
}

impl Writer {
    pub fn start(ctx: WriteCtx) -> Writer {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("spoke-writer".into())
            .spawn(move || run(ctx, rx))
            .expect("spawn the writer thread");
        Writer { tx }
    }

    /// Runs `f` in the next group transaction and returns its result once that transaction has
    /// committed. An `Err` from `f` rolls back `f`'s changes only.
    pub async fn run<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |ctx: &mut WriteCtx| -> Completion {
            let result = in_savepoint(ctx, f);
            Box::new(move |commit: StoreResult<()>| {
                let _ = reply.send(commit.and(result));
            })
        });
        self.tx
            .send(job)
            .map_err(|_| StoreError::Internal("the writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Internal("the writer dropped a job".into()))?
    }
}

fn in_savepoint<T>(
    ctx: &mut WriteCtx,
    f: impl FnOnce(&mut WriteCtx) -> StoreResult<T>,
) -> StoreResult<T> {
    ctx.conn.execute_batch("SAVEPOINT job")?;
    let result = catch_unwind(AssertUnwindSafe(|| f(ctx)))
        .unwrap_or_else(|_| Err(StoreError::Internal("a write job panicked".into())));
    match &result {
        Ok(_) => ctx.conn.execute_batch("RELEASE job")?,
        Err(_) => ctx.conn.execute_batch("ROLLBACK TO job; RELEASE job")?,
    }
    result
}

fn run(mut ctx: WriteCtx, rx: mpsc::Receiver<Job>) {
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = ctx.conn.execute_batch("BEGIN IMMEDIATE") {
            let err = StoreError::from(e);
            for job in group {
                // Run nothing; tell every caller. (A job is only ever run inside a transaction.)
                drop(job);
                tracing::error!(error = %err, "could not begin a write transaction");
            }
            continue;
        }
        let completions: Vec<Completion> = group.into_iter().map(|job| job(&mut ctx)).collect();
        let commit = ctx.conn.execute_batch("COMMIT").map_err(StoreError::from);
        if let Err(e) = &commit {
            tracing::error!(error = %e, "commit failed");
            let _ = ctx.conn.execute_batch("ROLLBACK");
        }
        for done in completions {
            done(commit.clone());
        }
    }
}
