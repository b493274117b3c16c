"""Properties API v3 through client.crm.properties.core_api / batch_api."""
import json
from datetime import datetime

import pytest

from hubspot.crm.properties import (
    ApiException,
    BatchInputPropertyCreate,
    BatchInputPropertyName,
    BatchReadInputPropertyName,
    OptionInput,
    PropertyCreate,
    PropertyName,
    PropertyUpdate,
)

from spoke_helpers import error_body


def string_prop(name, label="A label", group="contactinformation", **kw):
    return PropertyCreate(name=name, label=label, type="string", field_type="text", group_name=group, **kw)


def enum_prop(name, values, field_type="select", group="contactinformation"):
    return PropertyCreate(
        name=name,
        label=f"Enum {name}",
        type="enumeration",
        field_type=field_type,
        group_name=group,
        options=[OptionInput(label=v.title(), value=v, display_order=i, hidden=False) for i, v in enumerate(values)],
    )


def expect_error(call, status):
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    return error_body(info.value)


# --- create / read -------------------------------------------------------------------------


def test_create_string_property_returns_201_definition(client, unique):
    name = unique("prop")
    created = client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=string_prop(name, label="My String", description="desc here"),
    )
    assert created is not None, "create did not answer 201 (SDK returns None for other 2xx codes)"
    assert created.name == name
    assert created.label == "My String"
    assert created.type == "string"
    assert created.field_type == "text"
    assert created.group_name == "contactinformation"
    assert created.description == "desc here"
    assert created.options == []
    assert created.archived is False
    assert not created.hubspot_defined
    assert isinstance(created.created_at, datetime)


def test_create_then_get_by_name(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    got = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name)
    assert got.name == name
    assert got.type == "string"
    assert got.field_type == "text"
    assert got.label == "A label"
    assert got.archived is False


def test_create_enumeration_keeps_options(client, unique):
    name = unique("enum")
    created = client.crm.properties.core_api.create(
        object_type="contacts", property_create=enum_prop(name, ["red", "green", "blue"], field_type="checkbox")
    )
    assert [o.value for o in created.options] == ["red", "green", "blue"]
    assert [o.label for o in created.options] == ["Red", "Green", "Blue"]
    assert all(o.hidden is False for o in created.options)
    got = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name)
    assert got.type == "enumeration" and got.field_type == "checkbox"
    assert [o.value for o in got.options] == ["red", "green", "blue"]


def test_create_on_other_object_types(client, unique):
    for object_type, group in [("companies", "companyinformation"), ("deals", "dealinformation"), ("tickets", "ticketinformation")]:
        name = unique("prop")
        created = client.crm.properties.core_api.create(
            object_type=object_type,
            property_create=PropertyCreate(name=name, label="Num", type="number", field_type="number", group_name=group),
        )
        assert created.name == name and created.type == "number" and created.group_name == group
        got = client.crm.properties.core_api.get_by_name(object_type=object_type, property_name=name)
        assert got.name == name


def test_property_names_are_per_object_type(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    body = expect_error(lambda: client.crm.properties.core_api.get_by_name(object_type="companies", property_name=name), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"
    # ...and the same name can be created on companies
    created = client.crm.properties.core_api.create(
        object_type="companies", property_create=string_prop(name, group="companyinformation")
    )
    assert created.name == name


def test_get_all_contains_builtins_and_custom(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    results = client.crm.properties.core_api.get_all(object_type="contacts").results
    by_name = {p.name: p for p in results}
    for builtin in ("email", "firstname", "lastname", "createdate", "lastmodifieddate", "hs_object_id"):
        assert builtin in by_name, builtin
        assert by_name[builtin].hubspot_defined is True, builtin
    assert name in by_name
    assert not by_name[name].hubspot_defined
    assert by_name["createdate"].type == "datetime"
    assert by_name["createdate"].modification_metadata.read_only_value is True
    assert by_name["email"].modification_metadata.read_only_value is False
    assert all(p.archived is False for p in results)


def test_get_all_by_object_type_id_and_singular(client):
    by_plural = {p.name for p in client.crm.properties.core_api.get_all(object_type="contacts").results}
    by_id = {p.name for p in client.crm.properties.core_api.get_all(object_type="0-1").results}
    by_singular = {p.name for p in client.crm.properties.core_api.get_all(object_type="contact").results}
    assert "email" in by_plural
    assert by_plural == by_id == by_singular
    companies = {p.name for p in client.crm.properties.core_api.get_all(object_type="companies").results}
    assert {"name", "domain"} <= companies
    assert companies != by_plural


def test_get_unknown_property_404(client, unique):
    body = expect_error(
        lambda: client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=unique("nope")), 404
    )
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_unknown_object_type_400(client):
    body = expect_error(lambda: client.crm.properties.core_api.get_all(object_type="foo"), 400)
    assert body["category"] == "VALIDATION_ERROR"
    assert "Unable to infer object type from: foo" in body["message"]


# --- create validation --------------------------------------------------------------------


def test_create_duplicate_name_409(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    body = expect_error(
        lambda: client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name)), 409
    )
    assert body["category"] == "CONFLICT"


def test_create_builtin_name_409(client):
    body = expect_error(
        lambda: client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop("email")), 409
    )
    assert body["category"] == "CONFLICT"


@pytest.mark.parametrize(
    "type_, field_type",
    [("string", "number"), ("number", "text"), ("bool", "select"), ("date", "text"), ("enumeration", "text"), ("nonsense", "text")],
)
def test_create_invalid_type_field_type_pair_400(client, unique, type_, field_type):
    name = unique("bad")
    prop = PropertyCreate(name=name, label="x", type=type_, field_type=field_type, group_name="contactinformation")
    if type_ == "enumeration":
        prop.options = [OptionInput(label="A", value="a", display_order=0, hidden=False)]
    body = expect_error(lambda: client.crm.properties.core_api.create(object_type="contacts", property_create=prop), 400)
    assert body["category"] == "VALIDATION_ERROR"
    expect_error(lambda: client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name), 404)


@pytest.mark.parametrize(
    "type_, field_type",
    [
        ("string", "text"),
        ("string", "textarea"),
        ("number", "number"),
        ("date", "date"),
        ("datetime", "date"),
        ("bool", "booleancheckbox"),
    ],
)
def test_create_valid_type_field_type_pairs(client, unique, type_, field_type):
    name = unique("ok")
    prop = PropertyCreate(name=name, label="x", type=type_, field_type=field_type, group_name="contactinformation")
    if type_ == "bool":
        prop.options = [
            OptionInput(label="Yes", value="true", display_order=0, hidden=False),
            OptionInput(label="No", value="false", display_order=1, hidden=False),
        ]
    created = client.crm.properties.core_api.create(object_type="contacts", property_create=prop)
    assert (created.type, created.field_type) == (type_, field_type)


def test_create_unknown_group_400(client, unique):
    name = unique("prop")
    body = expect_error(
        lambda: client.crm.properties.core_api.create(
            object_type="contacts", property_create=string_prop(name, group=unique("nogroup"))
        ),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    expect_error(lambda: client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name), 404)


def test_create_enumeration_without_options_400(client, unique):
    name = unique("enum")
    prop = PropertyCreate(name=name, label="x", type="enumeration", field_type="select", group_name="contactinformation", options=[])
    body = expect_error(lambda: client.crm.properties.core_api.create(object_type="contacts", property_create=prop), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_has_unique_value_only_on_string_or_number(client, unique, archive_later):
    ok = client.crm.properties.core_api.create(
        object_type="contacts", property_create=string_prop(archive_later(client, "contacts", unique("uniq")), has_unique_value=True)
    )
    assert ok.has_unique_value is True
    okn = client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(
            name=archive_later(client, "contacts", unique("uniqn")), label="x", type="number", field_type="number",
            group_name="contactinformation", has_unique_value=True,
        ),
    )
    assert okn.has_unique_value is True
    bad = PropertyCreate(name=unique("uniqd"), label="x", type="date", field_type="date", group_name="contactinformation", has_unique_value=True)
    body = expect_error(lambda: client.crm.properties.core_api.create(object_type="contacts", property_create=bad), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_at_most_ten_unique_properties_per_object_type(client2, unique, archive_later):
    # account 2, tickets: nothing else in the suite defines unique properties there
    live = [p for p in client2.crm.properties.core_api.get_all(object_type="tickets").results if p.has_unique_value]
    for _ in range(10 - len(live)):
        client2.crm.properties.core_api.create(
            object_type="tickets",
            property_create=string_prop(archive_later(client2, "tickets", unique("lim")), group="ticketinformation", has_unique_value=True),
        )
    body = expect_error(
        lambda: client2.crm.properties.core_api.create(
            object_type="tickets", property_create=string_prop(unique("lim"), group="ticketinformation", has_unique_value=True)
        ),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    # a non-unique property can still be created
    assert client2.crm.properties.core_api.create(
        object_type="tickets", property_create=string_prop(unique("nolim"), group="ticketinformation")
    ).has_unique_value is False


def test_create_missing_required_fields_400(raw, unique):
    # the SDK does not check required fields client-side; send an incomplete definition raw
    resp = raw.post("/crm/v3/properties/contacts", json={"name": unique("p"), "label": "x", "groupName": "contactinformation"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["category"] == "VALIDATION_ERROR"


# --- update -----------------------------------------------------------------------------


def test_update_custom_property(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name, label="Before"))
    updated = client.crm.properties.core_api.update(
        object_type="contacts",
        property_name=name,
        property_update=PropertyUpdate(label="After", description="new description"),
    )
    assert updated.name == name
    assert updated.label == "After"
    assert updated.description == "new description"
    assert updated.type == "string"
    got = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name)
    assert got.label == "After"
    assert got.description == "new description"


def test_update_type_rekeys_stored_values_for_search(client, unique):
    """A string property turned into a number compares the values already stored as numbers."""
    from hubspot.crm.contacts import PublicObjectSearchRequest, SimplePublicObjectInputForCreate

    name = unique("seats")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    for v in ("9", "10", "100"):
        client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={name: v})
        )

    def above_50():
        found = client.crm.contacts.search_api.do_search(
            public_object_search_request=PublicObjectSearchRequest(
                filter_groups=[{"filters": [{"propertyName": name, "operator": "GT", "value": "50"}]}],
                properties=[name],
            )
        )
        return sorted(r.properties[name] for r in found.results)

    assert above_50() == ["9"]
    updated = client.crm.properties.core_api.update(
        object_type="contacts", property_name=name, property_update=PropertyUpdate(type="number", field_type="number")
    )
    assert updated.type == "number"
    assert above_50() == ["100"]


def test_update_enumeration_options(client, unique):
    name = unique("enum")
    client.crm.properties.core_api.create(object_type="contacts", property_create=enum_prop(name, ["a", "b"]))
    updated = client.crm.properties.core_api.update(
        object_type="contacts",
        property_name=name,
        property_update=PropertyUpdate(
            options=[OptionInput(label=v, value=v, display_order=i, hidden=False) for i, v in enumerate(["a", "b", "c"])]
        ),
    )
    assert [o.value for o in updated.options] == ["a", "b", "c"]


def test_update_unknown_property_404(client, unique):
    body = expect_error(
        lambda: client.crm.properties.core_api.update(
            object_type="contacts", property_name=unique("nope"), property_update=PropertyUpdate(label="x")
        ),
        404,
    )
    assert body["category"] == "OBJECT_NOT_FOUND"


def test_update_read_only_definition_builtin_400(client):
    before = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name="createdate")
    assert before.modification_metadata.read_only_definition is True
    body = expect_error(
        lambda: client.crm.properties.core_api.update(
            object_type="contacts", property_name="createdate", property_update=PropertyUpdate(label="Hacked")
        ),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    after = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name="createdate")
    assert after.label == before.label


# --- archive -----------------------------------------------------------------------------


def test_archive_custom_property(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    info = client.crm.properties.core_api.archive_with_http_info(object_type="contacts", property_name=name)
    assert info[1] == 204
    assert info[0] is None
    body = expect_error(lambda: client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name), 404)
    assert body["category"] == "OBJECT_NOT_FOUND"
    archived = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name, archived=True)
    assert archived.name == name
    assert archived.archived is True

    live = {p.name for p in client.crm.properties.core_api.get_all(object_type="contacts").results}
    assert name not in live
    archived_list = client.crm.properties.core_api.get_all(object_type="contacts", archived=True).results
    assert name in {p.name for p in archived_list}
    assert all(p.archived is True for p in archived_list)
    assert "email" not in {p.name for p in archived_list}


def test_archive_builtin_property_400(client):
    body = expect_error(lambda: client.crm.properties.core_api.archive(object_type="contacts", property_name="firstname"), 400)
    assert body["category"] == "VALIDATION_ERROR"
    got = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name="firstname")
    assert got.archived is False


def test_archived_property_cannot_be_written_on_records(client, unique, unique_email):
    from hubspot.crm.contacts import ApiException as ContactsApiException, SimplePublicObjectInputForCreate

    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    client.crm.properties.core_api.archive(object_type="contacts", property_name=name)
    with pytest.raises(ContactsApiException) as info:
        client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email(), name: "x"})
        )
    assert info.value.status == 400
    body = json.loads(info.value.body)
    assert body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"


# --- batch -------------------------------------------------------------------------------


def test_batch_read_all_found_200(client, unique):
    a, b = unique("pa"), unique("pb")
    for n in (a, b):
        client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(n))
    resp, status, _ = client.crm.properties.batch_api.read_with_http_info(
        object_type="contacts",
        batch_read_input_property_name=BatchReadInputPropertyName(archived=False, inputs=[PropertyName(name=a), PropertyName(name=b), PropertyName(name="email")]),
    )
    assert status == 200
    assert resp.status == "COMPLETE"
    assert sorted(p.name for p in resp.results) == sorted([a, b, "email"])
    assert isinstance(resp.started_at, datetime) and isinstance(resp.completed_at, datetime)


def test_batch_read_missing_name_207(client, unique):
    a, missing = unique("pa"), unique("missing")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(a))
    resp, status, _ = client.crm.properties.batch_api.read_with_http_info(
        object_type="contacts",
        batch_read_input_property_name=BatchReadInputPropertyName(archived=False, inputs=[PropertyName(name=a), PropertyName(name=missing)]),
    )
    assert status == 207
    assert [p.name for p in resp.results] == [a]
    assert resp.num_errors == 1
    assert resp.errors[0].category == "OBJECT_NOT_FOUND"
    assert resp.errors[0].status == "error"
    assert missing in json.dumps(resp.errors[0].context)


def test_batch_create_201(client, unique):
    a, b = unique("ba"), unique("bb")
    resp, status, _ = client.crm.properties.batch_api.create_with_http_info(
        object_type="contacts",
        batch_input_property_create=BatchInputPropertyCreate(inputs=[string_prop(a), enum_prop(b, ["x", "y"])]),
    )
    assert status == 201
    assert resp.status == "COMPLETE"
    assert sorted(p.name for p in resp.results) == sorted([a, b])
    assert client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=a).name == a
    assert [o.value for o in client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=b).options] == ["x", "y"]


def test_batch_create_partial_207(client, unique):
    good, bad = unique("good"), unique("bad")
    resp, status, _ = client.crm.properties.batch_api.create_with_http_info(
        object_type="contacts",
        batch_input_property_create=BatchInputPropertyCreate(
            inputs=[
                string_prop(good),
                PropertyCreate(name=bad, label="x", type="string", field_type="number", group_name="contactinformation"),
            ]
        ),
    )
    assert status == 207
    assert [p.name for p in resp.results] == [good]
    assert resp.num_errors == 1
    assert resp.errors[0].status == "error"
    assert client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=good).name == good
    expect_error(lambda: client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=bad), 404)


def test_batch_archive_204(client, unique):
    a, b = unique("aa"), unique("ab")
    for n in (a, b):
        client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(n))
    _, status, _ = client.crm.properties.batch_api.archive_with_http_info(
        object_type="contacts",
        batch_input_property_name=BatchInputPropertyName(inputs=[PropertyName(name=a), PropertyName(name=b), PropertyName(name=unique("never"))]),
    )
    assert status == 204
    for n in (a, b):
        expect_error(lambda: client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=n), 404)
        assert client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=n, archived=True).archived is True


# --- more definition rules ------------------------------------------------------------------


@pytest.mark.parametrize("bad_name", ["Has Space", "1starts_with_digit", "dash-name", ""])
def test_create_invalid_name_400(client, bad_name):
    body = expect_error(
        lambda: client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(bad_name)), 400
    )
    assert body["category"] == "VALIDATION_ERROR"


def test_custom_property_modification_metadata(client, unique):
    created = client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(unique("meta")))
    md = created.modification_metadata
    assert md is not None
    assert md.archivable is True
    assert md.read_only_definition is False
    assert md.read_only_value is False


def test_options_default_hidden_false(client, unique):
    name = unique("opt")
    created = client.crm.properties.core_api.create(
        object_type="contacts",
        property_create=PropertyCreate(
            name=name, label="x", type="enumeration", field_type="radio", group_name="contactinformation",
            options=[OptionInput(label="One", value="one"), OptionInput(label="Two", value="two")],
        ),
    )
    assert [(o.value, o.label, o.hidden) for o in created.options] == [("one", "One", False), ("two", "Two", False)]
    assert all(isinstance(o.display_order, int) for o in created.options)


def test_update_to_incompatible_field_type_400(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    body = expect_error(
        lambda: client.crm.properties.core_api.update(
            object_type="contacts", property_name=name, property_update=PropertyUpdate(field_type="number")
        ),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert client.crm.properties.core_api.get_by_name(object_type="contacts", property_name=name).field_type == "text"


def test_update_compatible_field_type(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    updated = client.crm.properties.core_api.update(
        object_type="contacts", property_name=name, property_update=PropertyUpdate(field_type="textarea")
    )
    assert (updated.type, updated.field_type) == ("string", "textarea")


def test_update_advances_updated_at(client, unique):
    import time

    name = unique("prop")
    created = client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    time.sleep(0.01)
    updated = client.crm.properties.core_api.update(
        object_type="contacts", property_name=name, property_update=PropertyUpdate(label="Changed")
    )
    assert updated.created_at == created.created_at
    assert updated.updated_at > created.updated_at


def test_update_group_must_exist(client, unique):
    name = unique("prop")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    body = expect_error(
        lambda: client.crm.properties.core_api.update(
            object_type="contacts", property_name=name, property_update=PropertyUpdate(group_name=unique("nogroup"))
        ),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"


def test_batch_read_archived(client, unique):
    name = unique("ar")
    client.crm.properties.core_api.create(object_type="contacts", property_create=string_prop(name))
    client.crm.properties.core_api.archive(object_type="contacts", property_name=name)
    resp, status, _ = client.crm.properties.batch_api.read_with_http_info(
        object_type="contacts",
        batch_read_input_property_name=BatchReadInputPropertyName(archived=True, inputs=[PropertyName(name=name)]),
    )
    assert status == 200
    assert [(p.name, p.archived) for p in resp.results] == [(name, True)]
