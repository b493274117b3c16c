//! Schema migrations, applied in order at start-up inside one transaction each.

/// SQLite migrations: (version, SQL). Append only; never edit a released step.
pub const SQLITE: &[(i64, &str)] = &[(1, include_str!("../migrations/sqlite/0001_init.sql"))];

/// PostgreSQL migrations, in step with [`SQLITE`]: the same versions, each doing on PostgreSQL
/// what its SQLite twin does (a test checks the versions match). Append only.
pub const POSTGRES: &[(i64, &str)] = &[(1, include_str!("../migrations/postgres/0001_init.sql"))];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    SQLITE.last().map(|(v, _)| *v).unwrap_or(0)
}
