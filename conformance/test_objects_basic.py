"""CRM Objects v3 single-record endpoints (create/get/update/archive) through the SDK's basic_api classes."""
import json
import time
from datetime import datetime, timezone

import pytest

from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import ApiException, SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import SimplePublicObjectInput as ObjectInput
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.tickets import ApiException as TicketsApiException
from hubspot.crm.tickets import SimplePublicObjectInputForCreate as TicketCreate

from spoke_helpers import error_body, parse_iso, property_errors

CONTACT_SYSTEM = {"createdate", "lastmodifieddate", "hs_object_id"}
STANDARD_SYSTEM = {"createdate", "hs_lastmodifieddate", "hs_object_id"}
OTHER_SYSTEM = {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}


def expect_error(call, status, exc_type=ApiException):
    with pytest.raises(exc_type) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    return error_body(info.value)


def as_utc(dt):
    assert isinstance(dt, datetime), dt
    assert dt.tzinfo is not None, f"timestamp without zone: {dt!r}"
    return dt.astimezone(timezone.utc)


def iso_to_dt(value):
    return parse_iso(value).replace(tzinfo=timezone.utc)


def create_contact(client, **props):
    return client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties=props)
    )


# --- contacts: create ----------------------------------------------------------------------


def test_contact_create_201_with_values_and_system_properties(client, unique_email):
    email = unique_email()
    data, status, headers = client.crm.contacts.basic_api.create_with_http_info(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={"email": email, "firstname": "Ada", "lastname": "Lovelace"}
        )
    )
    assert status == 201
    assert data.id.isdigit()
    props = data.properties
    assert props["email"] == email
    assert props["firstname"] == "Ada"
    assert props["lastname"] == "Lovelace"
    assert CONTACT_SYSTEM <= set(props)
    assert "hs_createdate" not in props and "hs_lastmodifieddate" not in props
    assert props["hs_object_id"] == data.id
    assert data.archived is False
    assert data.archived_at is None
    created, updated = as_utc(data.created_at), as_utc(data.updated_at)
    assert created == updated
    assert iso_to_dt(props["createdate"]) == created
    assert iso_to_dt(props["lastmodifieddate"]) == updated
    assert abs((datetime.now(timezone.utc) - created).total_seconds()) < 120
    # only properties with a value are returned on create
    assert all(v is not None for v in props.values()), props


def test_contact_create_without_properties_values(client):
    data = create_contact(client)
    assert data.id.isdigit()
    assert set(data.properties) >= CONTACT_SYSTEM
    assert data.properties["hs_object_id"] == data.id


def test_contact_ids_are_distinct(client, unique_email):
    a = create_contact(client, email=unique_email())
    b = create_contact(client, email=unique_email())
    assert a.id != b.id


def test_contact_email_lowercased(client, unique):
    local = unique("MiXeD").upper()
    data = create_contact(client, email=f"{local}@Example.COM")
    assert data.properties["email"] == f"{local}@example.com".lower()
    got = client.crm.contacts.basic_api.get_by_id(contact_id=data.id, properties=["email"])
    assert got.properties["email"] == f"{local}@example.com".lower()


def test_contact_duplicate_email_409(client, unique_email):
    email = unique_email()
    first = create_contact(client, email=email)
    body = expect_error(lambda: create_contact(client, email=email.upper()), 409)
    assert body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {first.id}"
    assert "context" not in body


def test_create_unknown_property_400(client, unique_email, unique):
    bogus = unique("nope")
    body = expect_error(lambda: create_contact(client, email=unique_email(), **{bogus: "x"}), 400)
    array, codes = property_errors(body)
    assert codes == {bogus: "PROPERTY_DOESNT_EXIST"}
    assert array[0]["name"] == bogus
    assert array[0]["error"] == "PROPERTY_DOESNT_EXIST"
    assert array[0]["isValid"] is False
    assert body["errors"][0]["message"] == f'Property "{bogus}" does not exist'
    assert array[0]["message"] == f'Property "{bogus}" does not exist'
    assert array[0]["localizedErrorMessage"] == f'Property "{bogus}" does not exist'
    assert isinstance(array[0]["portalId"], int)


def test_create_read_only_property_400(client, unique_email):
    email = unique_email()
    body = expect_error(lambda: create_contact(client, email=email, hs_object_id="123", createdate="2020-01-01T00:00:00Z"), 400)
    _, codes = property_errors(body)
    assert codes == {"hs_object_id": "READ_ONLY_VALUE", "createdate": "READ_ONLY_VALUE"}
    # nothing was created: the email is still free
    again = create_contact(client, email=email)
    assert again.properties["email"] == email


def test_create_with_json_number_value_is_coerced(raw, unique):
    # hand-written clients send numbers; HubSpot coerces them to strings
    name = unique("Num")
    resp = raw.post("/crm/v3/objects/companies", json={"properties": {"name": name, "numberofemployees": 42}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["properties"]["numberofemployees"] == "42"


# --- contacts: read ------------------------------------------------------------------------


def test_contact_get_default_properties(client, unique_email):
    email = unique_email()
    created = create_contact(client, email=email, firstname="Grace", phone="123")
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id)
    assert got.id == created.id
    assert set(got.properties) == {"firstname", "lastname", "email"} | CONTACT_SYSTEM
    assert got.properties["firstname"] == "Grace"
    assert got.properties["email"] == email
    assert got.properties["lastname"] is None
    assert got.archived is False
    assert as_utc(got.created_at) == as_utc(created.created_at)
    assert as_utc(got.updated_at) == as_utc(created.updated_at)
    assert got.properties_with_history is None


def test_contact_get_requested_properties(client, unique_email, unique):
    created = create_contact(client, email=unique_email(), firstname="Alan", phone="555")
    got = client.crm.contacts.basic_api.get_by_id(
        contact_id=created.id, properties=["phone", "firstname", "jobtitle", unique("unknown")]
    )
    assert set(got.properties) == {"phone", "firstname", "jobtitle"} | CONTACT_SYSTEM
    assert got.properties["phone"] == "555"
    assert got.properties["firstname"] == "Alan"
    assert got.properties["jobtitle"] is None


def test_contact_get_comma_joined_properties(raw, client, unique_email):
    created = create_contact(client, email=unique_email(), firstname="Comma", phone="1")
    resp = raw.get(f"/crm/v3/objects/contacts/{created.id}?properties=phone,firstname")
    assert resp.status_code == 200
    props = resp.json()["properties"]
    assert props["phone"] == "1" and props["firstname"] == "Comma"
    assert "email" not in props


def test_contact_get_unknown_id_404(client):
    body = expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id="999999999"), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_contact_get_non_numeric_id_404(client):
    body = expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id="abc"), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert body["message"] == "Object not found.  objectId are usually numeric."
    assert body.get("context", {}).get("id") == ["abc"]
    body = expect_error(
        lambda: client.crm.contacts.basic_api.update(
            contact_id="abc", simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "x"})
        ),
        404,
    )
    assert body["message"] == "Object not found.  objectId are usually numeric."


# --- contacts: update ----------------------------------------------------------------------


def test_contact_patch_200_partial(client, unique_email):
    email = unique_email()
    created = create_contact(client, email=email, firstname="Old", lastname="Keep")
    time.sleep(0.01)
    data, status, _ = client.crm.contacts.basic_api.update_with_http_info(
        contact_id=created.id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "New"})
    )
    assert status == 200
    assert data.id == created.id
    assert data.properties["firstname"] == "New"
    assert "lastmodifieddate" in data.properties
    assert "lastname" not in data.properties, "PATCH echoes only written and system properties"
    assert as_utc(data.updated_at) > as_utc(created.updated_at)
    assert iso_to_dt(data.properties["lastmodifieddate"]) == as_utc(data.updated_at)
    assert as_utc(data.created_at) == as_utc(created.created_at)
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id)
    assert got.properties["firstname"] == "New"
    assert got.properties["lastname"] == "Keep"
    assert got.properties["email"] == email
    assert as_utc(got.updated_at) == as_utc(data.updated_at)


def test_contact_patch_empty_string_clears(client, unique_email):
    created = create_contact(client, email=unique_email(), firstname="Clear me")
    patched = client.crm.contacts.basic_api.update(
        contact_id=created.id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": ""})
    )
    assert patched.properties["firstname"] == ""
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id, properties=["firstname"])
    assert got.properties["firstname"] == ""


def test_contact_patch_unknown_id_404(client):
    body = expect_error(
        lambda: client.crm.contacts.basic_api.update(
            contact_id="999999998", simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "x"})
        ),
        404,
    )
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_contact_patch_duplicate_email_rejected(client, unique_email):
    taken = unique_email()
    create_contact(client, email=taken)
    other = create_contact(client, email=unique_email())
    with pytest.raises(ApiException) as info:
        client.crm.contacts.basic_api.update(
            contact_id=other.id, simple_public_object_input=SimplePublicObjectInput(properties={"email": taken})
        )
    assert info.value.status in (400, 409), info.value.status
    got = client.crm.contacts.basic_api.get_by_id(contact_id=other.id, properties=["email"])
    assert got.properties["email"] != taken


def test_contact_properties_with_history_newest_first(client, unique_email):
    created = create_contact(client, email=unique_email(), firstname="v1")
    for v in ("v2", "v3"):
        time.sleep(0.01)
        client.crm.contacts.basic_api.update(
            contact_id=created.id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": v})
        )
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id, properties_with_history=["firstname"])
    history = got.properties_with_history["firstname"]
    assert [h.value for h in history] == ["v3", "v2", "v1"]
    stamps = [as_utc(h.timestamp) for h in history]
    assert stamps == sorted(stamps, reverse=True)
    assert stamps[0] == as_utc(got.updated_at)
    assert all(h.source_type == "API" for h in history)
    assert all(h.source_id for h in history)
    # a property requested with history is also in properties
    assert got.properties["firstname"] == "v3"


def test_contact_history_unknown_and_unset_properties(client, unique_email, unique):
    created = create_contact(client, email=unique_email())
    got = client.crm.contacts.basic_api.get_by_id(
        contact_id=created.id, properties_with_history=["jobtitle", unique("nope")]
    )
    pwh = got.properties_with_history or {}
    assert unique("nope") not in pwh
    assert pwh.get("jobtitle", []) == []


# --- contacts: idProperty ------------------------------------------------------------------


def test_contact_get_and_patch_by_email(client, unique_email):
    email = unique_email()
    created = create_contact(client, email=email, firstname="ById")
    got = client.crm.contacts.basic_api.get_by_id(contact_id=email, id_property="email", properties=["firstname"])
    assert got.id == created.id
    assert got.properties["firstname"] == "ById"
    got_upper = client.crm.contacts.basic_api.get_by_id(contact_id=email.upper(), id_property="email")
    assert got_upper.id == created.id
    patched = client.crm.contacts.basic_api.update(
        contact_id=email, id_property="email", simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "Patched"})
    )
    assert patched.id == created.id
    assert patched.properties["firstname"] == "Patched"
    assert client.crm.contacts.basic_api.get_by_id(contact_id=created.id, properties=["firstname"]).properties["firstname"] == "Patched"


def test_contact_id_property_missing_value_404(client, unique_email):
    body = expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id=unique_email(), id_property="email"), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"
    body = expect_error(
        lambda: client.crm.contacts.basic_api.update(
            contact_id=unique_email(), id_property="email", simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "x"})
        ),
        404,
    )
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_contact_id_property_hs_object_id(client, unique_email):
    created = create_contact(client, email=unique_email())
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id, id_property="hs_object_id")
    assert got.id == created.id


def test_contact_non_unique_id_property_400(client, unique_email):
    create_contact(client, email=unique_email(), firstname="NotUnique")
    body = expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id="NotUnique", id_property="firstname"), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_custom_unique_property_as_id_property_and_duplicates(client, unique, unique_email, archive_later):
    prop = archive_later(client, "contacts", unique("uniq"))
    client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(name=prop, label="Unique", type="string", field_type="text", group_name="contactinformation", has_unique_value=True),
    )
    value = unique("val")
    created = create_contact(client, email=unique_email(), **{prop: value})
    got = client.crm.contacts.basic_api.get_by_id(contact_id=value, id_property=prop, properties=[prop])
    assert got.id == created.id
    assert got.properties[prop] == value
    patched = client.crm.contacts.basic_api.update(
        contact_id=value, id_property=prop, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "ViaUnique"})
    )
    assert patched.id == created.id
    # a second record with the same value is rejected and not created
    email2 = unique_email()
    body = expect_error(lambda: create_contact(client, email=email2, **{prop: value}), 400)
    assert body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Cannot set PropertyValueCoordinates"), body["message"]
    expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id=email2, id_property="email"), 404)
    # ...also via PATCH of another record
    other = create_contact(client, email=unique_email())
    body = expect_error(
        lambda: client.crm.contacts.basic_api.update(
            contact_id=other.id, simple_public_object_input=SimplePublicObjectInput(properties={prop: value})
        ),
        400,
    )
    assert body["message"].startswith("Cannot set PropertyValueCoordinates"), body["message"]
    assert client.crm.contacts.basic_api.get_by_id(contact_id=other.id, properties=[prop]).properties[prop] is None


# --- contacts: archive ---------------------------------------------------------------------


def test_contact_archive_204_then_404_and_archived_read(client, unique_email):
    email = unique_email()
    created = create_contact(client, email=email, firstname="Gone")
    data, status, _ = client.crm.contacts.basic_api.archive_with_http_info(contact_id=created.id)
    assert status == 204
    assert data is None
    body = expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id=created.id), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"
    archived = client.crm.contacts.basic_api.get_by_id(contact_id=created.id, archived=True, properties=["firstname", "email"])
    assert archived.id == created.id
    assert archived.archived is True
    assert archived.archived_at is not None
    archived_at = as_utc(archived.archived_at)
    assert archived_at >= as_utc(created.created_at)
    assert archived.properties["firstname"] == "Gone"
    # an archived record cannot be patched
    body = expect_error(
        lambda: client.crm.contacts.basic_api.update(
            contact_id=created.id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "x"})
        ),
        404,
    )
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_contact_archive_unknown_id_204(client):
    _, status, _ = client.crm.contacts.basic_api.archive_with_http_info(contact_id="999999997")
    assert status == 204


def test_contact_archive_twice_204(client, unique_email):
    created = create_contact(client, email=unique_email())
    client.crm.contacts.basic_api.archive(contact_id=created.id)
    _, status, _ = client.crm.contacts.basic_api.archive_with_http_info(contact_id=created.id)
    assert status == 204


def test_archived_contact_not_found_by_email(client, unique_email):
    email = unique_email()
    created = create_contact(client, email=email)
    client.crm.contacts.basic_api.archive(contact_id=created.id)
    expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id=email, id_property="email"), 404)


# --- companies / deals / tickets -------------------------------------------------------------


def test_company_create_get_patch_archive(client, unique):
    name = unique("Acme")
    created, status, _ = client.crm.companies.basic_api.create_with_http_info(
        simple_public_object_input_for_create=CompanyCreate(properties={"name": name, "domain": "acme.example", "city": "Paris"})
    )
    assert status == 201
    assert created.properties["name"] == name
    assert created.properties["city"] == "Paris"
    assert STANDARD_SYSTEM <= set(created.properties)
    assert "lastmodifieddate" not in created.properties
    assert created.properties["hs_object_id"] == created.id

    got = client.crm.companies.basic_api.get_by_id(company_id=created.id)
    assert set(got.properties) == {"name", "domain"} | STANDARD_SYSTEM
    assert got.properties["domain"] == "acme.example"

    from hubspot.crm.companies import SimplePublicObjectInput as CompanyInput

    patched = client.crm.companies.basic_api.update(company_id=created.id, simple_public_object_input=CompanyInput(properties={"city": "Lyon"}))
    assert patched.properties["city"] == "Lyon"
    assert "hs_lastmodifieddate" in patched.properties
    assert client.crm.companies.basic_api.get_by_id(company_id=created.id, properties=["city"]).properties["city"] == "Lyon"

    _, status, _ = client.crm.companies.basic_api.archive_with_http_info(company_id=created.id)
    assert status == 204
    body = expect_error(lambda: client.crm.companies.basic_api.get_by_id(company_id=created.id), 404, CompaniesApiException)
    assert body["category"] == "OBJECT_NOT_FOUND"
    assert client.crm.companies.basic_api.get_by_id(company_id=created.id, archived=True).archived is True


def test_deal_create_and_default_properties(client, unique):
    name = unique("Deal")
    created, status, _ = client.crm.deals.basic_api.create_with_http_info(
        simple_public_object_input_for_create=DealCreate(
            properties={"dealname": name, "pipeline": "default", "dealstage": "appointmentscheduled", "amount": "1500.50"}
        )
    )
    assert status == 201
    assert created.properties["dealname"] == name
    assert created.properties["amount"] == "1500.50"
    assert STANDARD_SYSTEM <= set(created.properties)
    got = client.crm.deals.basic_api.get_by_id(deal_id=created.id)
    assert set(got.properties) == {"dealname", "amount", "closedate", "pipeline", "dealstage"} | STANDARD_SYSTEM
    assert got.properties["dealstage"] == "appointmentscheduled"
    assert got.properties["closedate"] is None


def test_deal_create_missing_required_400(client, unique):
    body = expect_error(
        lambda: client.crm.deals.basic_api.create(simple_public_object_input_for_create=DealCreate(properties={"amount": "1"})),
        400,
        DealsApiException,
    )
    _, codes = property_errors(body)
    assert codes == {"dealname": "REQUIRED_PROPERTY", "dealstage": "REQUIRED_PROPERTY", "pipeline": "REQUIRED_PROPERTY"}


def test_deal_patch_does_not_require_required_properties(client, unique):
    from hubspot.crm.deals import SimplePublicObjectInput as DealInput

    created = client.crm.deals.basic_api.create(
        simple_public_object_input_for_create=DealCreate(properties={"dealname": unique("D"), "pipeline": "default", "dealstage": "qualifiedtobuy"})
    )
    patched = client.crm.deals.basic_api.update(deal_id=created.id, simple_public_object_input=DealInput(properties={"amount": "99"}))
    assert patched.properties["amount"] == "99"


def test_ticket_create_and_default_properties(client, unique):
    subject = unique("Ticket")
    created, status, _ = client.crm.tickets.basic_api.create_with_http_info(
        simple_public_object_input_for_create=TicketCreate(
            properties={"subject": subject, "hs_pipeline": "0", "hs_pipeline_stage": "1", "content": "body text"}
        )
    )
    assert status == 201
    assert created.properties["subject"] == subject
    assert STANDARD_SYSTEM <= set(created.properties)
    got = client.crm.tickets.basic_api.get_by_id(ticket_id=created.id)
    assert set(got.properties) == {
        "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"
    } | STANDARD_SYSTEM
    assert got.properties["content"] == "body text"
    assert got.properties["hs_ticket_priority"] is None


def test_ticket_create_missing_required_400(client):
    body = expect_error(
        lambda: client.crm.tickets.basic_api.create(simple_public_object_input_for_create=TicketCreate(properties={"content": "x"})),
        400,
        TicketsApiException,
    )
    _, codes = property_errors(body)
    assert codes == {"subject": "REQUIRED_PROPERTY", "hs_pipeline": "REQUIRED_PROPERTY", "hs_pipeline_stage": "REQUIRED_PROPERTY"}


# --- generic objects API -----------------------------------------------------------------------


@pytest.mark.parametrize("object_type", ["products", "product", "0-7", "PRODUCTS"])
def test_objects_api_products_by_any_type_name(client, unique, object_type):
    name = unique("Widget")
    created, status, _ = client.crm.objects.basic_api.create_with_http_info(
        object_type=object_type, simple_public_object_input_for_create=ObjectCreate(properties={"name": name, "price": "9.99"})
    )
    assert status == 201
    assert created.properties["name"] == name
    assert created.properties["price"] == "9.99"
    assert STANDARD_SYSTEM <= set(created.properties)
    # the same record is reachable under every spelling of the type
    for alias in ("products", "product", "0-7"):
        got = client.crm.objects.basic_api.get_by_id(object_type=alias, object_id=created.id, properties=["name"])
        assert got.id == created.id
        assert got.properties["name"] == name


def test_objects_api_products_default_properties(client, unique):
    created = client.crm.objects.basic_api.create(
        object_type="products", simple_public_object_input_for_create=ObjectCreate(properties={"name": unique("P"), "hs_sku": "S1"})
    )
    got = client.crm.objects.basic_api.get_by_id(object_type="products", object_id=created.id)
    assert set(got.properties) == {"name", "description", "price"} | STANDARD_SYSTEM


def test_objects_api_contacts_via_object_type_id(client, unique_email):
    email = unique_email()
    created = client.crm.objects.basic_api.create(
        object_type="0-1", simple_public_object_input_for_create=ObjectCreate(properties={"email": email})
    )
    assert CONTACT_SYSTEM <= set(created.properties)
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id)
    assert got.properties["email"] == email
    got2 = client.crm.objects.basic_api.get_by_id(object_type="contact", object_id=email, id_property="email")
    assert got2.id == created.id


def test_objects_api_line_items_full_cycle(client):
    created = client.crm.objects.basic_api.create(
        object_type="line_items", simple_public_object_input_for_create=ObjectCreate(properties={"quantity": "3", "price": "2"})
    )
    assert created.properties["quantity"] == "3"
    assert STANDARD_SYSTEM <= set(created.properties)
    patched = client.crm.objects.basic_api.update(
        object_type="0-8", object_id=created.id, simple_public_object_input=ObjectInput(properties={"quantity": "4"})
    )
    assert patched.properties["quantity"] == "4"
    assert "hs_lastmodifieddate" in patched.properties
    _, status, _ = client.crm.objects.basic_api.archive_with_http_info(object_type="line_items", object_id=created.id)
    assert status == 204
    expect_error(lambda: client.crm.objects.basic_api.get_by_id(object_type="line_items", object_id=created.id), 404, ObjectsApiException)
    got = client.crm.objects.basic_api.get_by_id(object_type="line_items", object_id=created.id, archived=True)
    assert got.archived is True and got.archived_at is not None


@pytest.mark.parametrize("object_type", ["calls", "notes", "tasks", "quotes", "meetings"])
def test_objects_api_hs_prefixed_system_properties(client, object_type):
    created = client.crm.objects.basic_api.create(object_type=object_type, simple_public_object_input_for_create=ObjectCreate(properties={}))
    assert OTHER_SYSTEM <= set(created.properties), created.properties
    assert "createdate" not in created.properties
    assert iso_to_dt(created.properties["hs_createdate"]) == as_utc(created.created_at)
    got = client.crm.objects.basic_api.get_by_id(object_type=object_type, object_id=created.id)
    assert OTHER_SYSTEM <= set(got.properties)


def test_objects_api_unknown_object_type_400(client):
    body = expect_error(
        lambda: client.crm.objects.basic_api.create(object_type="foo", simple_public_object_input_for_create=ObjectCreate(properties={})),
        400,
        ObjectsApiException,
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert "Unable to infer object type from: foo" in body["message"]
    body = expect_error(lambda: client.crm.objects.basic_api.get_by_id(object_type="foo", object_id="1"), 400, ObjectsApiException)
    assert "Unable to infer object type from: foo" in body["message"]


def test_record_of_one_type_not_visible_as_another(client, unique_email):
    email = unique_email()
    contact = create_contact(client, email=email)
    try:
        company = client.crm.companies.basic_api.get_by_id(company_id=contact.id, properties=["email", "name"])
    except CompaniesApiException as e:
        assert e.status == 404, e.body
        assert error_body(e)["category"] == "OBJECT_NOT_FOUND"
    else:
        # ids are unique per object type only; a company with the same id must be a different record
        assert company.properties.get("email") != email


def test_sdk_response_is_valid_json_shape(raw, client, unique_email):
    created = create_contact(client, email=unique_email())
    resp = raw.get(f"/crm/v3/objects/contacts/{created.id}")
    assert resp.status_code == 200
    assert resp.headers["content-type"].replace(" ", "").lower() == "application/json;charset=utf-8"
    body = resp.json()
    assert body["archived"] is False
    assert isinstance(body["id"], str)
    parse_iso(body["createdAt"])
    parse_iso(body["updatedAt"])
    assert "archivedAt" not in body
    assert all(isinstance(v, (str, type(None))) for v in body["properties"].values())


# --- query-parameter encodings and coercions (raw HTTP) ---------------------------------------


def test_properties_param_percent_encoded_comma_and_repeated_mix(raw, client, unique_email):
    created = create_contact(client, email=unique_email(), firstname="Enc", phone="2", jobtitle="Dev")
    resp = raw.get(f"/crm/v3/objects/contacts/{created.id}?properties=phone%2Cfirstname&properties=jobtitle")
    assert resp.status_code == 200, resp.text
    props = resp.json()["properties"]
    assert (props["phone"], props["firstname"], props["jobtitle"]) == ("2", "Enc", "Dev")
    assert "email" not in props


def test_archived_param_lower_case(raw, client, unique_email):
    created = create_contact(client, email=unique_email())
    client.crm.contacts.basic_api.archive(contact_id=created.id)
    resp = raw.get(f"/crm/v3/objects/contacts/{created.id}?archived=true")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["archived"] is True
    parse_iso(body["archivedAt"])


def test_object_type_case_insensitive(raw, client, unique_email):
    created = create_contact(client, email=unique_email())
    for t in ("CONTACT", "Contacts", "0-1"):
        resp = raw.get(f"/crm/v3/objects/{t}/{created.id}")
        assert resp.status_code == 200, (t, resp.text)
        assert resp.json()["id"] == created.id


def test_json_boolean_value_coerced(raw, client, unique):
    prop = unique("flag")
    client.crm.properties.core_api.create(
        object_type="companies",
        property_create=PropertyCreate(name=prop, label="Flag", type="bool", field_type="booleancheckbox", group_name="companyinformation"),
    )
    resp = raw.post("/crm/v3/objects/companies", json={"properties": {"name": unique("B"), prop: True}})
    assert resp.status_code == 201, resp.text
    assert resp.json()["properties"][prop] == "true"


def test_email_lowercased_on_patch(client, unique, unique_email):
    created = create_contact(client, email=unique_email())
    new = unique("UPPER").upper() + "@EXAMPLE.ORG"
    patched = client.crm.contacts.basic_api.update(
        contact_id=created.id, simple_public_object_input=SimplePublicObjectInput(properties={"email": new})
    )
    assert patched.properties["email"] == new.lower()
    assert client.crm.contacts.basic_api.get_by_id(contact_id=new.lower(), id_property="email").id == created.id


def test_patch_by_email_can_change_email(client, unique_email):
    old, new = unique_email(), unique_email()
    created = create_contact(client, email=old)
    patched = client.crm.contacts.basic_api.update(
        contact_id=old, id_property="email", simple_public_object_input=SimplePublicObjectInput(properties={"email": new})
    )
    assert patched.id == created.id and patched.properties["email"] == new
    expect_error(lambda: client.crm.contacts.basic_api.get_by_id(contact_id=old, id_property="email"), 404)
    assert client.crm.contacts.basic_api.get_by_id(contact_id=new, id_property="email").id == created.id


# --- pipelines on deals / tickets ---------------------------------------------------------------


def test_deal_invalid_stage_400(client, unique):
    body = expect_error(
        lambda: client.crm.deals.basic_api.create(
            simple_public_object_input_for_create=DealCreate(properties={"dealname": unique("D"), "pipeline": "default", "dealstage": "registered"})
        ),
        400,
        DealsApiException,
    )
    _, codes = property_errors(body)
    assert codes == {"dealstage": "INVALID_OPTION"}


def test_deal_invalid_pipeline_400(client, unique):
    body = expect_error(
        lambda: client.crm.deals.basic_api.create(
            simple_public_object_input_for_create=DealCreate(
                properties={"dealname": unique("D"), "pipeline": "nopipeline", "dealstage": "appointmentscheduled"}
            )
        ),
        400,
        DealsApiException,
    )
    _, codes = property_errors(body)
    assert "pipeline" in codes and codes["pipeline"] == "INVALID_OPTION"


def test_ticket_invalid_stage_400(client, unique):
    body = expect_error(
        lambda: client.crm.tickets.basic_api.create(
            simple_public_object_input_for_create=TicketCreate(properties={"subject": unique("T"), "hs_pipeline": "0", "hs_pipeline_stage": "99"})
        ),
        400,
        TicketsApiException,
    )
    _, codes = property_errors(body)
    assert codes == {"hs_pipeline_stage": "INVALID_OPTION"}


def test_deal_stage_update_validated(client, unique):
    from hubspot.crm.deals import SimplePublicObjectInput as DealInput

    created = client.crm.deals.basic_api.create(
        simple_public_object_input_for_create=DealCreate(properties={"dealname": unique("D"), "pipeline": "default", "dealstage": "qualifiedtobuy"})
    )
    patched = client.crm.deals.basic_api.update(deal_id=created.id, simple_public_object_input=DealInput(properties={"dealstage": "closedwon"}))
    assert patched.properties["dealstage"] == "closedwon"
    body = expect_error(
        lambda: client.crm.deals.basic_api.update(deal_id=created.id, simple_public_object_input=DealInput(properties={"dealstage": "bogus"})),
        400,
        DealsApiException,
    )
    _, codes = property_errors(body)
    assert codes == {"dealstage": "INVALID_OPTION"}
    assert client.crm.deals.basic_api.get_by_id(deal_id=created.id).properties["dealstage"] == "closedwon"


def test_versioned_objects_path_serves_same_record(raw, client, unique_email):
    email = unique_email()
    created = create_contact(client, email=email, firstname="Versioned")
    resp = raw.get(f"/crm/objects/2026-03/contacts/{created.id}?properties=firstname")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["id"] == created.id
    assert body["properties"]["firstname"] == "Versioned"
    resp = raw.patch(f"/crm/objects/2026-03/contacts/{created.id}", json={"properties": {"firstname": "V2"}})
    assert resp.status_code == 200, resp.text
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id, properties=["firstname"])
    assert got.properties["firstname"] == "V2"
