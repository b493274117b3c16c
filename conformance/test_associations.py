"""Associations v4 through client.crm.associations.v4 (basic_api, batch_api, schema.definitions_api),
inline associations on contact create and the v3 `associations=` read.

Every test creates its own records; label names are unique per test.
"""
import pytest

from hubspot.crm.associations.v4 import ApiException as AssocApiException
from hubspot.crm.associations.v4 import (
    AssociationSpec,
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicDefaultAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicAssociationMultiArchive,
    PublicAssociationMultiPost,
    PublicDefaultAssociationMultiPost,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.associations.v4 import PublicObjectId as V4Id
from hubspot.crm.associations.v4.schema import ApiException as AssocSchemaApiException
from hubspot.crm.associations.v4.schema import (
    PublicAssociationDefinitionCreateRequest,
    PublicAssociationDefinitionUpdateRequest,
)
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import AssociationSpec as ContactAssocSpec
from hubspot.crm.contacts import PublicAssociationsForObject, PublicObjectId
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate

from spoke_helpers import error_body

API_EXCEPTIONS = (AssocApiException, AssocSchemaApiException, ContactsApiException, CompaniesApiException)
MISSING_ID = "987654321098"


def expect_error(call, status, category=None):
    with pytest.raises(API_EXCEPTIONS) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    body = error_body(info.value)
    if category is not None:
        assert body["category"] == category, body
    return body


def ids_of(item):
    return sorted(t.type_id for t in item.association_types)


@pytest.fixture(scope="module")
def basic(client):
    return client.crm.associations.v4.basic_api


@pytest.fixture(scope="module")
def batch(client):
    return client.crm.associations.v4.batch_api


@pytest.fixture(scope="module")
def defs(client):
    return client.crm.associations.v4.schema.definitions_api


@pytest.fixture
def new_contact(client, unique):
    def make(associations=None):
        return client.crm.contacts.basic_api.create(
            simple_public_object_input_for_create=ContactCreate(
                properties={"email": f"{unique('a')}@example.com"}, associations=associations or []
            )
        ).id

    return make


@pytest.fixture
def new_company(client, unique):
    def make():
        return client.crm.companies.basic_api.create(
            simple_public_object_input_for_create=CompanyCreate(properties={"name": unique("co")})
        ).id

    return make


@pytest.fixture
def new_deal(client, unique):
    def make():
        return client.crm.deals.basic_api.create(
            simple_public_object_input_for_create=DealCreate(
                properties={"dealname": unique("d"), "pipeline": "default", "dealstage": "appointmentscheduled"}
            )
        ).id

    return make


def test_default_association_idempotent_both_directions(basic, new_contact, new_company):
    contact, company = new_contact(), new_company()
    for _ in range(2):
        res, status, _ = basic.create_default_with_http_info(
            from_object_type="contacts", from_object_id=contact, to_object_type="companies", to_object_id=company
        )
        assert status == 200
        assert len(res.results) == 1
        r = res.results[0]
        assert r._from.id == contact and r.to.id == company
        assert (r.association_spec.association_category, r.association_spec.association_type_id) == ("HUBSPOT_DEFINED", 279)
    page = basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies")
    assert [x.to_object_id for x in page.results] == [company]
    assert [(t.category, t.type_id, t.label) for t in page.results[0].association_types] == [("HUBSPOT_DEFINED", 279, None)]
    assert page.paging is None
    back = basic.get_page(object_type="company", object_id=company, to_object_type="0-1")
    assert [x.to_object_id for x in back.results] == [contact]
    assert [(t.category, t.type_id, t.label) for t in back.results[0].association_types] == [("HUBSPOT_DEFINED", 280, None)]


def test_labelled_put_inverse_and_v3_read(client, basic, defs, new_contact, new_company, unique):
    contact, company = new_contact(), new_company()
    name = unique("boss")
    made, status, _ = defs.create_with_http_info(
        from_object_type="contacts",
        to_object_type="companies",
        public_association_definition_create_request=PublicAssociationDefinitionCreateRequest(
            name=name, label=f"Boss {name}", inverse_label=f"Employer {name}"
        ),
    )
    assert status == 200
    by_label = {x.label: x.type_id for x in made.results}
    boss, employer = by_label[f"Boss {name}"], by_label[f"Employer {name}"]
    res, status, _ = basic.create_with_http_info(
        object_type="contacts",
        object_id=contact,
        to_object_type="companies",
        to_object_id=company,
        association_spec=[
            AssociationSpec(association_category="USER_DEFINED", association_type_id=boss),
            AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1),
        ],
    )
    assert status == 201
    assert sorted(res.labels) == sorted([f"Boss {name}", "Primary"])
    fwd = basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies")
    assert ids_of(fwd.results[0]) == sorted([1, 279, boss])
    back = basic.get_page(object_type="companies", object_id=company, to_object_type="contacts")
    assert ids_of(back.results[0]) == sorted([2, 280, employer])
    labels = {t.type_id: t.label for t in back.results[0].association_types}
    assert labels == {2: "Primary", 280: None, employer: f"Employer {name}"}

    # v3 read: one {id, type} per association type; unknown names ignored
    got = client.crm.contacts.basic_api.get_by_id(contact_id=contact, associations=["companies", "nonsense"])
    results = got.associations["companies"].results
    assert sorted(r.type for r in results) == sorted([name, "contact_to_company", "contact_to_company_unlabeled"])
    assert all(r.id == company for r in results)
    assert set(got.associations) == {"companies"}

    # a labelled PUT replaces the label set (plus unlabeled)
    res = basic.create(
        object_type="contacts",
        object_id=contact,
        to_object_type="companies",
        to_object_id=company,
        association_spec=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)],
    )
    assert res.labels == []
    fwd = basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies")
    assert ids_of(fwd.results[0]) == [279]


def test_inline_association_on_create_and_archive_hides(client, basic, new_contact, new_company):
    company = new_company()
    contact = new_contact(
        associations=[
            PublicAssociationsForObject(
                to=PublicObjectId(id=company),
                types=[
                    ContactAssocSpec(association_category="HUBSPOT_DEFINED", association_type_id=279),
                    ContactAssocSpec(association_category="HUBSPOT_DEFINED", association_type_id=1),
                ],
            )
        ]
    )
    back = basic.get_page(object_type="companies", object_id=company, to_object_type="contacts")
    assert [x.to_object_id for x in back.results] == [contact]
    assert ids_of(back.results[0]) == [2, 280]
    got = client.crm.contacts.basic_api.get_by_id(contact_id=contact, associations=["companies"])
    assert sorted((r.id, r.type) for r in got.associations["companies"].results) == [
        (company, "contact_to_company"),
        (company, "contact_to_company_unlabeled"),
    ]
    client.crm.companies.basic_api.archive(company_id=company)
    assert basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies").results == []
    got = client.crm.contacts.basic_api.get_by_id(contact_id=contact, associations=["companies"])
    assert got.associations is None
    # associating with the archived record is refused
    expect_error(
        lambda: basic.create_default(
            from_object_type="contacts", from_object_id=contact, to_object_type="companies", to_object_id=company
        ),
        400,
        "VALIDATION_ERROR",
    )


def test_inline_association_to_missing_record_400(client, new_contact):
    expect_error(
        lambda: new_contact(
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=MISSING_ID),
                    types=[ContactAssocSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)],
                )
            ]
        ),
        400,
        "VALIDATION_ERROR",
    )


def test_associate_with_missing_record_400(basic, new_contact, new_company):
    contact, company = new_contact(), new_company()
    expect_error(
        lambda: basic.create_default(
            from_object_type="contacts", from_object_id=contact, to_object_type="companies", to_object_id=MISSING_ID
        ),
        400,
        "VALIDATION_ERROR",
    )
    expect_error(
        lambda: basic.create(
            object_type="contacts",
            object_id=MISSING_ID,
            to_object_type="companies",
            to_object_id=company,
            association_spec=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)],
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert basic.get_page(object_type="companies", object_id=company, to_object_type="contacts").results == []


def test_unknown_type_id_in_labelled_put_400(basic, new_contact, new_company):
    contact, company = new_contact(), new_company()
    expect_error(
        lambda: basic.create(
            object_type="contacts",
            object_id=contact,
            to_object_type="companies",
            to_object_id=company,
            association_spec=[AssociationSpec(association_category="USER_DEFINED", association_type_id=424242)],
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies").results == []


def test_delete_pair_removes_both_directions(basic, new_contact, new_company):
    contact, company = new_contact(), new_company()
    basic.create(
        object_type="contacts",
        object_id=contact,
        to_object_type="companies",
        to_object_id=company,
        association_spec=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    _, status, _ = basic.archive_with_http_info(
        object_type="companies", object_id=company, to_object_type="contacts", to_object_id=contact
    )
    assert status == 204
    assert basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies").results == []
    assert basic.get_page(object_type="companies", object_id=company, to_object_type="contacts").results == []


def test_labels_crud(defs, unique):
    listed = defs.get_all(from_object_type="contacts", to_object_type="companies").results
    got = {(x.category, x.type_id, x.label) for x in listed}
    assert {("HUBSPOT_DEFINED", 1, "Primary"), ("HUBSPOT_DEFINED", 279, None)} <= got
    name = unique("rel")
    made, status, _ = defs.create_with_http_info(
        from_object_type="contacts",
        to_object_type="companies",
        public_association_definition_create_request=PublicAssociationDefinitionCreateRequest(
            name=name, label="Advisor", inverse_label="Advised"
        ),
    )
    assert status == 200
    assert sorted(x.label for x in made.results) == ["Advised", "Advisor"]
    advisor = next(x.type_id for x in made.results if x.label == "Advisor")
    _, status, _ = defs.update_with_http_info(
        from_object_type="contacts",
        to_object_type="companies",
        public_association_definition_update_request=PublicAssociationDefinitionUpdateRequest(
            association_type_id=advisor, label="Mentor"
        ),
    )
    assert status == 204
    listed = defs.get_all(from_object_type="contacts", to_object_type="companies").results
    assert [x.label for x in listed if x.type_id == advisor] == ["Mentor"]
    expect_error(
        lambda: defs.remove(from_object_type="contacts", to_object_type="companies", association_type_id=279),
        400,
        "VALIDATION_ERROR",
    )
    _, status, _ = defs.remove_with_http_info(from_object_type="contacts", to_object_type="companies", association_type_id=advisor)
    assert status == 204
    listed = defs.get_all(from_object_type="contacts", to_object_type="companies").results
    assert advisor not in {x.type_id for x in listed}


def test_batch_create_read_archive(basic, batch, new_contact, new_company, new_deal):
    contact = new_contact()
    deals = [new_deal() for _ in range(3)]
    spec = [AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=4)]
    inputs = [PublicAssociationMultiPost(_from=V4Id(id=contact), to=V4Id(id=d), types=spec) for d in deals]
    inputs.append(PublicAssociationMultiPost(_from=V4Id(id=contact), to=V4Id(id=MISSING_ID), types=spec))
    res, status, _ = batch.create_with_http_info(
        from_object_type="contacts",
        to_object_type="deals",
        batch_input_public_association_multi_post=BatchInputPublicAssociationMultiPost(inputs=inputs),
    )
    assert status == 207
    assert res.num_errors == 1
    assert sorted(str(r.to_object_id) for r in res.results) == sorted(deals)
    assert all(str(r.from_object_id) == contact for r in res.results)
    assert len(res.errors) == 1

    # batch read: one record with associations, one without → 207 with OBJECT_NOT_FOUND
    lonely = new_deal()
    read, status, _ = batch.get_page_with_http_info(
        from_object_type="deals",
        to_object_type="contacts",
        batch_input_public_fetch_associations_batch_request=BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[PublicFetchAssociationsBatchRequest(id=deals[0]), PublicFetchAssociationsBatchRequest(id=lonely)]
        ),
    )
    assert status == 207
    assert len(read.results) == 1
    assert read.results[0]._from.id == deals[0]
    assert [x.to_object_id for x in read.results[0].to] == [contact]
    assert ids_of(read.results[0].to[0]) == [3]
    assert read.results[0].paging is None
    assert read.num_errors == 1
    assert [e.category for e in read.errors] == ["OBJECT_NOT_FOUND"]
    assert read.errors[0].status == "error"
    assert read.errors[0].context["fromObjectId"] == [lonely]

    # batch archive removes every type between the listed pairs, both directions
    _, status, _ = batch.archive_with_http_info(
        from_object_type="contacts",
        to_object_type="deals",
        batch_input_public_association_multi_archive=BatchInputPublicAssociationMultiArchive(
            inputs=[PublicAssociationMultiArchive(_from=V4Id(id=contact), to=[V4Id(id=deals[0]), V4Id(id=deals[1])])]
        ),
    )
    assert status == 204
    left = basic.get_page(object_type="contacts", object_id=contact, to_object_type="deals")
    assert [x.to_object_id for x in left.results] == [deals[2]]
    assert basic.get_page(object_type="deals", object_id=deals[0], to_object_type="contacts").results == []


def test_batch_default_and_archive_labels(basic, batch, new_contact, new_company):
    contact, company = new_contact(), new_company()
    res, status, _ = batch.create_default_with_http_info(
        from_object_type="contacts",
        to_object_type="companies",
        batch_input_public_default_association_multi_post=BatchInputPublicDefaultAssociationMultiPost(
            inputs=[PublicDefaultAssociationMultiPost(_from=V4Id(id=contact), to=V4Id(id=company))]
        ),
    )
    assert status == 200
    assert [(r._from.id, r.to.id, r.association_spec.association_type_id) for r in res.results] == [(contact, company, 279)]
    basic.create(
        object_type="contacts",
        object_id=contact,
        to_object_type="companies",
        to_object_id=company,
        association_spec=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
    )
    # removing only Primary keeps the unlabeled type
    _, status, _ = batch.archive_labels_with_http_info(
        from_object_type="contacts",
        to_object_type="companies",
        batch_input_public_association_multi_post=BatchInputPublicAssociationMultiPost(
            inputs=[
                PublicAssociationMultiPost(
                    _from=V4Id(id=contact),
                    to=V4Id(id=company),
                    types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=1)],
                )
            ]
        ),
    )
    assert status == 204
    page = basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies")
    assert ids_of(page.results[0]) == [279]
    assert ids_of(basic.get_page(object_type="companies", object_id=company, to_object_type="contacts").results[0]) == [280]
    # removing the unlabeled type removes everything
    _, status, _ = batch.archive_labels_with_http_info(
        from_object_type="contacts",
        to_object_type="companies",
        batch_input_public_association_multi_post=BatchInputPublicAssociationMultiPost(
            inputs=[
                PublicAssociationMultiPost(
                    _from=V4Id(id=contact),
                    to=V4Id(id=company),
                    types=[AssociationSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)],
                )
            ]
        ),
    )
    assert status == 204
    assert basic.get_page(object_type="contacts", object_id=contact, to_object_type="companies").results == []
    assert basic.get_page(object_type="companies", object_id=company, to_object_type="contacts").results == []
