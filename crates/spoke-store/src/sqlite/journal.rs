//! The record journal: an append-only log of acknowledged record writes, beside the SQLite file
//! (`spoke.journal/` next to `spoke.sqlite3`).
//!
//! A record write is acknowledged once its ops ([`RecordOp`]) are in the journal — written to the
//! OS (`--durability process`: survives a crash or `kill -9`) or also fsynced (`full`: survives
//! power loss) — and applied to SQLite later, many at a time (see writer.rs). A group of
//! concurrent writes is one frame and one `write` (and one fsync): group commit.
//!
//! Layout: segment files named by the first lsn they may hold (`00000000000000000001.log`),
//! each a run of frames: length (u32 LE), CRC-32 of the payload (u32 LE), payload (ops). A new
//! segment starts past [`SEGMENT_BYTES`]; a segment whose ops are all applied (SQLite records the
//! last applied lsn in the same transaction as the ops) is deleted. At start-up, [`recover`]
//! reads every segment and returns the ops SQLite does not have yet; a frame that is cut short
//! or fails its checksum ends the journal (a crash mid-write: that group was never
//! acknowledged).
//!
//! One process owns the journal at a time (an exclusive lock on `LOCK`): a second process that
//! opens the store while a server runs (the `spoke` admin commands) works on SQLite directly.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::record_ops::{Reader, RecordOp};
use super::Durability;
use crate::{StoreError, StoreResult};

/// A segment is closed (and a new one started) once it holds this much.
const SEGMENT_BYTES: u64 = 64 << 20;

/// Frames larger than this are not ours (a length read from garbage).
const MAX_FRAME: usize = 1 << 30;

const FRAME_HEADER: usize = 8;

/// The journal's directory for a store file: `spoke.journal` beside `spoke.sqlite3`.
pub(crate) fn dir_of(store: &Path) -> PathBuf {
    store.with_extension("journal")
}

fn segment_path(dir: &Path, first_lsn: u64) -> PathBuf {
    dir.join(format!("{first_lsn:020}.log"))
}

/// The segments of a journal directory, oldest first, with their first lsns.
fn segments(dir: &Path) -> StoreResult<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let first = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first) = first {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}

/// The exclusive right to a journal directory, held while the value lives.
pub(crate) struct JournalLock {
    _file: File,
}

impl JournalLock {
    /// Takes the lock, creating the directory; `None` when another process holds it.
    pub fn try_take(dir: &Path) -> StoreResult<Option<JournalLock>> {
        fs::create_dir_all(dir)?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join("LOCK"))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(JournalLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(e.into()),
        }
    }
}

/// What [`recover`] found.
pub(crate) struct Recovered {
    /// Ops above the applied lsn, in journal order.
    pub ops: Vec<RecordOp>,
    /// The highest lsn seen (or `applied`).
    pub last_lsn: u64,
}

/// Reads every segment of `dir` and returns the ops above `applied`. Stops at the first frame
/// that is cut short or fails its checksum: it was being written when the process stopped.
pub(crate) fn recover(dir: &Path, applied: u64) -> StoreResult<Recovered> {
    let mut ops = Vec::new();
    let mut last_lsn = applied;
    let all = segments(dir)?;
    'segments: for (i, (_, path)) in all.iter().enumerate() {
        let mut bytes = Vec::new();
        File::open(path)?.read_to_end(&mut bytes)?;
        let mut at = 0usize;
        while at < bytes.len() {
            match frame_at(&bytes, at) {
                Some((payload, next)) => {
                    let mut r = Reader::new(payload);
                    while !r.done() {
                        let op = RecordOp::decode(&mut r)?;
                        last_lsn = last_lsn.max(op.lsn);
                        if op.lsn > applied {
                            ops.push(op);
                        }
                    }
                    at = next;
                }
                None => {
                    if i + 1 < all.len() {
                        tracing::error!(
                            segment = %path.display(),
                            offset = at,
                            "the journal is damaged before its end; what follows is not recovered"
                        );
                    } else {
                        tracing::warn!(
                            segment = %path.display(),
                            offset = at,
                            "the journal ends with a partly written group (never acknowledged)"
                        );
                    }
                    break 'segments;
                }
            }
        }
    }
    Ok(Recovered { ops, last_lsn })
}

/// The payload of the frame at `at` and where the next one starts; `None` when it is cut short
/// or damaged.
fn frame_at(bytes: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let header = bytes.get(at..at + FRAME_HEADER)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    if len > MAX_FRAME {
        return None;
    }
    let start = at + FRAME_HEADER;
    let payload = bytes.get(start..start.checked_add(len)?)?;
    (crc32fast::hash(payload) == crc).then_some((payload, start + len))
}

/// Appends ops that cannot be applied to `unapplied.log` in `dir`, kept for an operator: the
/// same frames as the journal's, never read by Spoke.
pub(crate) fn set_aside(dir: &Path, ops: &[&RecordOp]) -> StoreResult<()> {
    let mut payload = Vec::new();
    for op in ops {
        op.encode(&mut payload);
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("unapplied.log"))?;
    file.write_all(&frame)?;
    file.sync_data()?;
    Ok(())
}

/// Removes every segment (all applied) of `dir`.
pub(crate) fn clear(dir: &Path) -> StoreResult<()> {
    for (_, path) in segments(dir)? {
        fs::remove_file(path)?;
    }
    Ok(())
}

/// The journal's segment files as the applier sees them: closed ones are deleted once applied.
pub(crate) struct Segments {
    dir: PathBuf,
    segments: Mutex<Vec<(u64, PathBuf)>>,
}

impl Segments {
    /// Appends ops that cannot be applied to `unapplied.log` (see [`set_aside`]).
    pub fn set_aside(&self, ops: &[&RecordOp]) -> StoreResult<()> {
        set_aside(&self.dir, ops)
    }

    /// Deletes every segment: the store is closing with everything applied (the next start then
    /// has nothing to read).
    pub fn clear(&self) {
        if let Err(e) = clear(&self.dir) {
            tracing::warn!(error = %e, "cannot remove the journal's segments");
        }
    }

    /// Deletes the closed segments whose ops are all at or below `applied`.
    pub fn release_through(&self, applied: u64) {
        let Ok(mut segments) = self.segments.lock() else {
            return;
        };
        segments.retain(|(last, path)| {
            if *last > applied {
                return true;
            }
            if let Err(e) = fs::remove_file(path) {
                tracing::warn!(error = %e, segment = %path.display(), "cannot remove a journal segment");
            }
            false
        });
    }
}

/// The journal's writing end, owned by the writer thread.
pub(crate) struct Journal {
    dir: PathBuf,
    file: File,
    path: PathBuf,
    written: u64,
    /// The last lsn in the open segment.
    last_lsn: u64,
    durability: Durability,
    pub closed: Arc<Segments>,
    buf: Vec<u8>,
}

impl Journal {
    /// Starts a new segment at `next_lsn` (the directory holds no other segment).
    pub fn start(dir: &Path, next_lsn: u64, durability: Durability) -> StoreResult<Journal> {
        let (file, path) = new_segment(dir, next_lsn, durability)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            file,
            path,
            written: 0,
            last_lsn: next_lsn.saturating_sub(1),
            durability,
            closed: Arc::new(Segments {
                dir: dir.to_path_buf(),
                segments: Mutex::default(),
            }),
            buf: Vec::new(),
        })
    }

    /// Appends one group of ops as one frame, durably to the configured level. On an error
    /// nothing of the group counts as written (a later frame may follow a partial one only
    /// after a new segment is started, see below).
    pub fn append(&mut self, ops: &[RecordOp]) -> StoreResult<()> {
        let Some(last) = ops.last() else {
            return Ok(());
        };
        self.buf.clear();
        self.buf.extend_from_slice(&[0; FRAME_HEADER]);
        for op in ops {
            op.encode(&mut self.buf);
        }
        let len = self.buf.len() - FRAME_HEADER;
        if len > MAX_FRAME {
            return Err(StoreError::Internal(
                "a write group too large to journal".into(),
            ));
        }
        let crc = crc32fast::hash(&self.buf[FRAME_HEADER..]);
        self.buf[0..4].copy_from_slice(&(len as u32).to_le_bytes());
        self.buf[4..8].copy_from_slice(&crc.to_le_bytes());
        let written = self.file.write_all(&self.buf).and_then(|()| {
            if self.durability == Durability::Full {
                self.file.sync_data()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            // Part of the frame may be in the file: recovery would stop there and never read
            // what follows. Later groups go to a new segment (which recovery reads on: the
            // damaged frame's group was never acknowledged).
            tracing::error!(error = %e, "cannot write the journal");
            let _ = self.rotate(last.lsn + 1);
            return Err(e.into());
        }
        self.written += self.buf.len() as u64;
        self.last_lsn = last.lsn;
        if self.written >= SEGMENT_BYTES {
            self.rotate(last.lsn + 1)?;
        }
        Ok(())
    }

    /// Closes the open segment and starts one at `next_lsn`.
    fn rotate(&mut self, next_lsn: u64) -> StoreResult<()> {
        let (file, path) = new_segment(&self.dir, next_lsn, self.durability)?;
        drop(std::mem::replace(&mut self.file, file));
        let old = std::mem::replace(&mut self.path, path);
        if let Ok(mut closed) = self.closed.segments.lock() {
            closed.push((self.last_lsn, old));
        }
        self.written = 0;
        Ok(())
    }
}

fn new_segment(dir: &Path, first_lsn: u64, durability: Durability) -> StoreResult<(File, PathBuf)> {
    let path = segment_path(dir, first_lsn);
    let file = OpenOptions::new().create(true).append(true).open(&path)?;
    if durability == Durability::Full {
        // The new file's name must survive power loss too.
        File::open(dir)?.sync_all()?;
    }
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::super::record_ops::{OpKind, TextChange};
    use super::*;

    fn op(lsn: u64, id: i64) -> RecordOp {
        RecordOp {
            lsn,
            kind: OpKind::Update,
            account: 1,
            object_type: "0-1".into(),
            id,
            version: 2,
            at: 10,
            properties: "x".repeat(100),
            keys: vec![],
            text: TextChange::Keep,
            history: vec![],
            source_type: "API".into(),
            source_id: None,
            links: vec![],
            set: None,
        }
    }

    fn lsns(r: &Recovered) -> Vec<u64> {
        r.ops.iter().map(|o| o.lsn).collect()
    }

    #[test]
    fn groups_read_back_above_the_applied_lsn() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::start(dir.path(), 1, Durability::Full).unwrap();
        j.append(&[op(1, 5), op(2, 6)]).unwrap();
        j.append(&[op(3, 5)]).unwrap();
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(lsns(&r), [1, 2, 3]);
        assert_eq!(r.last_lsn, 3);
        let r = recover(dir.path(), 2).unwrap();
        assert_eq!(lsns(&r), [3]);
        assert_eq!(r.ops[0].id, 5);
    }

    /// A crash mid-write leaves part of a frame: recovery keeps every whole frame before it.
    #[test]
    fn a_torn_last_frame_ends_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::start(dir.path(), 1, Durability::Process).unwrap();
        j.append(&[op(1, 5)]).unwrap();
        j.append(&[op(2, 6), op(3, 7)]).unwrap();
        let path = segment_path(dir.path(), 1);
        let full = fs::read(&path).unwrap();
        let one = {
            let r = recover(dir.path(), 0).unwrap();
            assert_eq!(lsns(&r), [1, 2, 3]);
            FRAME_HEADER + {
                let mut b = Vec::new();
                op(1, 5).encode(&mut b);
                b.len()
            }
        };
        for cut in one..full.len() {
            fs::write(&path, &full[..cut]).unwrap();
            assert_eq!(lsns(&recover(dir.path(), 0).unwrap()), [1], "cut at {cut}");
        }
        // A flipped bit in the last frame: its checksum fails.
        let mut bad = full.clone();
        let last = bad.len() - 3;
        bad[last] ^= 1;
        fs::write(&path, &bad).unwrap();
        assert_eq!(lsns(&recover(dir.path(), 0).unwrap()), [1]);
    }

    #[test]
    fn full_segments_rotate_and_are_released_once_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::start(dir.path(), 1, Durability::Process).unwrap();
        let mut lsn = 1;
        let big: Vec<RecordOp> = (0..1000)
            .map(|i| {
                let mut o = op(0, i);
                o.properties = "y".repeat(200);
                o
            })
            .collect();
        // ~230 KB a group: past SEGMENT_BYTES after ~300 groups.
        while segments(dir.path()).unwrap().len() < 3 {
            let group: Vec<RecordOp> = big
                .iter()
                .map(|o| {
                    let mut o = o.clone();
                    o.lsn = lsn;
                    lsn += 1;
                    o
                })
                .collect();
            j.append(&group).unwrap();
        }
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(r.ops.len() as u64, lsn - 1);
        assert!(r.ops.windows(2).all(|w| w[0].lsn + 1 == w[1].lsn));
        // Not all applied: the first closed segment stays.
        j.closed.release_through(1);
        assert_eq!(segments(dir.path()).unwrap().len(), 3);
        j.closed.release_through(lsn);
        let left = segments(dir.path()).unwrap();
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!(recover(dir.path(), 0).unwrap().ops.len(), 0);
    }

    #[test]
    fn one_process_at_a_time_owns_the_journal() {
        let dir = tempfile::tempdir().unwrap();
        let lock = JournalLock::try_take(dir.path()).unwrap();
        assert!(lock.is_some());
        assert!(JournalLock::try_take(dir.path()).unwrap().is_none());
        drop(lock);
        assert!(JournalLock::try_take(dir.path()).unwrap().is_some());
    }
}
