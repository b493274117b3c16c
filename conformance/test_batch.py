"""CRM Objects v3 batch endpoints (read/create/update/upsert/archive) through the SDKs' batch_api classes.

contacts, companies, deals and tickets go through their own SDK classes (client.crm.contacts.batch_api…);
products stand for a generic type through client.crm.objects.batch_api with object_type.
"""
import uuid

import pytest

from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjectCreate
from hubspot.crm.properties import PropertyCreate

from spoke_helpers import error_body

KINDS = ["contacts", "companies", "deals", "tickets", "products"]
UPPER = {"contacts": "CONTACT", "companies": "COMPANY", "deals": "DEAL", "tickets": "TICKET", "products": "PRODUCT"}
KEY_PROP = {"contacts": "email", "companies": "name", "deals": "dealname", "tickets": "subject", "products": "name"}
NAME_PROP = {"contacts": "firstname", "companies": "name", "deals": "dealname", "tickets": "subject", "products": "name"}
MISSING = ["999999991", "999999992"]


def lastmod(kind):
    return "lastmodifieddate" if kind == "contacts" else "hs_lastmodifieddate"


def system(kind):
    return {"createdate", lastmod(kind), "hs_object_id"}


class Kind:
    """One object type, its SDK batch/basic classes and valid record values."""

    def __init__(self, client, name, marker, unique):
        self.name = name
        self.client = client
        self.marker = marker
        self.unique = unique
        self.tag = unique("bt")
        if name in ("contacts", "companies", "deals", "tickets"):
            sdk = getattr(client.crm, name)
            self.batch, self.basic, self.kw = sdk.batch_api, sdk.basic_api, {}
        else:
            self.batch, self.basic, self.kw = client.crm.objects.batch_api, client.crm.objects.basic_api, {"object_type": name}

    def props(self, **extra):
        u = self.unique("b")
        base = {
            "contacts": {"email": f"{u}@example.com", "firstname": "Ann"},
            "companies": {"name": u, "domain": f"{u.replace('_', '')}.example.com"},
            "deals": {"dealname": u, "pipeline": "default", "dealstage": "appointmentscheduled", "amount": "100"},
            "tickets": {"subject": u, "hs_pipeline": "0", "hs_pipeline_stage": "1"},
            "products": {"name": u, "price": "5"},
        }[self.name]
        return {**base, self.marker: self.tag, **extra}

    # raw SDK calls returning (data, status)
    def create(self, inputs):
        data, status, _ = self.batch.create_with_http_info(
            batch_input_simple_public_object_batch_input_for_create=BatchInputSimplePublicObjectBatchInputForCreate(inputs=inputs),
            **self.kw,
        )
        return data, status

    def read(self, ids, properties=(), history=(), id_property=None, archived=None):
        kw = dict(self.kw)
        if archived is not None:
            kw["archived"] = archived
        data, status, _ = self.batch.read_with_http_info(
            batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=i) for i in ids],
                properties=list(properties),
                properties_with_history=list(history),
                id_property=id_property,
            ),
            **kw,
        )
        return data, status

    def update(self, inputs):
        data, status, _ = self.batch.update_with_http_info(
            batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=inputs), **self.kw
        )
        return data, status

    def upsert(self, inputs):
        data, status, _ = self.batch.upsert_with_http_info(
            batch_input_simple_public_object_batch_input_upsert=BatchInputSimplePublicObjectBatchInputUpsert(inputs=inputs), **self.kw
        )
        return data, status

    def archive(self, ids):
        data, status, _ = self.batch.archive_with_http_info(
            batch_input_simple_public_object_id=BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in ids]),
            **self.kw,
        )
        return data, status

    def create_one(self, **extra):
        created = self.client.crm.objects.basic_api.create(
            object_type=self.name, simple_public_object_input_for_create=ObjectCreate(properties=self.props(**extra))
        )
        return created

    def marked_ids(self, tag=None):
        """ids of live records carrying this Kind's marker value (via search)."""
        res = self.client.crm.objects.search_api.do_search(
            object_type=self.name,
            public_object_search_request=PublicObjectSearchRequest(
                filter_groups=[FilterGroup(filters=[Filter(property_name=self.marker, operator="EQ", value=tag or self.tag)])],
                limit=200,
            ),
        )
        return {r.id for r in res.results}


@pytest.fixture
def kind_factory(client, marker_property, unique):
    return lambda name: Kind(client, name, marker_property(name), unique)


@pytest.fixture(params=KINDS)
def kind(request, kind_factory):
    return kind_factory(request.param)


@pytest.fixture
def contacts(kind_factory):
    return kind_factory("contacts")


@pytest.fixture
def products(kind_factory):
    return kind_factory("products")


def expect_error(call, status):
    with pytest.raises(Exception) as info:
        call()
    exc = info.value
    assert hasattr(exc, "status"), f"not an ApiException: {exc!r}"
    assert exc.status == status, (exc.status, exc.body)
    return error_body(exc)


def check_batch_envelope(data, status, expected_status):
    assert status == expected_status, f"HTTP {status}, expected {expected_status}"
    assert data is not None, f"the SDK could not map HTTP {status}"
    assert data.status == "COMPLETE"
    assert data.started_at is not None and data.completed_at is not None
    assert data.started_at <= data.completed_at


def single_error(data, empty_errors=True):
    assert data.num_errors == 1, data.num_errors
    assert len(data.errors) == 1, data.errors
    err = data.errors[0]
    assert err.status == "error"
    assert err.links == {}
    if empty_errors:
        assert err.errors == [], err.errors
    return err


def trace():
    return uuid.uuid4().hex[:12]


# --- batch/create ---------------------------------------------------------------------------


def test_create_201_results_have_all_set_properties(kind):
    inputs = [kind.props(), kind.props()]
    data, status = kind.create([SimplePublicObjectBatchInputForCreate(properties=p) for p in inputs])
    check_batch_envelope(data, status, 201)
    assert len(data.results) == 2
    assert len({r.id for r in data.results}) == 2
    name = KEY_PROP[kind.name]
    by_name = {r.properties[name]: r for r in data.results}
    for p in inputs:
        r = by_name[p[name]]
        for key, value in p.items():
            assert r.properties[key] == value, (key, r.properties)
        assert system(kind.name) <= set(r.properties)
        assert r.properties["hs_object_id"] == r.id
        assert r.archived is False
        assert r.created_at == r.updated_at
    assert kind.marked_ids() == {r.id for r in data.results}


def test_create_invalid_input_without_trace_ids_400_nothing_created(kind, unique):
    bogus = unique("nope")
    inputs = [kind.props(), kind.props(**{bogus: "x"}), kind.props()]
    body = expect_error(lambda: kind.create([SimplePublicObjectBatchInputForCreate(properties=p) for p in inputs]), 400)
    assert body["category"] == "VALIDATION_ERROR"
    assert bogus in body["message"]
    assert kind.marked_ids() == set()


def test_create_invalid_input_with_trace_ids_207(kind, unique):
    bogus = unique("nope")
    traces = [trace(), trace(), trace()]
    inputs = [kind.props(), kind.props(**{bogus: "x"}), kind.props()]
    data, status = kind.create(
        [SimplePublicObjectBatchInputForCreate(properties=p, object_write_trace_id=t) for p, t in zip(inputs, traces)]
    )
    check_batch_envelope(data, status, 207)
    assert len(data.results) == 2
    name = KEY_PROP[kind.name]
    echoed = {r.object_write_trace_id: r for r in data.results}
    assert set(echoed) == {traces[0], traces[2]}
    assert echoed[traces[0]].properties[name] == inputs[0][name]
    assert echoed[traces[2]].properties[name] == inputs[2][name]
    err = single_error(data, empty_errors=False)
    assert err.category == "VALIDATION_ERROR"
    assert bogus in err.message
    assert err.context["objectWriteTraceId"] == [traces[1]]
    assert kind.marked_ids() == {r.id for r in data.results}


def test_create_207_raw_error_shape(raw, contacts, unique):
    bogus = unique("nope")
    body = {"inputs": [
        {"properties": contacts.props(), "objectWriteTraceId": "t-ok"},
        {"properties": contacts.props(**{bogus: "x"}), "objectWriteTraceId": "t-bad"},
    ]}
    r = raw.post("/crm/v3/objects/contacts/batch/create", json=body)
    assert r.status_code == 207, r.text
    data = r.json()
    assert data["status"] == "COMPLETE" and data["numErrors"] == 1
    assert [x["objectWriteTraceId"] for x in data["results"]] == ["t-ok"]
    (err,) = data["errors"]
    assert err["status"] == "error"
    assert err["category"] == "VALIDATION_ERROR"
    assert isinstance(err["message"], str) and bogus in err["message"]
    assert err["context"]["objectWriteTraceId"] == ["t-bad"]
    assert err["links"] == {}
    # A failed input's error carries the per-property details of the single-create error.
    assert [e["code"] for e in err["errors"]] == ["PROPERTY_DOESNT_EXIST"], err["errors"]


def test_create_all_valid_with_trace_ids_201_echoes_them(contacts):
    traces = [trace(), trace()]
    data, status = contacts.create(
        [SimplePublicObjectBatchInputForCreate(properties=contacts.props(), object_write_trace_id=t) for t in traces]
    )
    check_batch_envelope(data, status, 201)
    assert {r.object_write_trace_id for r in data.results} == set(traces)


def test_create_101_inputs_400_and_100_ok(products):
    body = expect_error(
        lambda: products.create([SimplePublicObjectBatchInputForCreate(properties=products.props()) for _ in range(101)]), 400
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert products.marked_ids() == set()
    data, status = products.create([SimplePublicObjectBatchInputForCreate(properties=products.props()) for _ in range(100)])
    check_batch_envelope(data, status, 201)
    assert len(data.results) == 100


def test_create_duplicate_email_against_existing_409_without_traces(client, contacts):
    existing = contacts.create_one()
    email = existing.properties["email"]
    fresh = contacts.props()
    body = expect_error(
        lambda: contacts.create([
            SimplePublicObjectBatchInputForCreate(properties=fresh),
            SimplePublicObjectBatchInputForCreate(properties=contacts.props(email=email.upper())),
        ]),
        409,
    )
    assert body["category"] == "CONFLICT"
    assert contacts.marked_ids() == {existing.id}


def test_create_duplicate_email_inside_batch_409_without_traces(contacts):
    email = contacts.props()["email"]
    body = expect_error(
        lambda: contacts.create([
            SimplePublicObjectBatchInputForCreate(properties=contacts.props(email=email)),
            SimplePublicObjectBatchInputForCreate(properties=contacts.props(email=email.upper())),
        ]),
        409,
    )
    assert body["category"] == "CONFLICT"
    assert contacts.marked_ids() == set()


def test_create_duplicate_email_against_existing_207_with_traces(contacts):
    existing = contacts.create_one()
    email = existing.properties["email"]
    t_dup, t_new = trace(), trace()
    data, status = contacts.create([
        SimplePublicObjectBatchInputForCreate(properties=contacts.props(email=email), object_write_trace_id=t_dup),
        SimplePublicObjectBatchInputForCreate(properties=contacts.props(), object_write_trace_id=t_new),
    ])
    check_batch_envelope(data, status, 207)
    assert [r.object_write_trace_id for r in data.results] == [t_new]
    err = single_error(data)
    assert err.category == "CONFLICT"
    assert err.context["objectWriteTraceId"] == [t_dup]
    assert contacts.marked_ids() == {existing.id, data.results[0].id}


def test_create_duplicate_email_inside_batch_207_with_traces(contacts):
    email = contacts.props()["email"]
    t1, t2 = trace(), trace()
    data, status = contacts.create([
        SimplePublicObjectBatchInputForCreate(properties=contacts.props(email=email), object_write_trace_id=t1),
        SimplePublicObjectBatchInputForCreate(properties=contacts.props(email=email.upper()), object_write_trace_id=t2),
    ])
    check_batch_envelope(data, status, 207)
    assert [r.object_write_trace_id for r in data.results] == [t1]
    assert data.results[0].properties["email"] == email
    err = single_error(data)
    assert err.category == "CONFLICT"
    assert err.context["objectWriteTraceId"] == [t2]
    assert contacts.marked_ids() == {data.results[0].id}


# --- batch/read -----------------------------------------------------------------------------


def test_read_200_requested_and_default_properties(kind):
    a, b = kind.create_one(), kind.create_one()
    name = NAME_PROP[kind.name]
    data, status = kind.read([a.id, b.id], properties=[name, kind.marker])
    check_batch_envelope(data, status, 200)
    assert {r.id for r in data.results} == {a.id, b.id}
    for r in data.results:
        assert set(r.properties) == {name, kind.marker} | system(kind.name), r.properties
        assert r.properties[kind.marker] == kind.tag
        assert r.archived is False
    data, status = kind.read([a.id])
    check_batch_envelope(data, status, 200)
    defaults = {
        "contacts": {"firstname", "lastname", "email"},
        "companies": {"name", "domain"},
        "deals": {"dealname", "amount", "closedate", "pipeline", "dealstage"},
        "tickets": {"content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_category", "hs_ticket_priority", "subject"},
        "products": {"name", "description", "price"},
    }[kind.name]
    assert set(data.results[0].properties) == defaults | system(kind.name)


def test_read_missing_ids_207_one_aggregated_error(kind):
    a = kind.create_one()
    data, status = kind.read([a.id, MISSING[0], MISSING[1]])
    check_batch_envelope(data, status, 207)
    assert [r.id for r in data.results] == [a.id]
    err = single_error(data)
    assert err.category == "OBJECT_NOT_FOUND"
    assert err.message == (
        f"Could not get some {UPPER[kind.name]} objects, they may be deleted or not exist. Check that ids are valid."
    )
    assert sorted(err.context["ids"]) == sorted(MISSING)


def test_read_by_email_id_property(contacts, unique_email):
    a = contacts.create_one()
    email = a.properties["email"]
    missing = unique_email("missing")
    data, status = contacts.read([email], properties=["email"], id_property="email")
    check_batch_envelope(data, status, 200)
    assert [r.id for r in data.results] == [a.id]
    assert data.results[0].properties["email"] == email
    data, status = contacts.read([email, missing], id_property="email")
    check_batch_envelope(data, status, 207)
    assert [r.id for r in data.results] == [a.id]
    err = single_error(data)
    assert err.category == "OBJECT_NOT_FOUND"
    assert err.context["ids"] == [missing]


def test_read_by_custom_unique_property(client, products, unique, archive_later):
    prop = archive_later(client, "products", unique("uq"))
    client.crm.properties.core_api.create(
        object_type="products",
        property_create=PropertyCreate(name=prop, label="Unique", type="string", field_type="text", group_name="productinformation",
                                       has_unique_value=True),
    )
    value = unique("v")
    a = products.create_one(**{prop: value})
    data, status = products.read([value], properties=[prop], id_property=prop)
    check_batch_envelope(data, status, 200)
    assert [r.id for r in data.results] == [a.id]
    assert data.results[0].properties[prop] == value


def test_read_archived(kind):
    a, b = kind.create_one(), kind.create_one()
    kind.client.crm.objects.basic_api.archive(object_type=kind.name, object_id=a.id)
    data, status = kind.read([a.id, b.id])
    check_batch_envelope(data, status, 207)
    assert [r.id for r in data.results] == [b.id]
    assert single_error(data).context["ids"] == [a.id]
    data, status = kind.read([a.id], archived=True)
    check_batch_envelope(data, status, 200)
    assert [r.id for r in data.results] == [a.id]
    assert data.results[0].archived is True
    assert data.results[0].archived_at is not None


def test_read_limits(contacts):
    body = expect_error(lambda: contacts.read([str(900000000 + i) for i in range(101)]), 400)
    assert body["category"] == "VALIDATION_ERROR"
    data, status = contacts.read([str(900000000 + i) for i in range(100)])
    check_batch_envelope(data, status, 207)
    assert len(single_error(data).context["ids"]) == 100
    body = expect_error(lambda: contacts.read([str(900000000 + i) for i in range(51)], history=["firstname"]), 400)
    assert body["category"] == "VALIDATION_ERROR"
    a = contacts.create_one()
    data, status = contacts.read([a.id] + [str(900000000 + i) for i in range(49)], history=["firstname"])
    check_batch_envelope(data, status, 207)
    assert [r.id for r in data.results] == [a.id]
    hist = data.results[0].properties_with_history["firstname"]
    assert [h.value for h in hist] == ["Ann"]


# --- batch/update ---------------------------------------------------------------------------


def test_update_200_written_properties_and_last_modified(kind):
    a, b = kind.create_one(), kind.create_one()
    name = NAME_PROP[kind.name]
    new = {a.id: kind.unique("new"), b.id: kind.unique("new")}
    data, status = kind.update([SimplePublicObjectBatchInput(id=i, properties={name: v}) for i, v in new.items()])
    check_batch_envelope(data, status, 200)
    assert {r.id for r in data.results} == {a.id, b.id}
    for r in data.results:
        assert r.properties[name] == new[r.id]
        assert lastmod(kind.name) in r.properties, r.properties
        assert r.updated_at >= a.updated_at
        assert r.properties[lastmod(kind.name)] is not None
        if kind.name == "contacts":
            # observed: written properties + the last-modified property, nothing else
            assert set(r.properties) == {name, lastmod(kind.name)}, r.properties
    got = kind.client.crm.objects.basic_api.get_by_id(object_type=kind.name, object_id=a.id, properties=[name])
    assert got.properties[name] == new[a.id]
    assert got.updated_at > a.updated_at or got.updated_at == data.results[0].updated_at


def test_update_missing_ids_207(kind):
    a = kind.create_one()
    name = NAME_PROP[kind.name]
    value = kind.unique("upd")
    data, status = kind.update([
        SimplePublicObjectBatchInput(id=a.id, properties={name: value}),
        SimplePublicObjectBatchInput(id=MISSING[0], properties={name: "x"}),
    ])
    check_batch_envelope(data, status, 207)
    assert [r.id for r in data.results] == [a.id]
    assert data.results[0].properties[name] == value
    err = single_error(data)
    assert err.category == "OBJECT_NOT_FOUND"
    assert err.message.startswith(f"Could not update some {UPPER[kind.name]} objects"), err.message
    assert err.context["ids"] == [MISSING[0]]


def test_update_missing_ids_207_with_trace_ids(contacts):
    a = contacts.create_one()
    t_ok, t_missing = trace(), trace()
    data, status = contacts.update([
        SimplePublicObjectBatchInput(id=a.id, properties={"lastname": "Z"}, object_write_trace_id=t_ok),
        SimplePublicObjectBatchInput(id=MISSING[1], properties={"lastname": "Z"}, object_write_trace_id=t_missing),
    ])
    check_batch_envelope(data, status, 207)
    assert [r.id for r in data.results] == [a.id]
    err = single_error(data)
    assert err.category == "OBJECT_NOT_FOUND"
    assert err.context["ids"] == [MISSING[1]]
    assert err.context["objectWriteTraceId"] == [t_missing]


def test_update_invalid_value_400_nothing_changed(kind, unique):
    a, b = kind.create_one(), kind.create_one()
    name = NAME_PROP[kind.name]
    bogus = unique("nope")
    body = expect_error(
        lambda: kind.update([
            SimplePublicObjectBatchInput(id=a.id, properties={name: "changed"}),
            SimplePublicObjectBatchInput(id=b.id, properties={bogus: "x"}),
        ]),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    got = kind.client.crm.objects.basic_api.get_by_id(object_type=kind.name, object_id=a.id, properties=[name])
    assert got.properties[name] == a.properties[name]
    assert got.updated_at == a.updated_at


def test_update_invalid_option_400_nothing_changed(client, kind_factory):
    deals = kind_factory("deals")
    a, b = deals.create_one(), deals.create_one()
    body = expect_error(
        lambda: deals.update([
            SimplePublicObjectBatchInput(id=a.id, properties={"amount": "5"}),
            SimplePublicObjectBatchInput(id=b.id, properties={"amount": "6", "dealstage": "registered"}),
        ]),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    for deal in (a, b):
        got = client.crm.deals.basic_api.get_by_id(deal_id=deal.id, properties=["amount", "dealstage"])
        assert got.properties["amount"] == "100" and got.properties["dealstage"] == "appointmentscheduled"


def test_update_duplicate_ids_400(kind):
    a = kind.create_one()
    name = NAME_PROP[kind.name]
    body = expect_error(
        lambda: kind.update([
            SimplePublicObjectBatchInput(id=a.id, properties={name: "one"}),
            SimplePublicObjectBatchInput(id=a.id, properties={name: "two"}),
        ]),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert "Duplicate IDs found in batch input" in body["message"], body["message"]
    got = kind.client.crm.objects.basic_api.get_by_id(object_type=kind.name, object_id=a.id, properties=[name])
    assert got.properties[name] == a.properties[name]


def test_update_by_email_id_property(contacts):
    a = contacts.create_one()
    email = a.properties["email"]
    data, status = contacts.update([SimplePublicObjectBatchInput(id=email, id_property="email", properties={"lastname": "ByEmail"})])
    check_batch_envelope(data, status, 200)
    assert [r.id for r in data.results] == [a.id]
    assert data.results[0].properties["lastname"] == "ByEmail"


def test_update_101_inputs_400(contacts):
    a = contacts.create_one()
    body = expect_error(
        lambda: contacts.update([SimplePublicObjectBatchInput(id=a.id, properties={"lastname": str(i)}) for i in range(101)]), 400
    )
    assert body["category"] == "VALIDATION_ERROR"


# --- batch/upsert ---------------------------------------------------------------------------


def test_upsert_contacts_by_email_200_new_flags(client, contacts, unique_email):
    existing = contacts.create_one()
    email = existing.properties["email"]
    fresh = unique_email("up")
    data, status = contacts.upsert([
        SimplePublicObjectBatchInputUpsert(id=email.upper(), id_property="email", properties={"lastname": "Updated"}),
        SimplePublicObjectBatchInputUpsert(id=fresh, id_property="email", properties={"lastname": "Created", contacts.marker: contacts.tag}),
    ])
    check_batch_envelope(data, status, 200)
    assert len(data.results) == 2
    by_id = {r.id: r for r in data.results}
    assert by_id[existing.id].new is False
    assert by_id[existing.id].properties["lastname"] == "Updated"
    (created,) = [r for r in data.results if r.id != existing.id]
    assert created.new is True
    assert created.properties["email"] == fresh
    assert created.properties["lastname"] == "Created"
    got = client.crm.contacts.basic_api.get_by_id(contact_id=existing.id, properties=["lastname"])
    assert got.properties["lastname"] == "Updated"
    assert contacts.marked_ids() == {existing.id, created.id}


def test_upsert_all_new_is_200_not_201(contacts, unique_email):
    data, status = contacts.upsert(
        [SimplePublicObjectBatchInputUpsert(id=unique_email("up"), id_property="email", properties={"firstname": "N"}) for _ in range(2)]
    )
    check_batch_envelope(data, status, 200)
    assert [r.new for r in data.results] == [True, True]


@pytest.mark.parametrize("object_type", ["products", "companies"])
def test_upsert_by_custom_unique_property(client, kind_factory, unique, archive_later, object_type):
    kind = kind_factory(object_type)
    group = client.crm.properties.core_api.get_by_name(object_type=object_type, property_name="hs_object_id").group_name
    prop = archive_later(client, object_type, unique("uq"))
    client.crm.properties.core_api.create(
        object_type=object_type,
        property_create=PropertyCreate(name=prop, label="Unique", type="string", field_type="text", group_name=group, has_unique_value=True),
    )
    v1, v2 = unique("v"), unique("v")
    name = NAME_PROP[object_type]
    data, status = kind.upsert([
        SimplePublicObjectBatchInputUpsert(id=v1, id_property=prop, properties={name: "first", kind.marker: kind.tag}),
        SimplePublicObjectBatchInputUpsert(id=v2, id_property=prop, properties={name: "second", kind.marker: kind.tag}),
    ])
    check_batch_envelope(data, status, 200)
    assert all(r.new is True for r in data.results)
    ids = {r.properties[prop]: r.id for r in data.results}
    assert set(ids) == {v1, v2}
    data, status = kind.upsert([SimplePublicObjectBatchInputUpsert(id=v1, id_property=prop, properties={name: "again"})])
    check_batch_envelope(data, status, 200)
    (r,) = data.results
    assert r.new is False and r.id == ids[v1]
    assert r.properties[name] == "again"
    assert kind.marked_ids() == set(ids.values())


@pytest.mark.parametrize("id_property", ["firstname", "hs_object_id"])
def test_upsert_non_unique_id_property_400(contacts, id_property):
    a = contacts.create_one()
    value = a.properties["firstname"] if id_property == "firstname" else a.id
    body = expect_error(
        lambda: contacts.upsert([SimplePublicObjectBatchInputUpsert(id=value, id_property=id_property, properties={"lastname": "X"})]),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    got = contacts.client.crm.contacts.basic_api.get_by_id(contact_id=a.id, properties=["lastname"])
    assert got.properties["lastname"] is None


def test_upsert_deal_create_requires_required_properties(client, kind_factory, unique, archive_later):
    deals = kind_factory("deals")
    prop = archive_later(client, "deals", unique("uq"))
    client.crm.properties.core_api.create(
        object_type="deals",
        property_create=PropertyCreate(name=prop, label="Unique", type="string", field_type="text", group_name="dealinformation",
                                       has_unique_value=True),
    )
    v_new = unique("v")
    body = expect_error(
        lambda: deals.upsert([SimplePublicObjectBatchInputUpsert(id=v_new, id_property=prop, properties={"amount": "3", deals.marker: deals.tag})]),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert deals.marked_ids() == set()
    # an existing deal can be upserted with only non-required properties
    v_old = unique("v")
    existing = deals.create_one(**{prop: v_old})
    data, status = deals.upsert([SimplePublicObjectBatchInputUpsert(id=v_old, id_property=prop, properties={"amount": "7"})])
    check_batch_envelope(data, status, 200)
    assert [(r.id, r.new, r.properties["amount"]) for r in data.results] == [(existing.id, False, "7")]
    # and a new one with the required properties is created
    required = {"dealname": unique("D"), "pipeline": "default", "dealstage": "appointmentscheduled", deals.marker: deals.tag}
    data, status = deals.upsert([SimplePublicObjectBatchInputUpsert(id=v_new, id_property=prop, properties=required)])
    check_batch_envelope(data, status, 200)
    (r,) = data.results
    assert r.new is True and r.properties[prop] == v_new and r.properties["dealname"] == required["dealname"]


def test_upsert_101_inputs_400(contacts, unique_email):
    body = expect_error(
        lambda: contacts.upsert(
            [SimplePublicObjectBatchInputUpsert(id=unique_email("up"), id_property="email", properties={contacts.marker: contacts.tag}) for _ in range(101)]
        ),
        400,
    )
    assert body["category"] == "VALIDATION_ERROR"
    assert contacts.marked_ids() == set()


# --- batch/archive --------------------------------------------------------------------------


def test_archive_204_also_for_unknown_ids(kind):
    a, b, c = kind.create_one(), kind.create_one(), kind.create_one()
    data, status = kind.archive([a.id, b.id, MISSING[0]])
    assert status == 204 and data is None
    assert kind.marked_ids() == {c.id}
    data, status = kind.read([a.id, b.id, c.id])
    check_batch_envelope(data, status, 207)
    assert [r.id for r in data.results] == [c.id]
    assert sorted(single_error(data).context["ids"]) == sorted([a.id, b.id])
    data, status = kind.read([a.id, b.id], archived=True)
    assert {r.id for r in data.results} == {a.id, b.id}
    assert all(r.archived is True for r in data.results)
    # archiving again (already archived) is still 204
    _, status = kind.archive([a.id])
    assert status == 204


def test_archive_204_raw_has_no_body(raw, contacts):
    a = contacts.create_one()
    r = raw.post("/crm/v3/objects/contacts/batch/archive", json={"inputs": [{"id": a.id}, {"id": MISSING[1]}]})
    assert r.status_code == 204 and r.content == b""


def test_archive_101_inputs_400(contacts):
    a = contacts.create_one()
    body = expect_error(lambda: contacts.archive([a.id] + [str(900000000 + i) for i in range(100)]), 400)
    assert body["category"] == "VALIDATION_ERROR"
    assert contacts.marked_ids() == {a.id}
