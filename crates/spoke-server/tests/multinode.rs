//! Several `spoke serve` processes on one PostgreSQL database: ids never collide, unique values
//! stay unique under concurrent creates, concurrent PATCHes through different nodes lose
//! nothing, and a write through one node is visible through the other on the next request.
//! These need PostgreSQL (SQLite is one process's store): without `SPOKE_TEST_DATABASE_URL`
//! they say so and pass; scripts/test.sh runs them with it.

mod common;

use std::collections::HashSet;
use std::process::Command;

use common::{assert_error, database_for, test_database_server, uuid_like, Server};
use serde_json::json;

/// Two nodes on one database, or `None` when the tests run on SQLite.
fn two_nodes() -> Option<(Server, Server)> {
    if test_database_server().is_none() {
        eprintln!("multinode: skipped (no SPOKE_TEST_DATABASE_URL: these tests need PostgreSQL)");
        return None;
    }
    let a = Server::start();
    let b = Server::start_in(&a.data_dir, &a.token);
    assert_eq!(a.database_url, b.database_url);
    assert_ne!(a.base, b.base);
    Some((a, b))
}

#[tokio::test]
async fn ids_never_collide_and_every_record_is_readable_through_either_node() {
    let Some((a, b)) = two_nodes() else { return };
    let (ca, cb) = (a.client(), b.client());
    let tag = uuid_like();
    let mut tasks = Vec::new();
    for i in 0..60 {
        let c = if i % 2 == 0 { ca.clone() } else { cb.clone() };
        let tag = tag.clone();
        tasks.push(tokio::spawn(async move {
            // Singles and batches interleaved, so both id paths race.
            if i % 3 == 0 {
                let inputs: Vec<_> = (0..5)
                    .map(|j| json!({"properties": {"firstname": format!("{tag}-{i}-{j}")}}))
                    .collect();
                c.create_contacts(inputs).await["results"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x["id"].as_str().unwrap().to_string())
                    .collect::<Vec<_>>()
            } else {
                vec![
                    c.create_contact(json!({"firstname": format!("{tag}-{i}")}))
                        .await,
                ]
            }
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.extend(t.await.unwrap());
    }
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicate ids: {ids:?}");
    for (i, id) in ids.iter().enumerate() {
        let c = if i % 2 == 0 { &cb } else { &ca };
        let r = c.get(&format!("/crm/v3/objects/contacts/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
}

#[tokio::test]
async fn concurrent_creates_of_one_unique_value_through_two_nodes_one_wins() {
    let Some((a, b)) = two_nodes() else { return };
    let (ca, cb) = (a.client(), b.client());
    for round in 0..15 {
        let email = format!("race{round}-{}@example.com", uuid_like());
        let body = json!({"properties": {"email": email}});
        let (ra, rb) = tokio::join!(
            ca.post("/crm/v3/objects/contacts", body.clone()),
            cb.post("/crm/v3/objects/contacts", body.clone())
        );
        let mut statuses = [ra.status, rb.status];
        statuses.sort();
        assert_eq!(statuses, [201, 409], "{} / {}", ra.text, rb.text);
        let (winner, loser) = if ra.status == 201 { (ra, rb) } else { (rb, ra) };
        let err = assert_error(&loser, 409, "CONFLICT");
        let id = winner.body["id"].as_str().unwrap();
        assert!(
            err["message"].as_str().unwrap().contains(id),
            "{}",
            loser.text
        );
        // One record holds the value, seen the same from both nodes.
        for c in [&ca, &cb] {
            let r = c
                .post(
                    "/crm/v3/objects/contacts/search",
                    json!({"filterGroups": [{"filters": [
                        {"propertyName": "email", "operator": "EQ", "value": email}]}]}),
                )
                .await;
            assert_eq!(r.body["total"], 1, "{}", r.text);
        }
    }
}

#[tokio::test]
async fn concurrent_upserts_of_one_new_value_through_two_nodes_make_one_record() {
    let Some((a, b)) = two_nodes() else { return };
    let (ca, cb) = (a.client(), b.client());
    for round in 0..10 {
        let email = format!("upsert{round}-{}@example.com", uuid_like());
        let body = |name: &str| {
            json!({"inputs": [{"idProperty": "email", "id": email,
                "properties": {"email": email, "firstname": name}}]})
        };
        let (ra, rb) = tokio::join!(
            ca.post("/crm/v3/objects/contacts/batch/upsert", body("a")),
            cb.post("/crm/v3/objects/contacts/batch/upsert", body("b"))
        );
        assert!(
            ra.status < 300 && rb.status < 300,
            "{} / {}",
            ra.text,
            rb.text
        );
        let (ida, idb) = (
            ra.body["results"][0]["id"].clone(),
            rb.body["results"][0]["id"].clone(),
        );
        assert_eq!(ida, idb, "both upserts land on one record");
        let created = [&ra, &rb]
            .iter()
            .filter(|r| r.body["results"][0]["new"] == true)
            .count();
        assert_eq!(created, 1, "{} / {}", ra.text, rb.text);
    }
}

#[tokio::test]
async fn concurrent_patches_through_two_nodes_lose_no_property() {
    let Some((a, b)) = two_nodes() else { return };
    let (ca, cb) = (a.client(), b.client());
    let id = ca.create_contact(json!({"firstname": "start"})).await;
    let props = [
        "firstname",
        "lastname",
        "company",
        "phone",
        "city",
        "state",
        "country",
        "jobtitle",
        "website",
        "address",
        "zip",
        "industry",
    ];
    for round in 0..3 {
        let mut tasks = Vec::new();
        for (i, p) in props.iter().enumerate() {
            let c = if i % 2 == 0 { ca.clone() } else { cb.clone() };
            let path = format!("/crm/v3/objects/contacts/{id}");
            let body = json!({"properties": { *p: format!("{p}-{round}") }});
            tasks.push(tokio::spawn(async move { c.patch(&path, body).await }));
        }
        for t in tasks {
            let r = t.await.unwrap();
            assert_eq!(r.status, 200, "{}", r.text);
        }
        let names = props.join(",");
        for c in [&ca, &cb] {
            let r = c
                .get(&format!(
                    "/crm/v3/objects/contacts/{id}?properties={names}&propertiesWithHistory=firstname"
                ))
                .await;
            for p in props {
                assert_eq!(
                    r.body["properties"][p],
                    format!("{p}-{round}"),
                    "{p} after round {round}: {}",
                    r.text
                );
            }
            // start + one entry per round
            let history = r.body["propertiesWithHistory"]["firstname"]
                .as_array()
                .unwrap();
            assert_eq!(history.len(), round + 2, "{}", r.text);
        }
    }
}

#[tokio::test]
async fn writes_through_one_node_are_visible_through_the_other_on_the_next_request() {
    let Some((a, b)) = two_nodes() else { return };
    let (ca, cb) = (a.client(), b.client());
    let tag = uuid_like();

    // Records, updates and archives.
    let id = ca.create_contact(json!({"firstname": tag})).await;
    let r = cb.get(&format!("/crm/v3/objects/contacts/{id}")).await;
    assert_eq!(r.status, 200);
    ca.patch(
        &format!("/crm/v3/objects/contacts/{id}"),
        json!({"properties": {"lastname": "seen"}}),
    )
    .await;
    let r = cb
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?properties=lastname"
        ))
        .await;
    assert_eq!(r.body["properties"]["lastname"], "seen");
    let r = cb
        .post(
            "/crm/v3/objects/contacts/search",
            json!({"filterGroups": [{"filters": [
                {"propertyName": "lastname", "operator": "EQ", "value": "seen"},
                {"propertyName": "firstname", "operator": "EQ", "value": tag}]}]}),
        )
        .await;
    assert_eq!(r.body["total"], 1, "{}", r.text);

    // A property defined through A is usable through B at once (B had cached the definitions
    // of contacts by reading above).
    let prop = format!("mn_{}", &tag[tag.len() - 10..]);
    let r = ca
        .post(
            "/crm/v3/properties/contacts",
            json!({"name": prop, "label": "Multi node", "type": "number",
                   "fieldType": "number", "groupName": "contactinformation"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = cb
        .patch(
            &format!("/crm/v3/objects/contacts/{id}"),
            json!({"properties": { &prop: "42" }}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = cb.get(&format!("/crm/v3/properties/contacts/{prop}")).await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A custom object created through B is usable through A at once.
    let name = format!("mn_obj_{}", &tag[tag.len() - 8..]);
    let r = cb
        .post(
            "/crm/v3/schemas",
            json!({"name": name, "labels": {"singular": "MN", "plural": "MNs"},
                   "primaryDisplayProperty": "title", "requiredProperties": ["title"],
                   "properties": [{"name": "title", "label": "Title", "type": "string",
                                   "fieldType": "text"}],
                   "associatedObjects": ["CONTACT"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let type_id = r.body["objectTypeId"].as_str().unwrap().to_string();
    let r = ca
        .post(
            &format!("/crm/v3/objects/{type_id}"),
            json!({"properties": {"title": "made through A"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    // An archive through A hides the record from B.
    let r = ca.delete(&format!("/crm/v3/objects/contacts/{id}")).await;
    assert_eq!(r.status, 204);
    let r = cb.get(&format!("/crm/v3/objects/contacts/{id}")).await;
    assert_eq!(r.status, 404, "{}", r.text);
}

#[tokio::test]
async fn nodes_starting_together_on_an_empty_database_share_one_account() {
    if test_database_server().is_none() {
        eprintln!("multinode: skipped (no SPOKE_TEST_DATABASE_URL: these tests need PostgreSQL)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = database_for(dir.path());
    let token = format!("together-{}", uuid_like());
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Server::start_on(dir.path(), &token, url.clone()));
        let b = s.spawn(|| Server::start_on(dir.path(), &token, url.clone()));
        (a.join().unwrap(), b.join().unwrap())
    });
    // The token works on both, for the same account: a record made through one is read
    // through the other.
    let id = a
        .client()
        .create_contact(json!({"firstname": "together"}))
        .await;
    let r = b
        .client()
        .get(&format!("/crm/v3/objects/contacts/{id}"))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let accounts = Command::new(env!("CARGO_BIN_EXE_spoke"))
        .args(["accounts", "list"])
        .envs(a.store_env())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&accounts.stdout).lines().count(),
        1,
        "one account"
    );
}
