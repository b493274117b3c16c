//! Schema migrations, applied in order at start-up inside one transaction each.

/// SQLite migrations: (version, SQL). Append only; never edit a released step.
pub const SQLITE: &[(i64, &str)] = &[
    (1, include_str!("../migrations/sqlite/0001_init.sql")),
    (2, include_str!("../migrations/sqlite/0002_key_columns.sql")),
    (
        3,
        include_str!("../migrations/sqlite/0003_history_previous.sql"),
    ),
    (
        4,
        include_str!("../migrations/sqlite/0004_record_restores.sql"),
    ),
    (
        5,
        include_str!("../migrations/sqlite/0005_journal_progress.sql"),
    ),
];

/// PostgreSQL migrations, in step with [`SQLITE`]: the same versions, each doing on PostgreSQL
/// what its SQLite twin does (a test checks the versions match). Append only.
pub const POSTGRES: &[(i64, &str)] = &[
    (1, include_str!("../migrations/postgres/0001_init.sql")),
    (
        2,
        include_str!("../migrations/postgres/0002_key_columns.sql"),
    ),
    (
        3,
        include_str!("../migrations/postgres/0003_history_previous.sql"),
    ),
    (
        4,
        include_str!("../migrations/postgres/0004_record_restores.sql"),
    ),
    (
        5,
        include_str!("../migrations/postgres/0005_journal_progress.sql"),
    ),
];

/// The newest schema version this build knows.
pub fn latest() -> i64 {
    SQLITE.last().map(|(v, _)| *v).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two stores' migrations stay in step: the same versions, in the same order, so a
    /// schema change cannot land on one backend only.
    #[test]
    fn sqlite_and_postgres_migrations_are_in_step() {
        let versions = |m: &[(i64, &str)]| m.iter().map(|(v, _)| *v).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE), versions(POSTGRES));
        for (i, (v, sql)) in SQLITE.iter().enumerate() {
            assert_eq!(*v, i as i64 + 1, "versions count up from 1");
            assert!(!sql.trim().is_empty());
        }
        for (_, sql) in POSTGRES {
            assert!(!sql.trim().is_empty());
        }
    }
}
