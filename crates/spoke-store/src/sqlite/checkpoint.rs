//! WAL checkpoints off the write path. SQLite's automatic checkpoint runs inside the commit that
//! crosses the threshold, on the writer thread, with an fsync of the database file: measured at
//! ~15% of the writer's time while seeding. Spoke turns it off on the writer and checkpoints
//! from this thread instead, in PASSIVE mode (it never blocks the writer or readers).
//!
//! A PASSIVE checkpoint copies frames back but never restarts the WAL: SQLite writes from the
//! WAL's beginning again only when a write transaction begins while every frame has been copied
//! back, which a writer that never pauses does not see. The WAL then grew without bound
//! (measured: 14.8 GB of WAL beside a 1 GB store after seeding a million contacts, and reads
//! slow down as the WAL index grows). So past [`RESTART_FRAMES`] this thread follows a PASSIVE
//! pass with a RESTART checkpoint, which copies back what the pass left and waits for readers
//! still on old frames, so that the next transaction writes from the WAL's start.
//!
//! A RESTART needs the write lock, and SQLite's busy handler only polls for it: against a writer
//! that begins its next transaction the moment it commits, it waited for many seconds (and the
//! WAL kept growing meanwhile). So the writer is asked to pause between two transactions
//! ([`WriterGate`]) for as long as the RESTART takes: the frames written during the last pass.
//! The restart therefore follows a short pass; only past [`MAX_WAL_FRAMES`], when the disk
//! cannot keep up with the writer, does it follow any pass (backpressure).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread;
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// How often the WAL is checkpointed while it is under [`RESTART_FRAMES`]. Passes run back to
/// back only past it (to reach a short pass, then the restart): each pass copies every page
/// written since the last one once, however often it was written, and starts with an fsync of
/// the WAL, so passes that follow the writer closely copy hot pages (index roots, the
/// last-modified index's tail) many times over. Passes back to back from a quarter of
/// `RESTART_FRAMES` on, as before, cost PATCHes at a million contacts 131–138 µs of server CPU;
/// from `RESTART_FRAMES` on, 115–121 µs (A/B, two rounds). Since the applier writes runs of a few
/// thousand records, each of which rewrites the same index pages, a pass a second instead of
/// every 200 ms copies them once for several runs: the checkpointer's CPU a PATCH went from
/// 14–15 µs to 9–10 µs, PATCHes +4–6% (A/B, two rounds of 15 s).
const INTERVAL: Duration = Duration::from_millis(1000);

/// WAL frames (one page each, ~4 KiB) past which the WAL is restarted after a short pass:
/// ~512 MiB. Each restart pauses the writer for ~150–180 ms under sustained PATCHes at a million
/// contacts (fsyncs of the WAL and the database file, mostly; see [`restart`]), so restarts are
/// kept rare.
const RESTART_FRAMES: i64 = 131_072;

/// A pass this short leaves a small tail to copy back while the writer waits.
const SHORT_PASS: Duration = Duration::from_millis(50);

/// WAL frames past which the WAL is restarted after any pass: ~2 GiB. Under sustained writes
/// the checkpoint (random page writes to the database file, then its fsync) can be slower than
/// the writer; the WAL absorbs bursts up to this size at full speed.
const MAX_WAL_FRAMES: i64 = 524_288;

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

/// At most this many rounds of (sync the database file, copy back) before a restart pauses the
/// writer (see [`restart`]).
const PRE_SYNC_ROUNDS: usize = 4;

/// How long a restart waits for the writer to reach a pause. A writer with nothing to do never
/// reaches one (it waits for work, holding no lock), and then the restart goes ahead without.
const PAUSE_WAIT: Duration = Duration::from_millis(100);

/// Lets the checkpointer pause the writer between two transactions.
#[derive(Default)]
pub struct WriterGate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    /// The checkpointer wants the writer paused.
    requested: bool,
    /// The writer is paused (between transactions, holding no lock).
    paused: bool,
}

impl WriterGate {
    /// Called by the writer before each transaction: waits while a pause is requested.
    pub fn pass(&self) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if !state.requested {
            return;
        }
        state.paused = true;
        self.changed.notify_all();
        while state.requested {
            state = match self.changed.wait(state) {
                Ok(s) => s,
                Err(_) => return,
            };
        }
        state.paused = false;
    }

    /// Runs `f` while the writer is paused (or idle: see [`PAUSE_WAIT`]).
    fn with_writer_paused<T>(&self, f: impl FnOnce() -> T) -> T {
        if let Ok(mut state) = self.state.lock() {
            state.requested = true;
            let _ = self
                .changed
                .wait_timeout_while(state, PAUSE_WAIT, |s| !s.paused);
        }
        let out = f();
        if let Ok(mut state) = self.state.lock() {
            state.requested = false;
            self.changed.notify_all();
        }
        out
    }
}

/// Restarts the WAL with the writer paused (see the module docs).
///
/// A RESTART ends with an fsync of the database file, which carries every page the passes since
/// the last restart copied there (PASSIVE passes behind a busy writer never reach the WAL's end,
/// and SQLite syncs the database only when a checkpoint does): 300–340 ms of a paused writer
/// under the benchmark's PATCHes at a million contacts. So the file is synced first, with the
/// writer running, and another pass copies what it wrote meanwhile, for a few rounds: measured,
/// the pause then took 150–180 ms. The rounds do not shrink under sustained writes (each round's
/// sync carries the last round's writes, ~350 ms each), so their number is bounded.
///
/// Past [`MAX_WAL_FRAMES`] (`pre_sync` false) the restart goes ahead at once: the disk is behind
/// the writer, and rounds with the writer running would only let the WAL grow past its bound.
fn restart(conn: &Connection, db: &Path, gate: &WriterGate, pre_sync: bool) {
    let t0 = Instant::now();
    let rounds = if pre_sync { PRE_SYNC_ROUNDS } else { 0 };
    for _ in 0..rounds {
        let round = Instant::now();
        let synced = std::fs::File::open(db).and_then(|f| f.sync_data());
        if let Err(e) = synced {
            tracing::warn!(error = %e, "could not sync the store before a WAL restart");
            break;
        }
        if let Err(e) = checkpoint(conn, "PASSIVE") {
            tracing::warn!(error = %e, "checkpoint failed");
            break;
        }
        if round.elapsed() < SHORT_PASS {
            break;
        }
    }
    let passed_after = t0.elapsed();
    let mut paused_after = Duration::ZERO;
    let outcome = gate.with_writer_paused(|| {
        paused_after = t0.elapsed();
        checkpoint(conn, "RESTART")
    });
    match outcome {
        Ok(outcome) => tracing::debug!(
            ?outcome,
            ?passed_after,
            ?paused_after,
            elapsed = ?t0.elapsed(),
            "WAL restart"
        ),
        Err(e) => tracing::warn!(error = %e, "WAL restart failed"),
    }
}

impl Checkpointer {
    pub fn start(path: PathBuf, gate: Arc<WriterGate>) -> Checkpointer {
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
                // A RESTART waits (through the busy handler) for readers still on old frames,
                // which are short, and for a writer that did not pause (see `PAUSE_WAIT`).
                let _ = conn.execute_batch("PRAGMA busy_timeout = 60000;");
                let mut behind = false;
                // The WAL's size after the previous pass: when it has not changed, the writer
                // is idle and there is nothing to copy or restart (a WAL is restarted by the
                // next write after a RESTART, so its size stays until then).
                let mut last_frames = -1;
                while weak.upgrade().is_some() {
                    // Behind a busy writer, the next pass runs at once.
                    if !behind {
                        thread::sleep(INTERVAL);
                    }
                    let t0 = Instant::now();
                    let pass = checkpoint(&conn, "PASSIVE");
                    tracing::trace!(?pass, elapsed = ?t0.elapsed(), "checkpoint pass");
                    behind = match pass {
                        Ok((_, frames, _)) => {
                            let growing = frames != last_frames;
                            last_frames = frames;
                            let short = t0.elapsed() < SHORT_PASS;
                            let over = frames > MAX_WAL_FRAMES;
                            if growing && (over || (frames > RESTART_FRAMES && short)) {
                                restart(&conn, &path, &gate, !over);
                                false
                            } else {
                                growing && frames > RESTART_FRAMES
                            }
                        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// While the checkpointer holds the gate, a busy writer makes no progress; it resumes after.
    #[test]
    fn a_busy_writer_pauses_at_the_gate_while_the_wal_restarts() {
        let gate = Arc::new(WriterGate::default());
        let transactions = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (gate, transactions, stop) = (gate.clone(), transactions.clone(), stop.clone());
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    gate.pass();
                    transactions.fetch_add(1, Ordering::SeqCst);
                    thread::sleep(Duration::from_micros(100));
                }
            })
        };
        while transactions.load(Ordering::SeqCst) < 10 {
            thread::sleep(Duration::from_millis(1));
        }
        let (during, before) = gate.with_writer_paused(|| {
            let before = transactions.load(Ordering::SeqCst);
            thread::sleep(Duration::from_millis(50));
            (transactions.load(Ordering::SeqCst), before)
        });
        assert_eq!(during, before, "the writer ran while paused");
        let after = transactions.load(Ordering::SeqCst);
        thread::sleep(Duration::from_millis(50));
        assert!(
            transactions.load(Ordering::SeqCst) > after,
            "the writer did not resume"
        );
        stop.store(true, Ordering::SeqCst);
        writer.join().unwrap();
    }

    /// A restart (with its rounds of sync and copy first) copies everything back and makes the
    /// next transaction write from the WAL's start.
    #[test]
    fn a_restart_copies_everything_back_and_the_wal_starts_over() {
        // SQLite is set up (its page cache installed) before any connection, as by the store.
        assert!(crate::sqlite::setup());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sqlite3");
        let writer = Connection::open(&path).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;
                 CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
            )
            .unwrap();
        for i in 0..200 {
            writer
                .execute("INSERT INTO t (v) VALUES (?1)", [format!("{i:0>2000}")])
                .unwrap();
        }
        let conn = Connection::open(&path).unwrap();
        let (_, before, _) = checkpoint(&conn, "PASSIVE").unwrap();
        assert!(before > 100, "{before}");
        restart(&conn, &path, &WriterGate::default(), true);
        writer
            .execute("INSERT INTO t (v) VALUES ('after')", [])
            .unwrap();
        let (busy, frames, copied) = checkpoint(&conn, "PASSIVE").unwrap();
        assert_eq!(busy, 0);
        assert!(frames < 10, "the WAL did not start over: {frames} frames");
        assert_eq!(frames, copied);
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 201);
    }

    /// An idle writer (waiting for work) never reaches the gate; the restart goes ahead.
    #[test]
    fn an_idle_writer_does_not_hold_up_the_restart() {
        let gate = WriterGate::default();
        let t0 = Instant::now();
        assert_eq!(gate.with_writer_paused(|| 7), 7);
        assert!(t0.elapsed() < Duration::from_secs(2));
    }
}
