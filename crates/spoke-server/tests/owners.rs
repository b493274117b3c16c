//! Owners over real HTTP, and `hubspot_owner_id` validated against them.

mod common;

use std::process::Command;

use common::{assert_error, Server};
use serde_json::json;

fn spoke(s: &Server, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_spoke"))
        .args(args)
        .envs(s.store_env())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run spoke");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn owners_are_seeded_managed_and_validated() {
    let s = Server::start();
    let c = s.client();
    let r = c.get("/crm/v3/owners/").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let first = &r.body["results"][0];
    assert_eq!(first["type"], "PERSON");
    assert!(first["id"].is_string() && first["userId"].is_i64());
    assert!(r.body.get("paging").is_none());

    // An owner added by the admin command is visible at once (no restart).
    let account = spoke(
        &s,
        &[
            "accounts",
            "list",
            "--data-dir",
            s.data_dir.to_str().unwrap(),
        ],
    );
    let account = account.lines().next().unwrap().trim().to_string();
    let dir = s.data_dir.to_str().unwrap().to_string();
    let id = spoke(
        &s,
        &[
            "owners",
            "create",
            "--account",
            &account,
            "--email",
            "Sam@Example.com",
            "--first-name",
            "Sam",
            "--data-dir",
            &dir,
        ],
    );
    let id = id.trim();
    let r = c.get("/crm/v3/owners?email=sam@example.com").await;
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["results"][0]["id"], id);
    let by_id = c.get(&format!("/crm/v3/owners/{id}")).await;
    assert_eq!(by_id.body["firstName"], "Sam");
    let user_id = by_id.body["userId"].as_i64().unwrap();
    let by_user = c
        .get(&format!("/crm/v3/owners/{user_id}?idProperty=userId"))
        .await;
    assert_eq!(by_user.body["id"], id);
    assert_error(&c.get("/crm/v3/owners/123").await, 404, "OBJECT_NOT_FOUND");
    let page = c.get("/crm/v3/owners?limit=1").await;
    assert_eq!(page.body["results"].as_array().unwrap().len(), 1);
    assert!(page.body["paging"]["next"]["after"].is_string());

    // hubspot_owner_id must name a live owner.
    let ok = c
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"hubspot_owner_id": id}}),
        )
        .await;
    assert_eq!(ok.status, 201, "{}", ok.text);
    let bad = c
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"hubspot_owner_id": "42"}}),
        )
        .await;
    let e = assert_error(&bad, 400, "VALIDATION_ERROR");
    assert_eq!(e["errors"][0]["code"], "INVALID_OPTION");
    spoke(
        &s,
        &[
            "owners",
            "archive",
            "--account",
            &account,
            "--id",
            id,
            "--data-dir",
            &dir,
        ],
    );
    let archived = c.get(&format!("/crm/v3/owners/{id}?archived=true")).await;
    assert_eq!(archived.body["archived"], true);
    assert_eq!(archived.body["userId"], serde_json::Value::Null);
    let cid = ok.body["id"].as_str().unwrap();
    let r = c
        .patch(
            &format!("/crm/v3/objects/contacts/{cid}"),
            json!({"properties": {"hubspot_owner_id": id}}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
}
