//! Custom objects over real HTTP: a schema becomes an object type with the whole Objects API.

mod common;

use common::{assert_error, Server};
use serde_json::json;

#[tokio::test]
async fn custom_object_lifecycle() {
    let s = Server::start();
    let c = s.client();
    let egg = json!({
        "name": "projects",
        "labels": {"singular": "Project", "plural": "Projects"},
        "primaryDisplayProperty": "project_name",
        "requiredProperties": ["project_name"],
        "searchableProperties": ["project_name", "project_code"],
        "properties": [
            {"name": "project_name", "label": "Name", "type": "string", "fieldType": "text"},
            {"name": "project_code", "label": "Code", "type": "string", "fieldType": "text", "hasUniqueValue": true},
            {"name": "budget", "label": "Budget", "type": "number", "fieldType": "number"},
            {"name": "phase", "label": "Phase", "type": "enumeration", "fieldType": "select",
             "options": [{"label": "Plan", "value": "plan"}, {"label": "Build", "value": "build"}]}
        ],
        "associatedObjects": ["CONTACT", "0-2"]
    });
    let r = c.post("/crm-object-schemas/v3/schemas", egg.clone()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let type_id = r.body["objectTypeId"].as_str().unwrap().to_string();
    let fqn = r.body["fullyQualifiedName"].as_str().unwrap().to_string();
    assert!(type_id.starts_with("2-"));
    assert_eq!(r.body["id"], type_id.trim_start_matches("2-"));
    assert!(fqn.starts_with('p') && fqn.ends_with("_projects"));
    assert_eq!(r.body["properties"].as_array().unwrap().len(), 4);
    let assoc: Vec<&str> = r.body["associations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["toObjectTypeId"].as_str().unwrap())
        .collect();
    assert_eq!(assoc, ["0-1", "0-2"]);
    assert_error(
        &c.post("/crm-object-schemas/v3/schemas", egg).await,
        409,
        "CONFLICT",
    );
    let bad = json!({"name": "x1", "labels": {"singular": "X", "plural": "Xs"}, "requiredProperties": ["nope"], "properties": []});
    assert_error(
        &c.post("/crm-object-schemas/v3/schemas", bad).await,
        400,
        "VALIDATION_ERROR",
    );

    // Readable by id and by fully qualified name; listed.
    for key in [&type_id, &fqn] {
        let g = c
            .get(&format!("/crm-object-schemas/v3/schemas/{key}"))
            .await;
        assert_eq!(g.status, 200, "{key}: {}", g.text);
        assert_eq!(g.body["name"], "projects");
    }
    let all = c.get("/crm-object-schemas/v3/schemas").await;
    assert_eq!(all.body["results"].as_array().unwrap().len(), 1);

    // Records through every name of the type; required and unique properties apply.
    let created = c.post(&format!("/crm/v3/objects/{type_id}"), json!({"properties": {"project_name": "Apollo Moon", "project_code": "AP-1", "budget": "100"}})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(created.body["properties"]["hs_createdate"].is_string());
    let id = created.body["id"].as_str().unwrap().to_string();
    let missing = c
        .post(
            &format!("/crm/v3/objects/{fqn}"),
            json!({"properties": {"project_code": "AP-2"}}),
        )
        .await;
    let e = assert_error(&missing, 400, "VALIDATION_ERROR");
    assert_eq!(e["errors"][0]["code"], "REQUIRED_PROPERTY");
    let dup = c
        .post(
            "/crm/v3/objects/projects",
            json!({"properties": {"project_name": "Dup", "project_code": "ap-1"}}),
        )
        .await;
    assert_error(&dup, 400, "VALIDATION_ERROR");
    let by_code = c
        .get(&format!(
            "/crm/v3/objects/{fqn}/AP-1?idProperty=project_code&properties=project_name"
        ))
        .await;
    assert_eq!(by_code.status, 200, "{}", by_code.text);
    assert_eq!(by_code.body["id"], id.as_str());
    assert_eq!(by_code.body["properties"]["project_name"], "Apollo Moon");
    let found = c
        .post(
            &format!("/crm/v3/objects/{type_id}/search"),
            json!({"query": "moon"}),
        )
        .await;
    assert_eq!(found.body["total"], 1, "{}", found.text);
    let range = c
        .post("/crm/v3/objects/projects/search", json!({"filterGroups": [{"filters": [{"propertyName": "budget", "operator": "GTE", "value": 50}]}]}))
        .await;
    assert_eq!(range.body["total"], 1);
    // Its properties are reachable through the Properties API under the type id.
    let props = c
        .get(&format!("/crm/v3/properties/{type_id}/project_code"))
        .await;
    assert_eq!(props.body["hasUniqueValue"], true);
    let more = c.post(&format!("/crm/v3/properties/{type_id}"), json!({"name": "owner_note", "label": "Note", "type": "string", "fieldType": "text", "groupName": "projects_information"})).await;
    assert_eq!(more.status, 201, "{}", more.text);

    // PATCH changes the definition; the new searchable property is used by query.
    let p = c
        .patch(
            &format!("/crm-object-schemas/v3/schemas/{type_id}"),
            json!({"searchableProperties": ["owner_note"], "labels": {"plural": "All projects"}}),
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.body["labels"]["plural"], "All projects");
    assert!(p.body.get("properties").is_none());
    let bad = c
        .patch(
            &format!("/crm-object-schemas/v3/schemas/{type_id}"),
            json!({"requiredProperties": ["nope"]}),
        )
        .await;
    assert_error(&bad, 400, "VALIDATION_ERROR");

    // Association definitions.
    let a = c
        .post(
            &format!("/crm-object-schemas/v3/schemas/{type_id}/associations"),
            json!({"fromObjectTypeId": type_id, "toObjectTypeId": "0-3", "name": "project_deal"}),
        )
        .await;
    assert_eq!(a.status, 201, "{}", a.text);
    let aid = a.body["id"].as_str().unwrap();
    assert_eq!(
        c.delete(&format!(
            "/crm-object-schemas/v3/schemas/{type_id}/associations/{aid}"
        ))
        .await
        .status,
        204
    );

    // A type with records cannot be archived; without them it can, then purged (name freed).
    assert_error(
        &c.delete(&format!("/crm-object-schemas/v3/schemas/{type_id}"))
            .await,
        400,
        "VALIDATION_ERROR",
    );
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/{type_id}/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        c.delete(&format!("/crm-object-schemas/v3/schemas/{type_id}"))
            .await
            .status,
        204
    );
    assert_error(
        &c.get(&format!("/crm-object-schemas/v3/schemas/{type_id}"))
            .await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &c.get(&format!("/crm/v3/objects/{type_id}/{id}")).await,
        400,
        "VALIDATION_ERROR",
    );
    assert_eq!(
        c.delete(&format!(
            "/crm-object-schemas/v3/schemas/{type_id}?archived=true"
        ))
        .await
        .status,
        204
    );
    let again = json!({"name": "projects", "labels": {"singular": "P", "plural": "Ps"}, "requiredProperties": [], "properties": []});
    assert_eq!(
        c.post("/crm-object-schemas/v3/schemas", again).await.status,
        201
    );
}

/// Changing `searchableProperties` reindexes the records already stored: `query` finds them by
/// the new list and no longer by a property taken off it, archived records stay out, and
/// records written afterwards follow the new list too.
#[tokio::test]
async fn changing_searchable_properties_reindexes_stored_records() {
    let s = Server::start();
    let c = s.client();
    let r = c
        .post(
            "/crm-object-schemas/v3/schemas",
            json!({
                "name": "gadgets",
                "labels": {"singular": "Gadget", "plural": "Gadgets"},
                "primaryDisplayProperty": "title",
                "searchableProperties": ["title"],
                "properties": [
                    {"name": "title", "label": "Title", "type": "string", "fieldType": "text"},
                    {"name": "maker", "label": "Maker", "type": "string", "fieldType": "text"}
                ]
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let type_id = r.body["objectTypeId"].as_str().unwrap().to_string();
    // More records than one reindex transaction holds, so the reindex pages.
    let mut ids = Vec::new();
    for chunk in 0..12 {
        let inputs: Vec<_> = (0..100)
            .map(|i| json!({"properties": {"title": format!("widget{}", chunk * 100 + i), "maker": "acmeco"}}))
            .collect();
        let b = c
            .post(
                "/crm/v3/objects/gadgets/batch/create",
                json!({"inputs": inputs}),
            )
            .await;
        assert_eq!(b.status, 201, "{}", b.text);
        ids.extend(
            b.body["results"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
    }
    let archived = ids.pop().unwrap();
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/gadgets/{archived}"))
            .await
            .status,
        204
    );
    let total = |q: &'static str| {
        let c = &c;
        async move {
            let r = c
                .post(
                    "/crm/v3/objects/gadgets/search",
                    json!({"query": q, "limit": 1}),
                )
                .await;
            assert_eq!(r.status, 200, "{}", r.text);
            r.body["total"].as_u64().unwrap()
        }
    };
    assert_eq!(total("acmeco").await, 0);
    // The archived record (the last created) is not found by either list.
    assert_eq!(total("widget1199").await, 0);
    assert_eq!(total("widget1198").await, 1);

    let schema = format!("/crm-object-schemas/v3/schemas/{type_id}");
    let p = c
        .patch(&schema, json!({"searchableProperties": ["title", "maker"]}))
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(total("acmeco").await, 1199);
    assert_eq!(total("widget1198").await, 1);
    assert_eq!(total("widget1199").await, 0);

    let p = c
        .patch(&schema, json!({"searchableProperties": ["maker"]}))
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(total("widget1198").await, 0);
    assert_eq!(total("acmeco").await, 1199);
    let n = c
        .post(
            "/crm/v3/objects/gadgets",
            json!({"properties": {"title": "gizmo", "maker": "zenith"}}),
        )
        .await;
    assert_eq!(n.status, 201, "{}", n.text);
    assert_eq!(total("zenith").await, 1);
    assert_eq!(total("gizmo").await, 0);
}
