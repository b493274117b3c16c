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
    assert!(
        stdout.starts_with(&format!(
            "schema version {}",
            spoke_store::migrations::latest()
        )),
        "{stdout}"
    );
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

/// A store of schema version 1 kept every record's search keys in one `search` column, with the
/// search indexes on it, and some carry retired indexes on the create and last-modified dates.
/// Opening it with this version moves the keys to the key columns (migration 2), rebuilds the
/// search indexes there under their names, drops the retired ones, and every search still finds
/// what it found. The version-1 layout is made here from a current store, by hand.
#[tokio::test]
async fn a_version_1_sqlite_store_moves_its_search_keys_to_the_key_columns() {
    let dir = tempfile::tempdir().unwrap();
    let token = "pat-na1-11111111-2222-3333-4444-555555555555";
    let contacts = |n: usize| -> Vec<serde_json::Value> {
        (0..n)
            .map(|i| {
                serde_json::json!({"properties": {
                    "email": format!("person{i}@migrate.example"),
                    "firstname": format!("Migrated{i}"),
                    "level": (i * 10).to_string(),
                }})
            })
            .collect()
    };
    {
        let s = common::Server::start_on(dir.path(), token, None);
        let c = s.client();
        let p = c
            .post(
                "/crm/v3/properties/contacts",
                serde_json::json!({"name": "level", "label": "Level", "type": "number",
                    "fieldType": "number", "groupName": "contactinformation"}),
            )
            .await;
        assert_eq!(p.status, 201, "{}", p.text);
        c.create_contacts(contacts(30)).await;
    }
    let path = dir.path().join("spoke.sqlite3");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let indexes: Vec<(String, String)> = conn
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'search_%'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut names: Vec<String> = indexes.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        ["search_0_1_email_8a8753c7", "search_0_1_level_9b99e7dd"]
    );
    // Back to version 1: one `search` column of all keys, the indexes on it, retired ones too.
    let merged = (0..16).fold("jsonb('{}')".to_string(), |acc, k| {
        format!("jsonb_patch({acc}, COALESCE(k{k}, jsonb('{{}}')))")
    });
    conn.execute_batch(&format!(
        "ALTER TABLE objects ADD COLUMN search BLOB NOT NULL DEFAULT x'';
         UPDATE objects SET search = {merged};"
    ))
    .unwrap();
    let mut retired = vec![
        (
            "search_0_1_createdate_168ee191".to_string(),
            "createdate".to_string(),
        ),
        (
            "search_0_1_lastmodifieddate_aa5e2d72".to_string(),
            "lastmodifieddate".to_string(),
        ),
    ];
    for (name, sql) in &indexes {
        assert!(sql.contains("json_extract(k"), "{sql}");
        let property = sql
            .split("'$.\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        retired.push((name.clone(), property.to_string()));
        conn.execute_batch(&format!("DROP INDEX \"{name}\""))
            .unwrap();
    }
    for (name, property) in &retired {
        conn.execute_batch(&format!(
            "CREATE INDEX \"{name}\" ON objects (account_id, json_extract(search, '$.\"{property}\"')) \
             WHERE object_type = '0-1' AND archived_at IS NULL"
        ))
        .unwrap();
    }
    for k in 0..16 {
        conn.execute_batch(&format!("ALTER TABLE objects DROP COLUMN k{k}"))
            .unwrap();
    }
    // Nor had it the history rows' `previous` (migration 3), the restore count (4), nor the
    // journal's progress (5).
    conn.execute_batch(
        "ALTER TABLE property_history DROP COLUMN previous; DROP TABLE record_restores; \
         DROP TABLE journal_progress; PRAGMA user_version = 1",
    )
    .unwrap();
    drop(conn);

    let s = common::Server::start_on(dir.path(), token, None);
    let c = s.client();
    let conn = rusqlite::Connection::open(&path).unwrap();
    assert_eq!(
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))
            .unwrap(),
        spoke_store::migrations::latest()
    );
    let history_columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('property_history')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        history_columns.contains(&"previous".to_string()),
        "{history_columns:?}"
    );
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('objects')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!columns.contains(&"search".to_string()), "{columns:?}");
    let after: Vec<(String, String)> = conn
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND name LIKE 'search_%' ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        after.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["search_0_1_email_8a8753c7", "search_0_1_level_9b99e7dd"]
    );
    assert!(
        after.iter().all(|(_, sql)| sql.contains("json_extract(k")),
        "{after:?}"
    );
    drop(conn);

    let eq = c
        .post(
            "/crm/v3/objects/contacts/search",
            serde_json::json!({"filterGroups": [{"filters": [
                {"propertyName": "email", "operator": "EQ", "value": "person7@migrate.example"}]}],
                "properties": ["firstname"]}),
        )
        .await;
    assert_eq!(eq.status, 200, "{}", eq.text);
    assert_eq!(eq.body["total"], 1);
    assert_eq!(
        eq.body["results"][0]["properties"]["firstname"],
        "Migrated7"
    );
    let range = c
        .post(
            "/crm/v3/objects/contacts/search",
            serde_json::json!({"filterGroups": [{"filters": [
                {"propertyName": "level", "operator": "BETWEEN", "value": "50", "highValue": "120"}]}],
                "sorts": [{"propertyName": "level", "direction": "DESCENDING"}],
                "properties": ["level"]}),
        )
        .await;
    assert_eq!(range.status, 200, "{}", range.text);
    let levels: Vec<&str> = range.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["properties"]["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["120", "110", "100", "90", "80", "70", "60", "50"]);
    let query = c
        .post(
            "/crm/v3/objects/contacts/search",
            serde_json::json!({"query": "Migrated29"}),
        )
        .await;
    assert_eq!(query.body["total"], 1, "{}", query.text);
    // Writes after the migration keep every search right.
    let id = eq.body["results"][0]["id"].as_str().unwrap();
    let p = c
        .patch(
            &format!("/crm/v3/objects/contacts/{id}"),
            serde_json::json!({"properties": {"level": "555"}}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    let moved = c
        .post(
            "/crm/v3/objects/contacts/search",
            serde_json::json!({"filterGroups": [{"filters": [
                {"propertyName": "level", "operator": "GT", "value": "500"}]}]}),
        )
        .await;
    assert_eq!(moved.body["total"], 1, "{}", moved.text);
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
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let latest = spoke_store::migrations::latest();
        assert!(
            stdout.starts_with(&format!("schema version {latest}")),
            "{stdout}"
        );
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
