//! Batch endpoints and list paging over real HTTP.

mod common;

use common::{assert_error, uuid_like, Server};
use serde_json::{json, Value};

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn batch_create_read_update_archive() {
    let s = Server::start();
    let c = s.client();
    let inputs: Vec<Value> = (0..3)
        .map(|i| json!({"properties": {"firstname": format!("b{i}")}}))
        .collect();
    let body = c.create_contacts(inputs).await;
    assert_eq!(body["status"], "COMPLETE");
    assert!(body["startedAt"].is_string() && body["completedAt"].is_string());
    let created = ids(&body);
    assert_eq!(created.len(), 3);

    // Read with one missing id → 207 with one aggregated error.
    let mut want: Vec<Value> = created.iter().map(|id| json!({"id": id})).collect();
    want.push(json!({"id": "999999"}));
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": want, "properties": ["firstname"], "propertiesWithHistory": []}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(ids(&r.body), created);
    assert_eq!(r.body["numErrors"], 1);
    assert_eq!(r.body["errors"][0]["category"], "OBJECT_NOT_FOUND");
    assert_eq!(r.body["errors"][0]["context"]["ids"], json!(["999999"]));
    assert_eq!(
        r.body["errors"][0]["message"],
        "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid."
    );

    // Update two, one missing → 207; the two are updated.
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({"inputs": [
                {"id": created[0], "properties": {"lastname": "U0"}},
                {"id": created[1], "properties": {"lastname": "U1"}},
                {"id": "424242", "properties": {"lastname": "x"}, "objectWriteTraceId": "t-missing"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["errors"][0]["context"]["ids"], json!(["424242"]));
    assert_eq!(
        r.body["errors"][0]["context"]["objectWriteTraceId"],
        json!(["t-missing"])
    );
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{}?properties=lastname",
            created[1]
        ))
        .await;
    assert_eq!(g.body["properties"]["lastname"], "U1");

    // An invalid value without trace ids fails the whole batch and changes nothing.
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({"inputs": [
                {"id": created[0], "properties": {"lastname": "changed"}},
                {"id": created[1], "properties": {"nope_property": "x"}}
            ]}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{}?properties=lastname",
            created[0]
        ))
        .await;
    assert_eq!(g.body["properties"]["lastname"], "U0");

    // Duplicate ids are refused.
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/update",
            json!({"inputs": [{"id": created[0], "properties": {}}, {"id": created[0], "properties": {}}]}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");

    // Archive → 204, then reads miss them.
    let arch: Vec<Value> = created.iter().map(|id| json!({"id": id})).collect();
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/archive",
            json!({"inputs": arch}),
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(r.text.is_empty());
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/read",
            json!({"inputs": arch, "properties": []}),
        )
        .await;
    assert_eq!(r.status, 207);
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/read?archived=true",
            json!({"inputs": arch, "properties": []}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(ids(&r.body), created);
}

#[tokio::test]
async fn batch_create_with_trace_ids_is_per_input() {
    let s = Server::start();
    let c = s.client();
    let email = format!("{}@example.com", uuid_like());
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": [
                {"properties": {"email": email}, "objectWriteTraceId": "a"},
                {"properties": {"email": "not-an-email"}, "objectWriteTraceId": "b"},
                {"properties": {"email": email}, "objectWriteTraceId": "c"}
            ]}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["results"][0]["objectWriteTraceId"], "a");
    let errs = r.body["errors"].as_array().unwrap();
    assert_eq!(errs.len(), 2);
    assert_eq!(errs[0]["context"]["objectWriteTraceId"], json!(["b"]));
    assert_eq!(errs[1]["context"]["objectWriteTraceId"], json!(["c"]));
    assert_eq!(errs[1]["category"], "CONFLICT");
    assert!(errs
        .iter()
        .all(|e| e["status"] == "error" && e["links"].is_object() && e["errors"].is_array()));
    // Without trace ids the same batch fails whole.
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": [{"properties": {"firstname": "ok"}}, {"properties": {"email": "bad"}}]}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    // Over the limit.
    let many: Vec<Value> = (0..101).map(|_| json!({"properties": {}})).collect();
    assert_error(
        &c.post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": many}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    );
}

#[tokio::test]
async fn batch_upsert_by_email() {
    let s = Server::start();
    let c = s.client();
    let existing = format!("{}@example.com", uuid_like());
    let id = c
        .create_contact(json!({"email": existing, "firstname": "Old"}))
        .await;
    let fresh = format!("{}@example.com", uuid_like());
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/upsert",
            json!({"inputs": [
                {"id": existing.to_uppercase(), "idProperty": "email", "properties": {"firstname": "New"}},
                {"id": fresh, "idProperty": "email", "properties": {"firstname": "Fresh"}}
            ]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let results = r.body["results"].as_array().unwrap();
    let old = results
        .iter()
        .find(|x| x["id"] == id.as_str())
        .expect("updated record");
    assert_eq!(old["new"], false);
    assert_eq!(old["properties"]["firstname"], "New");
    let created = results.iter().find(|x| x["id"] != id.as_str()).unwrap();
    assert_eq!(created["new"], true);
    assert_eq!(created["properties"]["email"], fresh);
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/upsert",
            json!({"inputs": [{"id": "x", "idProperty": "firstname", "properties": {}}]}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    // Deals created by upsert need their required properties.
    c.define("deals", json!({"name":"deal_code","label":"Code","type":"string","fieldType":"text","groupName":"dealinformation","hasUniqueValue":true})).await;
    let r = c
        .post("/crm/v3/objects/deals/batch/upsert", json!({"inputs": [{"id": "D1", "idProperty": "deal_code", "properties": {"dealname": "x"}}]}))
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn list_pages_without_gaps_or_duplicates() {
    let s = Server::start();
    let c = s.client();
    let mut all = Vec::new();
    for i in 0..25 {
        all.push(
            c.create_contact(json!({"firstname": format!("p{i}")}))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut path = "/crm/v3/objects/contacts?limit=10&properties=firstname".to_string();
    let mut pages = 0;
    loop {
        let r = c.get(&path).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        for rec in r.body["results"].as_array().unwrap() {
            seen.push(rec["id"].as_str().unwrap().to_string());
            assert!(rec["properties"]["firstname"].is_string());
        }
        if pages == 1 {
            // Records created and archived between pages: no gap, no duplicate among the rest.
            c.delete(&format!("/crm/v3/objects/contacts/{}", all[15]))
                .await;
            all.push(c.create_contact(json!({"firstname": "late"})).await);
        }
        match r.body["paging"]["next"]["after"].as_str() {
            Some(after) => {
                let link = r.body["paging"]["next"]["link"].as_str().unwrap();
                assert!(link.contains(&format!("after={after}")), "{link}");
                path =
                    format!("/crm/v3/objects/contacts?limit=10&properties=firstname&after={after}");
            }
            None => break,
        }
    }
    let archived = all.remove(15);
    assert_eq!(seen, all);
    let r = c.get("/crm/v3/objects/contacts?archived=true").await;
    assert_eq!(ids(&r.body), vec![archived]);
    assert_error(
        &c.get("/crm/v3/objects/contacts?limit=101").await,
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &c.get("/crm/v3/objects/contacts?limit=51&propertiesWithHistory=firstname")
            .await,
        400,
        "VALIDATION_ERROR",
    );
}
