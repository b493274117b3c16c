//! WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit that
//! crosses the threshold, on the writer thread, with an fsync of the database file: measured at
//! ~15% of the writer's time while seeding. Spoke turns it off on the writer and checkpoints
//! from this thread instead, in PASSIVE mode (it never blocks the writer or readers).
//!
//! A PASSIVE checkpoint copies frames back but never restarts the WAL: SQLite writes from the
//! WAL's beginning again only when a write transaction begins while every frame has been copied
//! back, which a writer that never pauses does not see. The WAL then grew without bound
//! (measured: 14.8 GB of WAL beside a 1 GB store after seeding a million contacts, and reads
//! slow down as the WAL index grows). So once the WAL holds more than [`RESTART_FRAMES`], this
//! thread follows its PASSIVE pass with a RESTART checkpoint: that one holds the write lock
//! while it copies back what the pass left (the writer's next `BEGIN IMMEDIATE` waits for it)
//! and waits for readers still on old frames, so the next transaction writes from the start.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How often the WAL is checkpointed while the writer keeps up with it.
const INTERVAL: Duration = Duration::from_millis(200);

/// WAL frames (one page each, ~4 KiB) past which the WAL is restarted: ~256 MiB. Under sustained
/// writes the checkpoint (random page writes to the database file, then its fsync) is slower
/// than the writer; the WAL absorbs bursts up to this size at full speed, and past it the
/// restart makes the writer wait for the checkpoint to catch up (backpressure).
const RESTART_FRAMES: i64 = 65_536;

/// Keeps the checkpointer alive; it stops when the store that owns this is dropped.
pub struct Checkpointer {
    _alive: Arc<()>,
}

/// One checkpoint: (busy, frames in the WAL, frames copied back).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

impl Checkpointer {
    pub fn start(path: PathBuf) -> Checkpointer {
        let alive = Arc::new(());
        let weak: Weak<()> = Arc::downgrade(&alive);
        let spawned = thread::Builder::new()
            .name("spoke-checkpoint".into())
            .spawn(move || {
                let conn = match Connection::open(&path) {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::error!(error = %e, "the checkpointer cannot open the store");
                        return;
                    }
                };
                // A RESTART waits (through the busy handler) for the writer's open transaction
                // and for readers; both are short.
                let _ = conn.execute_batch("PRAGMA busy_timeout = 60000;");
                let mut behind = false;
                while weak.upgrade().is_some() {
                    // Behind a busy writer, the next pass runs at once.
                    if !behind {
                        thread::sleep(INTERVAL);
                    }
                    behind = match checkpoint(&conn, "PASSIVE") {
                        Ok((_, frames, _)) if frames > RESTART_FRAMES => {
                            let t0 = Instant::now();
                            match checkpoint(&conn, "RESTART") {
                                Ok(outcome) => tracing::debug!(
                                    ?outcome,
                                    elapsed = ?t0.elapsed(),
                                    "WAL restart"
                                ),
                                Err(e) => tracing::warn!(error = %e, "WAL restart failed"),
                            }
                            false
                        }
                        Ok((_, frames, _)) => frames > RESTART_FRAMES / 4,
                        Err(e) => {
                            tracing::warn!(error = %e, "checkpoint failed");
                            false
                        }
                    };
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the checkpointer");
        }
        Checkpointer { _alive: alive }
    }
}
