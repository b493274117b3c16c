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
    c.create_contacts(inputs).await;
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

/// A filter on one property sorted by another, with more matches than a page: SQLite serves
/// these by walking the sort property's index (sqlite/sort_walk.rs). Every page, in both
/// directions and for each kind of sort field, must equal the order HubSpot defines: by value,
/// records without one last, ties by id.
#[tokio::test]
async fn sorted_pages_of_many_matches() {
    let s = Server::start();
    let c = s.client();
    let g = "contactinformation";
    for def in [
        json!({"name":"walk_n","label":"n","type":"number","fieldType":"number","groupName":g}),
        json!({"name":"walk_d","label":"d","type":"date","fieldType":"date","groupName":g}),
    ] {
        c.define("contacts", def).await;
    }
    let tag = format!("w{}", &common::uuid_like().replace('-', "")[..10]);
    // 60 records: walk_n cycles 0..20 (a range of 5..15 matches 30), walk_d has many ties and
    // is unset on every 9th record, email on every 7th.
    let inputs: Vec<Value> = (0..60)
        .map(|i| {
            let mut p = json!({"walk_n": (i % 20).to_string(), "lastname": tag});
            if i % 9 != 0 {
                p["walk_d"] = json!(format!("2020-01-{:02}", 1 + (i * 7) % 10));
            }
            if i % 7 != 0 {
                p["email"] = json!(format!("{}.{tag}@walk.test", (i * 37) % 60));
            }
            json!({ "properties": p })
        })
        .collect();
    let created = c.create_contacts(inputs).await;
    let mut records: Vec<(i64, Value)> = created["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap().parse().unwrap(),
                r["properties"].clone(),
            )
        })
        .collect();
    records.sort_by_key(|(id, _)| *id);
    let in_range = |p: &Value| {
        let n: i64 = p["walk_n"].as_str().unwrap().parse().unwrap();
        (5..15).contains(&n)
    };
    let filter = json!([{"filters": [
        {"propertyName": "walk_n", "operator": "GTE", "value": "5"},
        {"propertyName": "walk_n", "operator": "LT", "value": "15"},
        {"propertyName": "lastname", "operator": "EQ", "value": tag},
    ]}]);

    // Pages through the search 7 at a time and returns every id in order.
    let walk_all = |sort: Value| {
        let (c, filter) = (&c, filter.clone());
        async move {
            let mut out = Vec::new();
            let mut after = "0".to_string();
            loop {
                let body = json!({"filterGroups": filter, "sorts": [sort], "limit": 7,
                    "after": after, "properties": ["walk_d", "email", "createdate"]});
                let page = search(c, body).await;
                assert_eq!(page["total"], 30, "{page}");
                out.extend(ids(&page).into_iter().map(|i| i.parse::<i64>().unwrap()));
                match page["paging"]["next"]["after"].as_str() {
                    Some(next) => after = next.to_string(),
                    None => return out,
                }
            }
        }
    };
    // The expected order of the matches by `key` (None = unset), ties and unset by id.
    let expect = |key: &dyn Fn(&Value) -> Option<String>, descending: bool| {
        let mut m: Vec<(Option<String>, i64)> = records
            .iter()
            .filter(|(_, p)| in_range(p))
            .map(|(id, p)| (key(p), *id))
            .collect();
        m.sort_by(|a, b| match (&a.0, &b.0) {
            (Some(x), Some(y)) if descending => y.cmp(x).then(a.1.cmp(&b.1)),
            (Some(x), Some(y)) => x.cmp(y).then(a.1.cmp(&b.1)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.1.cmp(&b.1),
        });
        m.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    };
    let day = |p: &Value| p["walk_d"].as_str().map(str::to_string);
    let email = |p: &Value| p["email"].as_str().map(str::to_string);
    for (direction, descending) in [("DESCENDING", true), ("ASCENDING", false)] {
        let got = walk_all(json!({"propertyName": "walk_d", "direction": direction})).await;
        assert_eq!(got, expect(&day, descending), "walk_d {direction}");
        let got = walk_all(json!({"propertyName": "email", "direction": direction})).await;
        assert_eq!(got, expect(&email, descending), "email {direction}");
        let got = walk_all(json!({"propertyName": "hs_object_id", "direction": direction})).await;
        let mut by_id = expect(&|_| None, false);
        if descending {
            by_id.reverse();
        }
        assert_eq!(got, by_id, "hs_object_id {direction}");
    }
    // One batch shares creation dates: ties by id.
    let created = |p: &Value| p["createdate"].as_str().map(str::to_string);
    let got = walk_all(json!({"propertyName": "createdate", "direction": "DESCENDING"})).await;
    assert_eq!(got, expect(&created, true), "createdate");

    // Archived matches leave the count and the pages at once.
    let gone: Vec<i64> = expect(&day, true)[..3].to_vec();
    for id in &gone {
        c.delete(&format!("/crm/v3/objects/contacts/{id}")).await;
    }
    let page = search(
        &c,
        json!({"filterGroups": filter, "sorts": [{"propertyName": "walk_d", "direction": "DESCENDING"}], "limit": 7}),
    )
    .await;
    assert_eq!(page["total"], 27);
    let want: Vec<String> = expect(&day, true)[3..10]
        .iter()
        .map(|i| i.to_string())
        .collect();
    assert_eq!(ids(&page), want);
}

/// Defines the number property `property` on contacts and creates `n` contacts sharing a new
/// last name (the tag returned) with `property` = 10, 20, …, 10·n; their ids in creation order.
async fn numbered_contacts(c: &Client, property: &str, n: i64) -> (String, Vec<String>) {
    c.define(
        "contacts",
        json!({"name": property, "label": "n", "type": "number", "fieldType": "number",
               "groupName": "contactinformation"}),
    )
    .await;
    let tag = format!("n{}", &common::uuid_like().replace('-', "")[..10]);
    let inputs: Vec<Value> = (1..=n)
        .map(|i| json!({"properties": {property: (i * 10).to_string(), "lastname": tag}}))
        .collect();
    let created = c.create_contacts(inputs).await;
    let mut ids: Vec<String> = created["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort_by_key(|id| id.parse::<i64>().unwrap());
    (tag, ids)
}

/// A record archived before the first sorted search and restored by `spoke records restore` (a
/// process of its own, which the server's in-memory sort keys never hear of) takes its place in
/// the very next sorted page.
#[tokio::test]
async fn sorted_pages_include_records_restored_by_another_process() {
    let s = Server::start();
    let c = s.client();
    let (tag, id_of) = numbered_contacts(&c, "restore_n", 12).await;
    // The top one (restore_n = 120) is archived before any sorted search.
    let top = id_of[11].clone();
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/contacts/{top}"))
            .await
            .status,
        204
    );
    let page = |c: &Client| {
        let body = json!({
            "filterGroups": [{"filters": [{"propertyName": "lastname", "operator": "EQ", "value": tag}]}],
            "sorts": [{"propertyName": "restore_n", "direction": "DESCENDING"}],
            "limit": 3,
        });
        let c = c.clone();
        async move { search(&c, body).await }
    };
    let before = page(&c).await;
    assert_eq!(before["total"], 11);
    assert_eq!(
        ids(&before),
        [id_of[10].clone(), id_of[9].clone(), id_of[8].clone()]
    );
    let account = s.first_account();
    let restored = s.admin(&[
        "records",
        "restore",
        "--account",
        &account,
        "--object-type",
        "contacts",
        "--id",
        &top,
    ]);
    assert_eq!(restored.trim(), top);
    let after = page(&c).await;
    assert_eq!(after["total"], 12);
    assert_eq!(
        ids(&after),
        [top.clone(), id_of[10].clone(), id_of[9].clone()]
    );
    // And the pages after that (served from the rebuilt keys) keep it in place.
    assert_eq!(ids(&page(&c).await), ids(&after));
}

/// Range searches on one number (the SQLite store answers them from its in-memory key columns
/// once built) give what SQLite gives, and follow every write: updates into and out of the
/// range, cleared values, new records, archives, and a restore by `spoke records restore` (a
/// process of its own, which the columns never hear of). Each answer is checked against the
/// same search with one more filter that matches every record (then SQLite answers it).
#[tokio::test]
async fn range_searches_follow_writes_and_restores_by_another_process() {
    let s = Server::start();
    let c = s.client();
    c.define(
        "contacts",
        json!({"name": "range_rank", "label": "rank", "type": "number", "fieldType": "number",
               "groupName": "contactinformation"}),
    )
    .await;
    // range_n = 10, 20, …, 200; range_rank falls as range_n grows, unset for every fifth.
    let (tag, id_of) = numbered_contacts(&c, "range_n", 20).await;
    for (i, id) in id_of.iter().enumerate().filter(|(i, _)| i % 5 != 4) {
        let r = c
            .patch(
                &format!("/crm/v3/objects/contacts/{id}"),
                json!({"properties": {"range_rank": (100 - i).to_string()}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    let range = |sort: Option<&str>, limit: usize, with_sqlite: bool| {
        let mut filters = vec![
            json!({"propertyName": "range_n", "operator": "GTE", "value": "50"}),
            json!({"propertyName": "range_n", "operator": "LT", "value": "150"}),
        ];
        if with_sqlite {
            filters.push(json!({"propertyName": "lastname", "operator": "EQ", "value": tag}));
        }
        let mut body = json!({"filterGroups": [{"filters": filters}], "limit": limit});
        if let Some(sort) = sort {
            body["sorts"] = json!([{"propertyName": sort, "direction": "DESCENDING"}]);
        }
        let c = c.clone();
        async move { search(&c, body).await }
    };
    // Every shape answered by both, compared; the ids of the unsorted one.
    let check = || async {
        let mut unsorted = Vec::new();
        for sort in [None, Some("range_n"), Some("range_rank")] {
            for limit in [3, 100] {
                let columns = range(sort, limit, false).await;
                let sqlite = range(sort, limit, true).await;
                assert_eq!(columns["total"], sqlite["total"], "{sort:?} {limit}");
                assert_eq!(ids(&columns), ids(&sqlite), "{sort:?} {limit}");
                if sort.is_none() && limit == 100 {
                    unsorted = ids(&columns);
                }
            }
        }
        unsorted
    };
    // range_n 50..140: the 5th to the 14th record.
    assert_eq!(check().await, id_of[4..14].to_vec());
    let by_rank = range(Some("range_rank"), 100, false).await;
    // Ranked ones by rank, descending (creation order), then the two without a rank.
    let mut want: Vec<String> = (4..14)
        .filter(|i| i % 5 != 4)
        .map(|i| id_of[i].clone())
        .collect();
    want.extend([id_of[4].clone(), id_of[9].clone()]);
    assert_eq!(ids(&by_rank), want);
    let patch = |id: String, properties: Value| {
        let c = c.clone();
        async move {
            let r = c
                .patch(
                    &format!("/crm/v3/objects/contacts/{id}"),
                    json!({ "properties": properties }),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
        }
    };
    // Into the range, out of it, a cleared value, a new record.
    patch(id_of[0].clone(), json!({"range_n": "55"})).await;
    patch(id_of[5].clone(), json!({"range_n": "150"})).await;
    patch(id_of[6].clone(), json!({"range_n": ""})).await;
    let created = c
        .create_contacts(vec![
            json!({"properties": {"range_n": "149.5", "lastname": tag}}),
        ])
        .await;
    let new_id = created["results"][0]["id"].as_str().unwrap().to_string();
    let mut want: Vec<String> = [0, 4, 7, 8, 9, 10, 11, 12, 13]
        .map(|i| id_of[i].clone())
        .to_vec();
    want.push(new_id.clone());
    assert_eq!(check().await, want);
    // Archived leaves it; restored by another process, it is back at once.
    let gone = id_of[10].clone();
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/contacts/{gone}"))
            .await
            .status,
        204
    );
    let without: Vec<String> = want.iter().filter(|id| **id != gone).cloned().collect();
    assert_eq!(check().await, without);
    let account = s.first_account();
    let restored = s.admin(&[
        "records",
        "restore",
        "--account",
        &account,
        "--object-type",
        "contacts",
        "--id",
        &gone,
    ]);
    assert_eq!(restored.trim(), gone);
    assert_eq!(check().await, want);
}

/// A filtered search sorted by a number keeps following every write after its first run (the
/// SQLite store then keeps that sort's keys in memory): updates, cleared values, new records and
/// archived ones reorder the very next page.
#[tokio::test]
async fn sorted_pages_follow_writes_after_the_first_search() {
    let s = Server::start();
    let c = s.client();
    // follow_n = 10, 20, …, 400.
    let (tag, id_of) = numbered_contacts(&c, "follow_n", 40).await;
    let top = |c: &Client, limit: usize| {
        let body = json!({
            "filterGroups": [{"filters": [{"propertyName": "lastname", "operator": "EQ", "value": tag}]}],
            "sorts": [{"propertyName": "follow_n", "direction": "DESCENDING"}],
            "limit": limit,
        });
        let c = c.clone();
        async move { search(&c, body).await }
    };
    let page = top(&c, 3).await;
    assert_eq!(page["total"], 40);
    assert_eq!(
        ids(&page),
        [id_of[39].clone(), id_of[38].clone(), id_of[37].clone()]
    );
    // The lowest goes to the top; the top loses its value (last, after every keyed record).
    let r = c
        .patch(
            &format!("/crm/v3/objects/contacts/{}", id_of[0]),
            json!({"properties": {"follow_n": "1000"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c
        .patch(
            &format!("/crm/v3/objects/contacts/{}", id_of[39]),
            json!({"properties": {"follow_n": ""}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = top(&c, 3).await;
    assert_eq!(
        ids(&page),
        [id_of[0].clone(), id_of[38].clone(), id_of[37].clone()]
    );
    let all = top(&c, 40).await;
    assert_eq!(ids(&all).last(), Some(&id_of[39]));
    // A new record, and an archived one.
    let fresh = c
        .create_contact(json!({"follow_n": "500", "lastname": tag}))
        .await;
    c.delete(&format!("/crm/v3/objects/contacts/{}", id_of[0]))
        .await;
    let page = top(&c, 3).await;
    assert_eq!(page["total"], 40);
    assert_eq!(
        ids(&page),
        [fresh.clone(), id_of[38].clone(), id_of[37].clone()]
    );
}

/// A search by one email (dedupe) answers from the SQLite store's cache of unique values when
/// it can: it must follow every change of the value, archive and re-use, in any letter case.
#[tokio::test]
async fn searches_by_a_unique_value_follow_writes() {
    let s = Server::start();
    let c = s.client();
    let tag = &common::uuid_like().replace('-', "")[..12];
    let (a, b) = (
        format!("a.{tag}@dedupe.test"),
        format!("b.{tag}@dedupe.test"),
    );
    let by_email = |email: String, after: Option<&str>| {
        let mut body = json!({"filterGroups": [{"filters": [
            {"propertyName": "email", "operator": "EQ", "value": email}]}],
            "properties": ["email"]});
        if let Some(after) = after {
            body["after"] = json!(after);
        }
        let c = c.clone();
        async move { search(&c, body).await }
    };
    let first = c.create_contact(json!({"email": a})).await;
    for _ in 0..2 {
        let page = by_email(a.clone(), None).await;
        assert_eq!(
            (page["total"].as_u64(), ids(&page)),
            (Some(1), vec![first.clone()])
        );
    }
    let page = by_email(a.to_uppercase(), None).await;
    assert_eq!(ids(&page), vec![first.clone()]);
    let page = by_email(a.clone(), Some("1")).await;
    assert_eq!((page["total"].as_u64(), ids(&page)), (Some(1), vec![]));
    // The email changes: the old value finds nothing, the new one the record.
    let r = c
        .patch(
            &format!("/crm/v3/objects/contacts/{first}"),
            json!({"properties": {"email": b}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let page = by_email(a.clone(), None).await;
    assert_eq!((page["total"].as_u64(), ids(&page)), (Some(0), vec![]));
    let page = by_email(b.clone(), None).await;
    assert_eq!(ids(&page), vec![first.clone()]);
    assert_eq!(page["results"][0]["properties"]["email"], b.as_str());
    // The old value is free again; archiving releases the new one.
    let second = c.create_contact(json!({"email": a})).await;
    let page = by_email(a.clone(), None).await;
    assert_eq!(ids(&page), vec![second.clone()]);
    c.delete(&format!("/crm/v3/objects/contacts/{first}")).await;
    let page = by_email(b.clone(), None).await;
    assert_eq!((page["total"].as_u64(), ids(&page)), (Some(0), vec![]));
}

/// Updates rewrite only the search keys of what they change (the SQLite store keeps them in
/// several columns): after PATCHes that change, clear and set properties, every property is
/// found by its new value and by no old one, whether indexed (email, a custom number) or not.
#[tokio::test]
async fn updates_keep_every_property_searchable() {
    let s = Server::start();
    let c = s.client();
    let p = c
        .post(
            "/crm/v3/properties/contacts",
            json!({"name": "tier", "label": "Tier", "type": "number", "fieldType": "number",
                "groupName": "contactinformation"}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    let created = c
        .create_contacts(vec![
            json!({"properties": {"email": "keys.one@example.org", "firstname": "Ada",
                "city": "Lima", "company": "Acme", "tier": "3"}}),
            json!({"properties": {"email": "keys.two@example.org", "firstname": "Bo",
                "city": "Oslo", "company": "Acme", "tier": "5"}}),
        ])
        .await;
    let one = created["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["properties"]["email"] == "keys.one@example.org")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let find = |property: &'static str, operator: &'static str, value: Option<&'static str>| {
        let c = &c;
        async move {
            let mut filter = json!({"propertyName": property, "operator": operator});
            if let Some(v) = value {
                filter["value"] = json!(v);
            }
            let scope = json!({"propertyName": "email", "operator": "CONTAINS_TOKEN",
                "value": "*@example.org"});
            let body = search(
                c,
                json!({"filterGroups": [{"filters": [filter, scope]}],
                "sorts": ["email"]}),
            )
            .await;
            ids(&body)
        }
    };
    let patched = c
        .patch(
            &format!("/crm/v3/objects/contacts/{one}"),
            json!({"properties": {"city": "Quito", "company": "", "tier": "9"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(find("city", "EQ", Some("Quito")).await, vec![one.clone()]);
    assert!(find("city", "EQ", Some("Lima")).await.is_empty());
    assert_eq!(
        find("company", "NOT_HAS_PROPERTY", None).await,
        vec![one.clone()]
    );
    assert_eq!(find("company", "EQ", Some("Acme")).await.len(), 1);
    assert_eq!(find("tier", "GT", Some("8")).await, vec![one.clone()]);
    assert!(find("tier", "EQ", Some("3")).await.is_empty());
    assert_eq!(
        find("email", "EQ", Some("keys.one@example.org")).await,
        vec![one.clone()]
    );
    assert_eq!(
        find("firstname", "EQ", Some("Ada")).await,
        vec![one.clone()]
    );

    // Setting the cleared property again, and changing the indexed email.
    let patched = c
        .patch(
            &format!("/crm/v3/objects/contacts/{one}"),
            json!({"properties": {"company": "Zeta", "email": "keys.uno@example.org"}}),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);
    assert_eq!(find("company", "EQ", Some("Zeta")).await, vec![one.clone()]);
    assert!(find("company", "NOT_HAS_PROPERTY", None).await.is_empty());
    assert_eq!(
        find("email", "EQ", Some("keys.uno@example.org")).await,
        vec![one.clone()]
    );
    assert!(find("email", "EQ", Some("keys.one@example.org"))
        .await
        .is_empty());
    assert_eq!(find("tier", "GT", Some("8")).await, vec![one.clone()]);
    assert_eq!(find("city", "EQ", Some("Quito")).await, vec![one]);
}

/// Changing a property's type rekeys the values already stored: a string property turned into
/// a number compares its stored values as numbers at once, and back again as strings.
#[tokio::test]
async fn changing_a_property_type_rekeys_stored_values() {
    let s = Server::start();
    let c = s.client();
    let p = c
        .post(
            "/crm/v3/properties/contacts",
            json!({"name": "seats", "label": "Seats", "type": "string", "fieldType": "text",
                "groupName": "contactinformation"}),
        )
        .await;
    assert_eq!(p.status, 201, "{}", p.text);
    c.create_contacts(
        ["9", "10", "100"]
            .iter()
            .map(|v| json!({"properties": {"email": format!("seats.{v}@example.org"), "seats": v}}))
            .collect(),
    )
    .await;
    let above_50 = || async {
        let body = search(
            &c,
            json!({"filterGroups": [{"filters": [
                {"propertyName": "seats", "operator": "GT", "value": "50"}]}],
                "sorts": ["seats"], "properties": ["seats"]}),
        )
        .await;
        body["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["properties"]["seats"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    // As strings, "9" sorts after "50".
    assert_eq!(above_50().await, ["9"]);
    let to_number = c
        .patch(
            "/crm/v3/properties/contacts/seats",
            json!({"type": "number", "fieldType": "number"}),
        )
        .await;
    assert_eq!(to_number.status, 200, "{}", to_number.text);
    assert_eq!(above_50().await, ["100"]);
    let to_string = c
        .patch(
            "/crm/v3/properties/contacts/seats",
            json!({"type": "string", "fieldType": "text"}),
        )
        .await;
    assert_eq!(to_string.status, 200, "{}", to_string.text);
    assert_eq!(above_50().await, ["9"]);
}
