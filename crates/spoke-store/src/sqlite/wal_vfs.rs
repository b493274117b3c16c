//! A thin VFS over SQLite's default one that gathers the writer's WAL frames into one write
//! per commit. SQLite writes each WAL frame as two `pwrite`s (a 24-byte header, then the page),
//! neither aligned to the file system's pages, so the kernel zeroes and patches two pages per
//! call: measured at ~25% of the writer's time in PATCHes at a million contacts. Here the frames
//! of a transaction collect in memory and go to the file in one write when its commit frame has
//! been written, so the file holds every frame of a commit before `sqlite3WalFrames` returns and
//! publishes it in the WAL index (readers never see a frame that is not in the file), and a
//! failed write fails the commit through SQLite's own error path.
//!
//! What is buffered: writes to WAL files only, and only while they extend the buffer; any other
//! call on the WAL file (a read, a sync, a size, a truncate, a write elsewhere, close) writes
//! the buffer first. A commit frame is recognised by its header: a WAL frame header is the only
//! 24-byte write SQLite makes to a WAL, and bytes 4..8 hold the database size in pages after
//! the commit, zero for other frames (https://www.sqlite.org/fileformat2.html#walformat). A
//! process killed with frames in the buffer loses only a transaction that has not committed.

use std::ffi::{c_char, c_int, c_void, CStr};
use std::mem::size_of;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The name the writer's connection opens its store with.
pub const VFS_NAME: &str = "spoke-wal";
const VFS_NAME_C: &CStr = c"spoke-wal";

/// Size of a WAL frame header.
const FRAME_HEADER: c_int = 24;

/// Largest write handed to the default VFS: its unix `xWrite` writes at most 128 KiB - 1 bytes
/// per call (it masks the length with 0x1ffff; SQLite itself never writes more than a page).
const CHUNK: usize = 64 << 10;

/// Frames held before a write even without a commit (a transaction that spills its cache).
const MAX_BUFFER: usize = 8 << 20;

/// SQLite's default VFS, which does the real work.
static REAL: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(ptr::null_mut());

/// An open file: the real file lives right after this struct, in the same allocation.
#[repr(C)]
struct File {
    base: ffi::sqlite3_file,
    inner: *mut ffi::sqlite3_file,
    is_wal: bool,
    /// The last frame header written was a commit frame's: its page completes the commit.
    commit_frame: bool,
    buffer: Vec<u8>,
    /// File offset of `buffer[0]`.
    buffer_offset: i64,
}

/// Room for [`File`], rounded up so the real file that follows it is aligned.
const FILE_SIZE: usize = size_of::<File>().div_ceil(16) * 16;

/// Registers the VFS (once per process); `false` when SQLite has no default VFS to wrap.
pub fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        // SAFETY: sqlite3_vfs_find(NULL) returns the default VFS, which lives as long as the
        // process; the copy made of it is leaked so it does too, as sqlite3_vfs_register needs.
        unsafe {
            let real = ffi::sqlite3_vfs_find(ptr::null());
            if real.is_null() {
                return false;
            }
            REAL.store(real, Ordering::Release);
            let mut vfs: ffi::sqlite3_vfs = *real;
            vfs.zName = VFS_NAME_C.as_ptr();
            vfs.szOsFile = (FILE_SIZE as c_int) + (*real).szOsFile;
            vfs.pNext = ptr::null_mut();
            vfs.xOpen = Some(x_open);
            ffi::sqlite3_vfs_register(Box::leak(Box::new(vfs)), 0) == ffi::SQLITE_OK
        }
    })
}

static METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 3,
    xClose: Some(x_close),
    xRead: Some(x_read),
    xWrite: Some(x_write),
    xTruncate: Some(x_truncate),
    xSync: Some(x_sync),
    xFileSize: Some(x_file_size),
    xLock: Some(x_lock),
    xUnlock: Some(x_unlock),
    xCheckReservedLock: Some(x_check_reserved_lock),
    xFileControl: Some(x_file_control),
    xSectorSize: Some(x_sector_size),
    xDeviceCharacteristics: Some(x_device_characteristics),
    xShmMap: Some(x_shm_map),
    xShmLock: Some(x_shm_lock),
    xShmBarrier: Some(x_shm_barrier),
    xShmUnmap: Some(x_shm_unmap),
    xFetch: Some(x_fetch),
    xUnfetch: Some(x_unfetch),
};

unsafe extern "C" fn x_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let real = REAL.load(Ordering::Acquire);
    let Some(open) = (*real).xOpen else {
        return ffi::SQLITE_CANTOPEN;
    };
    let me = file as *mut File;
    // SQLite calls xClose only when pMethods is set, so it stays null until the real open works.
    (*me).base.pMethods = ptr::null();
    let inner = (file as *mut u8).add(FILE_SIZE) as *mut ffi::sqlite3_file;
    let rc = open(real, name, inner, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        return rc;
    }
    ptr::write(
        me,
        File {
            base: ffi::sqlite3_file { pMethods: &METHODS },
            inner,
            is_wal: flags & ffi::SQLITE_OPEN_WAL != 0,
            commit_frame: false,
            buffer: Vec::new(),
            buffer_offset: 0,
        },
    );
    rc
}

/// Writes the buffered frames, if any, in pieces of at most [`CHUNK`] bytes that end on
/// multiples of [`CHUNK`] in the file (so the kernel sees whole pages but at the ends).
unsafe fn flush(me: *mut File) -> c_int {
    let me = &mut *me;
    if me.buffer.is_empty() {
        return ffi::SQLITE_OK;
    }
    let Some(write) = (*(*me.inner).pMethods).xWrite else {
        me.buffer.clear();
        return ffi::SQLITE_IOERR_WRITE;
    };
    let mut done = 0usize;
    let mut rc = ffi::SQLITE_OK;
    while done < me.buffer.len() && rc == ffi::SQLITE_OK {
        let offset = me.buffer_offset + done as i64;
        let to_boundary = CHUNK - (offset as usize % CHUNK);
        let n = to_boundary.min(me.buffer.len() - done);
        rc = write(
            me.inner,
            me.buffer[done..].as_ptr().cast(),
            n as c_int,
            offset,
        );
        done += n;
    }
    me.buffer.clear();
    rc
}

/// Flushes, then calls the real file's method.
macro_rules! flush_then {
    ($file:expr, $method:ident $(, $arg:expr)*) => {{
        let me = $file as *mut File;
        let rc = flush(me);
        if rc != ffi::SQLITE_OK {
            return rc;
        }
        let inner = (*me).inner;
        match (*(*inner).pMethods).$method {
            Some(m) => m(inner $(, $arg)*),
            None => ffi::SQLITE_IOERR,
        }
    }};
}

/// Calls the real file's method (the buffer does not matter to it).
macro_rules! forward {
    ($file:expr, $method:ident, $missing:expr $(, $arg:expr)*) => {{
        let inner = (*($file as *mut File)).inner;
        match (*(*inner).pMethods).$method {
            Some(m) => m(inner $(, $arg)*),
            None => $missing,
        }
    }};
}

unsafe extern "C" fn x_write(
    file: *mut ffi::sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    let me = file as *mut File;
    if !(*me).is_wal || amount <= 0 {
        return forward!(file, xWrite, ffi::SQLITE_IOERR_WRITE, data, amount, offset);
    }
    {
        let m = &*me;
        let end = m.buffer_offset + m.buffer.len() as i64;
        if !m.buffer.is_empty() && (offset != end || m.buffer.len() >= MAX_BUFFER) {
            let rc = flush(me);
            if rc != ffi::SQLITE_OK {
                return rc;
            }
        }
    }
    let m = &mut *me;
    if m.buffer.is_empty() {
        m.buffer_offset = offset;
    }
    let bytes = std::slice::from_raw_parts(data as *const u8, amount as usize);
    m.buffer.extend_from_slice(bytes);
    if amount == FRAME_HEADER {
        m.commit_frame = bytes[4..8] != [0, 0, 0, 0];
        return ffi::SQLITE_OK;
    }
    if m.commit_frame {
        m.commit_frame = false;
        return flush(me);
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn x_close(file: *mut ffi::sqlite3_file) -> c_int {
    let me = file as *mut File;
    let flushed = flush(me);
    let closed = forward!(file, xClose, ffi::SQLITE_OK);
    ptr::drop_in_place(&mut (*me).buffer);
    (*me).base.pMethods = ptr::null();
    if flushed != ffi::SQLITE_OK {
        flushed
    } else {
        closed
    }
}

unsafe extern "C" fn x_read(
    file: *mut ffi::sqlite3_file,
    data: *mut c_void,
    amount: c_int,
    offset: i64,
) -> c_int {
    flush_then!(file, xRead, data, amount, offset)
}

unsafe extern "C" fn x_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    flush_then!(file, xTruncate, size)
}

unsafe extern "C" fn x_sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    flush_then!(file, xSync, flags)
}

unsafe extern "C" fn x_file_size(file: *mut ffi::sqlite3_file, size: *mut i64) -> c_int {
    flush_then!(file, xFileSize, size)
}

unsafe extern "C" fn x_file_control(
    file: *mut ffi::sqlite3_file,
    op: c_int,
    arg: *mut c_void,
) -> c_int {
    flush_then!(file, xFileControl, op, arg)
}

unsafe extern "C" fn x_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    flush_then!(file, xLock, level)
}

unsafe extern "C" fn x_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    flush_then!(file, xUnlock, level)
}

unsafe extern "C" fn x_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    forward!(file, xCheckReservedLock, ffi::SQLITE_IOERR, out)
}

unsafe extern "C" fn x_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xSectorSize, 4096)
}

unsafe extern "C" fn x_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    forward!(file, xDeviceCharacteristics, 0)
}

unsafe extern "C" fn x_shm_map(
    file: *mut ffi::sqlite3_file,
    page: c_int,
    page_size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    forward!(
        file,
        xShmMap,
        ffi::SQLITE_IOERR,
        page,
        page_size,
        extend,
        out
    )
}

unsafe extern "C" fn x_shm_lock(
    file: *mut ffi::sqlite3_file,
    offset: c_int,
    n: c_int,
    flags: c_int,
) -> c_int {
    forward!(file, xShmLock, ffi::SQLITE_IOERR, offset, n, flags)
}

unsafe extern "C" fn x_shm_barrier(file: *mut ffi::sqlite3_file) {
    forward!(file, xShmBarrier, ())
}

unsafe extern "C" fn x_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    forward!(file, xShmUnmap, ffi::SQLITE_OK, delete)
}

unsafe extern "C" fn x_fetch(
    file: *mut ffi::sqlite3_file,
    offset: i64,
    amount: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let me = file as *mut File;
    if (*me).is_wal {
        // Memory-mapped reads of the WAL would bypass the buffer; SQLite then reads instead.
        *out = ptr::null_mut();
        return ffi::SQLITE_OK;
    }
    forward!(file, xFetch, ffi::SQLITE_OK, offset, amount, out)
}

unsafe extern "C" fn x_unfetch(file: *mut ffi::sqlite3_file, offset: i64, p: *mut c_void) -> c_int {
    forward!(file, xUnfetch, ffi::SQLITE_OK, offset, p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, OpenFlags};

    /// Commits through the buffering VFS are complete in the files: another connection (on the
    /// default VFS) reads every row, also after transactions large enough to spill the buffer,
    /// and after the WAL restarts.
    #[test]
    fn committed_frames_are_in_the_file_for_other_connections() {
        assert!(crate::sqlite::setup());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sqlite3");
        let writer =
            Connection::open_with_flags_and_vfs(&path, OpenFlags::default(), VFS_NAME).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
                 PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);",
            )
            .unwrap();
        let reader = Connection::open(&path).unwrap();
        let count = |c: &Connection| -> i64 {
            c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap()
        };
        let mut expected = 0;
        for round in 0..5 {
            let rows = if round == 2 { 20_000 } else { 50 };
            writer.execute_batch("BEGIN").unwrap();
            for _ in 0..rows {
                writer
                    .execute("INSERT INTO t (v) VALUES (?1)", ["x".repeat(700)])
                    .unwrap();
            }
            writer.execute_batch("COMMIT").unwrap();
            expected += rows;
            assert_eq!(count(&reader), expected);
            if round == 3 {
                let busy: i64 = reader
                    .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get(0))
                    .unwrap();
                assert_eq!(busy, 0);
            }
        }
        drop(writer);
        drop(reader);
        let again = Connection::open(&path).unwrap();
        assert_eq!(count(&again), expected);
        assert_eq!(
            again
                .query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))
                .unwrap(),
            "ok"
        );
    }
}
