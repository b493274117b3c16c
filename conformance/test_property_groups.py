"""Property groups through client.crm.properties.groups_api."""
import pytest

from hubspot.crm.properties import ApiException, PropertyCreate, PropertyGroupCreate, PropertyGroupUpdate

from spoke_helpers import error_body


def expect_error(call, status):
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    return error_body(info.value)


@pytest.mark.parametrize(
    "object_type, default_group",
    [("contacts", "contactinformation"), ("companies", "companyinformation"), ("deals", "dealinformation"), ("tickets", "ticketinformation")],
)
def test_get_all_includes_default_group(client, object_type, default_group):
    results = client.crm.properties.groups_api.get_all(object_type=object_type).results
    by_name = {g.name: g for g in results}
    assert default_group in by_name
    g = by_name[default_group]
    assert g.label
    assert isinstance(g.display_order, int)
    assert g.archived is False


def test_create_group_201_and_get(client, unique):
    name = unique("grp")
    created, status, _ = client.crm.properties.groups_api.create_with_http_info(
        object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="My group", display_order=7)
    )
    assert status == 201
    assert created.name == name
    assert created.label == "My group"
    assert created.display_order == 7
    assert created.archived is False
    got = client.crm.properties.groups_api.get_by_name(object_type="contacts", group_name=name)
    assert (got.name, got.label, got.display_order, got.archived) == (name, "My group", 7, False)
    assert name in {g.name for g in client.crm.properties.groups_api.get_all(object_type="contacts").results}
    # groups are per object type
    assert name not in {g.name for g in client.crm.properties.groups_api.get_all(object_type="companies").results}


def test_create_group_without_display_order(client, unique):
    name = unique("grp")
    created = client.crm.properties.groups_api.create(
        object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="No order")
    )
    assert created.name == name
    assert isinstance(created.display_order, int)


def test_create_duplicate_group_409(client, unique):
    name = unique("grp")
    client.crm.properties.groups_api.create(object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="x"))
    body = expect_error(
        lambda: client.crm.properties.groups_api.create(object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="y")),
        409,
    )
    assert body["category"] == "CONFLICT"
    assert client.crm.properties.groups_api.get_by_name(object_type="contacts", group_name=name).label == "x"


def test_create_group_with_builtin_name_409(client):
    body = expect_error(
        lambda: client.crm.properties.groups_api.create(
            object_type="contacts", property_group_create=PropertyGroupCreate(name="contactinformation", label="dup")
        ),
        409,
    )
    assert body["category"] == "CONFLICT"


def test_update_group(client, unique):
    name = unique("grp")
    client.crm.properties.groups_api.create(object_type="deals", property_group_create=PropertyGroupCreate(name=name, label="Old", display_order=1))
    updated = client.crm.properties.groups_api.update(
        object_type="deals", group_name=name, property_group_update=PropertyGroupUpdate(label="New", display_order=3)
    )
    assert (updated.name, updated.label, updated.display_order) == (name, "New", 3)
    got = client.crm.properties.groups_api.get_by_name(object_type="deals", group_name=name)
    assert (got.label, got.display_order) == ("New", 3)


def test_update_group_label_only_keeps_display_order(client, unique):
    name = unique("grp")
    client.crm.properties.groups_api.create(object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="Old", display_order=4))
    updated = client.crm.properties.groups_api.update(
        object_type="contacts", group_name=name, property_group_update=PropertyGroupUpdate(label="Only label")
    )
    assert (updated.label, updated.display_order) == ("Only label", 4)


def test_get_unknown_group_404(client, unique):
    body = expect_error(lambda: client.crm.properties.groups_api.get_by_name(object_type="contacts", group_name=unique("nogrp")), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_update_unknown_group_404(client, unique):
    body = expect_error(
        lambda: client.crm.properties.groups_api.update(
            object_type="contacts", group_name=unique("nogrp"), property_group_update=PropertyGroupUpdate(label="x")
        ),
        404,
    )
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_archive_group_204(client, unique):
    name = unique("grp")
    client.crm.properties.groups_api.create(object_type="contacts", property_group_create=PropertyGroupCreate(name=name, label="x"))
    data, status, _ = client.crm.properties.groups_api.archive_with_http_info(object_type="contacts", group_name=name)
    assert status == 204
    assert data is None
    expect_error(lambda: client.crm.properties.groups_api.get_by_name(object_type="contacts", group_name=name), 404)
    assert name not in {g.name for g in client.crm.properties.groups_api.get_all(object_type="contacts").results}


def test_archive_builtin_group_400(client):
    body = expect_error(lambda: client.crm.properties.groups_api.archive(object_type="contacts", group_name="contactinformation"), 400)
    assert body["category"] == "VALIDATION_ERROR"
    assert client.crm.properties.groups_api.get_by_name(object_type="contacts", group_name="contactinformation").archived is False


def test_property_in_custom_group(client, unique):
    group, prop = unique("grp"), unique("prop")
    client.crm.properties.groups_api.create(object_type="contacts", property_group_create=PropertyGroupCreate(name=group, label="G"))
    created = client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(name=prop, label="P", type="string", field_type="text", group_name=group),
    )
    assert created.group_name == group
    assert client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=prop).group_name == group


def test_unknown_object_type_400(client):
    body = expect_error(lambda: client.crm.properties.groups_api.get_all(object_type="foo"), 400)
    assert body["category"] == "VALIDATION_ERROR"
    assert "Unable to infer object type from: foo" in body["message"]


def test_create_group_missing_label_400(raw, unique):
    resp = raw.post("/crm/v3/properties/contacts/groups", json={"name": unique("grp")})
    assert resp.status_code == 400, resp.text
    assert resp.json()["category"] == "VALIDATION_ERROR"
