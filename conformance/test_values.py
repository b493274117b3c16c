"""Property value validation and normalisation on contacts (the spec's seed example and its failure variants)."""
import json

import pytest

from hubspot.crm.contacts import ApiException, SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import OptionInput, PropertyCreate

from spoke_helpers import error_body, property_errors

SEED_PATCH = {
    "property_checkbox": "false",
    "property_date": "1572480000000",
    "property_dropdown": "choice_b",
    "property_multiple_checkboxes": "chocolate;strawberry",
    "property_number": "17",
    "property_radio": "option_1",
    "property_string": "value",
}
SEED = list(SEED_PATCH)
DATETIME_PROP = "conformance_datetime"


def _options(*pairs):
    return [OptionInput(label=label, value=value, display_order=i, hidden=False) for i, (label, value) in enumerate(pairs)]


def _seed_definitions():
    g = "contactinformation"
    return [
        PropertyCreate(name="property_checkbox", label="Checkbox", type="bool", field_type="booleancheckbox", group_name=g,
                       options=_options(("Yes", "true"), ("No", "false"))),
        PropertyCreate(name="property_date", label="Date", type="date", field_type="date", group_name=g),
        PropertyCreate(name="property_dropdown", label="Dropdown", type="enumeration", field_type="select", group_name=g,
                       options=_options(("Choice A", "choice_a"), ("Choice B", "choice_b"))),
        PropertyCreate(name="property_multiple_checkboxes", label="Multiple checkboxes", type="enumeration", field_type="checkbox", group_name=g,
                       options=_options(("Chocolate", "chocolate"), ("Strawberry", "strawberry"), ("Vanilla", "vanilla"))),
        PropertyCreate(name="property_number", label="Number", type="number", field_type="number", group_name=g),
        PropertyCreate(name="property_radio", label="Radio", type="enumeration", field_type="radio", group_name=g,
                       options=_options(("Option 1", "option_1"), ("Option 2", "option_2"))),
        PropertyCreate(name="property_string", label="String", type="string", field_type="text", group_name=g),
        PropertyCreate(name=DATETIME_PROP, label="Datetime", type="datetime", field_type="date", group_name=g),
    ]


@pytest.fixture(scope="session")
def seed_properties(client):
    """Create the seed definitions once per session (tolerating 409 from an earlier session/test)."""
    for definition in _seed_definitions():
        try:
            created = client.crm.properties.core_api.create(object_type="contacts", property_create=definition)
            assert created.name == definition.name
        except PropertiesApiException as e:
            assert e.status == 409, (definition.name, e.status, e.body)
    got = {p.name: p for p in client.crm.properties.core_api.get_all(object_type="contacts").results}
    for definition in _seed_definitions():
        assert got[definition.name].type == definition.type
        assert got[definition.name].field_type == definition.field_type
    return SEED


@pytest.fixture
def contact(client, seed_properties, unique_email):
    return client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email("v")})
    )


def patch(client, contact_id, props):
    return client.crm.contacts.basic_api.update(contact_id=contact_id, simple_public_object_input=SimplePublicObjectInput(properties=props))


def read(client, contact_id, names):
    return client.crm.contacts.basic_api.get_by_id(contact_id=contact_id, properties=names, properties_with_history=names)


def snapshot(client, contact_id, names):
    got = read(client, contact_id, names)
    history = {n: [(h.value, h.timestamp) for h in (got.properties_with_history or {}).get(n, [])] for n in names}
    return got.properties, history, got.updated_at


def expect_invalid(client, contact_id, props, expected_codes):
    """PATCH must fail with 400 and the given {name: code}; nothing may change on the record."""
    names = SEED + [DATETIME_PROP, "email", "hubspot_owner_id"]
    before = snapshot(client, contact_id, names)
    with pytest.raises(ApiException) as info:
        patch(client, contact_id, props)
    assert info.value.status == 400, (info.value.status, info.value.body)
    body = error_body(info.value)
    array, codes = property_errors(body)
    assert codes == expected_codes, body
    assert sorted(e["name"] for e in array) == sorted(expected_codes)
    assert {e["name"]: e["error"] for e in array} == expected_codes
    assert all(e["isValid"] is False for e in array)
    after = snapshot(client, contact_id, names)
    assert after == before, "a rejected PATCH changed the record"
    return body


# --- the seed round trip -------------------------------------------------------------------


def test_seed_patch_round_trip(client, contact):
    data, status, _ = client.crm.contacts.basic_api.update_with_http_info(
        contact_id=contact.id, simple_public_object_input=SimplePublicObjectInput(properties=dict(SEED_PATCH))
    )
    assert status == 200
    assert data.id == contact.id
    for name, value in SEED_PATCH.items():
        assert data.properties[name] == value, (name, data.properties.get(name))
    assert "lastmodifieddate" in data.properties

    got = client.crm.contacts.basic_api.get_by_id(contact_id=contact.id, properties=SEED)
    assert {n: got.properties[n] for n in SEED} == SEED_PATCH
    # with history: one API entry per property, carrying the same value
    hist = client.crm.contacts.basic_api.get_by_id(contact_id=contact.id, properties_with_history=SEED).properties_with_history
    for name, value in SEED_PATCH.items():
        assert hist[name][0].value == value
        assert hist[name][0].source_type == "API"


def test_seed_values_on_create(client, seed_properties, unique_email):
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": unique_email(), **SEED_PATCH})
    )
    for name, value in SEED_PATCH.items():
        assert created.properties[name] == value
    got = client.crm.contacts.basic_api.get_by_id(contact_id=created.id, properties=SEED)
    assert {n: got.properties[n] for n in SEED} == SEED_PATCH


def test_seed_properties_listed_with_definitions(client, seed_properties):
    dropdown = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name="property_dropdown")
    assert [o.value for o in dropdown.options] == ["choice_a", "choice_b"]
    checkbox = client.crm.properties.core_api.get_by_name(object_type="contacts", property_name="property_checkbox")
    assert (checkbox.type, checkbox.field_type) == ("bool", "booleancheckbox")


# --- invalid values: one code each, nothing stored -----------------------------------------


@pytest.fixture
def seeded(client, contact):
    patch(client, contact.id, dict(SEED_PATCH))
    return contact


@pytest.mark.parametrize(
    "props, codes",
    [
        ({"property_dropdown": "choice_c"}, {"property_dropdown": "INVALID_OPTION"}),
        ({"property_dropdown": "CHOICE_A"}, {"property_dropdown": "INVALID_OPTION"}),
        ({"property_dropdown": "Choice A"}, {"property_dropdown": "INVALID_OPTION"}),
        ({"property_radio": "option_3"}, {"property_radio": "INVALID_OPTION"}),
        ({"property_multiple_checkboxes": "chocolate;mint"}, {"property_multiple_checkboxes": "INVALID_OPTION"}),
        ({"property_multiple_checkboxes": ";mint"}, {"property_multiple_checkboxes": "INVALID_OPTION"}),
        ({"property_date": "1572480000001"}, {"property_date": "INVALID_DATE"}),
        ({"property_date": "2019-10-31T13:01:00Z"}, {"property_date": "INVALID_DATE"}),
        ({"property_date": "not a date"}, {"property_date": "INVALID_DATE"}),
        ({"property_date": "2019-10-31T00:00:00+02:00"}, {"property_date": "INVALID_DATE"}),
        ({"property_date": "2019-13-45"}, {"property_date": "INVALID_DATE"}),
        ({"property_number": "abc"}, {"property_number": "INVALID_NUMBER"}),
        ({"property_number": "1.2.3"}, {"property_number": "INVALID_NUMBER"}),
        ({"property_checkbox": "maybe"}, {"property_checkbox": "INVALID_BOOLEAN"}),
        ({DATETIME_PROP: "yesterday-ish"}, {DATETIME_PROP: "INVALID_LONG"}),
        ({"email": "example.lcom"}, {"email": "INVALID_EMAIL"}),
        ({"hubspot_owner_id": "abc"}, {"hubspot_owner_id": "INVALID_INTEGER"}),
        ({"hs_object_id": "1"}, {"hs_object_id": "READ_ONLY_VALUE"}),
        ({"createdate": "2020-01-01T00:00:00.000Z"}, {"createdate": "READ_ONLY_VALUE"}),
        ({"lastmodifieddate": "2020-01-01T00:00:00.000Z"}, {"lastmodifieddate": "READ_ONLY_VALUE"}),
        ({"property_nope": "x"}, {"property_nope": "PROPERTY_DOESNT_EXIST"}),
        ({"property_string": "x" * 65537}, {"property_string": "STRING_TOO_LONG"}),
    ],
    ids=lambda v: json.dumps(v)[:60] if isinstance(v, dict) else str(v),
)
def test_invalid_value_rejected_and_nothing_stored(client, seeded, props, codes):
    expect_invalid(client, seeded.id, props, codes)


def test_invalid_date_message(client, seeded):
    body = expect_invalid(client, seeded.id, {"property_date": "1572480000001"}, {"property_date": "INVALID_DATE"})
    assert body["errors"][0]["message"] == "1572480000001 is at 0:0:0.1 UTC, not midnight!"
    array = json.loads(body["message"][len("Property values were not valid: "):])
    assert array[0]["message"] == "1572480000001 is at 0:0:0.1 UTC, not midnight!"


def test_invalid_email_message(client, seeded):
    body = expect_invalid(client, seeded.id, {"email": "example.lcom"}, {"email": "INVALID_EMAIL"})
    assert body["errors"][0]["message"] == "Email address example.lcom is invalid"


def test_invalid_option_message(client, seeded):
    body = expect_invalid(client, seeded.id, {"property_dropdown": "choice_c"}, {"property_dropdown": "INVALID_OPTION"})
    assert body["errors"][0]["message"] == "choice_c was not one of the allowed options: [choice_a, choice_b]"


def test_invalid_owner_id_message(client, seeded):
    body = expect_invalid(client, seeded.id, {"hubspot_owner_id": "abc"}, {"hubspot_owner_id": "INVALID_INTEGER"})
    assert body["errors"][0]["message"] == "abc was not a valid integer (for owner ID)."


def test_invalid_long_message(client, seeded):
    body = expect_invalid(client, seeded.id, {DATETIME_PROP: "x"}, {DATETIME_PROP: "INVALID_LONG"})
    assert body["errors"][0]["message"] == "x was not a valid long."


def test_message_array_is_compact_json(client, seeded):
    body = expect_invalid(client, seeded.id, {"property_number": "abc"}, {"property_number": "INVALID_NUMBER"})
    assert body["message"].startswith('Property values were not valid: [{"isValid":false,'), body["message"]
    assert '", "' not in body["message"] and '": ' not in body["message"]


def test_all_bad_properties_reported_and_good_ones_not_stored(client, seeded):
    props = {
        "property_string": "changed",  # valid, must not be stored either
        "property_dropdown": "choice_c",
        "property_date": "1572480000001",
        "property_number": "abc",
        "property_checkbox": "maybe",
        "property_nope": "x",
        "hs_object_id": "5",
    }
    body = expect_invalid(
        client,
        seeded.id,
        props,
        {
            "property_dropdown": "INVALID_OPTION",
            "property_date": "INVALID_DATE",
            "property_number": "INVALID_NUMBER",
            "property_checkbox": "INVALID_BOOLEAN",
            "property_nope": "PROPERTY_DOESNT_EXIST",
            "hs_object_id": "READ_ONLY_VALUE",
        },
    )
    assert len(body["errors"]) == 6
    assert read(client, seeded.id, ["property_string"]).properties["property_string"] == "value"


def test_invalid_value_on_create_creates_nothing(client, seed_properties, unique_email):
    email = unique_email()
    with pytest.raises(ApiException) as info:
        client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": email, "property_number": "abc"})
        )
    assert info.value.status == 400
    _, codes = property_errors(error_body(info.value))
    assert codes == {"property_number": "INVALID_NUMBER"}
    with pytest.raises(ApiException) as info:
        client.crm.contacts.basic_api.get_by_id(contact_id=email, id_property="email")
    assert info.value.status == 404


def test_invalid_email_on_create(client, seed_properties):
    with pytest.raises(ApiException) as info:
        client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={"email": "example.lcom"})
        )
    assert info.value.status == 400
    _, codes = property_errors(error_body(info.value))
    assert codes == {"email": "INVALID_EMAIL"}


# --- accepted formats and normalisation -----------------------------------------------------


@pytest.mark.parametrize(
    "name, sent, stored",
    [
        ("property_date", "2019-10-31", "2019-10-31"),
        ("property_date", "1572480000000", "1572480000000"),
        ("property_date", "2019-10-31T00:00:00.000Z", "2019-10-31"),
        ("property_date", "2020-02-29T00:00:00Z", "2020-02-29"),
        ("property_date", "2019-10-31T00:00:00.000+00:00", "2019-10-31"),
        (DATETIME_PROP, "1572480000123", "2019-10-31T00:00:00.123Z"),
        (DATETIME_PROP, "2020-02-29T03:30:17.000Z", "2020-02-29T03:30:17.000Z"),
        (DATETIME_PROP, "2020-02-29T03:30:17Z", "2020-02-29T03:30:17.000Z"),
        (DATETIME_PROP, "2020-02-29T04:30:17.5+01:00", "2020-02-29T03:30:17.500Z"),
        ("property_checkbox", "true", "true"),
        ("property_checkbox", "TRUE", "true"),
        ("property_checkbox", "False", "false"),
        ("property_number", "17", "17"),
        ("property_number", "-3.25", "-3.25"),
        ("property_number", "0.5", "0.5"),
        ("property_string", "with ;semicolons; and ünïcödé", "with ;semicolons; and ünïcödé"),
        ("property_multiple_checkboxes", "vanilla", "vanilla"),
        ("property_multiple_checkboxes", "vanilla;chocolate", "vanilla;chocolate"),
        ("property_radio", "option_2", "option_2"),
    ],
)
def test_value_normalisation(client, contact, name, sent, stored):
    data = patch(client, contact.id, {name: sent})
    assert data.properties[name] == stored
    assert client.crm.contacts.basic_api.get_by_id(contact_id=contact.id, properties=[name]).properties[name] == stored


@pytest.mark.parametrize("name", SEED + [DATETIME_PROP])
def test_empty_string_clears_every_type(client, seeded, name):
    if name == DATETIME_PROP:
        patch(client, seeded.id, {DATETIME_PROP: "1572480000123"})
    data = patch(client, seeded.id, {name: ""})
    assert data.properties[name] == ""
    assert client.crm.contacts.basic_api.get_by_id(contact_id=seeded.id, properties=[name]).properties[name] == ""


def test_multi_checkbox_leading_semicolon_appends(client, contact):
    patch(client, contact.id, {"property_multiple_checkboxes": "chocolate"})
    data = patch(client, contact.id, {"property_multiple_checkboxes": ";strawberry"})
    assert data.properties["property_multiple_checkboxes"] == "chocolate;strawberry"
    data = patch(client, contact.id, {"property_multiple_checkboxes": ";chocolate;vanilla"})
    assert data.properties["property_multiple_checkboxes"] == "chocolate;strawberry;vanilla"
    got = client.crm.contacts.basic_api.get_by_id(contact_id=contact.id, properties=["property_multiple_checkboxes"])
    assert got.properties["property_multiple_checkboxes"] == "chocolate;strawberry;vanilla"


def test_multi_checkbox_append_to_empty(client, contact):
    data = patch(client, contact.id, {"property_multiple_checkboxes": ";vanilla"})
    assert data.properties["property_multiple_checkboxes"] == "vanilla"
    patch(client, contact.id, {"property_multiple_checkboxes": ""})
    data = patch(client, contact.id, {"property_multiple_checkboxes": ";strawberry"})
    assert data.properties["property_multiple_checkboxes"] == "strawberry"


def test_multi_checkbox_without_semicolon_replaces(client, contact):
    patch(client, contact.id, {"property_multiple_checkboxes": "chocolate;strawberry"})
    data = patch(client, contact.id, {"property_multiple_checkboxes": "vanilla"})
    assert data.properties["property_multiple_checkboxes"] == "vanilla"


def test_history_records_each_write(client, contact):
    for v in ("1", "2", "3"):
        patch(client, contact.id, {"property_number": v})
    hist = read(client, contact.id, ["property_number"]).properties_with_history["property_number"]
    assert [h.value for h in hist] == ["3", "2", "1"]


def test_string_at_max_length_accepted(client, contact):
    value = "y" * 65536
    data = patch(client, contact.id, {"property_string": value})
    assert data.properties["property_string"] == value
