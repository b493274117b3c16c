//! Authentication, error shapes, unknown routes and the 501 table, over real HTTP.

mod common;

use common::{assert_error, Server};
use serde_json::json;

#[tokio::test]
async fn every_route_needs_a_valid_token() {
    let s = Server::start();
    for path in [
        "/crm/v3/objects/contacts/1",
        "/crm/v3/properties/contacts",
        "/crm/v3/owners/",
    ] {
        let r = s.anonymous().get(path).await;
        let body = assert_error(&r, 401, "INVALID_AUTHENTICATION");
        assert!(body["message"]
            .as_str()
            .unwrap()
            .starts_with("Authentication credentials not found"));
        let r = s.client_with("pat-na1-not-a-token").get(path).await;
        assert_error(&r, 401, "INVALID_AUTHENTICATION");
    }
    let r = s
        .anonymous()
        .post("/crm/v3/objects/contacts", json!({"properties": {}}))
        .await;
    assert_error(&r, 401, "INVALID_AUTHENTICATION");
}

#[tokio::test]
async fn malformed_and_incomplete_bodies_get_validation_errors() {
    let s = Server::start();
    let c = s.client();
    let r = c
        .send(
            "POST",
            "/crm/v3/objects/contacts",
            Some("{\"properties\": %"),
        )
        .await;
    let body = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid input JSON on line 1, column"));
    let r = c
        .send("PATCH", "/crm/v3/objects/contacts/1", Some("{}"))
        .await;
    let body = assert_error(&r, 400, "VALIDATION_ERROR");
    assert!(body["message"]
        .as_str()
        .unwrap()
        .ends_with("Some required fields were not set: [properties]"));
    let r = c
        .send(
            "POST",
            "/crm/v3/objects/contacts",
            Some("{\"properties\":{\"firstname\":[1]}}"),
        )
        .await;
    assert_error(&r, 400, "VALIDATION_ERROR");
}

#[tokio::test]
async fn unknown_routes_methods_and_object_types() {
    let s = Server::start();
    let c = s.client();
    assert_error(
        &c.get("/crm/v3/nothing/here").await,
        404,
        "OBJECT_NOT_FOUND",
    );
    assert_error(
        &c.send("PUT", "/crm/v3/objects/contacts/1", Some("{}"))
            .await,
        405,
        "METHOD_NOT_ALLOWED",
    );
    let r = c.get("/crm/v3/objects/foo/1").await;
    let body = assert_error(&r, 400, "VALIDATION_ERROR");
    assert_eq!(body["message"], "Unable to infer object type from: foo");
}

/// Every operation of the table that is not implemented answers 501 in HubSpot's shape.
#[tokio::test]
async fn unimplemented_operations_answer_501() {
    let s = Server::start();
    let c = s.client();
    let mut checked = 0;
    for op in spoke_server::operations::table()
        .iter()
        .filter(|op| !op.implemented)
    {
        // Fill path parameters with plausible values.
        let path: String = op
            .path
            .split('/')
            .map(|seg| match seg {
                "{objectType}" | "{fromObjectType}" | "{toObjectType}" => "contacts",
                s if s.starts_with('{') => "1",
                s => s,
            })
            .collect::<Vec<_>>()
            .join("/");
        let body = (op.method != "GET" && op.method != "DELETE").then_some("{}");
        let r = c.send(op.method.as_str(), &path, body).await;
        let b = assert_error(&r, 501, "NOT_IMPLEMENTED");
        assert!(
            b["message"].as_str().unwrap().contains(op.name),
            "{} {path}: {}",
            op.method,
            r.text
        );
        checked += 1;
    }
    assert!(checked > 0, "no unimplemented operation was checked");
}

#[tokio::test]
async fn health_needs_no_token() {
    let s = Server::start();
    let r = s.anonymous().get("/healthz").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.text, "ok");
}
