"""Error envelope, authentication and router-level errors (raw HTTP plus the SDK's view of them)."""
import pytest

import hubspot
from hubspot.crm.contacts import ApiException, SimplePublicObjectInputForCreate
from hubspot.crm.contacts.exceptions import UnauthorizedException

from spoke_helpers import UUID_RE, Raw, check_error_shape

JSON_CT = "application/json;charset=utf-8"


def check_error(resp, status, category=None):
    assert resp.status_code == status, (resp.status_code, resp.text)
    assert resp.headers.get("Content-Type", "").replace(" ", "").lower() == JSON_CT, resp.headers.get("Content-Type")
    body = resp.json()
    assert body["status"] == "error"
    assert isinstance(body["message"], str) and body["message"]
    assert UUID_RE.match(body["correlationId"]), body
    assert resp.headers.get("X-HubSpot-Correlation-Id") == body["correlationId"]
    assert isinstance(body["category"], str) and body["category"]
    if category is not None:
        assert body["category"] == category, body
    check_error_shape(body)
    return body


# --- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/crm/v3/objects/contacts/1"),
        ("POST", "/crm/v3/objects/contacts"),
        ("GET", "/crm/v3/properties/contacts"),
        ("GET", "/crm/v3/properties/contacts/groups"),
        ("POST", "/crm/v3/objects/contacts/search"),
    ],
)
def test_no_token_401(raw_anon, method, path):
    resp = raw_anon.request(method, path, json={"properties": {}})
    body = check_error(resp, 401, "INVALID_AUTHENTICATION")
    assert body["message"].startswith("Authentication credentials not found."), body["message"]


def test_unknown_token_401(base_url):
    resp = Raw(base_url, "pat-na1-00000000-0000-0000-0000-000000000000").get("/crm/v3/objects/contacts/1")
    check_error(resp, 401, "INVALID_AUTHENTICATION")


def test_malformed_authorization_header_401(raw_anon):
    resp = raw_anon.get("/crm/v3/properties/contacts", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    check_error(resp, 401, "INVALID_AUTHENTICATION")


def test_bearer_scheme_case_insensitive(base_url, token):
    resp = Raw(base_url, None).get("/crm/v3/properties/contacts/email", headers={"Authorization": f"bearer {token}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"] == "email"


def test_hapikey_query_param_not_accepted_for_crm(raw_anon, token):
    # the legacy ?hapikey= is retired for CRM APIs (it is only a developer key for webhooks)
    resp = raw_anon.get("/crm/v3/properties/contacts/email", params={"hapikey": token})
    check_error(resp, 401, "INVALID_AUTHENTICATION")


def test_sdk_with_bad_token_raises_unauthorized(base_url, unique_email):
    bad = hubspot.Client.create(access_token="not-a-real-token", host=base_url)
    with pytest.raises(UnauthorizedException) as info:
        bad.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email()})
        )
    assert info.value.status == 401


def test_valid_token_200(raw):
    resp = raw.get("/crm/v3/properties/contacts/email")
    assert resp.status_code == 200
    assert resp.json()["name"] == "email"
    assert UUID_RE.match(resp.headers.get("X-HubSpot-Correlation-Id", ""))
    assert resp.headers["Content-Type"].replace(" ", "").lower() == JSON_CT


def test_correlation_ids_differ_per_request(raw):
    a = raw.get("/crm/v3/properties/contacts/email").headers["X-HubSpot-Correlation-Id"]
    b = raw.get("/crm/v3/properties/contacts/email").headers["X-HubSpot-Correlation-Id"]
    assert a != b


def test_correlation_header_on_204(raw, client, unique_email):
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email()})
    )
    resp = raw.delete(f"/crm/v3/objects/contacts/{created.id}")
    assert resp.status_code == 204
    assert resp.content == b""
    assert UUID_RE.match(resp.headers.get("X-HubSpot-Correlation-Id", ""))


# --- request body errors ------------------------------------------------------------------------


def test_malformed_json_400(raw):
    resp = raw.post("/crm/v3/objects/contacts", data=b'{"properties": %', headers={"Content-Type": "application/json"})
    body = check_error(resp, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Invalid input JSON on line"), body["message"]


def test_malformed_json_on_patch_400(raw, client, unique_email):
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email()})
    )
    resp = raw.patch(f"/crm/v3/objects/contacts/{created.id}", data=b"{not json", headers={"Content-Type": "application/json"})
    body = check_error(resp, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Invalid input JSON on line")


def test_malformed_json_on_properties_400(raw):
    resp = raw.post("/crm/v3/properties/contacts", data=b"[", headers={"Content-Type": "application/json"})
    body = check_error(resp, 400, "VALIDATION_ERROR")
    assert body["message"].startswith("Invalid input JSON on line")


def test_missing_properties_field_400(raw):
    resp = raw.post("/crm/v3/objects/contacts", json={"associations": []})
    body = check_error(resp, 400, "VALIDATION_ERROR")
    assert "Some required fields were not set: [properties]" in body["message"], body["message"]


def test_missing_properties_on_patch_400(raw, client, unique_email):
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email()})
    )
    resp = raw.patch(f"/crm/v3/objects/contacts/{created.id}", json={})
    body = check_error(resp, 400, "VALIDATION_ERROR")
    assert "Some required fields were not set: [properties]" in body["message"]


def test_properties_not_an_object_400(raw):
    resp = raw.post("/crm/v3/objects/contacts", json={"properties": ["a"]})
    check_error(resp, 400, "VALIDATION_ERROR")


def test_nested_object_value_400(raw, unique_email):
    resp = raw.post("/crm/v3/objects/contacts", json={"properties": {"email": unique_email(), "firstname": {"x": 1}}})
    check_error(resp, 400, "VALIDATION_ERROR")


def test_unknown_body_fields_ignored(raw, unique_email):
    email = unique_email()
    resp = raw.post("/crm/v3/objects/contacts", json={"properties": {"email": email}, "associations": [], "somethingElse": 1})
    assert resp.status_code == 201, resp.text
    assert resp.json()["properties"]["email"] == email


# --- routing ----------------------------------------------------------------------------------


def test_unknown_route_404_json(raw):
    check_error(raw.get("/crm/v3/definitely-not-a-route"), 404)
    check_error(raw.get("/nope"), 404)


def test_wrong_method_405_json(raw):
    check_error(raw.put("/crm/v3/objects/contacts", json={}), 405)
    check_error(raw.post("/crm/v3/properties/contacts/email", json={}), 405)


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("POST", "/crm/v3/objects/contacts/merge", {"primaryObjectId": "1", "objectIdToMerge": "2"}),
        ("POST", "/crm/v4/associations/usage/high-usage-report/1", {}),
        ("GET", "/webhooks/v3/123/settings", None),
        ("POST", "/crm/v3/objects/contacts/gdpr-delete", {"objectId": "1"}),
    ],
)
def test_unimplemented_operations_501(raw, method, path, body):
    resp = raw.request(method, path, json=body)
    err = check_error(resp, 501, "NOT_IMPLEMENTED")
    assert err["message"]


def test_unimplemented_operation_through_sdk(client):
    from hubspot.crm.contacts import ApiException as ContactsApiException
    from hubspot.crm.contacts import PublicMergeInput

    with pytest.raises(ContactsApiException) as info:
        client.crm.contacts.basic_api.merge(
            public_merge_input=PublicMergeInput(primary_object_id="1", object_id_to_merge="2")
        )
    assert info.value.status == 501


def test_unimplemented_requires_auth_first(raw_anon):
    check_error(raw_anon.get("/crm/v3/pipelines/deals"), 401, "INVALID_AUTHENTICATION")


# --- SDK-visible error objects ----------------------------------------------------------------


def test_sdk_exception_carries_headers_and_json(client):
    with pytest.raises(ApiException) as info:
        client.crm.contacts.basic_api.get_by_id(contact_id="999999996")
    e = info.value
    assert e.status == 404
    assert e.headers["Content-Type"].replace(" ", "").lower() == JSON_CT
    import json

    body = json.loads(e.body)
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert e.headers["X-HubSpot-Correlation-Id"] == body["correlationId"]


def test_empty_body_400(raw):
    resp = raw.post("/crm/v3/objects/contacts", data=b"", headers={"Content-Type": "application/json"})
    check_error(resp, 400, "VALIDATION_ERROR")


def test_sdk_headers_accepted_on_get(raw, client, unique_email):
    # the Python SDK sends Content-Type: application/json on GET/DELETE without a body
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email()})
    )
    resp = raw.get(f"/crm/v3/objects/contacts/{created.id}", headers={"Content-Type": "application/json"})
    assert resp.status_code == 200
    resp = raw.delete(f"/crm/v3/objects/contacts/{created.id}", headers={"Content-Type": "application/json"})
    assert resp.status_code == 204


@pytest.mark.parametrize(
    "path",
    ["/crm/v3/properties/contacts/{prop}", "/crm/v3/properties/contacts/groups/{group}"],
)
def test_204_responses_have_no_body(raw, unique, path):
    prop, group = unique("p204"), unique("g204")
    assert raw.post("/crm/v3/properties/contacts/groups", json={"name": group, "label": "G"}).status_code == 201
    assert raw.post(
        "/crm/v3/properties/contacts",
        json={"name": prop, "label": "P", "type": "string", "fieldType": "text", "groupName": "contactinformation"},
    ).status_code == 201
    resp = raw.delete(path.format(prop=prop, group=group))
    assert resp.status_code == 204
    assert resp.content == b""
    assert UUID_RE.match(resp.headers.get("X-HubSpot-Correlation-Id", ""))
