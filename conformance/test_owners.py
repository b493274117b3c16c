"""Owners v3 through client.crm.owners.owners_api, owners managed with the admin commands
`spoke owners create|archive` (on the server's data dir), and hubspot_owner_id validated against them.

Every test creates its own owners with unique e-mail addresses; the seeded owner is only read.
"""
import re
from datetime import datetime, timezone

import pytest

from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import SimplePublicObjectInput as ContactInput
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInputForCreate as DealBatchCreate
from hubspot.crm.deals import SimplePublicObjectBatchInputForCreate as DealBatchCreateInput
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate
from hubspot.crm.owners import ApiException as OwnersApiException

from spoke_helpers import error_body, property_errors

API_EXCEPTIONS = (OwnersApiException, ContactsApiException, DealsApiException)


def expect_error(call, status, category=None):
    with pytest.raises(API_EXCEPTIONS) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    body = error_body(info.value)
    if category is not None:
        assert body["category"] == category, body
    return body


@pytest.fixture(scope="module")
def owners(client):
    return client.crm.owners.owners_api


@pytest.fixture
def new_owner(spoke_admin, account_id, unique):
    """new_owner(first="Ann", last="Lee", email=None) -> (owner id, email) of an owner added with `spoke owners create`."""

    def make(first="Ann", last="Lee", email=None, account=None):
        email = email or f"{unique('owner')}@example.com"
        out = spoke_admin(
            "owners", "create", "--account", account or account_id, "--email", email, "--first-name", first, "--last-name", last
        )
        owner_id = out.strip()
        assert owner_id.isdigit(), f"`spoke owners create` printed {out!r}, not an owner id"
        return owner_id, email

    return make


@pytest.fixture
def archive_owner(spoke_admin, account_id):
    def run(owner_id, account=None):
        spoke_admin("owners", "archive", "--account", account or account_id, "--id", owner_id)

    return run


def all_owners(api, **kw):
    """Every owner, following paging.next.after; also checks the paging envelope."""
    out, after, pages = [], None, 0
    while True:
        page = api.get_page(after=after, **kw) if after else api.get_page(**kw)
        out.extend(page.results)
        pages += 1
        assert pages < 1000
        if page.paging is None:
            return out
        after = page.paging.next.after
        assert isinstance(after, str) and after


def check_live_owner(o, owner_id, email, first, last):
    assert (o.id, o.email, o.type, o.first_name, o.last_name, o.archived) == (owner_id, email, "PERSON", first, last, False)
    assert isinstance(o.user_id, int) and o.user_id > 0
    assert o.user_id_including_inactive == o.user_id
    assert isinstance(o.created_at, datetime) and o.created_at.tzinfo is not None
    assert o.created_at > datetime(2000, 1, 1, tzinfo=timezone.utc)
    assert o.updated_at >= o.created_at


# --- the seeded owner -----------------------------------------------------------------------


def test_seeded_owner(owners, account_id):
    email = f"admin@portal{account_id}.spoke.example"
    page = owners.get_page(email=email)
    assert page.paging is None
    (o,) = page.results
    check_live_owner(o, o.id, email, "Spoke", "Admin")
    assert o.id.isdigit()
    assert o.teams is None
    assert owners.get_by_id(owner_id=o.id).to_dict() == o.to_dict()
    assert o.id in {x.id for x in all_owners(owners)}


def test_each_account_has_its_own_seeded_owner(client, client2, owners, account_id, account_id_2):
    mine = owners.get_page(email=f"admin@portal{account_id}.spoke.example").results
    theirs = client2.crm.owners.owners_api.get_page(email=f"admin@portal{account_id_2}.spoke.example").results
    assert len(mine) == 1 and len(theirs) == 1
    assert mine[0].id != theirs[0].id and mine[0].user_id != theirs[0].user_id
    check_live_owner(theirs[0], theirs[0].id, f"admin@portal{account_id_2}.spoke.example", "Spoke", "Admin")
    # neither account sees the other's owner
    assert owners.get_page(email=f"admin@portal{account_id_2}.spoke.example").results == []
    expect_error(lambda: owners.get_by_id(owner_id=theirs[0].id), 404, "OBJECT_NOT_FOUND")
    expect_error(lambda: client2.crm.owners.owners_api.get_by_id(owner_id=mine[0].id), 404, "OBJECT_NOT_FOUND")


# --- owners added by the admin command ------------------------------------------------------


def test_created_owner_is_visible_at_once(owners, new_owner):
    owner_id, email = new_owner(first="Sam", last="Stone")
    (o,) = owners.get_page(email=email).results
    check_live_owner(o, owner_id, email, "Sam", "Stone")
    got = owners.get_by_id(owner_id=owner_id)
    assert got.to_dict() == o.to_dict()
    got = owners.get_by_id(owner_id=owner_id, id_property="id")
    assert got.id == owner_id
    assert owner_id in {x.id for x in all_owners(owners)}


def test_get_by_user_id(owners, new_owner):
    owner_id, _ = new_owner()
    o = owners.get_by_id(owner_id=owner_id)
    by_user = owners.get_by_id(owner_id=o.user_id, id_property="userId")
    assert by_user.id == owner_id and by_user.user_id == o.user_id
    # a user id is not an owner id (and vice versa)
    if str(o.user_id) != owner_id:
        expect_error(lambda: owners.get_by_id(owner_id=o.user_id), 404, "OBJECT_NOT_FOUND")


def test_email_filter_is_exact_and_case_insensitive(owners, new_owner, unique):
    base = unique("Mixed")
    owner_id, email = new_owner(email=f"{base}@Example.COM")
    # the address is kept as given
    assert owners.get_by_id(owner_id=owner_id).email == email
    for variant in (email, email.lower(), email.upper()):
        assert [o.id for o in owners.get_page(email=variant).results] == [owner_id], variant
    # exact: no prefix / substring / domain matches
    for other in (base, f"{base}@example.co", f"x{base}@example.com", "example.com", f"{base[:-1]}@example.com"):
        assert owners.get_page(email=other).results == [], other


def test_unknown_owner_404(owners):
    expect_error(lambda: owners.get_by_id(owner_id=1), 404, "OBJECT_NOT_FOUND")
    expect_error(lambda: owners.get_by_id(owner_id=999999999999), 404, "OBJECT_NOT_FOUND")
    expect_error(lambda: owners.get_by_id(owner_id=1, id_property="userId"), 404, "OBJECT_NOT_FOUND")
    assert owners.get_page(email="nobody-at-all@example.com").results == []


def test_paging_with_after_and_limit(owners, new_owner):
    for i in range(3):
        new_owner(first=f"P{i}")
    full = owners.get_page(limit=500)
    assert full.paging is None, "fewer than 500 owners expected in one page"
    ids = [o.id for o in full.results]
    assert len(ids) == len(set(ids)) >= 4
    # limit=1 pages visit every owner once, in the same order
    paged, after = [], None
    while True:
        page = owners.get_page(limit=1, after=after) if after else owners.get_page(limit=1)
        assert len(page.results) == 1
        paged.append(page.results[0].id)
        if page.paging is None:
            break
        after = page.paging.next.after
        assert page.paging.next.after
        assert len(paged) <= len(ids)
    assert paged == ids
    # limit=2 from the middle
    page = owners.get_page(limit=2, after=owners.get_page(limit=1).paging.next.after)
    assert [o.id for o in page.results] == ids[1:3]
    # a page that ends exactly at the last owner has no paging
    n = len(ids)
    assert owners.get_page(limit=n).paging is None
    assert owners.get_page(limit=n - 1).paging is not None


def test_paging_next_link(raw):
    resp = raw.get("/crm/v3/owners/?limit=1")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    nxt = body["paging"]["next"]
    assert isinstance(nxt["after"], str) and nxt["after"]
    assert "link" not in nxt or (isinstance(nxt["link"], str) and f"after={nxt['after']}" in nxt["link"])


@pytest.mark.parametrize("limit", [501, 0, -1])
def test_limit_out_of_range_400(owners, limit):
    expect_error(lambda: owners.get_page(limit=limit), 400, "VALIDATION_ERROR")


def test_limit_500_allowed(owners):
    page = owners.get_page(limit=500)
    assert len(page.results) >= 1


def test_default_limit_is_100(owners, new_owner):
    live = all_owners(owners)
    for i in range(max(0, 101 - len(live))):
        new_owner(first=f"Bulk{i}")
    ids = [o.id for o in all_owners(owners)]
    assert len(ids) >= 101
    page = owners.get_page()
    assert [o.id for o in page.results] == ids[:100]
    assert page.paging is not None and page.paging.next.after
    rest = owners.get_page(after=page.paging.next.after, limit=500)
    assert [o.id for o in rest.results] == ids[100:]


# --- archived owners ------------------------------------------------------------------------


def test_archived_owner(owners, new_owner, archive_owner):
    owner_id, email = new_owner(first="Gone", last="Away")
    before = owners.get_by_id(owner_id=owner_id)
    archive_owner(owner_id)
    expect_error(lambda: owners.get_by_id(owner_id=owner_id), 404, "OBJECT_NOT_FOUND")
    got = owners.get_by_id(owner_id=owner_id, archived=True)
    assert (got.id, got.email, got.archived, got.user_id) == (owner_id, email, True, None)
    assert got.user_id_including_inactive == before.user_id
    # listing: live owners by default, archived ones with archived=true
    assert owners.get_page(email=email).results == []
    assert [o.id for o in owners.get_page(email=email, archived=True).results] == [owner_id]
    assert owner_id not in {o.id for o in all_owners(owners)}
    archived_all = all_owners(owners, archived=True)
    assert owner_id in {o.id for o in archived_all}
    assert all(o.archived is True and o.user_id is None for o in archived_all)


def test_archived_false_reads_live_owner(owners, new_owner):
    owner_id, email = new_owner()
    assert owners.get_by_id(owner_id=owner_id, archived=False).id == owner_id
    assert [o.id for o in owners.get_page(email=email, archived=False).results] == [owner_id]


# --- hubspot_owner_id on records ------------------------------------------------------------


def create_contact(client, **props):
    return client.crm.contacts.basic_api.create(simple_public_object_input_for_create=ContactCreate(properties=props))


def test_hubspot_owner_id_accepts_live_owner(client, new_owner, unique):
    owner_id, _ = new_owner()
    c = create_contact(client, firstname=unique("Owned"), hubspot_owner_id=owner_id)
    got = client.crm.contacts.basic_api.get_by_id(contact_id=c.id, properties=["hubspot_owner_id"])
    assert got.properties["hubspot_owner_id"] == owner_id
    other_id, _ = new_owner()
    patched = client.crm.contacts.basic_api.update(contact_id=c.id, simple_public_object_input=ContactInput(properties={"hubspot_owner_id": other_id}))
    assert patched.properties["hubspot_owner_id"] == other_id
    # clearing the owner is allowed
    patched = client.crm.contacts.basic_api.update(contact_id=c.id, simple_public_object_input=ContactInput(properties={"hubspot_owner_id": ""}))
    assert patched.properties["hubspot_owner_id"] in ("", None)


def test_hubspot_owner_id_seeded_owner(client, owners, account_id, unique):
    (o,) = owners.get_page(email=f"admin@portal{account_id}.spoke.example").results
    c = create_contact(client, firstname=unique("Owned"), hubspot_owner_id=o.id)
    assert c.properties["hubspot_owner_id"] == o.id


@pytest.mark.parametrize("value, code", [("42", "INVALID_OPTION"), ("999999999999", "INVALID_OPTION"), ("abc", "INVALID_INTEGER"), ("12a", "INVALID_INTEGER")])
def test_hubspot_owner_id_invalid_400(client, unique, value, code):
    body = expect_error(lambda: create_contact(client, firstname=unique("Bad"), hubspot_owner_id=value), 400, "VALIDATION_ERROR")
    _, codes = property_errors(body)
    assert codes == {"hubspot_owner_id": code}
    assert body["errors"][0]["code"] == code


def test_hubspot_owner_id_user_id_is_not_an_owner_id(client, owners, new_owner, unique):
    owner_id, _ = new_owner()
    user_id = owners.get_by_id(owner_id=owner_id).user_id
    assert str(user_id) != owner_id
    body = expect_error(lambda: create_contact(client, firstname=unique("Bad"), hubspot_owner_id=str(user_id)), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "INVALID_OPTION"


def test_hubspot_owner_id_of_other_account_400(client, client2, unique):
    (theirs,) = [o for o in client2.crm.owners.owners_api.get_page().results]
    body = expect_error(lambda: create_contact(client, firstname=unique("Bad"), hubspot_owner_id=theirs.id), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "INVALID_OPTION"


def test_hubspot_owner_id_archived_owner_400(client, new_owner, archive_owner, unique):
    owner_id, _ = new_owner()
    c = create_contact(client, firstname=unique("Owned"), hubspot_owner_id=owner_id)
    archive_owner(owner_id)
    body = expect_error(
        lambda: client.crm.contacts.basic_api.update(contact_id=c.id, simple_public_object_input=ContactInput(properties={"hubspot_owner_id": owner_id})),
        400,
        "VALIDATION_ERROR",
    )
    _, codes = property_errors(body)
    assert codes == {"hubspot_owner_id": "INVALID_OPTION"}
    body = expect_error(lambda: create_contact(client, firstname=unique("Late"), hubspot_owner_id=owner_id), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    # the record keeps the value it had
    got = client.crm.contacts.basic_api.get_by_id(contact_id=c.id, properties=["hubspot_owner_id"])
    assert got.properties["hubspot_owner_id"] == owner_id


def test_hubspot_owner_id_on_deals_and_batch(client, new_owner, unique):
    owner_id, _ = new_owner()
    base = {"pipeline": "default", "dealstage": "appointmentscheduled"}
    d = client.crm.deals.basic_api.create(
        simple_public_object_input_for_create=DealCreate(properties={**base, "dealname": unique("D"), "hubspot_owner_id": owner_id})
    )
    assert d.properties["hubspot_owner_id"] == owner_id
    body = expect_error(
        lambda: client.crm.deals.basic_api.create(
            simple_public_object_input_for_create=DealCreate(properties={**base, "dealname": unique("D"), "hubspot_owner_id": "42"})
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    name_ok, name_bad = unique("B"), unique("B")
    body = expect_error(
        lambda: client.crm.deals.batch_api.create(batch_input_simple_public_object_batch_input_for_create=DealBatchCreate(inputs=[
            DealBatchCreateInput(properties={**base, "dealname": name_ok, "hubspot_owner_id": owner_id}),
            DealBatchCreateInput(properties={**base, "dealname": name_bad, "hubspot_owner_id": "42"}),
        ])),
        400,
        "VALIDATION_ERROR",
    )
    assert re.search(r"INVALID_OPTION", str(body)), body
    created = client.crm.deals.batch_api.create(batch_input_simple_public_object_batch_input_for_create=DealBatchCreate(inputs=[
        DealBatchCreateInput(properties={**base, "dealname": name_ok, "hubspot_owner_id": owner_id}),
    ])).results
    assert [r.properties["hubspot_owner_id"] for r in created] == [owner_id]
