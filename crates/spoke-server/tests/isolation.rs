//! One account's token never reaches another account's data.

mod common;

use common::{assert_error, Server};
use serde_json::json;

#[tokio::test]
async fn accounts_are_isolated() {
    let s = Server::start();
    let a = s.client();
    let b = s.client_with(&s.new_account());
    a.define("contacts", json!({"name":"secret_code","label":"Secret","type":"string","fieldType":"text","groupName":"contactinformation","hasUniqueValue":true})).await;
    let id = a
        .create_contact(json!({"email": "shared@example.com", "secret_code": "s1"}))
        .await;

    assert_error(
        &b.get(&format!("/crm/v3/objects/contacts/{id}")).await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &b.get(&format!("/crm/v3/objects/contacts/{id}?archived=true"))
            .await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &b.patch(
            &format!("/crm/v3/objects/contacts/{id}"),
            json!({"properties": {"firstname": "x"}}),
        )
        .await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_eq!(
        b.delete(&format!("/crm/v3/objects/contacts/{id}"))
            .await
            .status,
        204
    );
    assert_error(
        &b.get("/crm/v3/objects/contacts/shared%40example.com?idProperty=email")
            .await,
        404,
        "OBJECT_NOT_FOUND",
    );
    // B does not see A's property and may define its own with the same name.
    assert_error(
        &b.get("/crm/v3/properties/contacts/secret_code").await,
        404,
        "OBJECT_NOT_FOUND",
    );
    let r = b
        .post(
            "/crm/v3/objects/contacts",
            json!({"properties": {"secret_code": "s1"}}),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
    // The same email is free in B.
    b.create_contact(json!({"email": "shared@example.com"}))
        .await;

    // A's record is untouched by B's attempts.
    let g = a
        .get(&format!(
            "/crm/v3/objects/contacts/{id}?properties=firstname,secret_code"
        ))
        .await;
    assert_eq!(g.status, 200);
    assert_eq!(g.body["properties"]["firstname"], serde_json::Value::Null);
    assert_eq!(g.body["properties"]["secret_code"], "s1");
}
