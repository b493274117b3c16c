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

/// Reads every segment of `dir` and returns the ops above `applied`. A frame that is cut short
/// or fails its checksum ends its segment: it was being written when the process stopped (never
/// acknowledged), or it is the stale tail of a recycled segment (see [`Segments`]); after a
/// failed write the writer goes on in a new segment, which is read on.
pub(crate) fn recover(dir: &Path, applied: u64) -> StoreResult<Recovered> {
    let mut ops = Vec::new();
    let mut last_lsn = applied;
    for (_, path) in segments(dir)? {
        let mut bytes = Vec::new();
        File::open(&path)?.read_to_end(&mut bytes)?;
        let mut at = 0usize;
        while at < bytes.len() {
            let Some((payload, next)) = frame_at(&bytes, at) else {
                tracing::debug!(
                    segment = %path.display(),
                    offset = at,
                    "a journal segment ends with an incomplete frame"
                );
                break;
            };
            let mut r = Reader::new(payload);
            while !r.done() {
                let op = RecordOp::decode(&mut r)?;
                // A recycled segment's stale frames are all applied (at or below `applied`).
                if op.lsn > applied {
                    last_lsn = last_lsn.max(op.lsn);
                    ops.push(op);
                }
            }
            at = next;
        }
    }
    // In journal order (a recycled segment's stale frames aside, segments hold increasing lsns).
    ops.sort_by_key(|op| op.lsn);
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

/// Removes every segment (all applied) of `dir`, and the spare ones.
pub(crate) fn clear(dir: &Path) -> StoreResult<()> {
    for (_, path) in segments(dir)? {
        fs::remove_file(path)?;
    }
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("spare-"))
        {
            fs::remove_file(path)?;
        }
    }
    Ok(())
}

/// Spare segment files kept for reuse.
const SPARES: usize = 2;

/// The journal's segment files, shared by the writer (which opens new ones) and the applier
/// (which lets applied ones go).
///
/// An applied segment is kept as a spare (renamed `spare-<n>`) and reused as the next new one,
/// written over from its start: its pages are in the OS's cache already, where a new file's
/// pages must each be allocated and zeroed by the kernel first (`clear_page` was ~9% of the
/// writer thread's profile under PATCHes; the PATCH phases' throughput moved within noise in
/// A/B), and with `--durability full` writing over allocated blocks makes each `fdatasync`
/// carry no file-size change. What is left of its old frames past the new ones is
/// cut off when the segment is closed; in the open segment, recovery stops at the first frame
/// that does not check out, and an old frame that does is skipped (all of them were applied).
pub(crate) struct Segments {
    dir: PathBuf,
    segments: Mutex<Vec<(u64, PathBuf)>>,
    spares: Mutex<Vec<PathBuf>>,
    spare_names: std::sync::atomic::AtomicU64,
}

impl Segments {
    fn new(dir: &Path) -> Segments {
        Segments {
            dir: dir.to_path_buf(),
            segments: Mutex::default(),
            spares: Mutex::default(),
            spare_names: std::sync::atomic::AtomicU64::new(0),
        }
    }

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

    /// Lets go of the closed segments whose ops are all at or below `applied`: kept as spares
    /// (up to [`SPARES`]) or deleted.
    pub fn release_through(&self, applied: u64) {
        let Ok(mut segments) = self.segments.lock() else {
            return;
        };
        segments.retain(|(last, path)| {
            if *last > applied {
                return true;
            }
            let kept = self.spares.lock().is_ok_and(|mut spares| {
                if spares.len() >= SPARES {
                    return false;
                }
                let n = self
                    .spare_names
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let spare = self.dir.join(format!("spare-{n}"));
                let renamed = fs::rename(path, &spare).is_ok();
                if renamed {
                    spares.push(spare);
                }
                renamed
            });
            if !kept {
                if let Err(e) = fs::remove_file(path) {
                    tracing::warn!(error = %e, segment = %path.display(), "cannot remove a journal segment");
                }
            }
            false
        });
    }

    fn take_spare(&self) -> Option<PathBuf> {
        self.spares.lock().ok()?.pop()
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
    /// A segment is closed once it holds this much ([`SEGMENT_BYTES`]; less in tests).
    segment_bytes: u64,
    pub closed: Arc<Segments>,
    buf: Vec<u8>,
}

impl Journal {
    /// Starts a new segment at `next_lsn` (the directory holds no other segment).
    pub fn start(dir: &Path, next_lsn: u64, durability: Durability) -> StoreResult<Journal> {
        let (file, path) = new_segment(dir, next_lsn, durability, None)?;
        Ok(Journal {
            dir: dir.to_path_buf(),
            file,
            path,
            written: 0,
            last_lsn: next_lsn.saturating_sub(1),
            durability,
            segment_bytes: SEGMENT_BYTES,
            closed: Arc::new(Segments::new(dir)),
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
        if self.written >= self.segment_bytes {
            self.rotate(last.lsn + 1)?;
        }
        Ok(())
    }

    /// Closes the open segment (cut to what was written in it: a recycled one may hold old
    /// frames past that) and starts one at `next_lsn`.
    fn rotate(&mut self, next_lsn: u64) -> StoreResult<()> {
        self.file.set_len(self.written)?;
        if self.durability == Durability::Full {
            self.file.sync_all()?;
        }
        let spare = self.closed.take_spare();
        let (file, path) = new_segment(&self.dir, next_lsn, self.durability, spare)?;
        drop(std::mem::replace(&mut self.file, file));
        let old = std::mem::replace(&mut self.path, path);
        if let Ok(mut closed) = self.closed.segments.lock() {
            closed.push((self.last_lsn, old));
        }
        self.written = 0;
        Ok(())
    }
}

/// Opens the segment starting at `first_lsn`: a spare renamed (written over from its start) or
/// a new file.
fn new_segment(
    dir: &Path,
    first_lsn: u64,
    durability: Durability,
    spare: Option<PathBuf>,
) -> StoreResult<(File, PathBuf)> {
    let path = segment_path(dir, first_lsn);
    if let Some(spare) = spare {
        if let Err(e) = fs::rename(&spare, &path) {
            tracing::warn!(error = %e, "cannot reuse a journal segment");
            let _ = fs::remove_file(&spare);
        }
    }
    // Not in append mode: a reused segment is written from its start.
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&path)?;
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

    /// Appends `groups` groups of `per` ops from `lsn` on; returns the next lsn.
    fn fill(j: &mut Journal, mut lsn: u64, groups: usize, per: usize) -> u64 {
        for _ in 0..groups {
            let group: Vec<RecordOp> = (0..per)
                .map(|i| {
                    let mut o = op(lsn, i as i64);
                    o.properties = "y".repeat(200);
                    lsn += 1;
                    o
                })
                .collect();
            j.append(&group).unwrap();
        }
        lsn
    }

    fn spares(dir: &Path) -> usize {
        fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("spare-")
            })
            .count()
    }

    #[test]
    fn full_segments_rotate_and_are_released_once_applied() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::start(dir.path(), 1, Durability::Process).unwrap();
        j.segment_bytes = 64 << 10;
        let mut lsn = 1;
        while segments(dir.path()).unwrap().len() < 4 {
            lsn = fill(&mut j, lsn, 1, 50);
        }
        let r = recover(dir.path(), 0).unwrap();
        assert_eq!(r.ops.len() as u64, lsn - 1);
        assert!(r.ops.windows(2).all(|w| w[0].lsn + 1 == w[1].lsn));
        // Not all applied: the first closed segment stays.
        j.closed.release_through(1);
        assert_eq!(segments(dir.path()).unwrap().len(), 4);
        j.closed.release_through(lsn);
        assert_eq!(segments(dir.path()).unwrap().len(), 1);
        assert_eq!(spares(dir.path()), SPARES);
        assert_eq!(recover(dir.path(), lsn - 1).unwrap().ops.len(), 0);
    }

    /// A reused segment is written over from its start: the new frames read back, the old ones
    /// past them (all applied) do not, and a closed one is cut to its new frames.
    #[test]
    fn a_reused_segment_reads_back_only_its_new_frames() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::start(dir.path(), 1, Durability::Process).unwrap();
        j.segment_bytes = 64 << 10;
        let mut lsn = 1;
        while segments(dir.path()).unwrap().len() < 3 {
            lsn = fill(&mut j, lsn, 1, 50);
        }
        let applied = lsn - 1;
        j.closed.release_through(applied);
        assert_eq!(spares(dir.path()), 2);
        // Into the open segment, then into a reused one, where a few groups are written over
        // the start of its old frames.
        let before = segments(dir.path()).unwrap().len();
        while segments(dir.path()).unwrap().len() == before {
            lsn = fill(&mut j, lsn, 1, 50);
        }
        assert_eq!(spares(dir.path()), 1);
        lsn = fill(&mut j, lsn, 2, 5);
        let r = recover(dir.path(), applied).unwrap();
        let got: Vec<u64> = r.ops.iter().map(|o| o.lsn).collect();
        let want: Vec<u64> = (applied + 1..lsn).collect();
        assert_eq!(got, want);
        assert_eq!(r.last_lsn, lsn - 1);
        // The reused segment fills and closes: cut to its length, it holds no old frame.
        let reused = segments(dir.path()).unwrap().last().unwrap().1.clone();
        while segments(dir.path()).unwrap().last().unwrap().1 == reused {
            lsn = fill(&mut j, lsn, 1, 50);
        }
        let len = fs::metadata(&reused).unwrap().len();
        assert!(len < (64 << 10) + 20_000, "{len}");
        let r = recover(dir.path(), applied).unwrap();
        assert_eq!(r.ops.len() as u64, lsn - 1 - applied);
    }

    /// After a failed write the writer goes on in a new segment: recovery reads past the
    /// damaged frame into it.
    #[test]
    fn recovery_reads_past_a_damaged_segment() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = Journal::start(dir.path(), 1, Durability::Process).unwrap();
        j.append(&[op(1, 5)]).unwrap();
        j.rotate(2).unwrap();
        j.append(&[op(2, 6)]).unwrap();
        // Garbage at the end of the first (closed) segment.
        let first = segment_path(dir.path(), 1);
        let mut f = OpenOptions::new().append(true).open(&first).unwrap();
        f.write_all(&[9, 0, 0, 0, 1, 2, 3]).unwrap();
        assert_eq!(lsns(&recover(dir.path(), 0).unwrap()), [1, 2]);
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
