//! WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit that
//! crosses the threshold, on the writer thread, with an fsync of the database file: measured at
//! ~15% of the writer's time while seeding. Spoke turns it off on the writer and checkpoints
//! from this thread instead, in PASSIVE mode (it never blocks the writer or readers).

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::thread;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is checkpointed.
const INTERVAL: Duration = Duration::from_millis(200);

/// Keeps the checkpointer alive; it stops when the store that owns this is dropped.
pub struct Checkpointer {
    _alive: Arc<()>,
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
                let _ = conn.execute_batch("PRAGMA busy_timeout = 5000;");
                while weak.upgrade().is_some() {
                    thread::sleep(INTERVAL);
                    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                    {
                        tracing::warn!(error = %e, "checkpoint failed");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the checkpointer");
        }
        Checkpointer { _alive: alive }
    }
}
