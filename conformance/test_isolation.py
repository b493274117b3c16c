"""Two accounts on one server: nothing of account 1 is visible or writable with account 2's token."""
import json

import pytest

from hubspot.crm.contacts import ApiException, SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate


def create_contact(c, **props):
    return c.crm.contacts.basic_api.create(simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties=props))


def expect_status(call, status, exc_type=ApiException):
    with pytest.raises(exc_type) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    return json.loads(info.value.body) if info.value.body else None


def test_tokens_belong_to_different_accounts(token, token2):
    assert token != token2


def test_other_account_cannot_read_patch_or_delete(client, client2, unique_email):
    email = unique_email()
    mine = create_contact(client, email=email, firstname="Private")

    body = expect_status(lambda: client2.crm.contacts.basic_api.get_by_id(contact_id=mine.id), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"
    expect_status(lambda: client2.crm.contacts.basic_api.get_by_id(contact_id=mine.id, archived=True), 404)
    expect_status(lambda: client2.crm.contacts.basic_api.get_by_id(contact_id=email, id_property="email"), 404)
    expect_status(
        lambda: client2.crm.contacts.basic_api.update(
            contact_id=mine.id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "Hacked"})
        ),
        404,
    )
    expect_status(
        lambda: client2.crm.contacts.basic_api.update(
            contact_id=email, id_property="email", simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "Hacked"})
        ),
        404,
    )
    # DELETE answers 204 (idempotent) but must not touch account 1's record
    _, status, _ = client2.crm.contacts.basic_api.archive_with_http_info(contact_id=mine.id)
    assert status == 204

    got = client.crm.contacts.basic_api.get_by_id(contact_id=mine.id, properties=["firstname"])
    assert got.archived is False
    assert got.properties["firstname"] == "Private"
    hist = client.crm.contacts.basic_api.get_by_id(contact_id=mine.id, properties_with_history=["firstname"])
    assert [h.value for h in hist.properties_with_history["firstname"]] == ["Private"]


def test_same_email_allowed_in_each_account(client, client2, unique_email):
    email = unique_email()
    a = create_contact(client, email=email)
    b = create_contact(client2, email=email)
    assert a.properties["email"] == b.properties["email"] == email
    assert client.crm.contacts.basic_api.get_by_id(contact_id=email, id_property="email").id == a.id
    assert client2.crm.contacts.basic_api.get_by_id(contact_id=email, id_property="email").id == b.id


def test_shared_id_space_yields_404_not_foreign_record(client, client2, unique_email):
    """Whatever ids the accounts hand out, an id of account 1 never resolves to its record in account 2."""
    mine = create_contact(client, email=unique_email(), firstname="One")
    theirs = create_contact(client2, email=unique_email(), firstname="Two")
    for c, other, own in ((client2, mine, theirs), (client, theirs, mine)):
        if other.id == own.id:  # per-account id counters: the id is the caller's own record
            got = c.crm.contacts.basic_api.get_by_id(contact_id=other.id, properties=["email"])
            assert got.properties["email"] == own.properties["email"]
        else:
            body = expect_status(lambda: c.crm.contacts.basic_api.get_by_id(contact_id=other.id), 404)
            assert body["category"] == "OBJECT_NOT_FOUND"
        assert c.crm.contacts.basic_api.get_by_id(contact_id=own.id).id == own.id


def test_generic_objects_isolated(client, client2, unique):
    product = client.crm.objects.basic_api.create(
        object_type="products", simple_public_object_input_for_create=ObjectCreate(properties={"name": unique("Iso")})
    )
    try:
        got = client2.crm.objects.basic_api.get_by_id(object_type="products", object_id=product.id, properties=["name"])
    except ObjectsApiException as e:
        assert e.status == 404
    else:
        assert got.properties["name"] != product.properties["name"]


def test_custom_properties_are_per_account(client, client2, unique, unique_email):
    name = unique("iso")
    client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(name=name, label="Iso", type="string", field_type="text", group_name="contactinformation"),
    )
    expect_status(lambda: client2.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name), 404, PropertiesApiException)
    assert name not in {p.name for p in client2.crm.properties.core_api.get_all(object_type="contacts").results}
    assert name in {p.name for p in client.crm.properties.core_api.get_all(object_type="contacts").results}
    # account 2 cannot write it on its records...
    body = expect_status(lambda: create_contact(client2, email=unique_email(), **{name: "x"}), 400)
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    # ...nor archive it in account 1
    try:
        client2.crm.properties.core_api.archive(object_type="contacts", property_name=name)
    except PropertiesApiException as e:
        assert e.status in (404, 204)
    assert client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name).archived is False
    # account 2 may define the same name independently
    other = client2.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(name=name, label="Mine", type="number", field_type="number", group_name="contactinformation"),
    )
    assert other.type == "number"
    assert client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name).type == "string"


def test_property_groups_are_per_account(client, client2, unique):
    name = unique("isogrp")
    client.crm.properties.groups_api.create(object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="Iso"))
    expect_status(lambda: client2.crm.properties.groups_api.get_by_name(object_type="contacts", group_name=name), 404, PropertiesApiException)
    assert name not in {g.name for g in client2.crm.properties.groups_api.get_all(object_type="contacts").results}
