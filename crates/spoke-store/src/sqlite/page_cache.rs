//! A thin page cache over SQLite's default one (pcache1) that stops a per-commit scan of its
//! hash table in stores under 1 GiB.
//!
//! At every commit the pager drops cached pages past the end of the database (`xTruncate`
//! with the database's size + 1). pcache1 skips that when no page above the limit was ever
//! cached, using a high-water mark of the keys it has held (`iMaxKey`). But SQLite's B-tree
//! balancing reorders new pages by parking one at a temporary page number, the one of the page
//! that holds the lock bytes at offset 1 GiB (`balance_nonroot` → `sqlite3PagerRekey`), and
//! that lifts the mark to the 1 GiB page for good. In a store smaller than 1 GiB, every commit
//! then walks hash buckets from the database's end to that page, or the whole table when that
//! range is larger: at the bench's 0.99 GB store, 6–7% of the server's CPU while seeding and
//! in PATCHes (`perf probe` showed pcache1's `iMaxKey` at 0x40001 at every commit).
//!
//! This cache keeps its own mark that ignores pages while they are parked at that number (they
//! are always moved on within the same balance) and forwards a truncate to pcache1 only when a
//! page at or above the limit may exist. Everything else goes to pcache1 unchanged. A page's
//! key changes only through `xFetch` (creating it) and `xRekey`, and both raise the mark, so
//! no page above the mark can be left behind. Stores past 1 GiB never paid the scan.

use std::cell::Cell;
use std::ffi::{c_int, c_uint, c_void};
use std::sync::OnceLock;

use rusqlite::ffi;

/// The byte offset of SQLite's lock bytes; the page that holds it is never a database page.
const PENDING_BYTE: u32 = 0x4000_0000;

/// pcache1's methods, which do the real work (read once, before SQLite is initialised).
static INNER: OnceLock<Methods> = OnceLock::new();

struct Methods(ffi::sqlite3_pcache_methods2);

// SAFETY: never changed after it is set; its one pointer, `pArg`, is pcache1's argument, only
// ever handed back to pcache1, which is thread-safe.
unsafe impl Send for Methods {}
unsafe impl Sync for Methods {}

/// What this thread's caches did (a connection's cache is only used by the thread using the
/// connection): for the tests, which share one process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Truncates passed to pcache1.
    pub forwarded: u64,
    /// Truncates answered here: no page at or past the limit.
    pub skipped: u64,
    /// Pages parked at the lock-byte page's number by balancing.
    pub parked: u64,
}

thread_local! {
    static COUNTS: Cell<Counts> = const { Cell::new(Counts { forwarded: 0, skipped: 0, parked: 0 }) };
}

fn count(f: impl FnOnce(&mut Counts)) {
    COUNTS.with(|c| {
        let mut v = c.get();
        f(&mut v);
        c.set(v);
    })
}

struct Cache {
    inner: *mut ffi::sqlite3_pcache,
    /// The lock-byte page's number at this cache's page size: balancing parks pages there.
    parking_key: c_uint,
    /// No page has a key above this, besides pages parked at `parking_key`.
    max_key: c_uint,
    /// Pages now parked at `parking_key`.
    parked: u32,
}

/// Installs the cache for the whole process. Must run before SQLite is initialised (before the
/// first connection opens or a VFS is looked up); `false` when it is too late or SQLite refuses,
/// and SQLite's own page cache stays in place.
pub fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let mut default = std::mem::MaybeUninit::<ffi::sqlite3_pcache_methods2>::zeroed();
        // SAFETY: SQLITE_CONFIG_GETPCACHE2 writes the current methods into the struct we pass.
        let rc =
            unsafe { ffi::sqlite3_config(ffi::SQLITE_CONFIG_GETPCACHE2, default.as_mut_ptr()) };
        if rc != ffi::SQLITE_OK {
            return false;
        }
        // SAFETY: filled in by SQLite above.
        let default = unsafe { default.assume_init() };
        if default.xCreate.is_none() || INNER.set(Methods(default)).is_err() {
            return false;
        }
        let ours = Box::leak(Box::new(ffi::sqlite3_pcache_methods2 {
            iVersion: 1,
            pArg: std::ptr::null_mut(),
            xInit: Some(x_init),
            xShutdown: Some(x_shutdown),
            xCreate: Some(x_create),
            xCachesize: Some(x_cachesize),
            xPagecount: Some(x_pagecount),
            xFetch: Some(x_fetch),
            xUnpin: Some(x_unpin),
            xRekey: Some(x_rekey),
            xTruncate: Some(x_truncate),
            xDestroy: Some(x_destroy),
            xShrink: Some(x_shrink),
        }));
        // SAFETY: SQLITE_CONFIG_PCACHE2 copies the struct; it lives for the process anyway.
        let rc = unsafe {
            ffi::sqlite3_config(
                ffi::SQLITE_CONFIG_PCACHE2,
                ours as *mut ffi::sqlite3_pcache_methods2,
            )
        };
        rc == ffi::SQLITE_OK
    })
}

/// This thread's counts so far.
#[cfg(test)]
pub fn counts() -> Counts {
    COUNTS.with(Cell::get)
}

/// pcache1's methods. Our methods are installed only after INNER is set, so the empty set
/// (every method absent, each caller's fallback) is never used; it only spares a panic path.
fn inner() -> &'static ffi::sqlite3_pcache_methods2 {
    static NONE: Methods = Methods(ffi::sqlite3_pcache_methods2 {
        iVersion: 1,
        pArg: std::ptr::null_mut(),
        xInit: None,
        xShutdown: None,
        xCreate: None,
        xCachesize: None,
        xPagecount: None,
        xFetch: None,
        xUnpin: None,
        xRekey: None,
        xTruncate: None,
        xDestroy: None,
        xShrink: None,
    });
    &INNER.get().unwrap_or(&NONE).0
}

/// # Safety
/// `p` is a pointer this module's `x_create` returned and SQLite has not destroyed.
unsafe fn cache<'a>(p: *mut ffi::sqlite3_pcache) -> &'a mut Cache {
    &mut *(p as *mut Cache)
}

unsafe extern "C" fn x_init(_: *mut c_void) -> c_int {
    match inner().xInit {
        Some(f) => f(inner().pArg),
        None => ffi::SQLITE_OK,
    }
}

unsafe extern "C" fn x_shutdown(_: *mut c_void) {
    if let Some(f) = inner().xShutdown {
        f(inner().pArg)
    }
}

unsafe extern "C" fn x_create(
    page_size: c_int,
    extra: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let Some(create) = inner().xCreate else {
        return std::ptr::null_mut();
    };
    let p = create(page_size, extra, purgeable);
    if p.is_null() || page_size <= 0 {
        return p;
    }
    Box::into_raw(Box::new(Cache {
        inner: p,
        parking_key: PENDING_BYTE / page_size as u32 + 1,
        max_key: 0,
        parked: 0,
    })) as *mut ffi::sqlite3_pcache
}

unsafe extern "C" fn x_cachesize(p: *mut ffi::sqlite3_pcache, n: c_int) {
    if let Some(f) = inner().xCachesize {
        f(cache(p).inner, n)
    }
}

unsafe extern "C" fn x_pagecount(p: *mut ffi::sqlite3_pcache) -> c_int {
    match inner().xPagecount {
        Some(f) => f(cache(p).inner),
        None => 0,
    }
}

unsafe extern "C" fn x_fetch(
    p: *mut ffi::sqlite3_pcache,
    key: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    let c = cache(p);
    let Some(fetch) = inner().xFetch else {
        return std::ptr::null_mut();
    };
    let page = fetch(c.inner, key, create);
    if !page.is_null() {
        c.max_key = c.max_key.max(key);
    }
    page
}

unsafe extern "C" fn x_unpin(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // A parked page dropped here would leave `parked` too high: that only forwards more
    // truncates than needed, never fewer.
    if let Some(f) = inner().xUnpin {
        f(cache(p).inner, page, discard)
    }
}

unsafe extern "C" fn x_rekey(
    p: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    old: c_uint,
    new: c_uint,
) {
    let c = cache(p);
    if let Some(f) = inner().xRekey {
        f(c.inner, page, old, new)
    }
    if new == c.parking_key {
        c.parked += 1;
        count(|n| n.parked += 1);
    } else {
        c.max_key = c.max_key.max(new);
    }
    if old == c.parking_key && c.parked > 0 {
        c.parked -= 1;
    }
}

unsafe extern "C" fn x_truncate(p: *mut ffi::sqlite3_pcache, limit: c_uint) {
    let c = cache(p);
    let highest = if c.parked > 0 {
        c.max_key.max(c.parking_key)
    } else {
        c.max_key
    };
    if limit > highest {
        // No page has a key at or above `limit`: nothing to drop.
        count(|n| n.skipped += 1);
        return;
    }
    count(|n| n.forwarded += 1);
    if let Some(f) = inner().xTruncate {
        f(c.inner, limit)
    }
    c.max_key = c.max_key.min(limit.saturating_sub(1));
    if limit <= c.parking_key {
        c.parked = 0;
    }
}

unsafe extern "C" fn x_destroy(p: *mut ffi::sqlite3_pcache) {
    let c = Box::from_raw(p as *mut Cache);
    if let Some(f) = inner().xDestroy {
        f(c.inner)
    }
}

unsafe extern "C" fn x_shrink(p: *mut ffi::sqlite3_pcache) {
    if let Some(f) = inner().xShrink {
        f(cache(p).inner)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rusqlite::{params, Connection};

    use super::*;

    /// A tiny xorshift generator: the tests' workloads are random but repeatable.
    fn rng(mut seed: u64) -> impl FnMut() -> u64 {
        move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        }
    }

    /// A store with pages small enough that balancing reorders (parks) pages often.
    fn small_pages(dir: &tempfile::TempDir, auto_vacuum: bool) -> Connection {
        assert!(install(), "page cache installed before SQLite started");
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        let vacuum = if auto_vacuum { "FULL" } else { "NONE" };
        conn.execute_batch(&format!(
            "PRAGMA page_size = 512; PRAGMA auto_vacuum = {vacuum}; PRAGMA journal_mode = WAL;
             CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL);
             CREATE INDEX t_v ON t (v);"
        ))
        .unwrap();
        conn
    }

    /// Commits that only grow the file drop nothing, so none reaches pcache1's scan, although
    /// balancing parked pages at the 1 GiB page number in them (pcache1 alone scans at each).
    #[test]
    fn commits_that_grow_the_store_skip_the_scan() {
        let dir = tempfile::tempdir().unwrap();
        let conn = small_pages(&dir, false);
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        let before = counts();
        for _ in 0..200 {
            let tx = conn.unchecked_transaction().unwrap();
            for _ in 0..50 {
                tx.execute(
                    "INSERT INTO t (v) VALUES (?1)",
                    [format!("{:016x}", next())],
                )
                .unwrap();
            }
            tx.commit().unwrap();
        }
        let after = counts();
        assert!(after.parked > before.parked + 10, "{before:?} → {after:?}");
        assert!(
            after.skipped >= before.skipped + 200,
            "{before:?} → {after:?}"
        );
        assert_eq!(after.forwarded, before.forwarded, "{before:?} → {after:?}");
    }

    /// Writes, deletes and rolls back at random, with auto-vacuum shrinking the file, checking
    /// the contents against a map after every transaction and SQLite's integrity check at the
    /// end, and that the truncates that must drop pages (after a rollback of growth or a
    /// shrink) still reach pcache1. (Skipping every truncate leaves the contents right in this
    /// workload, so the counts are what catch it.)
    #[test]
    fn keeps_contents_through_writes_rollbacks_and_shrinks() {
        let dir = tempfile::tempdir().unwrap();
        let conn = small_pages(&dir, true);
        let mut next = rng(0x9e37_79b9_7f4a_7c15);
        let before = counts();
        let mut model: BTreeMap<i64, String> = BTreeMap::new();
        for round in 0..300 {
            let tx = conn.unchecked_transaction().unwrap();
            let mut pending = model.clone();
            for _ in 0..(next() % 200) {
                let id = (next() % 3000) as i64;
                if next().is_multiple_of(3) {
                    tx.execute("DELETE FROM t WHERE id = ?1", [id]).unwrap();
                    pending.remove(&id);
                } else {
                    let v = format!("{:x}-{}", next(), "x".repeat((next() % 120) as usize));
                    tx.execute(
                        "INSERT INTO t (id, v) VALUES (?1, ?2)
                         ON CONFLICT (id) DO UPDATE SET v = excluded.v",
                        params![id, v],
                    )
                    .unwrap();
                    pending.insert(id, v);
                }
            }
            if round % 5 == 4 {
                tx.rollback().unwrap();
            } else {
                tx.commit().unwrap();
                model = pending;
            }
            let stored: BTreeMap<i64, String> = conn
                .prepare("SELECT id, v FROM t")
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(stored, model, "round {round}");
        }
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let after = counts();
        assert!(after.parked > before.parked, "{before:?} → {after:?}");
        assert!(after.skipped > before.skipped, "{before:?} → {after:?}");
        // Rollbacks of growth and auto-vacuum's shrinks do drop pages.
        assert!(after.forwarded > before.forwarded, "{before:?} → {after:?}");
    }
}
