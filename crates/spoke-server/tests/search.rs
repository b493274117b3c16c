//! Search over real HTTP: operators by type, OR/AND, sorting, paging, limits, read-your-writes.

mod common;

use common::{assert_error, Client, Server};
use serde_json::{json, Value};

async fn search(c: &Client, body: Value) -> Value {
    let r = c.post("/crm/v3/objects/contacts/search", body).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn ids(v: &Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn one(p: &str, op: &str, v: Value) -> Value {
    let mut f = json!({"propertyName": p, "operator": op});
    match op {
        "IN" | "NOT_IN" => f["values"] = v,
        "BETWEEN" => {
            f["value"] = v[0].clone();
            f["highValue"] = v[1].clone();
        }
        "HAS_PROPERTY" | "NOT_HAS_PROPERTY" => {}
        _ => f["value"] = v,
    }
    // Every search is scoped to this test's records by the `batch` marker.
    json!({"filterGroups": [{"filters": [f, {"propertyName": "batch", "operator": "EQ", "value": "s1"}]}], "limit": 100})
}

#[tokio::test]
async fn operators_by_property_type() {
    let s = Server::start();
    let c = s.client();
    let g = "contactinformation";
    for def in [
        json!({"name":"batch","label":"b","type":"string","fieldType":"text","groupName":g}),
        json!({"name":"score","label":"s","type":"number","fieldType":"number","groupName":g}),
        json!({"name":"day","label":"d","type":"date","fieldType":"date","groupName":g}),
        json!({"name":"seen","label":"t","type":"datetime","fieldType":"date","groupName":g}),
        json!({"name":"vip","label":"v","type":"bool","fieldType":"booleancheckbox","groupName":g}),
        json!({"name":"tier","label":"t","type":"enumeration","fieldType":"select","groupName":g,
               "options":[{"label":"Gold","value":"Gold"},{"label":"gold","value":"gold"}]}),
        json!({"name":"tags","label":"t","type":"enumeration","fieldType":"checkbox","groupName":g,
               "options":[{"label":"a","value":"a"},{"label":"b","value":"b"},{"label":"c","value":"c"}]}),
    ] {
        c.define("contacts", def).await;
    }
    let a = c
        .create_contact(json!({"batch":"s1","firstname":"Alice","email":"alice@hubspot.com","score":"9",
            "day":"2020-01-01","seen":"2020-01-01T10:00:00Z","vip":"true","tier":"Gold","tags":"a;b"}))
        .await;
    let b = c
        .create_contact(json!({"batch":"s1","firstname":"bob","email":"bob@example.com","score":"10.0",
            "day":"1577923200000","seen":"2020-01-02T10:00:00Z","vip":"false","tier":"gold","tags":"c"}))
        .await;
    let n = c.create_contact(json!({"batch":"s1","firstname":""})).await;
    let cases: Vec<(&str, &str, Value, Vec<&String>)> = vec![
        ("firstname", "EQ", json!("ALICE"), vec![&a]),
        ("firstname", "NEQ", json!("alice"), vec![&b, &n]),
        ("firstname", "IN", json!(["alice"]), vec![&a]),
        ("firstname", "IN", json!(["Alice"]), vec![]),
        ("firstname", "NOT_IN", json!(["alice"]), vec![&b, &n]),
        ("firstname", "HAS_PROPERTY", json!(null), vec![&a, &b]),
        ("firstname", "NOT_HAS_PROPERTY", json!(null), vec![&n]),
        ("firstname", "GT", json!("b"), vec![&b]),
        ("email", "CONTAINS_TOKEN", json!("*@hubspot.com"), vec![&a]),
        (
            "email",
            "NOT_CONTAINS_TOKEN",
            json!("*@hubspot.com"),
            vec![&b, &n],
        ),
        ("email", "CONTAINS_TOKEN", json!("bo*"), vec![&b]),
        ("score", "EQ", json!("10"), vec![&b]),
        ("score", "LT", json!(10), vec![&a]),
        ("score", "LTE", json!("10"), vec![&a, &b]),
        ("score", "GTE", json!("9.5"), vec![&b]),
        ("score", "BETWEEN", json!(["9", "10"]), vec![&a, &b]),
        ("day", "EQ", json!("1577836800000"), vec![&a]),
        ("day", "GT", json!("2020-01-01"), vec![&b]),
        ("seen", "LT", json!("1577959200000"), vec![&a]),
        (
            "seen",
            "BETWEEN",
            json!(["2020-01-01T00:00:00Z", "2020-01-03T00:00:00Z"]),
            vec![&a, &b],
        ),
        ("vip", "EQ", json!("TRUE"), vec![&a]),
        ("vip", "NEQ", json!(true), vec![&b, &n]),
        ("tier", "EQ", json!("gold"), vec![&b]),
        ("tier", "IN", json!(["Gold"]), vec![&a]),
        ("tags", "EQ", json!("b"), vec![&a]),
        ("tags", "IN", json!(["c", "x"]), vec![&b]),
        ("tags", "NOT_IN", json!(["a"]), vec![&b, &n]),
        (
            "hs_object_id",
            "IN",
            json!([a.clone(), b.clone()]),
            vec![&a, &b],
        ),
    ];
    for (prop, op, value, want) in cases {
        let got = search(&c, one(prop, op, value.clone())).await;
        let mut got = ids(&got);
        got.sort();
        let mut want: Vec<String> = want.into_iter().cloned().collect();
        want.sort();
        assert_eq!(got, want, "{prop} {op} {value}");
    }
    // OR of groups.
    let body = json!({"filterGroups": [
        {"filters": [{"propertyName":"score","operator":"EQ","value":"9"}, {"propertyName":"batch","operator":"EQ","value":"s1"}]},
        {"filters": [{"propertyName":"tier","operator":"EQ","value":"gold"}, {"propertyName":"batch","operator":"EQ","value":"s1"}]}
    ], "sorts": [{"propertyName": "score", "direction": "DESCENDING"}]});
    assert_eq!(ids(&search(&c, body).await), vec![b.clone(), a.clone()]);
    // Sort strings, unset values last either way.
    let mut body = one("batch", "EQ", json!("s1"));
    body["sorts"] = json!(["-score"]);
    assert_eq!(
        ids(&search(&c, body.clone()).await),
        vec![b.clone(), a.clone(), n.clone()]
    );
    body["sorts"] = json!(["score"]);
    assert_eq!(
        ids(&search(&c, body).await),
        vec![a.clone(), b.clone(), n.clone()]
    );
}

#[tokio::test]
async fn paging_total_limits_and_read_your_writes() {
    let s = Server::start();
    let c = s.client();
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(
            c.create_contact(json!({"lastname": "Pager", "firstname": format!("p{i}")}))
                .await,
        );
    }
    let q = |after: &str| json!({"query": "pager", "limit": 2, "after": after, "properties": ["firstname"]});
    let first = search(&c, q("0")).await;
    assert_eq!(first["total"], 5);
    assert_eq!(ids(&first), made[..2]);
    assert_eq!(first["paging"]["next"]["after"], "2");
    assert!(first["paging"]["next"].get("link").is_none());
    assert_eq!(first["results"][0]["properties"]["lastname"], Value::Null);
    assert_eq!(first["results"][0]["properties"]["firstname"], "p0");
    let last = search(&c, q("4")).await;
    assert_eq!(ids(&last), made[4..]);
    assert!(last.get("paging").is_none());
    // Read-your-writes: a PATCH and an archive are visible to the very next search.
    c.patch(
        &format!("/crm/v3/objects/contacts/{}", made[0]),
        json!({"properties": {"lastname": "Moved"}}),
    )
    .await;
    c.delete(&format!("/crm/v3/objects/contacts/{}", made[1]))
        .await;
    assert_eq!(search(&c, q("0")).await["total"], 3);
    let moved = search(&c, json!({"query": "moved"})).await;
    assert_eq!(ids(&moved), vec![made[0].clone()]);
    // Limits.
    assert_error(
        &c.post("/crm/v3/objects/contacts/search", json!({"limit": 201}))
            .await,
        400,
        "VALIDATION_ERROR",
    );
    assert_error(
        &c.post("/crm/v3/objects/contacts/search", json!({"after": "10000"}))
            .await,
        400,
        "VALIDATION_ERROR",
    );
    let f = json!({"propertyName": "firstname", "operator": "HAS_PROPERTY"});
    let groups: Vec<Value> = (0..6).map(|_| json!({"filters": [f.clone()]})).collect();
    assert_error(
        &c.post(
            "/crm/v3/objects/contacts/search",
            json!({"filterGroups": groups}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    );
    let unknown = json!({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "x"}]}]});
    assert_error(
        &c.post("/crm/v3/objects/contacts/search", unknown).await,
        400,
        "VALIDATION_ERROR",
    );
}

#[tokio::test]
async fn unlimited_search_flag_lifts_the_cap() {
    let s = Server::start_with_args(&["--unlimited-search"]);
    let r = s
        .client()
        .post("/crm/v3/objects/contacts/search", json!({"after": "10000"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["results"], json!([]));
}

/// Search values are written into the SQL as literals: quotes and NUL must stay data.
#[tokio::test]
async fn values_with_quotes_and_nul_are_data() {
    let s = Server::start();
    let c = s.client();
    let id = c
        .create_contact(json!({"lastname": "O'Brien", "firstname": "x' OR '1'='1"}))
        .await;
    let eq = |p: &str, v: &str| json!({"filterGroups": [{"filters": [{"propertyName": p, "operator": "EQ", "value": v}]}]});
    assert_eq!(
        ids(&search(&c, eq("lastname", "o'brien")).await),
        vec![id.clone()]
    );
    assert_eq!(
        ids(&search(&c, eq("firstname", "x' OR '1'='1")).await),
        vec![id.clone()]
    );
    assert_eq!(search(&c, eq("firstname", "x")).await["total"], 0);
    assert_eq!(
        search(&c, eq("firstname", "nul\u{0}byte")).await["total"],
        0
    );
    let tok = json!({"filterGroups": [{"filters": [{"propertyName": "lastname", "operator": "CONTAINS_TOKEN", "value": "o'brien"}]}]});
    assert_eq!(ids(&search(&c, tok).await), vec![id.clone()]);
    assert_eq!(
        ids(&search(&c, json!({"query": "o'brien"})).await),
        vec![id]
    );
}

/// Full-text changes are held back to the end of each write transaction (sqlite/text.rs); these
/// writes mix creates and updates of older records in one batch, and run concurrently so that
/// several land in one group transaction.
#[tokio::test]
async fn query_sees_text_of_mixed_and_concurrent_writes() {
    let s = Server::start();
    let c = s.client();
    let tag = format!("t{}", &common::uuid_like().replace('-', "")[..10]);
    let old = format!("Oldname{tag}");
    let new = format!("Newname{tag}");
    let conc = format!("Conc{tag}");
    let email = |i: usize| format!("fts{i}.{tag}@example.org");
    let inputs: Vec<Value> = (0..3)
        .map(|i| json!({"properties": {"email": email(i), "lastname": old}}))
        .collect();
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/create",
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // One batch: a new record, an update of an older one, another new, another update.
    let upserts: Vec<Value> = [5, 0, 6, 1]
        .iter()
        .map(|&i| json!({"idProperty": "email", "id": email(i), "properties": {"lastname": new}}))
        .collect();
    let r = c
        .post(
            "/crm/v3/objects/contacts/batch/upsert",
            json!({"inputs": upserts}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let count = |v: &Value| v["total"].as_i64().unwrap();
    let q = |text: &str| json!({"query": text, "limit": 100});
    assert_eq!(count(&search(&c, q(&new)).await), 4);
    assert_eq!(count(&search(&c, q(&old)).await), 1);

    // Concurrent creates, then concurrent renames and archives.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..12 {
        let (c, props) = (
            s.client(),
            json!({"email": email(100 + i), "firstname": conc}),
        );
        tasks.spawn(async move { c.create_contact(props).await });
    }
    let made: Vec<String> = tasks.join_all().await;
    let mut tasks = tokio::task::JoinSet::new();
    for (i, id) in made.into_iter().enumerate() {
        let c = s.client();
        let path = format!("/crm/v3/objects/contacts/{id}");
        let rename = json!({"properties": {"firstname": format!("Renamed{tag}")}});
        let other = json!({"properties": {"lastname": conc}});
        tasks.spawn(async move {
            match i % 3 {
                0 => c.delete(&path).await.status,
                1 => c.patch(&path, rename).await.status,
                _ => c.patch(&path, other).await.status,
            }
        });
    }
    for status in tasks.join_all().await {
        assert!(status == 200 || status == 204, "{status}");
    }
    // Archived (4) are gone, renamed (4) lost the word, the rest (4) still have it.
    assert_eq!(count(&search(&c, q(&conc)).await), 4);
    assert_eq!(count(&search(&c, q(&format!("Renamed{tag}"))).await), 4);
}
