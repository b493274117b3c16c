//! Read connections. WAL lets readers see the last committed state without waiting for the
//! writer, so a read right after an acknowledged write sees it (read-your-writes).

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::Connection;

use super::open_reader;
use crate::StoreResult;

/// Idle connections kept for reuse; more are opened on demand under load.
const MAX_IDLE: usize = 16;

pub struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl ReadPool {
    pub fn new(path: PathBuf) -> ReadPool {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `f` on a read connection. Point reads take microseconds, so callers run this inline.
    pub fn with<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let conn = match self.idle.lock().ok().and_then(|mut v| v.pop()) {
            Some(c) => c,
            None => open_reader(&self.path)?,
        };
        let result = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        result
    }
}
