"""Responses deserialised with the SDK's client-side validation switched on.

hubspot-api-client 12.0.0 ships with `client_side_validation = False`; callers (and older SDK generations)
can switch it on, and then every field the spec marks as required must be present and not null
(e.g. Property.description/options, PropertyGroup.displayOrder, StandardError.context/errors/links).
"""
from datetime import datetime

import pytest

import hubspot
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate
from hubspot.crm.properties import (
    BatchInputPropertyCreate,
    BatchReadInputPropertyName,
    OptionInput,
    PropertyCreate,
    PropertyGroupCreate,
    PropertyGroupUpdate,
    PropertyName,
    PropertyUpdate,
)


@pytest.fixture(scope="module")
def strict(base_url, token):
    return hubspot.Client.create(access_token=token, host=base_url, client_side_validation=True)


def test_strict_flag_reaches_the_generated_clients(strict):
    assert strict.crm.contacts.basic_api.api_client.configuration.client_side_validation is True


def test_record_lifecycle_strict(strict, unique_email):
    created = strict.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email(), "firstname": "S"})
    )
    assert created.id and isinstance(created.created_at, datetime) and isinstance(created.updated_at, datetime)
    assert created.archived is False
    patched = strict.crm.contacts.basic_api.update(
        contact_id=created.id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "T"})
    )
    assert patched.properties["firstname"] == "T"
    got = strict.crm.contacts.basic_api.get_by_id(
        contact_id=created.id, properties=["firstname"], properties_with_history=["firstname", "email"]
    )
    assert [h.value for h in got.properties_with_history["firstname"]] == ["T", "S"]
    assert all(isinstance(h.timestamp, datetime) for h in got.properties_with_history["email"])
    strict.crm.contacts.basic_api.archive(contact_id=created.id)
    archived = strict.crm.contacts.basic_api.get_by_id(contact_id=created.id, archived=True)
    assert archived.archived is True and isinstance(archived.archived_at, datetime)


def test_generic_objects_strict(strict, unique):
    created = strict.crm.objects.basic_api.create(
        object_type="products", simple_public_object_input_for_create=ObjectCreate(properties={"name": unique("S")})
    )
    got = strict.crm.objects.basic_api.get_by_id(object_type="0-7", object_id=created.id)
    assert got.id == created.id


def test_custom_property_strict(strict, unique):
    name = unique("strict")
    created = strict.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(
            name=name,
            label="Strict",
            type="enumeration",
            field_type="select",
            group_name="contactinformation",
            options=[OptionInput(label="A", value="a", hidden=False, display_order=0)],
        ),
    )
    assert created.description == ""
    assert created.options[0].value == "a"
    got = strict.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name)
    assert got.name == name
    updated = strict.crm.properties.core_api.update(
        object_type="contacts", property_name=name, property_update=PropertyUpdate(label="Stricter")
    )
    assert updated.label == "Stricter"


@pytest.mark.parametrize("name", ["email", "firstname", "createdate", "hs_object_id", "lifecyclestage", "hubspot_owner_id"])
def test_builtin_contact_properties_strict(strict, name):
    got = strict.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name)
    assert got.name == name
    assert got.hubspot_defined is True
    assert got.description is not None and got.options is not None


def test_property_groups_strict(strict, unique):
    groups = strict.crm.properties.groups_api.get_all(object_type="contacts").results
    assert "contactinformation" in {g.name for g in groups}
    name = unique("sg")
    created = strict.crm.properties.groups_api.create(
        object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="S")
    )
    assert created.name == name
    updated = strict.crm.properties.groups_api.update(
        object_type="contacts", group_name=name, property_group_update=PropertyGroupUpdate(label="T")
    )
    assert updated.label == "T"


def test_batch_property_responses_strict(strict, unique):
    good, missing = unique("sb"), unique("missing")
    resp = strict.crm.properties.batch_api.create(
        object_type="contacts",
        batch_input_property_create=BatchInputPropertyCreate(
            inputs=[PropertyCreate(name=good, label="x", type="string", field_type="text", group_name="contactinformation")]
        ),
    )
    assert resp.status == "COMPLETE" and [p.name for p in resp.results] == [good]
    # 207 with an error item: StandardError requires status, category, message, context, errors, links
    resp = strict.crm.properties.batch_api.read(
        object_type="contacts",
        batch_read_input_property_name=BatchReadInputPropertyName(archived=False, inputs=[PropertyName(name=good), PropertyName(name=missing)]),
    )
    assert resp.num_errors == 1
    assert resp.errors[0].category == "OBJECT_NOT_FOUND"
    assert resp.errors[0].links is not None and resp.errors[0].errors is not None


def test_properties_get_all_strict(strict):
    results = strict.crm.properties.core_api.get_all(object_type="deals").results
    assert {"dealname", "dealstage", "pipeline", "amount"} <= {p.name for p in results}
