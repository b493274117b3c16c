//! Acknowledged writes survive `kill -9`, and concurrent writes to one record lose nothing.

mod common;

use common::{uuid_like, Server};
use serde_json::json;

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("t-{}", uuid_like());
    let s = Server::start_in(dir.path(), &token);
    let c = s.client();
    // Many writes in flight at once, so that some share a group commit.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let c = c.clone();
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(
                    "/crm/v3/objects/contacts",
                    json!({"properties": {"firstname": format!("n{i}")}}),
                )
                .await;
            assert_eq!(r.status, 201);
            let id = r.body["id"].as_str().unwrap().to_string();
            let p = c
                .patch(
                    &format!("/crm/v3/objects/contacts/{id}"),
                    json!({"properties": {"lastname": format!("l{i}")}}),
                )
                .await;
            assert_eq!(p.status, 200);
            (id, i)
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.push(t.await.unwrap());
    }
    s.kill9();

    let s = Server::start_in(dir.path(), &token);
    let c = s.client();
    for (id, i) in acked {
        let g = c.get(&format!("/crm/v3/objects/contacts/{id}")).await;
        assert_eq!(g.status, 200, "contact {id} lost");
        assert_eq!(g.body["properties"]["firstname"], format!("n{i}"));
        assert_eq!(g.body["properties"]["lastname"], format!("l{i}"));
    }
}

#[tokio::test]
async fn concurrent_patches_of_different_properties_lose_nothing() {
    let s = Server::start();
    let c = s.client();
    let options: Vec<_> = (0..40)
        .map(|i| json!({"label": format!("o{i}"), "value": format!("o{i}")}))
        .collect();
    c.define("contacts", json!({"name":"tags","label":"Tags","type":"enumeration","fieldType":"checkbox","groupName":"contactinformation","options":options})).await;
    let id = c.create_contact(json!({"firstname": "x"})).await;
    let fields = [
        "firstname",
        "lastname",
        "city",
        "state",
        "zip",
        "country",
        "jobtitle",
        "company",
        "website",
        "address",
        "phone",
        "fax",
    ];
    let mut tasks = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let (c, id, f) = (c.clone(), id.clone(), f.to_string());
        tasks.push(tokio::spawn(async move {
            let r = c
                .patch(
                    &format!("/crm/v3/objects/contacts/{id}"),
                    json!({"properties": {f: format!("v{i}")}}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }));
    }
    // Appends to one multi-select: a read-modify-write inside the store, so none may be lost.
    for i in 0..40 {
        let (c, id) = (c.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let r = c
                .patch(
                    &format!("/crm/v3/objects/contacts/{id}"),
                    json!({"properties": {"tags": format!(";o{i}")}}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?properties={},tags",
            fields.join(",")
        ))
        .await;
    for (i, f) in fields.iter().enumerate() {
        assert_eq!(g.body["properties"][f], format!("v{i}"), "{f}");
    }
    let mut tags: Vec<&str> = g.body["properties"]["tags"]
        .as_str()
        .unwrap()
        .split(';')
        .collect();
    tags.sort();
    let mut want: Vec<String> = (0..40).map(|i| format!("o{i}")).collect();
    want.sort();
    assert_eq!(tags, want);
}
