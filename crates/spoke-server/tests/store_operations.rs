//! Choosing and operating the store: `--database-url` schemes, waiting for PostgreSQL,
//! `spoke migrate`, and refusing a store whose schema is newer than this Spoke.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{database_for, test_database_server};

fn spoke(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_spoke"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("SPOKE_DATABASE_URL", "")
        .output()
        .expect("run spoke")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn an_unknown_database_url_scheme_is_a_clear_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = spoke(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--database-url",
        "mysql://root@localhost/spoke",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("unsupported --database-url scheme \"mysql\""),
        "{err}"
    );
    assert!(err.contains("postgres://"), "{err}");
}

#[test]
fn start_up_waits_for_postgres_a_bounded_time_and_says_so() {
    // Nothing listens on port 1: every connection attempt is refused.
    let started = Instant::now();
    let out = spoke(&[
        "migrate",
        "--database-url",
        "postgres://spoke@127.0.0.1:1/spoke",
        "--database-wait",
        "2",
    ]);
    let took = started.elapsed();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("waiting for PostgreSQL at 127.0.0.1:1/spoke"),
        "{err}"
    );
    assert!(
        err.contains("did not accept a connection within 2 s"),
        "{err}"
    );
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

#[test]
fn migrate_applies_the_schema_and_a_newer_sqlite_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = spoke(&["migrate", "--data-dir", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.starts_with("schema version 1"), "{stdout}");
    let conn = rusqlite::Connection::open(dir.path().join("spoke.sqlite3")).unwrap();
    conn.execute_batch("PRAGMA user_version = 999").unwrap();
    drop(conn);
    let out = spoke(&["serve", "--listen", "127.0.0.1:0", "--data-dir", d]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("schema version 999 is newer than this Spoke knows"),
        "{}",
        stderr(&out)
    );
}

/// Stores made by earlier versions carry search indexes on the create and last-modified dates
/// that nothing reads (searches use the created_at/updated_at columns); opening drops them and
/// keeps the others.
#[test]
fn opening_an_older_sqlite_store_drops_the_retired_date_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    assert!(spoke(&["migrate", "--data-dir", d]).status.success());
    let path = dir.path().join("spoke.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    for (name, property) in [
        ("search_0_1_createdate_168ee191", "createdate"),
        ("search_0_1_lastmodifieddate_aa5e2d72", "lastmodifieddate"),
        ("search_0_1_email_8a8753c7", "email"),
    ] {
        conn.execute_batch(&format!(
            "CREATE INDEX \"{name}\" ON objects (account_id, json_extract(search, '$.\"{property}\"')) \
             WHERE object_type = '0-1' AND archived_at IS NULL"
        ))
        .unwrap();
    }
    drop(conn);
    let out = spoke(&["migrate", "--data-dir", d]);
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'search_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(names, vec!["search_0_1_email_8a8753c7".to_string()]);
}

#[test]
fn migrate_applies_the_schema_and_a_newer_postgres_schema_is_refused() {
    if test_database_server().is_none() {
        eprintln!("store_operations: PostgreSQL part skipped (no SPOKE_TEST_DATABASE_URL)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = database_for(dir.path()).unwrap();
    for _ in 0..2 {
        // Idempotent: the second run finds nothing to do.
        let out = spoke(&["migrate", "--database-url", &url]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("schema version 1"));
    }
    let psql = Command::new("psql")
        .arg(&url)
        .args([
            "-qc",
            "INSERT INTO spoke_schema_version (version) VALUES (999)",
        ])
        .output()
        .unwrap();
    assert!(psql.status.success(), "{}", stderr(&psql));
    let out = spoke(&["serve", "--listen", "127.0.0.1:0", "--database-url", &url]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("schema version 999 is newer than this Spoke knows"),
        "{}",
        stderr(&out)
    );
}
