//! The journaled write path seen through the store: acknowledged writes that SQLite does not
//! have yet are read, checked for uniqueness and recovered after a crash. The applier is held
//! ([`super::writer::Writer::hold`]) so that writes stay pending for as long as a test needs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spoke_core::ids::{AccountId, ObjectId};
use spoke_core::object_type::Registry;
use spoke_core::record::WriteSource;
use spoke_core::search::{compile, PublicObjectSearchRequest, RESULT_CAP};
use spoke_core::value::PropertySet;

use super::SqliteStore;
use crate::{AssociationLink, BatchMode, Durability, NewObject, Store, StoreError};

const A: AccountId = AccountId(1);

pub(super) fn contacts() -> Arc<PropertySet> {
    Arc::new(PropertySet::new(
        Registry::standard().resolve("contacts").unwrap(),
        vec![],
        vec![],
    ))
}

fn values(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) async fn create(
    store: &SqliteStore,
    set: &Arc<PropertySet>,
    pairs: &[(&str, &str)],
) -> Result<ObjectId, StoreError> {
    let input = NewObject {
        writes: set.validate(&values(pairs), true).unwrap(),
        associations: vec![],
    };
    let mut out = store
        .create_objects(
            A,
            set.clone(),
            vec![input],
            BatchMode::AllOrNothing,
            WriteSource::api(None),
        )
        .await?;
    Ok(out.pop().unwrap()?.id)
}

pub(super) async fn update(
    store: &SqliteStore,
    set: &Arc<PropertySet>,
    id: ObjectId,
    pairs: &[(&str, &str)],
) -> Result<(), StoreError> {
    let writes = set.validate(&values(pairs), false).unwrap();
    store
        .update_objects(A, set.clone(), vec![(id, writes)], WriteSource::api(None))
        .await?
        .pop()
        .unwrap()
        .map(|_| ())
}

async fn email_of(store: &SqliteStore, set: &PropertySet, id: ObjectId) -> Option<String> {
    store
        .get_object(A, &set.object_type, id, false, None)
        .await
        .unwrap()
        .map(|r| r.properties.get("email").cloned().unwrap_or_default())
}

async fn search_email(store: &SqliteStore, set: &Arc<PropertySet>, email: &str) -> Vec<ObjectId> {
    // A NEQ filter keeps the search off the unique-value fast path: SQLite answers it.
    let req: PublicObjectSearchRequest = serde_json::from_value(serde_json::json!({
        "filterGroups": [{"filters": [
            {"propertyName": "email", "operator": "EQ", "value": email},
            {"propertyName": "firstname", "operator": "NEQ", "value": "nobody"}]}]}))
    .unwrap();
    let q = compile(set, &req, Some(RESULT_CAP)).unwrap();
    let (_, page) = store.search_objects(A, set.clone(), q).await.unwrap();
    page.into_iter().map(|r| r.id).collect()
}

/// Records in the SQLite file itself (what the applier has written).
fn stored_count(path: &Path) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("SELECT COUNT(*) FROM objects", [], |r| r.get(0))
        .unwrap()
}

/// A store in `dir/live` whose writes stay pending once it is held, and the directory its
/// files are copied to by [`crash`].
fn live_store(dir: &Path, durability: Durability) -> (SqliteStore, PathBuf, PathBuf) {
    let live = dir.join("live");
    std::fs::create_dir_all(&live).unwrap();
    let store = SqliteStore::open(&live.join("s.sqlite3"), durability).unwrap();
    (store, live, dir.join("crashed"))
}

/// The files as a `kill -9` leaves them: copied while writes are pending, then the store goes.
fn crash(store: SqliteStore, live: &Path, crashed: &Path) {
    copy_dir(live, crashed);
    drop(store);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Writes acknowledged but not yet in SQLite are read by id, and a search waits for them.
#[tokio::test]
async fn pending_writes_are_read_and_searched() {
    pending_writes_are_read(super::DEFAULT_RECORD_CACHE_BYTES).await;
}

/// The same with the record cache off (`--record-cache-mib 0`): pending records are kept
/// regardless.
#[tokio::test]
async fn pending_writes_are_read_without_a_record_cache() {
    pending_writes_are_read(0).await;
}

async fn pending_writes_are_read(cache_bytes: usize) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let store = SqliteStore::open_with_cache(&path, Durability::Process, cache_bytes).unwrap();
    let set = contacts();
    store.writer.hold(true);
    let id = create(&store, &set, &[("email", "p@example.com")])
        .await
        .unwrap();
    update(&store, &set, id, &[("email", "q@example.com")])
        .await
        .unwrap();
    assert_eq!(stored_count(&path), 0, "the applier is held");
    assert_eq!(
        email_of(&store, &set, id).await.as_deref(),
        Some("q@example.com")
    );
    store
        .archive_objects(A, set.clone(), vec![id])
        .await
        .unwrap();
    assert_eq!(email_of(&store, &set, id).await, None);
    let archived = store
        .get_object(A, &set.object_type, id, true, None)
        .await
        .unwrap()
        .unwrap();
    assert!(archived.archived());
    // Another account never reaches the pending record.
    assert!(store
        .get_object(AccountId(2), &set.object_type, id, true, None)
        .await
        .unwrap()
        .is_none());
    let other = create(&store, &set, &[("email", "r@example.com")])
        .await
        .unwrap();
    assert_eq!(stored_count(&path), 0);
    // The search waits for the applier: it sees every acknowledged write.
    assert_eq!(search_email(&store, &set, "r@example.com").await, [other]);
    assert!(search_email(&store, &set, "q@example.com").await.is_empty());
    assert_eq!(stored_count(&path), 2);
    let history = store
        .property_history(A, other, &["email".into()])
        .await
        .unwrap();
    assert_eq!(history["email"][0].value, "r@example.com");
}

/// A unique value held only by pending writes is taken; one a pending write gave up or
/// archived is free. On an empty store the writer takes the cache's map of unique values as
/// complete (no look-up in SQLite for a value it does not name).
#[tokio::test]
async fn unique_values_of_pending_writes_are_enforced() {
    unique_values_are_enforced(true).await;
}

/// The same on a store opened with records in it, where every value the map does not name is
/// looked up in SQLite.
#[tokio::test]
async fn unique_values_are_enforced_on_a_store_with_records() {
    unique_values_are_enforced(false).await;
}

async fn unique_values_are_enforced(empty_at_open: bool) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let set = contacts();
    let (store, old) = if empty_at_open {
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let old = create(&store, &set, &[("email", "old@example.com")])
            .await
            .unwrap();
        (store, old)
    } else {
        let store = SqliteStore::open(&path, Durability::Process).unwrap();
        let old = create(&store, &set, &[("email", "old@example.com")])
            .await
            .unwrap();
        drop(store);
        (SqliteStore::open(&path, Durability::Process).unwrap(), old)
    };
    assert_eq!(store.cache.unique_complete(), empty_at_open);
    // One record in SQLite already.
    store.writer.applied().await.unwrap();
    let taken = create(&store, &set, &[("email", "OLD@example.com")]).await;
    assert!(
        matches!(taken, Err(StoreError::UniqueConflict { existing, .. }) if existing == old),
        "{taken:?}"
    );
    store.writer.hold(true);
    let first = create(&store, &set, &[("email", "e@example.com")])
        .await
        .unwrap();
    let again = create(&store, &set, &[("email", "E@example.com")]).await;
    assert!(
        matches!(again, Err(StoreError::UniqueConflict { existing, .. }) if existing == first),
        "{again:?}"
    );
    // The SQLite holder changed its value in a pending write: its old value is free.
    update(&store, &set, old, &[("email", "moved@example.com")])
        .await
        .unwrap();
    let taker = create(&store, &set, &[("email", "old@example.com")])
        .await
        .unwrap();
    // ... and its new one is taken.
    let clash = update(&store, &set, first, &[("email", "moved@example.com")]).await;
    assert!(
        matches!(clash, Err(StoreError::UniqueConflict { .. })),
        "{clash:?}"
    );
    // Archived in a pending write: free again.
    store
        .archive_objects(A, set.clone(), vec![first])
        .await
        .unwrap();
    let reuse = create(&store, &set, &[("email", "e@example.com")])
        .await
        .unwrap();
    // Upsert by email finds the pending holder.
    let writes = set
        .validate(&values(&[("firstname", "Up")]), false)
        .unwrap();
    let upserted = store
        .upsert_objects(
            A,
            set.clone(),
            "email".into(),
            vec![("e@example.com".into(), writes)],
            WriteSource::api(None),
        )
        .await
        .unwrap();
    assert_eq!((upserted[0].0.id, upserted[0].1), (reuse, false));
    // Once applied, SQLite agrees.
    assert_eq!(search_email(&store, &set, "old@example.com").await, [taker]);
    assert_eq!(search_email(&store, &set, "e@example.com").await, [reuse]);
    assert_eq!(search_email(&store, &set, "moved@example.com").await, [old]);
    assert_eq!(store.cache.unique_complete(), empty_at_open);
}

/// `spoke records restore`, run by another process while the server runs, brings unique values
/// back that the server's map of unique values does not name: its writer notices the restore
/// (`record_restores`) and looks values up in SQLite again.
#[tokio::test]
async fn a_restore_by_another_process_takes_its_values_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let set = contacts();
    let server = SqliteStore::open(&path, Durability::Process).unwrap();
    assert!(server.cache.unique_complete());
    let gone = create(&server, &set, &[("email", "back@example.com")])
        .await
        .unwrap();
    server
        .archive_objects(A, set.clone(), vec![gone])
        .await
        .unwrap();
    server.writer.applied().await.unwrap();
    // The admin command's own store: the server owns the journal, so it writes to SQLite.
    let admin = SqliteStore::open(&path, Durability::Full).unwrap();
    assert_eq!(
        admin
            .restore_objects(A, set.clone(), vec![gone])
            .await
            .unwrap(),
        [gone]
    );
    drop(admin);
    let again = create(&server, &set, &[("email", "back@example.com")]).await;
    assert!(
        matches!(again, Err(StoreError::UniqueConflict { existing, .. }) if existing == gone),
        "{again:?}"
    );
    assert!(!server.cache.unique_complete());
}

/// A crash (the files as a `kill -9` leaves them, copied while writes were pending) loses
/// nothing acknowledged: the next start applies the journal, a torn last frame included.
#[tokio::test]
async fn the_next_start_applies_what_a_crash_left_in_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let (store, live, crashed) = live_store(dir.path(), Durability::Full);
    let set = contacts();
    let kept = create(&store, &set, &[("email", "kept@example.com")])
        .await
        .unwrap();
    let company = {
        let companies = Arc::new(PropertySet::new(
            Registry::standard().resolve("companies").unwrap(),
            vec![],
            vec![],
        ));
        let mut out = store
            .create_objects(
                A,
                companies.clone(),
                vec![NewObject {
                    writes: companies
                        .validate(&values(&[("name", "Acme")]), true)
                        .unwrap(),
                    associations: vec![],
                }],
                BatchMode::AllOrNothing,
                WriteSource::api(None),
            )
            .await
            .unwrap();
        out.pop().unwrap().unwrap().id
    };
    store.writer.applied().await.unwrap();
    store.writer.hold(true);
    update(
        &store,
        &set,
        kept,
        &[("firstname", "Kept"), ("lastname", "Again")],
    )
    .await
    .unwrap();
    let linked = {
        let input = NewObject {
            writes: set
                .validate(&values(&[("email", "linked@example.com")]), true)
                .unwrap(),
            associations: vec![AssociationLink {
                from_type: "0-1".into(),
                from_id: ObjectId(0),
                to_type: "0-2".into(),
                to_id: company,
                type_id: 279,
                category: "HUBSPOT_DEFINED".into(),
                inverse_type_id: 280,
            }],
        };
        let mut out = store
            .create_objects(
                A,
                set.clone(),
                vec![input],
                BatchMode::AllOrNothing,
                WriteSource::api(None),
            )
            .await
            .unwrap();
        out.pop().unwrap().unwrap().id
    };
    let gone = create(&store, &set, &[("email", "gone@example.com")])
        .await
        .unwrap();
    store
        .archive_objects(A, set.clone(), vec![gone])
        .await
        .unwrap();
    assert_eq!(
        stored_count(&live.join("s.sqlite3")),
        2,
        "the applier is held"
    );
    crash(store, &live, &crashed);
    // The crash cut the last group short: a frame's beginning, never acknowledged.
    let journal = crashed.join("s.journal");
    let segment = std::fs::read_dir(&journal)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&segment)
            .unwrap();
        f.write_all(&[200, 1, 0, 0, 7, 7]).unwrap();
    }

    let store = SqliteStore::open(&crashed.join("s.sqlite3"), Durability::Full).unwrap();
    assert_eq!(stored_count(&crashed.join("s.sqlite3")), 4);
    let record = store
        .get_object(A, &set.object_type, kept, false, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.properties["firstname"], "Kept");
    let history = store
        .property_history(A, kept, &["lastname".into()])
        .await
        .unwrap();
    assert_eq!(history["lastname"][0].value, "Again");
    assert_eq!(
        email_of(&store, &set, linked).await.as_deref(),
        Some("linked@example.com")
    );
    let links = store
        .associations_of(A, linked, "0-2", 0, 10)
        .await
        .unwrap();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].0, company);
    let back = store
        .associations_of(A, company, "0-1", 0, 10)
        .await
        .unwrap();
    assert_eq!(back[0].0, linked);
    assert_eq!(email_of(&store, &set, gone).await, None);
    assert!(search_email(&store, &set, "gone@example.com")
        .await
        .is_empty());
    assert_eq!(
        search_email(&store, &set, "linked@example.com").await,
        [linked]
    );
    // New writes go on from there, with ids the crashed process never handed out.
    let next = create(&store, &set, &[("email", "next@example.com")])
        .await
        .unwrap();
    assert!(next.0 > gone.0);
    drop(store);
    // A clean stop leaves nothing to recover.
    let left: Vec<_> = std::fs::read_dir(&journal)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".log"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// A record whose journaled writes cannot be applied (here: a history row written behind the
/// store's back) is set aside; every other write goes on.
#[tokio::test]
async fn a_write_that_cannot_be_applied_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let store = SqliteStore::open(&path, Durability::Process).unwrap();
    let set = contacts();
    let bad = create(&store, &set, &[("email", "bad@example.com")])
        .await
        .unwrap();
    store.writer.applied().await.unwrap();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute(
            "INSERT INTO property_history
             (account_id, object_id, property, version, value, timestamp, source_type)
             VALUES (1, ?1, 'firstname', 2, 'x', 0, 'API')",
            [bad.0],
        )
        .unwrap();
    }
    store.writer.hold(true);
    update(&store, &set, bad, &[("firstname", "Clash")])
        .await
        .unwrap();
    let good = create(&store, &set, &[("email", "good@example.com")])
        .await
        .unwrap();
    assert_eq!(search_email(&store, &set, "good@example.com").await, [good]);
    let aside = std::fs::read(dir.path().join("s.journal").join("unapplied.log")).unwrap();
    assert!(!aside.is_empty());
}

/// At start-up too: a record whose journaled writes cannot be applied is set aside, and the
/// store opens with every other write.
#[tokio::test]
async fn recovery_sets_aside_what_it_cannot_apply() {
    let dir = tempfile::tempdir().unwrap();
    let (store, live, crashed) = live_store(dir.path(), Durability::Process);
    let set = contacts();
    let bad = create(&store, &set, &[("email", "bad@example.com")])
        .await
        .unwrap();
    store.writer.applied().await.unwrap();
    store.writer.hold(true);
    update(&store, &set, bad, &[("firstname", "Clash")])
        .await
        .unwrap();
    let good = create(&store, &set, &[("email", "good@example.com")])
        .await
        .unwrap();
    crash(store, &live, &crashed);
    {
        // The row the update's history would take, written behind the store's back.
        let conn = rusqlite::Connection::open(crashed.join("s.sqlite3")).unwrap();
        conn.execute(
            "INSERT INTO property_history
             (account_id, object_id, property, version, value, timestamp, source_type)
             VALUES (1, ?1, 'firstname', 2, 'x', 0, 'API')",
            [bad.0],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&crashed.join("s.sqlite3"), Durability::Process).unwrap();
    assert_eq!(
        email_of(&store, &set, good).await.as_deref(),
        Some("good@example.com")
    );
    let record = store
        .get_object(A, &set.object_type, bad, false, None)
        .await
        .unwrap()
        .unwrap();
    assert!(!record.properties.contains_key("firstname"), "{record:?}");
    let aside = std::fs::read(crashed.join("s.journal").join("unapplied.log")).unwrap();
    assert!(!aside.is_empty());
}

/// A new unique property may name values that records kept from an archived property of the
/// same name, which the map of unique values never named: the writer asks SQLite again.
#[tokio::test]
async fn a_new_unique_property_ends_the_complete_map() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("s.sqlite3"), Durability::Process).unwrap();
    let set = contacts();
    let plain: spoke_core::property::PropertyDefinition = serde_json::from_value(
        serde_json::json!({"name": "plain_code", "label": "Code", "type": "string",
            "fieldType": "text", "groupName": "contactinformation"}),
    )
    .unwrap();
    store
        .create_property_definitions(A, &set.object_type, vec![plain])
        .await
        .unwrap();
    assert!(store.cache.unique_complete());
    let unique: spoke_core::property::PropertyDefinition = serde_json::from_value(
        serde_json::json!({"name": "vin", "label": "VIN", "type": "string",
            "fieldType": "text", "groupName": "contactinformation", "hasUniqueValue": true}),
    )
    .unwrap();
    store
        .create_property_definitions(A, &set.object_type, vec![unique])
        .await
        .unwrap();
    assert!(!store.cache.unique_complete());
}
