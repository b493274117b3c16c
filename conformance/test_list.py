"""List endpoint (GET /crm/v3/objects/{objectType}) through basic_api.get_page and the get_all helpers.

Tests run one after another against a shared account, so a test that creates records and then pages
from the first of its ids only sees its own records (ids grow with creation).
"""
from urllib.parse import parse_qs, urlparse

import pytest

from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate

from spoke_helpers import error_body

KINDS = ["contacts", "companies", "deals", "tickets", "products"]
SYSTEM = {
    "contacts": {"createdate", "lastmodifieddate", "hs_object_id"},
    "companies": {"createdate", "hs_lastmodifieddate", "hs_object_id"},
    "deals": {"createdate", "hs_lastmodifieddate", "hs_object_id"},
    "tickets": {"createdate", "hs_lastmodifieddate", "hs_object_id"},
    "products": {"createdate", "hs_lastmodifieddate", "hs_object_id"},
}


def valid_props(kind, unique):
    u = unique("l")
    return {
        "contacts": {"email": f"{u}@example.com", "firstname": "L"},
        "companies": {"name": u},
        "deals": {"dealname": u, "pipeline": "default", "dealstage": "appointmentscheduled"},
        "tickets": {"subject": u, "hs_pipeline": "0", "hs_pipeline_stage": "1"},
        "products": {"name": u},
    }[kind]


def create(client, kind, unique, n):
    ids = [
        client.crm.objects.basic_api.create(
            object_type=kind, simple_public_object_input_for_create=ObjectCreate(properties=valid_props(kind, unique))
        ).id
        for _ in range(n)
    ]
    assert ids == sorted(ids, key=int), f"ids not increasing with creation: {ids}"
    return ids


def page(client, kind, **kw):
    """get_page through the type's own SDK class (objects API for generic types)."""
    if kind in ("contacts", "companies", "deals", "tickets"):
        return getattr(client.crm, kind).basic_api.get_page(**kw)
    return client.crm.objects.basic_api.get_page(object_type=kind, **kw)


def expect_error(call, status):
    with pytest.raises(Exception) as info:
        call()
    exc = info.value
    assert hasattr(exc, "status"), f"not an ApiException: {exc!r}"
    assert exc.status == status, (exc.status, exc.body)
    return error_body(exc)


def check_next(base_url, p, expected_after):
    assert p.paging is not None and p.paging.next is not None, "expected paging.next"
    assert p.paging.next.after == expected_after
    link = p.paging.next.link
    assert isinstance(link, str), link
    url, base = urlparse(link), urlparse(base_url)
    assert (url.scheme, url.netloc) == (base.scheme, base.netloc), f"link not on the server's host: {link}"
    assert parse_qs(url.query).get("after") == [expected_after], link


@pytest.mark.parametrize("kind", KINDS)
def test_pages_in_id_order_with_next_cursor_and_link(client, base_url, unique, kind):
    ids = create(client, kind, unique, 5)
    p1 = page(client, kind, limit=2, after=ids[0])
    assert [r.id for r in p1.results] == ids[0:2]
    check_next(base_url, p1, str(int(ids[1]) + 1))
    p2 = page(client, kind, limit=2, after=p1.paging.next.after)
    assert [r.id for r in p2.results] == ids[2:4]
    check_next(base_url, p2, str(int(ids[3]) + 1))
    p3 = page(client, kind, limit=2, after=p2.paging.next.after)
    assert [r.id for r in p3.results] == ids[4:5]
    assert p3.paging is None, "no paging on the last page"
    for r in p1.results + p2.results + p3.results:
        assert SYSTEM[kind] <= set(r.properties)
        assert r.archived is False


def test_page_ending_exactly_at_last_record_has_no_paging(client, unique):
    ids = create(client, "companies", unique, 3)
    p = page(client, "companies", limit=3, after=ids[0])
    assert [r.id for r in p.results] == ids
    assert p.paging is None
    p = page(client, "companies", limit=2, after=str(int(ids[-1]) + 1))
    assert p.results == [] and p.paging is None


def test_link_repeats_the_request(raw, client, base_url, unique):
    ids = create(client, "contacts", unique, 3)
    r = raw.get(f"/crm/v3/objects/contacts?limit=1&after={ids[0]}&properties=firstname")
    assert r.status_code == 200, r.text
    link = r.json()["paging"]["next"]["link"]
    q = parse_qs(urlparse(link).query)
    assert q["after"] == [str(int(ids[0]) + 1)] and q.get("limit") == ["1"], link
    r2 = raw.get(link[len(base_url):] if link.startswith(base_url) else urlparse(link).path + "?" + urlparse(link).query)
    assert r2.status_code == 200, r2.text
    assert [x["id"] for x in r2.json()["results"]] == [ids[1]]
    assert "firstname" in r2.json()["results"][0]["properties"]


def test_requested_properties(client, unique):
    ids = create(client, "contacts", unique, 2)
    p = page(client, "contacts", limit=2, after=ids[0], properties=["firstname", "lastname"])
    for r in p.results:
        assert set(r.properties) == {"firstname", "lastname"} | SYSTEM["contacts"], r.properties
        assert r.properties["firstname"] == "L"
        assert r.properties["lastname"] is None
    p = page(client, "contacts", limit=1, after=ids[0])
    assert set(p.results[0].properties) == {"firstname", "lastname", "email"} | SYSTEM["contacts"]


def test_properties_with_history(client, unique):
    ids = create(client, "contacts", unique, 2)
    p = page(client, "contacts", limit=2, after=ids[0], properties_with_history=["firstname"])
    assert [r.id for r in p.results] == ids
    for r in p.results:
        assert [h.value for h in r.properties_with_history["firstname"]] == ["L"]


def test_limit_100_ok_101_400(client):
    p = page(client, "contacts", limit=100)
    assert len(p.results) <= 100
    body = expect_error(lambda: page(client, "contacts", limit=101), 400)
    assert body["category"] == "VALIDATION_ERROR"
    body = expect_error(lambda: page(client, "products", limit=101), 400)
    assert body["category"] == "VALIDATION_ERROR"


def test_limit_with_history_50_ok_51_400(client):
    p = page(client, "contacts", limit=50, properties_with_history=["firstname"])
    assert len(p.results) <= 50
    body = expect_error(lambda: page(client, "contacts", limit=51, properties_with_history=["firstname"]), 400)
    assert body["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("kind", ["contacts", "deals", "products"])
def test_archived_true_lists_only_archived(client, unique, kind):
    ids = create(client, kind, unique, 4)
    client.crm.objects.basic_api.archive(object_type=kind, object_id=ids[1])
    client.crm.objects.basic_api.archive(object_type=kind, object_id=ids[2])
    live = page(client, kind, limit=100, after=ids[0])
    assert [r.id for r in live.results] == [ids[0], ids[3]]
    archived = page(client, kind, limit=100, after=ids[0], archived=True)
    assert [r.id for r in archived.results] == [ids[1], ids[2]]
    assert all(r.archived is True and r.archived_at is not None for r in archived.results)
    first = page(client, kind, limit=1, after=ids[0], archived=True)
    assert [r.id for r in first.results] == [ids[1]]
    assert first.paging.next.after == str(int(ids[1]) + 1)
    assert "archived=" in first.paging.next.link.lower()


def test_get_all_returns_every_record(client, unique):
    ids = create(client, "companies", unique, 3)
    client.crm.objects.basic_api.archive(object_type="companies", object_id=ids[1])
    every = client.crm.companies.get_all()
    got = [r.id for r in every]
    assert len(got) == len(set(got)), "duplicates in get_all"
    assert got == sorted(got, key=int), "get_all not in id order"
    assert ids[0] in got and ids[2] in got and ids[1] not in got
    # enough records exist by now (whole suite) to need more than one page of 100? if so the cursor works
    archived = [r.id for r in client.crm.companies.get_all(archived=True)]
    assert ids[1] in archived and ids[0] not in archived


def test_get_all_generic_type_and_history_pages(client, unique):
    ids = create(client, "products", unique, 2)
    got = [r.id for r in client.crm.objects.get_all(object_type="products")]
    assert set(ids) <= set(got) and len(got) == len(set(got))
    got = [r.id for r in client.crm.contacts.get_all(properties_with_history=["firstname"])]
    assert len(got) == len(set(got))


def test_get_all_spans_several_pages(client, unique):
    # > 100 records of one type so that get_all needs at least two pages
    from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInputForCreate, SimplePublicObjectBatchInputForCreate

    created = client.crm.objects.batch_api.create(
        object_type="line_items",
        batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(
            inputs=[SimplePublicObjectBatchInputForCreate(properties={"quantity": "1", "price": str(i)}) for i in range(100)]
        ),
    )
    extra = client.crm.objects.basic_api.create(
        object_type="line_items", simple_public_object_input_for_create=ObjectCreate(properties={"quantity": "2"})
    )
    ids = {r.id for r in created.results} | {extra.id}
    got = [r.id for r in client.crm.objects.get_all(object_type="line_items")]
    assert len(got) == len(set(got))
    assert ids <= set(got)


def test_no_duplicates_or_gaps_when_writing_between_pages(client, unique):
    ids = create(client, "tickets", unique, 4)
    p1 = page(client, "tickets", limit=2, after=ids[0])
    assert [r.id for r in p1.results] == ids[0:2]
    # writes between pages: archive an already-seen and a not-yet-seen record, create a new one
    client.crm.objects.basic_api.archive(object_type="tickets", object_id=ids[0])
    client.crm.objects.basic_api.archive(object_type="tickets", object_id=ids[2])
    (new,) = create(client, "tickets", unique, 1)
    p2 = page(client, "tickets", limit=2, after=p1.paging.next.after)
    assert [r.id for r in p2.results] == [ids[3], new]
    assert p2.paging is None


def test_unknown_object_type_400(client):
    body = expect_error(lambda: page(client, "foo"), 400)
    assert body["category"] == "VALIDATION_ERROR"
