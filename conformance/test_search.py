"""CRM search (POST /crm/v3/objects/{objectType}/search) through the SDKs' search_api classes.

Every test narrows its searches to its own records with the session's marker property
(conftest.marker_property) set to a unique value, because all tests share one account.
"""
from datetime import datetime, timezone

import pytest

from hubspot.crm.contacts import ApiException
from hubspot.crm.contacts import Filter, FilterGroup, PublicObjectSearchRequest
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import Filter as OFilter
from hubspot.crm.objects import FilterGroup as OFilterGroup
from hubspot.crm.objects import PublicObjectSearchRequest as OSearchRequest
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate
from hubspot.crm.properties import OptionInput, PropertyCreate

from spoke_helpers import error_body

CONTACT_SYSTEM = {"createdate", "lastmodifieddate", "hs_object_id"}
STANDARD_SYSTEM = {"createdate", "hs_lastmodifieddate", "hs_object_id"}


def ms(day, time="00:00:00"):
    """epoch milliseconds (as a string) of a UTC day/time."""
    dt = datetime.strptime(f"{day}T{time}", "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return str(int(dt.timestamp() * 1000))


def expect_error(call, status, exc_type=ApiException):
    with pytest.raises(exc_type) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    return error_body(info.value)


def flt(prop, op, value=None, high_value=None, values=None):
    return Filter(property_name=prop, operator=op, value=value, high_value=high_value, values=values)


def contacts_search(client, groups=None, **kw):
    req = PublicObjectSearchRequest(filter_groups=groups, **kw)
    return client.crm.contacts.search_api.do_search(public_object_search_request=req)


# --- the typed data set ---------------------------------------------------------------------
#
# Six contacts R0..R5 with a value (or none: None; cleared: "") for one property of every type.
# Each table row below names the record indices that must match exactly.

VALUES = {
    "s": ["Alice", "bob", "carol-Ann jones", "", None, "joe.bloggs@example.com"],
    "n": ["17", "9", "10", "-2.5", None, "100.25"],
    "d": ["2020-01-01", "2020-01-02", "2021-06-15", None, "2019-12-31", ""],
    "dt": ["2020-01-01T00:00:00.000Z", "2020-01-01T12:30:00.000Z", ms("2021-01-01"), None, "2019-06-01T08:00:00+02:00", ""],
    "e": ["red", "green", "Yellow", None, "red", "blue"],
    "m": ["chocolate;strawberry", "vanilla", "strawberry;mint", None, "chocolate", ""],
    "b": ["true", "false", "true", None, "false", ""],
}
TYPE_OF = {"s": "string", "n": "number", "d": "date", "dt": "datetime", "e": "enumeration select", "m": "enumeration checkbox", "b": "bool"}
ALL = {0, 1, 2, 3, 4, 5}

T0 = ms("2020-01-01")
T1 = ms("2020-01-01", "12:30:00")
T2 = ms("2021-01-01")

# (key, operator, filter arguments, expected record indices)
CASES = [
    # string: case-insensitive EQ/NEQ, IN/NOT_IN compare the lower-cased value with the raw value
    ("s", "EQ", {"value": "alice"}, {0}),
    ("s", "EQ", {"value": "ALICE"}, {0}),
    ("s", "EQ", {"value": "carol-ann JONES"}, {2}),
    ("s", "EQ", {"value": "ali"}, set()),
    ("s", "NEQ", {"value": "alice"}, {1, 2, 3, 4, 5}),
    ("s", "LT", {"value": "b"}, {0}),
    ("s", "LTE", {"value": "bob"}, {0, 1}),
    ("s", "GT", {"value": "c"}, {2, 5}),
    ("s", "GTE", {"value": "joe.bloggs@example.com"}, {5}),
    ("s", "BETWEEN", {"value": "b", "high_value": "d"}, {1, 2}),
    ("s", "BETWEEN", {"value": "bob", "high_value": "carol-ann jones"}, {1, 2}),
    ("s", "IN", {"values": ["alice", "bob"]}, {0, 1}),
    ("s", "IN", {"values": ["Alice"]}, set()),
    ("s", "NOT_IN", {"values": ["alice", "bob"]}, {2, 3, 4, 5}),
    ("s", "NOT_IN", {"values": ["Alice"]}, ALL),
    ("s", "HAS_PROPERTY", {}, {0, 1, 2, 5}),
    ("s", "NOT_HAS_PROPERTY", {}, {3, 4}),
    ("s", "CONTAINS_TOKEN", {"value": "ann"}, {2}),
    ("s", "CONTAINS_TOKEN", {"value": "JONES"}, {2}),
    ("s", "CONTAINS_TOKEN", {"value": "ali"}, set()),
    ("s", "CONTAINS_TOKEN", {"value": "ali*"}, {0}),
    ("s", "CONTAINS_TOKEN", {"value": "jo*"}, {2, 5}),
    ("s", "CONTAINS_TOKEN", {"value": "*@example.com"}, {5}),
    ("s", "CONTAINS_TOKEN", {"value": "bloggs"}, {5}),
    ("s", "NOT_CONTAINS_TOKEN", {"value": "ann"}, {0, 1, 3, 4, 5}),
    ("s", "NOT_CONTAINS_TOKEN", {"value": "jo*"}, {0, 1, 3, 4}),
    # number: numeric comparison
    ("n", "EQ", {"value": "17.0"}, {0}),
    ("n", "EQ", {"value": "17"}, {0}),
    ("n", "EQ", {"value": "100.250"}, {5}),
    ("n", "NEQ", {"value": "17.0"}, {1, 2, 3, 4, 5}),
    ("n", "LT", {"value": "10"}, {1, 3}),
    ("n", "LTE", {"value": "10"}, {1, 2, 3}),
    ("n", "GT", {"value": "10"}, {0, 5}),
    ("n", "GTE", {"value": "17"}, {0, 5}),
    ("n", "BETWEEN", {"value": "9", "high_value": "17"}, {0, 1, 2}),
    ("n", "BETWEEN", {"value": "-3", "high_value": "0"}, {3}),
    ("n", "IN", {"values": ["9", "100.25"]}, {1, 5}),
    ("n", "IN", {"values": ["10.0"]}, {2}),
    ("n", "NOT_IN", {"values": ["9", "10"]}, {0, 3, 4, 5}),
    ("n", "HAS_PROPERTY", {}, {0, 1, 2, 3, 5}),
    ("n", "NOT_HAS_PROPERTY", {}, {4}),
    ("n", "CONTAINS_TOKEN", {"value": "17"}, {0}),
    ("n", "CONTAINS_TOKEN", {"value": "1*"}, {0, 2, 5}),
    ("n", "NOT_CONTAINS_TOKEN", {"value": "17"}, {1, 2, 3, 4, 5}),
    # date: instants, values in epoch ms (UTC midnight) or ISO
    ("d", "EQ", {"value": ms("2020-01-01")}, {0}),
    ("d", "EQ", {"value": "2020-01-02"}, {1}),
    ("d", "NEQ", {"value": ms("2020-01-01")}, {1, 2, 3, 4, 5}),
    ("d", "LT", {"value": ms("2020-01-01")}, {4}),
    ("d", "LTE", {"value": ms("2020-01-01")}, {0, 4}),
    ("d", "GT", {"value": ms("2020-01-02")}, {2}),
    ("d", "GT", {"value": ms("2020-01-01", "12:00:00")}, {1, 2}),
    ("d", "GTE", {"value": ms("2020-01-02")}, {1, 2}),
    ("d", "BETWEEN", {"value": ms("2020-01-01"), "high_value": ms("2020-01-02")}, {0, 1}),
    ("d", "IN", {"values": [ms("2020-01-01"), ms("2021-06-15")]}, {0, 2}),
    ("d", "NOT_IN", {"values": [ms("2020-01-01"), ms("2021-06-15")]}, {1, 3, 4, 5}),
    ("d", "HAS_PROPERTY", {}, {0, 1, 2, 4}),
    ("d", "NOT_HAS_PROPERTY", {}, {3, 5}),
    ("d", "CONTAINS_TOKEN", {"value": "2021"}, {2}),
    ("d", "NOT_CONTAINS_TOKEN", {"value": "2021"}, {0, 1, 3, 4, 5}),
    # datetime
    ("dt", "EQ", {"value": T0}, {0}),
    ("dt", "EQ", {"value": "2020-01-01T12:30:00.000Z"}, {1}),
    ("dt", "EQ", {"value": "2020-01-01T13:30:00+01:00"}, {1}),
    ("dt", "NEQ", {"value": T0}, {1, 2, 3, 4, 5}),
    ("dt", "LT", {"value": T0}, {4}),
    ("dt", "LTE", {"value": T0}, {0, 4}),
    ("dt", "GT", {"value": T0}, {1, 2}),
    ("dt", "GTE", {"value": T1}, {1, 2}),
    ("dt", "BETWEEN", {"value": T0, "high_value": T1}, {0, 1}),
    ("dt", "BETWEEN", {"value": str(int(T0) + 1), "high_value": str(int(T1) - 1)}, set()),
    ("dt", "IN", {"values": [T0, T2]}, {0, 2}),
    ("dt", "NOT_IN", {"values": [T0, T2]}, {1, 3, 4, 5}),
    ("dt", "HAS_PROPERTY", {}, {0, 1, 2, 4}),
    ("dt", "NOT_HAS_PROPERTY", {}, {3, 5}),
    ("dt", "CONTAINS_TOKEN", {"value": "2021*"}, {2}),
    ("dt", "NOT_CONTAINS_TOKEN", {"value": "2021*"}, {0, 1, 3, 4, 5}),
    # enumeration (select): case-sensitive everywhere
    ("e", "EQ", {"value": "red"}, {0, 4}),
    ("e", "EQ", {"value": "RED"}, set()),
    ("e", "EQ", {"value": "Yellow"}, {2}),
    ("e", "EQ", {"value": "yellow"}, set()),
    ("e", "NEQ", {"value": "red"}, {1, 2, 3, 5}),
    ("e", "NEQ", {"value": "RED"}, ALL),
    ("e", "LT", {"value": "green"}, {2, 5}),
    ("e", "LTE", {"value": "green"}, {1, 2, 5}),
    ("e", "GT", {"value": "green"}, {0, 4}),
    ("e", "GTE", {"value": "red"}, {0, 4}),
    ("e", "BETWEEN", {"value": "blue", "high_value": "green"}, {1, 5}),
    ("e", "IN", {"values": ["red", "Yellow"]}, {0, 2, 4}),
    ("e", "IN", {"values": ["yellow"]}, set()),
    ("e", "NOT_IN", {"values": ["red", "blue"]}, {1, 2, 3}),
    ("e", "HAS_PROPERTY", {}, {0, 1, 2, 4, 5}),
    ("e", "NOT_HAS_PROPERTY", {}, {3}),
    ("e", "CONTAINS_TOKEN", {"value": "red"}, {0, 4}),
    ("e", "NOT_CONTAINS_TOKEN", {"value": "red"}, {1, 2, 3, 5}),
    # enumeration (checkbox, multi-select): a record matches when any selected option does
    ("m", "EQ", {"value": "strawberry"}, {0, 2}),
    ("m", "EQ", {"value": "vanilla"}, {1}),
    ("m", "EQ", {"value": "Vanilla"}, set()),
    ("m", "NEQ", {"value": "strawberry"}, {1, 3, 4, 5}),
    ("m", "LT", {"value": "d"}, {0, 4}),
    ("m", "LTE", {"value": "mint"}, {0, 2, 4}),
    ("m", "GT", {"value": "strawberry"}, {1}),
    ("m", "GTE", {"value": "strawberry"}, {0, 1, 2}),
    ("m", "BETWEEN", {"value": "d", "high_value": "n"}, {2}),
    ("m", "IN", {"values": ["vanilla", "mint"]}, {1, 2}),
    ("m", "IN", {"values": ["Vanilla"]}, set()),
    ("m", "NOT_IN", {"values": ["chocolate"]}, {1, 2, 3, 5}),
    ("m", "HAS_PROPERTY", {}, {0, 1, 2, 4}),
    ("m", "NOT_HAS_PROPERTY", {}, {3, 5}),
    ("m", "CONTAINS_TOKEN", {"value": "straw*"}, {0, 2}),
    ("m", "CONTAINS_TOKEN", {"value": "mint"}, {2}),
    ("m", "NOT_CONTAINS_TOKEN", {"value": "chocolate"}, {1, 2, 3, 5}),
    # bool
    ("b", "EQ", {"value": "true"}, {0, 2}),
    ("b", "EQ", {"value": "false"}, {1, 4}),
    ("b", "NEQ", {"value": "true"}, {1, 3, 4, 5}),
    ("b", "LT", {"value": "true"}, {1, 4}),
    ("b", "LTE", {"value": "true"}, {0, 1, 2, 4}),
    ("b", "GT", {"value": "false"}, {0, 2}),
    ("b", "GTE", {"value": "false"}, {0, 1, 2, 4}),
    ("b", "BETWEEN", {"value": "false", "high_value": "true"}, {0, 1, 2, 4}),
    ("b", "IN", {"values": ["true"]}, {0, 2}),
    ("b", "NOT_IN", {"values": ["true"]}, {1, 3, 4, 5}),
    ("b", "HAS_PROPERTY", {}, {0, 1, 2, 4}),
    ("b", "NOT_HAS_PROPERTY", {}, {3, 5}),
    ("b", "CONTAINS_TOKEN", {"value": "true"}, {0, 2}),
    ("b", "NOT_CONTAINS_TOKEN", {"value": "true"}, {1, 3, 4, 5}),
]

OPERATORS = ["EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"]


def _case_id(case):
    key, op, args, _ = case
    arg = args.get("values", [args.get("value"), args.get("high_value")] if "high_value" in args else args.get("value"))
    return f"{TYPE_OF[key].replace(' ', '-')}-{op}-{arg}" if args else f"{TYPE_OF[key].replace(' ', '-')}-{op}"


def _options(*values):
    return [OptionInput(label=v.title(), value=v, display_order=i, hidden=False) for i, v in enumerate(values)]


@pytest.fixture(scope="module")
def typed(client, unique, marker_property):
    """Creates one property of every type (unique names) and the six records R0..R5."""
    marker = marker_property("contacts")
    g = "contactinformation"
    names = {k: unique(f"sx_{k}") for k in VALUES}
    definitions = {
        "s": PropertyCreate(name=names["s"], label="S", type="string", field_type="text", group_name=g),
        "n": PropertyCreate(name=names["n"], label="N", type="number", field_type="number", group_name=g),
        "d": PropertyCreate(name=names["d"], label="D", type="date", field_type="date", group_name=g),
        "dt": PropertyCreate(name=names["dt"], label="DT", type="datetime", field_type="date", group_name=g),
        "e": PropertyCreate(name=names["e"], label="E", type="enumeration", field_type="select", group_name=g,
                            options=_options("red", "green", "blue", "Yellow")),
        "m": PropertyCreate(name=names["m"], label="M", type="enumeration", field_type="checkbox", group_name=g,
                            options=_options("chocolate", "strawberry", "vanilla", "mint")),
        "b": PropertyCreate(name=names["b"], label="B", type="bool", field_type="booleancheckbox", group_name=g,
                            options=[OptionInput(label="Yes", value="true", display_order=0, hidden=False),
                                     OptionInput(label="No", value="false", display_order=1, hidden=False)]),
    }
    for d in definitions.values():
        client.crm.properties.core_api.create(object_type="contacts", property_create=d)
    tag = unique("mark")
    ids = []
    for i in range(6):
        props = {marker: tag}
        for k, values in VALUES.items():
            if values[i] is not None:
                props[names[k]] = values[i]
        created = client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties=props)
        )
        ids.append(created.id)
    return {"names": names, "marker": marker, "tag": tag, "ids": ids}


def marked(typed, *filters):
    return FilterGroup(filters=[flt(typed["marker"], "EQ", typed["tag"]), *filters])


def matching(client, typed, groups, **kw):
    """Indices (into typed['ids']) of the records a search returns; also checks total."""
    res = contacts_search(client, groups, limit=100, **kw)
    index = {id_: i for i, id_ in enumerate(typed["ids"])}
    got = [r.id for r in res.results]
    assert all(r in index for r in got), f"foreign record(s) in results: {got}"
    assert len(got) == len(set(got)), f"duplicate results: {got}"
    assert res.total == len(got), (res.total, got)
    return {index[r] for r in got}


def test_table_covers_every_operator_on_every_type():
    covered = {(k, op) for k, op, _, _ in CASES}
    missing = [(TYPE_OF[k], op) for k in VALUES for op in OPERATORS if (k, op) not in covered]
    assert not missing, missing


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_operator(client, typed, case):
    key, op, args, expected = case
    f = flt(typed["names"][key], op, **args)
    got = matching(client, typed, [marked(typed, f)])
    assert got == expected, f"{TYPE_OF[key]} {op} {args}: expected R{sorted(expected)}, got R{sorted(got)}"


def test_marker_alone_matches_the_six(client, typed):
    assert matching(client, typed, [marked(typed)]) == ALL


# --- filter groups ---------------------------------------------------------------------------


def test_filter_groups_or_filters_and(client, typed):
    n = typed["names"]
    groups = [marked(typed, flt(n["s"], "EQ", "alice")), marked(typed, flt(n["n"], "GT", "50"))]
    assert matching(client, typed, groups) == {0, 5}
    one = [marked(typed, flt(n["e"], "EQ", "red"), flt(n["b"], "EQ", "false"))]
    assert matching(client, typed, one) == {4}
    none = [marked(typed, flt(n["e"], "EQ", "red"), flt(n["b"], "EQ", "true"), flt(n["n"], "LT", "0"))]
    assert matching(client, typed, none) == set()


def test_numbers_as_json_numbers_in_filter_values(raw, typed):
    n = typed["names"]
    body = {
        "filterGroups": [{"filters": [
            {"propertyName": typed["marker"], "operator": "EQ", "value": typed["tag"]},
            {"propertyName": n["n"], "operator": "BETWEEN", "value": 9, "highValue": 17.0},
        ]}],
        "limit": 50,
    }
    r = raw.post("/crm/v3/objects/contacts/search", json=body)
    assert r.status_code == 200, r.text
    ids = {x["id"] for x in r.json()["results"]}
    assert ids == {typed["ids"][i] for i in (0, 1, 2)}
    body["filterGroups"][0]["filters"][1] = {"propertyName": n["n"], "operator": "IN", "values": [9, 10]}
    r = raw.post("/crm/v3/objects/contacts/search", json=body)
    assert r.status_code == 200, r.text
    assert {x["id"] for x in r.json()["results"]} == {typed["ids"][1], typed["ids"][2]}


def test_hs_object_id_eq_and_in(client, typed):
    ids = typed["ids"]
    assert matching(client, typed, [FilterGroup(filters=[flt("hs_object_id", "EQ", ids[1])])]) == {1}
    assert matching(client, typed, [FilterGroup(filters=[flt("hs_object_id", "IN", values=[ids[0], ids[2]])])]) == {0, 2}


def test_createdate_filter_in_epoch_ms(client, typed):
    first = client.crm.contacts.basic_api.get_by_id(contact_id=typed["ids"][0])
    created_ms = str(int(first.created_at.timestamp() * 1000))
    assert matching(client, typed, [marked(typed, flt("createdate", "LT", created_ms))]) == set()
    assert matching(client, typed, [marked(typed, flt("createdate", "GTE", created_ms))]) == ALL
    assert 0 in matching(client, typed, [marked(typed, flt("createdate", "EQ", created_ms))])


# --- sorting ---------------------------------------------------------------------------------


def ordered(client, typed, sorts, groups=None):
    res = contacts_search(client, groups or [marked(typed)], limit=100, sorts=sorts)
    index = {id_: i for i, id_ in enumerate(typed["ids"])}
    return [index[r.id] for r in res.results]


def test_default_order_is_creation_order(client, typed):
    assert ordered(client, typed, None) == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("form", ["object", "string"])
def test_sort_number_ascending_and_descending_unset_last(client, typed, form):
    n = typed["names"]["n"]
    if form == "object":
        asc = [{"propertyName": n, "direction": "ASCENDING"}]
        desc = [{"propertyName": n, "direction": "DESCENDING"}]
    else:
        asc, desc = [n], [f"-{n}"]
    assert ordered(client, typed, asc) == [3, 1, 2, 0, 5, 4]  # -2.5, 9, 10, 17, 100.25, unset
    assert ordered(client, typed, desc) == [5, 0, 2, 1, 3, 4]


def test_sort_object_without_direction_is_ascending(client, typed):
    n = typed["names"]["n"]
    assert ordered(client, typed, [{"propertyName": n}]) == [3, 1, 2, 0, 5, 4]


def test_sort_datetime_unset_and_empty_last_both_directions(client, typed):
    dt = typed["names"]["dt"]
    asc = ordered(client, typed, [dt])
    desc = ordered(client, typed, [f"-{dt}"])
    assert asc[:4] == [4, 0, 1, 2] and set(asc[4:]) == {3, 5}, asc
    assert desc[:4] == [2, 1, 0, 4] and set(desc[4:]) == {3, 5}, desc


def test_sort_by_hs_object_id_descending(client, typed):
    got = ordered(client, typed, ["-hs_object_id"])
    expect = sorted(range(6), key=lambda i: int(typed["ids"][i]), reverse=True)
    assert got == expect


def test_sorted_pages_of_many_matches_follow_writes(client, unique, marker_property):
    """A filtered search sorted by a number over more matches than a page (served from in-memory
    sort keys on the SQLite store) reorders on the very next search after updates, cleared
    values and new records."""
    marker = marker_property("contacts")
    n = unique("sx_follow")
    client.crm.properties.core_api.create(object_type="contacts", property_create=PropertyCreate(
        name=n, label="Follow", type="number", field_type="number", group_name="contactinformation"))
    tag = unique("follow")
    ids = [client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(
            properties={marker: tag, n: str(10 * (i + 1))})).id for i in range(20)]
    group = [FilterGroup(filters=[flt(marker, "EQ", tag)])]

    def top(limit=3):
        res = contacts_search(client, group, limit=limit, sorts=[f"-{n}"])
        assert res.total == 20
        return [r.id for r in res.results]

    assert top() == [ids[19], ids[18], ids[17]]
    update = client.crm.contacts.basic_api.update
    update(contact_id=ids[0], simple_public_object_input=SimplePublicObjectInput(properties={n: "999"}))
    update(contact_id=ids[19], simple_public_object_input=SimplePublicObjectInput(properties={n: ""}))
    assert top() == [ids[0], ids[18], ids[17]]
    assert top(20)[-1] == ids[19]
    client.crm.contacts.basic_api.archive(contact_id=ids[0])
    fresh = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={marker: tag, n: "500"}))
    assert top() == [fresh.id, ids[18], ids[17]]


# --- response shape, paging and limits ---------------------------------------------------------


def test_requested_properties_plus_system_unset_null(client, typed):
    n = typed["names"]
    res = contacts_search(client, [marked(typed)], properties=[n["s"], n["n"], "firstname"], limit=100)
    assert res.total == 6
    by_id = {r.id: r for r in res.results}
    for i, id_ in enumerate(typed["ids"]):
        r = by_id[id_]
        assert set(r.properties) == {n["s"], n["n"], "firstname"} | CONTACT_SYSTEM, r.properties
        assert r.properties["hs_object_id"] == id_
        assert r.properties["firstname"] is None
        assert r.properties[n["n"]] == VALUES["n"][i]
        assert r.archived is False
        assert r.created_at is not None and r.updated_at is not None
    assert by_id[typed["ids"][4]].properties[n["s"]] is None


def test_unknown_requested_property_ignored(client, typed, unique):
    res = contacts_search(client, [marked(typed)], properties=[unique("nope"), "email"], limit=1)
    assert set(res.results[0].properties) == {"email"} | CONTACT_SYSTEM


def test_default_properties_contacts(client, typed):
    res = contacts_search(client, [marked(typed)], limit=1)
    assert set(res.results[0].properties) == {"firstname", "lastname", "email"} | CONTACT_SYSTEM


def test_total_independent_of_limit_and_offset_paging(client, typed):
    page1 = contacts_search(client, [marked(typed)], limit=2)
    assert page1.total == 6
    assert [r.id for r in page1.results] == typed["ids"][0:2]
    assert page1.paging is not None and page1.paging.next.after == "2"
    assert page1.paging.next.link is None
    page2 = contacts_search(client, [marked(typed)], limit=2, after=page1.paging.next.after)
    assert page2.total == 6
    assert [r.id for r in page2.results] == typed["ids"][2:4]
    assert page2.paging.next.after == "4"
    page3 = contacts_search(client, [marked(typed)], limit=2, after="4")
    assert [r.id for r in page3.results] == typed["ids"][4:6]
    assert page3.paging is None, "no paging after the last page"
    page4 = contacts_search(client, [marked(typed)], limit=4, after="3")
    assert [r.id for r in page4.results] == typed["ids"][3:6]
    assert page4.total == 6 and page4.paging is None


def test_paging_json_has_no_link(raw, typed):
    body = {"filterGroups": [{"filters": [{"propertyName": typed["marker"], "operator": "EQ", "value": typed["tag"]}]}], "limit": 5}
    r = raw.post("/crm/v3/objects/contacts/search", json=body)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["total"] == 6
    assert data["paging"] == {"next": {"after": "5"}}


def test_limit_200_ok_201_400(client, typed):
    res = contacts_search(client, [marked(typed)], limit=200)
    assert res.total == 6 and len(res.results) == 6
    body = expect_error(lambda: contacts_search(client, [marked(typed)], limit=201), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_after_10000_400_and_9990_ok(client, typed):
    body = expect_error(lambda: contacts_search(client, [marked(typed)], limit=10, after="10000"), 400)
    assert body["category"] == "VALIDATION_ERROR"
    expect_error(lambda: contacts_search(client, [marked(typed)], limit=1, after="10001"), 400)
    res = contacts_search(client, [marked(typed)], limit=20, after="9990")
    assert res.total == 6
    assert res.results == []
    assert res.paging is None


def _n_filters(typed, count):
    n = typed["names"]
    return [flt(typed["marker"], "EQ", typed["tag"])] + [flt(n["n"], "GTE", str(-100 - i)) for i in range(count - 1)]


def test_five_groups_ok_six_400(client, typed):
    groups = [FilterGroup(filters=_n_filters(typed, 1)) for _ in range(5)]
    assert matching(client, typed, groups) == ALL
    body = expect_error(lambda: contacts_search(client, groups + [FilterGroup(filters=_n_filters(typed, 1))]), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_ten_filters_per_group_ok_eleven_400(client, typed):
    assert matching(client, typed, [FilterGroup(filters=_n_filters(typed, 10))]) == {0, 1, 2, 3, 5}
    body = expect_error(lambda: contacts_search(client, [FilterGroup(filters=_n_filters(typed, 11))]), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_twenty_five_filters_total_ok_more_400(client, typed):
    five_by_five = [FilterGroup(filters=_n_filters(typed, 5)) for _ in range(5)]
    assert matching(client, typed, five_by_five) == {0, 1, 2, 3, 5}
    three_by_nine = [FilterGroup(filters=_n_filters(typed, 9)) for _ in range(3)]  # 27 filters, each group <= 10
    body = expect_error(lambda: contacts_search(client, three_by_nine), 400)
    assert body["category"] == "VALIDATION_ERROR"
    four_by_seven = [FilterGroup(filters=_n_filters(typed, 7)) for _ in range(4)]  # 28 filters, 4 groups
    expect_error(lambda: contacts_search(client, four_by_seven), 400)


def test_unknown_filter_property_400(client, typed, unique):
    body = expect_error(lambda: contacts_search(client, [marked(typed, flt(unique("nope"), "EQ", "x"))]), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_unknown_sort_property_400(client, typed, unique):
    body = expect_error(lambda: contacts_search(client, [marked(typed)], sorts=[unique("nope")]), 400)
    assert body["category"] == "VALIDATION_ERROR"
    body = expect_error(
        lambda: contacts_search(client, [marked(typed)], sorts=[{"propertyName": unique("nope"), "direction": "DESCENDING"}]), 400
    )
    assert body["category"] == "VALIDATION_ERROR"


def test_unknown_operator_400(raw, typed):
    body = {"filterGroups": [{"filters": [
        {"propertyName": typed["marker"], "operator": "EQ", "value": typed["tag"]},
        {"propertyName": "firstname", "operator": "STARTS_WITH", "value": "a"},
    ]}]}
    r = raw.post("/crm/v3/objects/contacts/search", json=body)
    assert r.status_code == 400, r.text
    data = r.json()
    assert data["status"] == "error" and data["category"] == "VALIDATION_ERROR", data


# --- consistency and archived records ---------------------------------------------------------


def test_read_your_writes_create_patch_archive(client, marker_property, unique):
    marker = marker_property("contacts")
    tag = unique("ryw")
    group = lambda *fs: [FilterGroup(filters=[flt(marker, "EQ", tag), *fs])]  # noqa: E731
    created = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={marker: tag, "firstname": "Before"})
    )
    res = contacts_search(client, group(flt("firstname", "EQ", "before")))
    assert [r.id for r in res.results] == [created.id] and res.total == 1
    client.crm.contacts.basic_api.update(
        contact_id=created.id, simple_public_object_input=SimplePublicObjectInput(properties={"firstname": "After"})
    )
    assert contacts_search(client, group(flt("firstname", "EQ", "before"))).total == 0
    res = contacts_search(client, group(flt("firstname", "EQ", "after")), properties=["firstname"])
    assert [r.id for r in res.results] == [created.id]
    assert res.results[0].properties["firstname"] == "After"
    client.crm.contacts.basic_api.archive(contact_id=created.id)
    res = contacts_search(client, group())
    assert res.total == 0 and res.results == []


def test_archived_never_in_results_even_by_id(client, marker_property, unique):
    marker = marker_property("contacts")
    tag = unique("arch")
    ids = [
        client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={marker: tag})
        ).id
        for _ in range(3)
    ]
    client.crm.contacts.basic_api.archive(contact_id=ids[1])
    res = contacts_search(client, [FilterGroup(filters=[flt(marker, "EQ", tag)])])
    assert [r.id for r in res.results] == [ids[0], ids[2]] and res.total == 2
    res = contacts_search(client, [FilterGroup(filters=[flt("hs_object_id", "IN", values=ids)])])
    assert {r.id for r in res.results} == {ids[0], ids[2]} and res.total == 2
    res = contacts_search(client, [FilterGroup(filters=[flt(marker, "EQ", tag), flt(marker, "NOT_HAS_PROPERTY")])])
    assert res.total == 0


# --- free-text query ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def people(client, marker_property, unique):
    marker = marker_property("contacts")
    tag = unique("q")
    rows = [
        {"firstname": "Annabel", "lastname": "Smithers", "email": f"{unique('anna')}@qexample.com"},
        {"firstname": "Bob", "lastname": "Annex", "company": "Globex Corporation"},
        {"firstname": "Carl", "lastname": "Jones", "phone": "+1 555 0100", "email": f"carl.{unique('j')}@jonesmail.com"},
    ]
    ids = []
    for row in rows:
        ids.append(
            client.crm.contacts.basic_api.create(
                simple_public_object_input_for_create=SimplePublicObjectInputForCreate(properties={marker: tag, **row})
            ).id
        )
    return {"marker": marker, "tag": tag, "ids": ids, "rows": rows}


def query_hits(client, people, query):
    res = contacts_search(client, [FilterGroup(filters=[flt(people["marker"], "EQ", people["tag"])])], query=query, limit=100)
    index = {id_: i for i, id_ in enumerate(people["ids"])}
    assert res.total == len(res.results)
    return {index[r.id] for r in res.results}


@pytest.mark.parametrize(
    "query,expected",
    [
        ("ann", {0, 1}),  # Annabel (firstname), Annex (lastname)
        ("Annabel", {0}),
        ("ANNA", {0}),
        ("smi ann", {0}),  # every token must prefix-match some token
        ("ann zzz", set()),
        ("globex", {1}),  # company
        ("corp", {1}),
        ("jones", {2}),
        ("jonesmail", {2}),  # email token
        ("qexample", {0}),
        ("bel", set()),  # prefix match only
    ],
)
def test_query_contacts(client, people, query, expected):
    assert query_hits(client, people, query) == expected


def test_query_ignores_non_searchable_properties(client, people):
    # the marker is a custom property, not in the contacts' searchable set
    assert query_hits(client, people, people["tag"]) == set()


def test_query_companies_name_and_domain(client, marker_property, unique):
    marker = marker_property("companies")
    tag = unique("qc")
    dom = unique("zebdom").replace("_", "")
    a = client.crm.companies.basic_api.create(
        simple_public_object_input_for_create={"properties": {marker: tag, "name": "Zebulon Widgets", "domain": f"{dom}.com"}}
    )
    b = client.crm.companies.basic_api.create(
        simple_public_object_input_for_create={"properties": {marker: tag, "name": "Other Co", "phone": "+44 20 7946 0000"}}
    )
    req = lambda q: OSearchRequest(query=q, filter_groups=[OFilterGroup(filters=[OFilter(property_name=marker, operator="EQ", value=tag)])])  # noqa: E731
    hits = lambda q: {r.id for r in client.crm.companies.search_api.do_search(public_object_search_request=req(q)).results}  # noqa: E731
    assert hits("zebu") == {a.id}
    assert hits("widg") == {a.id}
    assert hits(dom) == {a.id}
    assert hits("other") == {b.id}
    assert hits("nomatchxyz") == set()


# --- other object types ---------------------------------------------------------------------------


OTHER_TYPES = {
    "companies": ({"name": "N", "domain": "n.example.com"}, {"name", "domain"} | STANDARD_SYSTEM),
    "deals": (
        {"dealname": "D", "pipeline": "default", "dealstage": "appointmentscheduled", "amount": "10"},
        {"dealname", "amount", "closedate", "pipeline", "dealstage"} | STANDARD_SYSTEM,
    ),
    "tickets": (
        {"subject": "S", "hs_pipeline": "0", "hs_pipeline_stage": "1"},
        {"content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"} | STANDARD_SYSTEM,
    ),
    "products": ({"name": "P", "price": "5"}, {"name", "description", "price"} | STANDARD_SYSTEM),
}


@pytest.mark.parametrize("object_type", list(OTHER_TYPES))
def test_search_other_types_default_properties_and_filters(client, marker_property, unique, object_type):
    marker = marker_property(object_type)
    tag = unique("ot")
    props, default_set = OTHER_TYPES[object_type]
    ids = []
    for i in range(3):
        created = client.crm.objects.basic_api.create(
            object_type=object_type, simple_public_object_input_for_create=ObjectCreate(properties={**props, marker: tag})
        )
        ids.append(created.id)
    client.crm.objects.basic_api.archive(object_type=object_type, object_id=ids[2])
    mk = OFilter(property_name=marker, operator="EQ", value=tag)
    res = client.crm.objects.search_api.do_search(
        object_type=object_type, public_object_search_request=OSearchRequest(filter_groups=[OFilterGroup(filters=[mk])])
    )
    assert [r.id for r in res.results] == ids[:2] and res.total == 2
    assert set(res.results[0].properties) == default_set, res.results[0].properties
    res = client.crm.objects.search_api.do_search(
        object_type=object_type,
        public_object_search_request=OSearchRequest(
            filter_groups=[OFilterGroup(filters=[mk, OFilter(property_name="hs_object_id", operator="EQ", value=ids[1])])],
            properties=[marker],
            sorts=["-hs_object_id"],
        ),
    )
    assert [r.id for r in res.results] == [ids[1]]
    assert set(res.results[0].properties) == {marker} | STANDARD_SYSTEM
    body = expect_error(
        lambda: client.crm.objects.search_api.do_search(
            object_type=object_type,
            public_object_search_request=OSearchRequest(filter_groups=[OFilterGroup(filters=[mk])], limit=201),
        ),
        400,
        ObjectsApiException,
    )
    assert body["category"] == "VALIDATION_ERROR"


# --- request parsing -----------------------------------------------------------------------------


def _raw_search(raw, typed, extra_filters=(), **body):
    filters = [{"propertyName": typed["marker"], "operator": "EQ", "value": typed["tag"]}, *extra_filters]
    return raw.post("/crm/v3/objects/contacts/search", json={"filterGroups": [{"filters": filters}], **body})


def test_limit_as_string_and_after_as_number_accepted(raw, typed):
    r = _raw_search(raw, typed, limit="2", after=2)
    assert r.status_code == 200, r.text
    data = r.json()
    assert [x["id"] for x in data["results"]] == typed["ids"][2:4]
    assert data["total"] == 6 and data["paging"]["next"]["after"] == "4"


def test_default_limit_is_10(client, marker_property, unique):
    marker = marker_property("products")
    tag = unique("lim")
    from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInputForCreate, SimplePublicObjectBatchInputForCreate

    client.crm.objects.batch_api.create(
        object_type="products",
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectBatchInputForCreate(properties={marker: tag, "name": f"p{i}"}) for i in range(12)]
        ),
    )
    res = client.crm.objects.search_api.do_search(
        object_type="products",
        public_object_search_request=OSearchRequest(filter_groups=[OFilterGroup(filters=[OFilter(property_name=marker, operator="EQ", value=tag)])]),
    )
    assert res.total == 12 and len(res.results) == 10
    assert res.paging.next.after == "10"


@pytest.mark.parametrize(
    "bad",
    [
        {"propertyName": "firstname", "operator": "BETWEEN", "value": "a"},  # no highValue
        {"propertyName": "firstname", "operator": "EQ"},  # no value
    ],
    ids=["BETWEEN-without-highValue", "EQ-without-value"],
)
def test_filter_missing_value_400(raw, typed, bad):
    r = _raw_search(raw, typed, [bad])
    assert r.status_code == 400, r.text
    assert r.json()["category"] == "VALIDATION_ERROR"


def test_query_longer_than_3000_chars_400(raw, typed):
    assert _raw_search(raw, typed, query="a" * 3000).status_code == 200
    r = _raw_search(raw, typed, query="a" * 3001)
    assert r.status_code == 400, r.text
    assert r.json()["category"] == "VALIDATION_ERROR"


def test_search_response_json_shape(raw, typed):
    r = _raw_search(raw, typed, properties=["firstname"], limit=1)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].lower().replace(" ", "") == "application/json;charset=utf-8"
    data = r.json()
    assert set(data) == {"total", "results", "paging"}
    (rec,) = data["results"]
    assert set(rec) >= {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert rec["archived"] is False
    assert "propertiesWithHistory" not in rec and "associations" not in rec
    assert rec["properties"]["firstname"] is None
    assert set(rec["properties"]) == {"firstname"} | CONTACT_SYSTEM
