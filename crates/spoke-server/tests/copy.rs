//! `spoke accounts copy`: an account moved from SQLite to PostgreSQL and back answers every
//! read the same (records, history, associations, labels, definitions, pipelines and their
//! audit, custom objects, owners, searches), its token still works, and the stores go on
//! enforcing unique values and handing out fresh ids. Needs PostgreSQL (skipped without
//! `SPOKE_TEST_DATABASE_URL`; scripts/test.sh sets it).

mod common;

use std::process::Command;

use common::{database_for, test_database_server, uuid_like, Client, Server};
use serde_json::{json, Value};

fn spoke(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spoke"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("SPOKE_DATABASE_URL", "")
        .output()
        .expect("run spoke");
    assert!(
        out.status.success(),
        "spoke {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fills an account with one of everything that has to survive a copy.
async fn populate(c: &Client) -> (Vec<String>, String) {
    c.define(
        "contacts",
        json!({"name": "copy_score", "label": "Score", "type": "number", "fieldType": "number",
               "groupName": "contactinformation"}),
    )
    .await;
    let mut contacts = Vec::new();
    for i in 0..30 {
        contacts.push(
            c.create_contact(json!({"email": format!("p{i}@copy.example"),
                                    "firstname": format!("Name{i}"),
                                    "copy_score": i.to_string()}))
                .await,
        );
    }
    for id in &contacts[..10] {
        let r = c
            .patch(
                &format!("/crm/v3/objects/contacts/{id}"),
                json!({"properties": {"firstname": "Renamed", "copy_score": "99"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let r = c
        .delete(&format!("/crm/v3/objects/contacts/{}", contacts[29]))
        .await;
    assert_eq!(r.status, 204);
    let r = c
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "Copy Co", "domain": "copy.example"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let company = r.body["id"].as_str().unwrap().to_string();
    let r = c
        .post(
            "/crm/v4/associations/contacts/companies/labels",
            json!({"label": "Boss", "name": "copy_boss", "inverseLabel": "Employer"}),
        )
        .await;
    assert!(r.status < 300, "{}", r.text);
    let label = r.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["label"] == "Boss")
        .unwrap()["typeId"]
        .as_i64()
        .unwrap();
    for id in &contacts[..5] {
        let r = c
            .send(
                "PUT",
                &format!("/crm/v4/objects/contacts/{id}/associations/companies/{company}"),
                Some(
                    &json!([{"associationCategory": "USER_DEFINED", "associationTypeId": label}])
                        .to_string(),
                ),
            )
            .await;
        assert!(r.status < 300, "{}", r.text);
    }
    let r = c
        .patch(
            "/crm/v3/pipelines/deals/default",
            json!({"label": "Copied pipeline"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c
        .post(
            "/crm/v3/schemas",
            json!({"name": "copy_thing", "labels": {"singular": "Thing", "plural": "Things"},
                   "primaryDisplayProperty": "title", "requiredProperties": ["title"],
                   "properties": [{"name": "title", "label": "Title", "type": "string",
                                   "fieldType": "text"}],
                   "associatedObjects": ["CONTACT"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let thing = r.body["objectTypeId"].as_str().unwrap().to_string();
    let r = c
        .post(
            &format!("/crm/v3/objects/{thing}"),
            json!({"properties": {"title": "a copied thing"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (contacts, thing)
}

/// What a client sees of the account: every answer, correlation ids left out.
async fn snapshot(c: &Client, contacts: &[String], thing: &str) -> Vec<(String, Value)> {
    let mut gets: Vec<String> = vec![
        "/crm/v3/objects/contacts?limit=100&properties=email,firstname,copy_score".into(),
        "/crm/v3/objects/contacts?limit=100&archived=true".into(),
        "/crm/v3/objects/companies?properties=name,domain".into(),
        "/crm/v3/properties/contacts/copy_score".into(),
        "/crm/v3/pipelines/deals/default".into(),
        "/crm/v3/pipelines/deals/default/audit".into(),
        format!("/crm/v3/schemas/{thing}"),
        format!("/crm/v3/objects/{thing}?properties=title"),
        "/crm/v4/associations/contacts/companies/labels".into(),
        "/crm/v3/owners".into(),
    ];
    for id in &contacts[..6] {
        gets.push(format!(
            "/crm/v3/objects/contacts/{id}?properties=email,copy_score&propertiesWithHistory=firstname,copy_score&associations=companies"
        ));
        gets.push(format!(
            "/crm/v4/objects/contacts/{id}/associations/companies"
        ));
    }
    let mut out = Vec::new();
    for path in gets {
        let r = c.get(&path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
        out.push((path, r.body));
    }
    let searches = [
        json!({"filterGroups": [{"filters": [
            {"propertyName": "email", "operator": "EQ", "value": "P3@copy.example"}]}]}),
        json!({"query": "renamed", "limit": 100}),
        json!({"filterGroups": [{"filters": [
            {"propertyName": "copy_score", "operator": "BETWEEN", "value": "5", "highValue": "50"}]}],
            "sorts": [{"propertyName": "copy_score", "direction": "DESCENDING"}],
            "properties": ["copy_score"], "limit": 100}),
    ];
    for body in searches {
        let r = c
            .post("/crm/v3/objects/contacts/search", body.clone())
            .await;
        assert_eq!(r.status, 200, "{body}: {}", r.text);
        out.push((body.to_string(), r.body));
    }
    out
}

fn assert_same(before: &[(String, Value)], after: &[(String, Value)], stage: &str) {
    assert_eq!(before.len(), after.len());
    for ((path, a), (_, b)) in before.iter().zip(after) {
        assert_eq!(a, b, "{stage}: {path} differs");
    }
}

#[tokio::test]
async fn an_account_moves_from_sqlite_to_postgres_and_back_unchanged() {
    if test_database_server().is_none() {
        eprintln!("copy: skipped (no SPOKE_TEST_DATABASE_URL: copying needs PostgreSQL)");
        return;
    }
    let sqlite_dir = tempfile::tempdir().unwrap();
    let token = format!("copy-token-{}", uuid_like());
    let a = Server::start_on(sqlite_dir.path(), &token, None);
    let c = a.client();
    let (contacts, thing) = populate(&c).await;
    let account = spoke(&[
        "accounts",
        "list",
        "--data-dir",
        sqlite_dir.path().to_str().unwrap(),
    ]);
    let account = account.lines().next().unwrap().trim().to_string();
    spoke(&[
        "owners",
        "create",
        "--account",
        &account,
        "--email",
        "owner@copy.example",
        "--data-dir",
        sqlite_dir.path().to_str().unwrap(),
    ]);
    let before = snapshot(&c, &contacts, &thing).await;
    drop(a);

    // SQLite -> PostgreSQL.
    let pg_dir = tempfile::tempdir().unwrap();
    let pg = database_for(pg_dir.path()).unwrap();
    let from = format!("sqlite:{}", sqlite_dir.path().display());
    // Small pages, so that every table is read and written over several pages.
    let out = spoke(&[
        "accounts",
        "copy",
        "--account",
        &account,
        "--from",
        &from,
        "--to",
        &pg,
        "--page-size",
        "7",
    ]);
    assert!(out.contains("copied and verified"), "{out}");
    assert!(out.contains("objects"), "{out}");
    // Copying again is refused: the account exists there now.
    let again = Command::new(env!("CARGO_BIN_EXE_spoke"))
        .args([
            "accounts",
            "copy",
            "--account",
            &account,
            "--from",
            &from,
            "--to",
            &pg,
        ])
        .env("SPOKE_DATABASE_URL", "")
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let b = Server::start_on(pg_dir.path(), &token, Some(pg.clone()));
    let cb = b.client();
    assert_same(
        &before,
        &snapshot(&cb, &contacts, &thing).await,
        "on PostgreSQL",
    );
    // Unique values came along, and new ids do not reuse copied ones.
    let r = cb
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "p1@copy.example"}}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    let new_id: i64 = cb
        .create_contact(json!({"email": "new@copy.example"}))
        .await
        .parse()
        .unwrap();
    let max_copied = contacts
        .iter()
        .map(|i| i.parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert!(new_id > max_copied);
    let r = cb
        .delete(&format!("/crm/v3/objects/contacts/{new_id}"))
        .await;
    assert_eq!(r.status, 204);
    let before_back = snapshot(&cb, &contacts, &thing).await;
    drop(b);

    // PostgreSQL -> a fresh SQLite store.
    let back_dir = tempfile::tempdir().unwrap();
    let to = format!("sqlite:{}", back_dir.path().display());
    let out = spoke(&[
        "accounts",
        "copy",
        "--account",
        &account,
        "--from",
        &pg,
        "--to",
        &to,
        "--page-size",
        "3",
    ]);
    assert!(out.contains("copied and verified"), "{out}");
    let c2 = Server::start_on(back_dir.path(), &token, None);
    let cc = c2.client();
    assert_same(
        &before_back,
        &snapshot(&cc, &contacts, &thing).await,
        "back on SQLite",
    );
    let r = cc
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": "P2@copy.example"}}),
        )
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
}
