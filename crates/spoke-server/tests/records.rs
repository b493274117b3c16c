//! The record endpoints over real HTTP: the seed round-trip, validation that stores nothing,
//! idProperty, history and archiving.

mod common;

use common::{assert_error, uuid_like, Client, Server};
use serde_json::{json, Value};

async fn define_seed_properties(c: &Client) {
    let opts = |vals: &[&str]| -> Value {
        vals.iter()
            .map(|v| json!({"label": v, "value": v}))
            .collect::<Vec<_>>()
            .into()
    };
    let g = "contactinformation";
    for def in [
        json!({"name":"property_checkbox","label":"Checkbox","type":"bool","fieldType":"booleancheckbox","groupName":g,
               "options":[{"label":"Yes","value":"true"},{"label":"No","value":"false"}]}),
        json!({"name":"property_date","label":"Date","type":"date","fieldType":"date","groupName":g}),
        json!({"name":"property_dropdown","label":"Dropdown","type":"enumeration","fieldType":"select","groupName":g,"options":opts(&["choice_a","choice_b"])}),
        json!({"name":"property_multiple_checkboxes","label":"Multi","type":"enumeration","fieldType":"checkbox","groupName":g,"options":opts(&["chocolate","strawberry","vanilla"])}),
        json!({"name":"property_number","label":"Number","type":"number","fieldType":"number","groupName":g}),
        json!({"name":"property_radio","label":"Radio","type":"enumeration","fieldType":"radio","groupName":g,"options":opts(&["option_1","option_2"])}),
        json!({"name":"property_string","label":"String","type":"string","fieldType":"text","groupName":g}),
    ] {
        c.define("contacts", def).await;
    }
}

const SEED: &str = r#"{"properties":{"property_checkbox":"false","property_date":"1572480000000","property_dropdown":"choice_b","property_multiple_checkboxes":"chocolate;strawberry","property_number":"17","property_radio":"option_1","property_string":"value"}}"#;

#[tokio::test]
async fn seed_patch_round_trips() {
    let s = Server::start();
    let c = s.client();
    define_seed_properties(&c).await;
    let id = c
        .create_contact(json!({"email": format!("{}@example.com", uuid_like())}))
        .await;
    let r = c
        .send(
            "PATCH",
            &format!("/crm/v3/objects/contacts/{id}"),
            Some(SEED),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let sent: Value = serde_json::from_str(SEED).unwrap();
    for (k, v) in sent["properties"].as_object().unwrap() {
        assert_eq!(&r.body["properties"][k], v, "PATCH response {k}");
    }
    assert!(r.body["properties"]["lastmodifieddate"].is_string());
    let names: Vec<&str> = sent["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?properties={}",
            names.join(",")
        ))
        .await;
    assert_eq!(g.status, 200);
    for (k, v) in sent["properties"].as_object().unwrap() {
        assert_eq!(&g.body["properties"][k], v, "GET {k}");
    }
    assert_eq!(g.body["archived"], false);
    assert!(g.body["createdAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn invalid_values_are_rejected_with_their_codes_and_store_nothing() {
    let s = Server::start();
    let c = s.client();
    define_seed_properties(&c).await;
    let id = c.create_contact(json!({"firstname": "Before"})).await;
    let cases = [
        ("property_dropdown", "choice_c", "INVALID_OPTION"),
        ("property_date", "1572480000001", "INVALID_DATE"),
        (
            "property_multiple_checkboxes",
            "chocolate;mint",
            "INVALID_OPTION",
        ),
        ("property_number", "abc", "INVALID_NUMBER"),
        ("property_nope", "x", "PROPERTY_DOESNT_EXIST"),
        ("property_checkbox", "maybe", "INVALID_BOOLEAN"),
        ("email", "example.lcom", "INVALID_EMAIL"),
        ("hs_object_id", "7", "READ_ONLY_VALUE"),
        ("hubspot_owner_id", "owner", "INVALID_INTEGER"),
    ];
    for (name, value, code) in cases {
        // A valid property rides along: it must not be stored either.
        let body = json!({"properties": {"firstname": "After", name: value}});
        let r = c
            .patch(&format!("/crm/v3/objects/contacts/{id}"), body)
            .await;
        let err = assert_error(&r, 400, "VALIDATION_ERROR");
        assert!(err["message"]
            .as_str()
            .unwrap()
            .starts_with("Property values were not valid: ["));
        assert_eq!(err["errors"][0]["code"], code, "{name}={value}");
        assert_eq!(err["errors"][0]["context"]["propertyName"][0], name);
    }
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?propertiesWithHistory=firstname"
        ))
        .await;
    assert_eq!(g.body["properties"]["firstname"], "Before");
    assert_eq!(
        g.body["propertiesWithHistory"]["firstname"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // A create with a bad value creates nothing: the next create gets the very next id.
    let bad = c
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"firstname": "x", "property_number": "x"}}),
        )
        .await;
    assert_error(&bad, 400, "VALIDATION_ERROR");
    // Empty string clears.
    let r = c
        .patch(
            &format!("/crm/v3/objects/contacts/{id}"),
            json!({"properties": {"firstname": ""}}),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["properties"]["firstname"], "");
}

#[tokio::test]
async fn required_properties_on_create() {
    let s = Server::start();
    let c = s.client();
    let r = c
        .post(
            "/crm/v3/objects/deals",
            json!({"properties": {"dealname": "x"}}),
        )
        .await;
    let err = assert_error(&r, 400, "VALIDATION_ERROR");
    let codes: Vec<&str> = err["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["REQUIRED_PROPERTY", "REQUIRED_PROPERTY"]);
    let r = c
        .post("/crm/v3/objects/deals", json!({"properties": {"dealname": "x", "pipeline": "default", "dealstage": "appointmentscheduled", "amount": 10}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["properties"]["amount"], "10");
    assert!(r.body["properties"]["hs_lastmodifieddate"].is_string());
}

#[tokio::test]
async fn email_is_unique_and_an_id_property() {
    let s = Server::start();
    let c = s.client();
    let email = format!("{}@Example.com", uuid_like());
    let id = c
        .create_contact(json!({"email": email, "firstname": "Ann"}))
        .await;
    let r = c
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"email": email.to_uppercase()}}),
        )
        .await;
    let err = assert_error(&r, 409, "CONFLICT");
    assert_eq!(
        err["message"],
        format!("Contact already exists. Existing ID: {id}")
    );
    let path = format!(
        "/crm/v3/objects/contacts/{}?idProperty=email",
        email.replace('@', "%40")
    );
    let g = c.get(&path).await;
    assert_eq!(g.status, 200, "{}", g.text);
    assert_eq!(g.body["id"], id.as_str());
    assert_eq!(g.body["properties"]["email"], email.to_lowercase());
    let p = c
        .patch(&path, json!({"properties": {"lastname": "Lee"}}))
        .await;
    assert_eq!(p.status, 200);
    assert_eq!(p.body["properties"]["lastname"], "Lee");
    assert_error(
        &c.get("/crm/v3/objects/contacts/nobody%40x.com?idProperty=email")
            .await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &c.get("/crm/v3/objects/contacts/Ann?idProperty=firstname")
            .await,
        400,
        "VALIDATION_ERROR",
    );
    // Archiving releases the value.
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/contacts/{id}"))
            .await
            .status,
        204
    );
    c.create_contact(json!({"email": email})).await;
}

#[tokio::test]
async fn custom_unique_property() {
    let s = Server::start();
    let c = s.client();
    c.define("companies", json!({"name":"company_code","label":"Code","type":"string","fieldType":"text","groupName":"companyinformation","hasUniqueValue":true})).await;
    let r = c
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "A", "company_code": "C-1"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.body["id"].as_str().unwrap().to_string();
    let dup = c
        .post(
            "/crm/v3/objects/companies",
            json!({"properties": {"name": "B", "company_code": "C-1"}}),
        )
        .await;
    let err = assert_error(&dup, 400, "VALIDATION_ERROR");
    assert!(err["message"]
        .as_str()
        .unwrap()
        .starts_with("Cannot set PropertyValueCoordinates"));
    let g = c
        .get("/crm/v3/objects/companies/C-1?idProperty=company_code&properties=company_code")
        .await;
    assert_eq!(g.body["id"], id.as_str());
}

#[tokio::test]
async fn history_is_newest_first_and_archive_is_soft() {
    let s = Server::start();
    let c = s.client();
    let id = c.create_contact(json!({"firstname": "One"})).await;
    for v in ["Two", "Three"] {
        let r = c
            .patch(
                &format!("/crm/v3/objects/contacts/{id}"),
                json!({"properties": {"firstname": v}}),
            )
            .await;
        assert_eq!(r.status, 200);
    }
    let g = c
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?propertiesWithHistory=firstname&properties=firstname"
        ))
        .await;
    let h = g.body["propertiesWithHistory"]["firstname"]
        .as_array()
        .unwrap();
    let values: Vec<&str> = h.iter().map(|e| e["value"].as_str().unwrap()).collect();
    assert_eq!(values, ["Three", "Two", "One"]);
    assert!(h
        .iter()
        .all(|e| e["sourceType"] == "API" && e["timestamp"].is_string()));

    assert_eq!(
        c.delete(&format!("/crm/v3/objects/contacts/{id}"))
            .await
            .status,
        204
    );
    assert_error(
        &c.get(&format!("/crm/v3/objects/contacts/{id}")).await,
        404,
        "OBJECT_NOT_FOUND",
    );
    let a = c
        .get(&format!("/crm/v3/objects/contacts/{id}?archived=True"))
        .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["archived"], true);
    assert!(a.body["archivedAt"].is_string());
    assert_error(
        &c.patch(
            &format!("/crm/v3/objects/contacts/{id}"),
            json!({"properties": {"firstname": "x"}}),
        )
        .await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_eq!(
        c.delete(&format!("/crm/v3/objects/contacts/{id}"))
            .await
            .status,
        204
    );
    assert_eq!(
        c.delete("/crm/v3/objects/contacts/999999").await.status,
        204
    );
}

#[tokio::test]
async fn object_types_by_name_singular_and_id() {
    let s = Server::start();
    let c = s.client();
    for (t, props) in [
        (
            "tickets",
            json!({"subject": "s", "hs_pipeline": "0", "hs_pipeline_stage": "1"}),
        ),
        ("0-7", json!({"name": "Widget", "price": "9.5"})),
        ("line_item", json!({"quantity": "2"})),
        ("calls", json!({"hs_timestamp": "2024-01-01T10:00:00Z"})),
    ] {
        let r = c
            .post(
                &format!("/crm/v3/objects/{t}"),
                json!({"properties": props}),
            )
            .await;
        assert_eq!(r.status, 201, "{t}: {}", r.text);
        let id = r.body["id"].as_str().unwrap();
        let g = c.get(&format!("/crm/v3/objects/{t}/{id}")).await;
        assert_eq!(g.status, 200, "{t}");
        assert_eq!(g.body["properties"]["hs_object_id"], id);
    }
    let r = c
        .post(
            "/crm/v3/objects/0-48",
            json!({"properties": {"hs_timestamp": "1704103200000"}}),
        )
        .await;
    let id = r.body["id"].as_str().unwrap();
    let r = c
        .get(&format!(
            "/crm/v3/objects/call/{id}?properties=hs_timestamp"
        ))
        .await;
    assert_eq!(
        r.body["properties"]["hs_timestamp"],
        "2024-01-01T10:00:00.000Z"
    );
    assert!(r.body["properties"]["hs_createdate"].is_string());
    // Non-numeric id.
    let e = assert_error(
        &c.get("/crm/v3/objects/contacts/abc").await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_eq!(
        e["message"],
        "Object not found.  objectId are usually numeric."
    );
}
