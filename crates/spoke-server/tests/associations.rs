//! Associations v4 over real HTTP: one graph readable from both ends, labels, batch, inline
//! associations on create and the v3 `associations` read.

mod common;

use common::{assert_error, Server};
use serde_json::{json, Value};

fn type_ids(v: &Value) -> Vec<i64> {
    let mut ids: Vec<i64> = v["associationTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["typeId"].as_i64().unwrap())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn both_directions_labels_and_v3_reads() {
    let s = Server::start();
    let c = s.client();
    let contact = c.create_contact(json!({"firstname": "Ann"})).await;
    let company = c
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "Acme"}}),
        )
        .await;
    let company = company.body["id"].as_str().unwrap().to_string();

    // Default association, idempotent; readable from both ends with each direction's type id.
    for _ in 0..2 {
        let r = c
            .send(
                "PUT",
                &format!(
                    "/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}"
                ),
                None,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(
            r.body["results"][0]["associationSpec"]["associationTypeId"],
            279
        );
    }
    let from_contact = c
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_eq!(
        from_contact.body["results"][0]["toObjectId"],
        company.as_str()
    );
    assert_eq!(type_ids(&from_contact.body["results"][0]), [279]);
    assert_eq!(
        from_contact.body["results"][0]["associationTypes"][0]["label"],
        Value::Null
    );
    let from_company = c
        .get(&format!(
            "/crm/v4/objects/company/{company}/associations/0-1"
        ))
        .await;
    assert_eq!(type_ids(&from_company.body["results"][0]), [280]);

    // A custom label with an inverse; a labelled PUT keeps the unlabeled type.
    let l = c
        .post(
            "/crm/v4/associations/contacts/companies/labels",
            json!({"name": "boss_of", "label": "Boss", "inverseLabel": "Employer"}),
        )
        .await;
    assert_eq!(l.status, 200, "{}", l.text);
    let labels = l.body["results"].as_array().unwrap();
    let boss = labels.iter().find(|x| x["label"] == "Boss").unwrap()["typeId"]
        .as_i64()
        .unwrap();
    let employer = labels.iter().find(|x| x["label"] == "Employer").unwrap()["typeId"]
        .as_i64()
        .unwrap();
    let body = json!([{"associationCategory": "USER_DEFINED", "associationTypeId": boss}, {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]);
    let r = c
        .send(
            "PUT",
            &format!("/crm/v4/objects/contacts/{contact}/associations/companies/{company}"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut got: Vec<String> = r.body["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["Boss", "Primary"]);
    let from_company = c
        .get(&format!(
            "/crm/v4/objects/companies/{company}/associations/contacts"
        ))
        .await;
    let mut want = vec![2, 280, employer];
    want.sort();
    assert_eq!(type_ids(&from_company.body["results"][0]), want);
    let all = c
        .get("/crm/v4/associations/contacts/companies/labels")
        .await;
    assert!(all.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["typeId"] == boss));
    let bad = json!([{"associationCategory": "USER_DEFINED", "associationTypeId": 424242}]);
    let r = c
        .send(
            "PUT",
            &format!("/crm/v4/objects/contacts/{contact}/associations/companies/{company}"),
            Some(&bad.to_string()),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");

    // The v3 read shape: one entry per type, ids repeat.
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{contact}?associations=companies,nonsense"
        ))
        .await;
    let mut kinds: Vec<String> = g.body["associations"]["companies"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["type"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "boss_of",
            "contact_to_company",
            "contact_to_company_unlabeled"
        ]
    );
    assert!(g.body["associations"]["companies"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|x| x["id"] == company.as_str()));

    // Archiving the company hides the association from the contact's side.
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/companies/{company}"))
            .await
            .status,
        204
    );
    let hidden = c
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_eq!(hidden.body["results"], json!([]));
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{contact}?associations=companies"
        ))
        .await;
    assert!(g.body.get("associations").is_none());
    // Associating with a missing or archived record is refused.
    let r = c
        .send(
            "PUT",
            &format!("/crm/v4/objects/contacts/{contact}/associations/default/companies/{company}"),
            None,
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    // Labels: rename, delete; HubSpot-defined types cannot be deleted.
    let r = c
        .send(
            "PUT",
            "/crm/v4/associations/contacts/companies/labels",
            Some(&json!({"associationTypeId": boss, "label": "Chief"}).to_string()),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_error(
        &c.delete("/crm/v4/associations/contacts/companies/labels/279")
            .await,
        400,
        "VALIDATION_ERROR",
    );
    assert_eq!(
        c.delete(&format!(
            "/crm/associations/v4/contacts/companies/labels/{boss}"
        ))
        .await
        .status,
        204
    );
}

#[tokio::test]
async fn batch_endpoints_and_inline_create() {
    let s = Server::start();
    let c = s.client();
    let company = c
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "Globex"}}),
        )
        .await;
    let company = company.body["id"].as_str().unwrap().to_string();
    // Inline association on create: both ends see it.
    let r = c
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"firstname": "Hank"}, "associations": [{"to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let contact = r.body["id"].as_str().unwrap().to_string();
    let back = c
        .get(&format!(
            "/crm/v4/objects/companies/{company}/associations/contacts"
        ))
        .await;
    assert_eq!(back.body["results"][0]["toObjectId"], contact.as_str());
    // An inline association to a missing record creates nothing.
    let r = c
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"firstname": "Nope"}, "associations": [{"to": {"id": "999999"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");

    let deals: Vec<String> = {
        let mut v = Vec::new();
        for i in 0..3 {
            let d = c
                .post("/crm/v3/objects/deals", json!({"properties": {"dealname": format!("D{i}"), "pipeline": "default", "dealstage": "appointmentscheduled"}}))
                .await;
            v.push(d.body["id"].as_str().unwrap().to_string());
        }
        v
    };
    let inputs: Vec<Value> = deals
        .iter()
        .map(|d| json!({"from": {"id": contact}, "to": {"id": d}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}]}))
        .chain([json!({"from": {"id": contact}, "to": {"id": "999999"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 4}]})])
        .collect();
    let r = c
        .post(
            "/crm/v4/associations/contacts/deals/batch/create",
            json!({"inputs": inputs}),
        )
        .await;
    assert_eq!(r.status, 207, "{}", r.text);
    assert_eq!(r.body["results"].as_array().unwrap().len(), 3);
    assert_eq!(r.body["numErrors"], 1);
    let read = c
        .post(
            "/crm/v4/associations/deals/contacts/batch/read",
            json!({"inputs": [{"id": deals[0]}, {"id": "999999"}]}),
        )
        .await;
    assert_eq!(read.status, 207, "{}", read.text);
    assert_eq!(
        read.body["results"][0]["to"][0]["toObjectId"],
        contact.as_str()
    );
    assert_eq!(type_ids(&read.body["results"][0]["to"][0]), [3]);
    let r = c.post("/crm/v4/associations/contacts/deals/batch/archive", json!({"inputs": [{"from": {"id": contact}, "to": [{"id": deals[0]}, {"id": deals[1]}]}]})).await;
    assert_eq!(r.status, 204);
    let left = c
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/deals"
        ))
        .await;
    let ids: Vec<&str> = left.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["toObjectId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [deals[2].as_str()]);
    let r = c
        .post(
            "/crm/v4/associations/contacts/companies/batch/associate/default",
            json!({"inputs": [{"from": {"id": contact}, "to": {"id": company}}]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = c
        .post("/crm/v4/associations/contacts/companies/batch/labels/archive", json!({"inputs": [{"from": {"id": contact}, "to": {"id": company}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]}))
        .await;
    assert_eq!(r.status, 204);
    let none = c
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_eq!(none.body["results"], json!([]));
    assert_eq!(
        c.delete(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/deals/{}",
            deals[2]
        ))
        .await
        .status,
        204
    );
}

#[tokio::test]
async fn custom_object_associations() {
    let s = Server::start();
    let c = s.client();
    let r = c
        .post(
            "/crm-object-schemas/v3/schemas",
            json!({"name": "projects", "labels": {"singular": "Project", "plural": "Projects"}, "requiredProperties": [],
                   "properties": [{"name": "project_code", "label": "Code", "type": "string", "fieldType": "text", "hasUniqueValue": true}],
                   "associatedObjects": ["CONTACT"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let project = c
        .post(
            "/crm/v3/objects/projects",
            json!({"properties": {"project_code": "P-1"}}),
        )
        .await;
    let project = project.body["id"].as_str().unwrap().to_string();
    let contact = c.create_contact(json!({"firstname": "Pat"})).await;
    let r = c
        .send(
            "PUT",
            &format!("/crm/v4/objects/projects/{project}/associations/default/contacts/{contact}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let back = c
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/projects"
        ))
        .await;
    assert_eq!(back.body["results"][0]["toObjectId"], project.as_str());
    // A label on the custom pair.
    let l = c
        .post(
            "/crm/v4/associations/projects/contacts/labels",
            json!({"name": "lead", "label": "Project lead"}),
        )
        .await;
    assert_eq!(l.status, 200, "{}", l.text);
}

/// Archiving a record hides its associations; restoring it (the recycle bin, an admin command
/// here) brings them back with nothing lost.
#[tokio::test]
async fn restore_brings_associations_back() {
    let s = Server::start();
    let c = s.client();
    let contact = c.create_contact(json!({"firstname": "Rae"})).await;
    let company = c
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "Initech"}}),
        )
        .await;
    let company = company.body["id"].as_str().unwrap().to_string();
    let body = json!([{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]);
    let r = c
        .send(
            "PUT",
            &format!("/crm/v4/objects/contacts/{contact}/associations/companies/{company}"),
            Some(&body.to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/companies/{company}"))
            .await
            .status,
        204
    );
    let hidden = c
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_eq!(hidden.body["results"], json!([]));

    let account = s.first_account();
    let restored = s.admin(&[
        "records",
        "restore",
        "--account",
        &account,
        "--object-type",
        "companies",
        "--id",
        &company,
    ]);
    assert_eq!(restored.trim(), company);
    let back = c
        .get(&format!(
            "/crm/v4/objects/contacts/{contact}/associations/companies"
        ))
        .await;
    assert_eq!(type_ids(&back.body["results"][0]), [1, 279]);
    let g = c
        .get(&format!(
            "/crm/v3/objects/companies/{company}?properties=name"
        ))
        .await;
    assert_eq!(g.body["properties"]["name"], "Initech");
    let found = c
        .post(
            "/crm/v3/objects/companies/search",
            json!({"query": "initech"}),
        )
        .await;
    assert_eq!(found.body["total"], 1);
}

#[tokio::test]
async fn association_limits_are_configured_and_enforced() {
    let s = Server::start();
    let c = s.client();
    let contact = c.create_contact(json!({"firstname": "Lim"})).await;
    let mut companies = Vec::new();
    for name in ["A", "B"] {
        let r = c
            .post(
                "/crm/v3/objects/companies",
                json!({"properties": {"name": name}}),
            )
            .await;
        companies.push(r.body["id"].as_str().unwrap().to_string());
    }
    let r = c
        .post("/crm/v4/associations/definitions/configurations/contacts/companies/batch/create", json!({"inputs": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "maxToObjectIds": 1}]}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["results"][0]["userEnforcedMaxToObjectIds"], 1);
    let pair = c
        .get("/crm/associations/v4/definitions/configurations/contacts/companies")
        .await;
    let limited: Vec<&Value> = pair.body["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["typeId"] == 279)
        .collect();
    assert_eq!(limited[0]["userEnforcedMaxToObjectIds"], 1);
    let all = c
        .get("/crm/v4/associations/definitions/configurations/all")
        .await;
    assert_eq!(all.body["results"].as_array().unwrap().len(), 1);
    let put = |to: &str| {
        format!("/crm/v4/objects/contacts/{contact}/associations/default/companies/{to}")
    };
    assert_eq!(c.send("PUT", &put(&companies[0]), None).await.status, 200);
    assert_error(
        &c.send("PUT", &put(&companies[1]), None).await,
        400,
        "VALIDATION_ERROR",
    );
    let r = c
        .post("/crm/v4/associations/definitions/configurations/contacts/companies/batch/update", json!({"inputs": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "maxToObjectIds": 2}]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(c.send("PUT", &put(&companies[1]), None).await.status, 200);
    let r = c
        .post("/crm/v4/associations/definitions/configurations/contacts/companies/batch/purge", json!({"inputs": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}))
        .await;
    assert_eq!(r.status, 204);
    let all = c
        .get("/crm/v4/associations/definitions/configurations/all")
        .await;
    assert_eq!(all.body["results"], json!([]));
}
