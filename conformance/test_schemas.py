"""Schemas v3 (custom objects) through client.crm.schemas.core_api, records of a custom object
through client.crm.objects.* (by objectTypeId "2-…", by fullyQualifiedName and by bare name), and
the end-to-end custom-object scenario with Associations v4 labels.

Every test defines its own object type "<prefix>_<12 hex>", so tests can share the server.
"""
import json

import pytest

from hubspot.crm.associations.v4 import ApiException as AssocApiException
from hubspot.crm.associations.v4 import AssociationSpec as V4Spec
from hubspot.crm.associations.v4.schema import ApiException as AssocSchemaApiException
from hubspot.crm.associations.v4.schema import PublicAssociationDefinitionCreateRequest
from hubspot.crm.companies import ApiException as CompaniesApiException
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import ApiException as ContactsApiException
from hubspot.crm.contacts import AssociationSpec as ContactAssocSpec
from hubspot.crm.contacts import PublicAssociationsForObject, PublicObjectId
from hubspot.crm.contacts import SimplePublicObjectInputForCreate as ContactCreate
from hubspot.crm.objects import ApiException as ObjectsApiException
from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInputForCreate as ObjBatchCreate
from hubspot.crm.objects import PublicObjectSearchRequest
from hubspot.crm.objects import SimplePublicObjectBatchInputForCreate as ObjBatchCreateInput
from hubspot.crm.objects import SimplePublicObjectInputForCreate as ObjCreate
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.schemas import ApiException as SchemasApiException
from hubspot.crm.schemas import (
    AssociationDefinitionEgg,
    ObjectSchemaEgg,
    ObjectTypeDefinitionLabels,
    ObjectTypeDefinitionPatch,
    ObjectTypePropertyCreate,
)

from spoke_helpers import error_body

API_EXCEPTIONS = (
    SchemasApiException,
    ObjectsApiException,
    AssocApiException,
    AssocSchemaApiException,
    ContactsApiException,
    CompaniesApiException,
    PropertiesApiException,
)


def expect_error(call, status, category=None):
    with pytest.raises(API_EXCEPTIONS) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    body = error_body(info.value)
    if category is not None:
        assert body["category"] == category, body
    return body


def project_egg(name, associated=("CONTACT", "0-2")):
    return ObjectSchemaEgg(
        name=name,
        labels=ObjectTypeDefinitionLabels(singular="Project", plural="Projects"),
        primary_display_property="project_name",
        required_properties=["project_name"],
        searchable_properties=["project_name", "project_code"],
        properties=[
            ObjectTypePropertyCreate(name="project_name", label="Name", type="string", field_type="text"),
            ObjectTypePropertyCreate(
                name="project_code", label="Code", type="string", field_type="text", has_unique_value=True
            ),
            ObjectTypePropertyCreate(name="budget", label="Budget", type="number", field_type="number"),
        ],
        associated_objects=list(associated),
    )


@pytest.fixture(scope="module")
def schemas(client):
    return client.crm.schemas.core_api


@pytest.fixture
def new_schema(schemas, unique):
    """new_schema(prefix="projects") -> ObjectSchema of a freshly created project-like type."""

    def make(prefix="projects", **kw):
        name = unique(prefix)
        schema, status, _ = schemas.create_with_http_info(object_schema_egg=project_egg(name, **kw))
        assert status == 201
        return schema

    return make


def ids_of(assoc_item):
    return sorted(t.type_id for t in assoc_item.association_types)


# --- schema definitions ---------------------------------------------------------------------------


def test_create_schema_shape(schemas, unique, account_id):
    name = unique("projects")
    schema, status, _ = schemas.create_with_http_info(object_schema_egg=project_egg(name))
    assert status == 201
    assert schema.name == name
    assert schema.object_type_id.startswith("2-")
    assert schema.id == schema.object_type_id[len("2-"):]
    assert schema.id.isdigit()
    assert schema.fully_qualified_name == f"p{account_id}_{name}"
    assert schema.labels.singular == "Project" and schema.labels.plural == "Projects"
    assert schema.required_properties == ["project_name"]
    assert schema.searchable_properties == ["project_name", "project_code"]
    assert schema.primary_display_property == "project_name"
    assert schema.archived is False
    by_name = {p.name: p for p in schema.properties}
    assert set(by_name) >= {"project_name", "project_code", "budget"}
    assert by_name["project_code"].has_unique_value is True
    assert by_name["budget"].type == "number"
    assert [(a.from_object_type_id, a.to_object_type_id) for a in schema.associations] == [
        (schema.object_type_id, "0-1"),
        (schema.object_type_id, "0-2"),
    ]
    assert all(a.id.isdigit() for a in schema.associations)


def test_get_by_type_id_fqn_and_list(schemas, new_schema):
    schema = new_schema()
    for key in (schema.object_type_id, schema.fully_qualified_name):
        got = schemas.get_by_id(object_type=key)
        assert got.name == schema.name, key
        assert got.object_type_id == schema.object_type_id
        assert got.fully_qualified_name == schema.fully_qualified_name
    listed = schemas.get_all()
    mine = [s for s in listed.results if s.object_type_id == schema.object_type_id]
    assert len(mine) == 1 and mine[0].name == schema.name


def test_get_unknown_schema_404(schemas):
    expect_error(lambda: schemas.get_by_id(object_type="2-987654321"), 404, "OBJECT_NOT_FOUND")


def test_duplicate_schema_name_409(schemas, new_schema):
    schema = new_schema()
    expect_error(lambda: schemas.create(object_schema_egg=project_egg(schema.name)), 409, "CONFLICT")


def test_unknown_required_property_400(schemas, unique):
    egg = ObjectSchemaEgg(
        name=unique("bad"),
        labels=ObjectTypeDefinitionLabels(singular="X", plural="Xs"),
        required_properties=["nope"],
        properties=[ObjectTypePropertyCreate(name="real", label="Real", type="string", field_type="text")],
        associated_objects=[],
    )
    expect_error(lambda: schemas.create(object_schema_egg=egg), 400, "VALIDATION_ERROR")


def test_update_patch(schemas, new_schema):
    schema = new_schema()
    patched, status, _ = schemas.update_with_http_info(
        object_type=schema.object_type_id,
        object_type_definition_patch=ObjectTypeDefinitionPatch(
            labels=ObjectTypeDefinitionLabels(singular="Project", plural="All projects"),
            searchable_properties=["project_code"],
        ),
    )
    assert status == 200
    assert patched.labels.plural == "All projects"
    assert patched.searchable_properties == ["project_code"]
    assert patched.name == schema.name
    got = schemas.get_by_id(object_type=schema.fully_qualified_name)
    assert got.labels.plural == "All projects"
    assert got.searchable_properties == ["project_code"]
    expect_error(
        lambda: schemas.update(
            object_type=schema.object_type_id,
            object_type_definition_patch=ObjectTypeDefinitionPatch(required_properties=["nope"]),
        ),
        400,
        "VALIDATION_ERROR",
    )


def test_patch_searchable_properties_reindexes_stored_records(client, schemas, new_schema, unique):
    """Records stored before searchableProperties changed are found by the new list at once."""
    schema = new_schema()
    tid = schema.object_type_id
    word = unique("w").replace("_", "")
    objects = client.crm.objects
    created = objects.batch_api.create(
        object_type=tid,
        batch_input_simple_public_object_batch_input_for_create=ObjBatchCreate(
            inputs=[
                ObjBatchCreateInput(properties={"project_name": f"{word} {i}", "project_code": unique("c")})
                for i in range(3)
            ]
        ),
    )
    assert len(created.results) == 3

    def total(query):
        return objects.search_api.do_search(
            object_type=tid, public_object_search_request=PublicObjectSearchRequest(query=query)
        ).total

    assert total(word) == 3
    schemas.update(
        object_type=tid,
        object_type_definition_patch=ObjectTypeDefinitionPatch(searchable_properties=["project_code"]),
    )
    assert total(word) == 0
    schemas.update(
        object_type=tid,
        object_type_definition_patch=ObjectTypeDefinitionPatch(searchable_properties=["project_name"]),
    )
    assert total(word) == 3


def test_patch_response_has_no_properties(schemas, new_schema, raw):
    """PATCH answers an ObjectTypeDefinition: no `properties`/`associations` members."""
    schema = new_schema()
    r = raw.patch(f"/crm-object-schemas/v3/schemas/{schema.object_type_id}", json={"description": "d"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "properties" not in body and "associations" not in body, body
    assert body["id"] == schema.id


def test_association_definition_create_and_archive(schemas, new_schema):
    schema = new_schema(associated=())
    assert schema.associations == []
    created, status, _ = schemas.create_association_with_http_info(
        object_type=schema.object_type_id,
        association_definition_egg=AssociationDefinitionEgg(
            from_object_type_id=schema.object_type_id, to_object_type_id="0-3", name="project_deal"
        ),
    )
    assert status == 201
    assert created.from_object_type_id == schema.object_type_id
    assert created.to_object_type_id == "0-3"
    assert created.id.isdigit()
    got = schemas.get_by_id(object_type=schema.object_type_id)
    assert [a.id for a in got.associations if a.to_object_type_id == "0-3"] == [created.id]
    _, status, _ = schemas.archive_association_with_http_info(
        object_type=schema.object_type_id, association_identifier=created.id
    )
    assert status == 204
    got = schemas.get_by_id(object_type=schema.object_type_id)
    assert [a for a in got.associations if a.to_object_type_id == "0-3"] == []


def test_archive_with_live_records_400_then_archive(schemas, new_schema, client):
    schema = new_schema()
    rec = client.crm.objects.basic_api.create(
        object_type=schema.object_type_id,
        simple_public_object_input_for_create=ObjCreate(properties={"project_name": "Live"}),
    )
    expect_error(lambda: schemas.archive(object_type=schema.object_type_id), 400, "VALIDATION_ERROR")
    client.crm.objects.basic_api.archive(object_type=schema.object_type_id, object_id=rec.id)
    _, status, _ = schemas.archive_with_http_info(object_type=schema.object_type_id)
    assert status == 204
    expect_error(lambda: schemas.get_by_id(object_type=schema.object_type_id), 404, "OBJECT_NOT_FOUND")
    # hard delete frees the name
    _, status, _ = schemas.archive_with_http_info(object_type=schema.object_type_id, archived=True)
    assert status == 204
    again, status, _ = schemas.create_with_http_info(object_schema_egg=project_egg(schema.name))
    assert status == 201
    assert again.object_type_id != schema.object_type_id


# --- records of a custom object ---------------------------------------------------------------------


def test_records_by_every_name_required_and_unique(new_schema, client, unique):
    schema = new_schema()
    objects = client.crm.objects
    code = unique("AP").upper()
    a = objects.basic_api.create(
        object_type=schema.object_type_id,
        simple_public_object_input_for_create=ObjCreate(properties={"project_name": "Alpha", "project_code": code}),
    )
    assert a.properties["project_name"] == "Alpha"
    assert a.properties["hs_object_id"] == a.id
    assert isinstance(a.properties["hs_createdate"], str)
    b = objects.basic_api.create(
        object_type=schema.fully_qualified_name,
        simple_public_object_input_for_create=ObjCreate(properties={"project_name": "Beta"}),
    )
    batch, status, _ = objects.batch_api.create_with_http_info(
        object_type=schema.name,
        batch_input_simple_public_object_batch_input_for_create=ObjBatchCreate(
            inputs=[ObjBatchCreateInput(properties={"project_name": "Gamma"}, associations=[])]
        ),
    )
    assert status == 201
    c_id = batch.results[0].id
    for key in (schema.object_type_id, schema.fully_qualified_name, schema.name):
        for rid, nm in ((a.id, "Alpha"), (b.id, "Beta"), (c_id, "Gamma")):
            got = objects.basic_api.get_by_id(object_type=key, object_id=rid, properties=["project_name"])
            assert got.properties["project_name"] == nm, (key, rid)
    page = objects.basic_api.get_page(object_type=schema.name, limit=10)
    assert sorted(r.id for r in page.results) == sorted([a.id, b.id, c_id])

    body = expect_error(
        lambda: objects.basic_api.create(
            object_type=schema.fully_qualified_name,
            simple_public_object_input_for_create=ObjCreate(properties={"project_code": unique("X")}),
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert body["errors"][0]["code"] == "REQUIRED_PROPERTY", body
    # unique values compare case-insensitively
    expect_error(
        lambda: objects.basic_api.create(
            object_type=schema.name,
            simple_public_object_input_for_create=ObjCreate(
                properties={"project_name": "Dup", "project_code": code.lower()}
            ),
        ),
        400,
        "VALIDATION_ERROR",
    )
    by_code = objects.basic_api.get_by_id(
        object_type=schema.fully_qualified_name, object_id=code, id_property="project_code", properties=["project_name"]
    )
    assert by_code.id == a.id and by_code.properties["project_name"] == "Alpha"


def test_properties_api_on_custom_type(new_schema, client):
    schema = new_schema()
    prop = client.crm.properties.core_api.get_by_name(object_type=schema.object_type_id, property_name="project_code")
    assert prop.has_unique_value is True
    assert prop.group_name == f"{schema.name}_information"


def test_unknown_custom_type_records_400(client):
    expect_error(lambda: client.crm.objects.basic_api.get_page(object_type="2-987654321"), 400, "VALIDATION_ERROR")


# --- the scenario, end to end -----------------------------------------------------------------


def test_custom_object_end_to_end(client, schemas, unique, account_id):
    name = unique("projects")
    tag = unique("zz").replace("_", "")
    schema, status, _ = schemas.create_with_http_info(object_schema_egg=project_egg(name, associated=("CONTACT", "COMPANY")))
    assert status == 201
    tid, fqn = schema.object_type_id, schema.fully_qualified_name
    assert fqn == f"p{account_id}_{name}"
    unlabeled_pc = next(a.id for a in schema.associations if a.to_object_type_id == "0-1")
    unlabeled_pco = next(a.id for a in schema.associations if a.to_object_type_id == "0-2")

    # records
    objects = client.crm.objects
    code = f"AP-{tag}"
    p1 = objects.basic_api.create(
        object_type=tid,
        simple_public_object_input_for_create=ObjCreate(properties={"project_name": f"Apollo {tag}", "project_code": code}),
    )
    p2 = objects.basic_api.create(
        object_type=fqn,
        simple_public_object_input_for_create=ObjCreate(properties={"project_name": "Gemini", "project_code": unique("GE")}),
    )
    company = client.crm.companies.basic_api.create(
        simple_public_object_input_for_create=CompanyCreate(properties={"name": f"Acme {tag}"})
    )
    contact = client.crm.contacts.basic_api.create(
        simple_public_object_input_for_create=ContactCreate(
            properties={"email": f"{tag}@example.com"},
            associations=[
                PublicAssociationsForObject(
                    to=PublicObjectId(id=company.id),
                    types=[ContactAssocSpec(association_category="HUBSPOT_DEFINED", association_type_id=279)],
                )
            ],
        )
    )

    # custom labels on projects→contacts and projects→companies, with inverses
    defs = client.crm.associations.v4.schema.definitions_api
    made, status, _ = defs.create_with_http_info(
        from_object_type=tid,
        to_object_type="contacts",
        public_association_definition_create_request=PublicAssociationDefinitionCreateRequest(
            name="project_lead", label="Project lead", inverse_label="Leads project"
        ),
    )
    assert status == 200
    by_label = {x.label: x for x in made.results}
    assert set(by_label) == {"Project lead", "Leads project"}
    assert all(x.category == "USER_DEFINED" for x in made.results)
    lead, leads = by_label["Project lead"].type_id, by_label["Leads project"].type_id
    assert lead != leads
    made, status, _ = defs.create_with_http_info(
        from_object_type=name,
        to_object_type="companies",
        public_association_definition_create_request=PublicAssociationDefinitionCreateRequest(
            name="sponsor", label="Sponsored by", inverse_label="Sponsors"
        ),
    )
    assert status == 200
    by_label = {x.label: x.type_id for x in made.results}
    sponsored_by, sponsors = by_label["Sponsored by"], by_label["Sponsors"]
    # the new labels are listed for the pair, both directions
    fwd = {(x.category, x.type_id, x.label) for x in defs.get_all(from_object_type=fqn, to_object_type="0-1").results}
    assert ("USER_DEFINED", lead, "Project lead") in fwd
    # a custom object's own (schema-defined) association types are USER_DEFINED, label null
    assert ("USER_DEFINED", int(unlabeled_pc), None) in fwd
    back = {(x.category, x.type_id, x.label) for x in defs.get_all(from_object_type="contacts", to_object_type=tid).results}
    assert ("USER_DEFINED", leads, "Leads project") in back
    unlabeled_cp = next(t for c, t, lbl in back if lbl is None)

    # labelled associations
    basic = client.crm.associations.v4.basic_api
    res, status, _ = basic.create_with_http_info(
        object_type=tid,
        object_id=p1.id,
        to_object_type="contacts",
        to_object_id=contact.id,
        association_spec=[V4Spec(association_category="USER_DEFINED", association_type_id=lead)],
    )
    assert status == 201
    assert res.labels == ["Project lead"]
    assert res.from_object_type_id == tid and res.to_object_type_id == "0-1"
    assert str(res.from_object_id) == p1.id and str(res.to_object_id) == contact.id
    res, status, _ = basic.create_with_http_info(
        object_type=fqn,
        object_id=p1.id,
        to_object_type="companies",
        to_object_id=company.id,
        association_spec=[V4Spec(association_category="USER_DEFINED", association_type_id=sponsored_by)],
    )
    assert status == 201
    assert res.labels == ["Sponsored by"]

    # both ends, with each direction's type ids
    from_project = basic.get_page(object_type=name, object_id=p1.id, to_object_type="contacts")
    assert [r.to_object_id for r in from_project.results] == [contact.id]
    assert ids_of(from_project.results[0]) == sorted([int(unlabeled_pc), lead])
    labels = {t.type_id: t.label for t in from_project.results[0].association_types}
    assert labels[lead] == "Project lead" and labels[int(unlabeled_pc)] is None
    from_contact = basic.get_page(object_type="contacts", object_id=contact.id, to_object_type=tid)
    assert [r.to_object_id for r in from_contact.results] == [p1.id]
    assert ids_of(from_contact.results[0]) == sorted([unlabeled_cp, leads])
    from_contact = basic.get_page(object_type="0-1", object_id=contact.id, to_object_type=fqn)
    assert [r.to_object_id for r in from_contact.results] == [p1.id]
    from_company = basic.get_page(object_type="companies", object_id=company.id, to_object_type=name)
    assert [r.to_object_id for r in from_company.results] == [p1.id]
    assert sponsors in ids_of(from_company.results[0])
    assert sponsored_by not in ids_of(from_company.results[0])
    from_project_co = basic.get_page(object_type=tid, object_id=p1.id, to_object_type="companies")
    assert ids_of(from_project_co.results[0]) == sorted([int(unlabeled_pco), sponsored_by])
    # p2 has none
    assert basic.get_page(object_type=tid, object_id=p2.id, to_object_type="contacts").results == []

    # search by query (searchableProperties), read by the unique property
    found = objects.search_api.do_search(
        object_type=tid, public_object_search_request=PublicObjectSearchRequest(query=tag, properties=["project_name"])
    )
    assert found.total == 1
    assert [r.id for r in found.results] == [p1.id]
    by_code = objects.basic_api.get_by_id(
        object_type=fqn, object_id=code, id_property="project_code", properties=["project_name", "project_code"]
    )
    assert by_code.id == p1.id
    assert by_code.properties["project_code"] == code

    # archiving the company hides its associations from the contact and from the project
    assert [r.to_object_id for r in basic.get_page(object_type="contacts", object_id=contact.id, to_object_type="companies").results] == [company.id]
    client.crm.companies.basic_api.archive(company_id=company.id)
    assert basic.get_page(object_type="contacts", object_id=contact.id, to_object_type="companies").results == []
    assert basic.get_page(object_type=tid, object_id=p1.id, to_object_type="companies").results == []
    # the project↔contact association is untouched
    assert [r.to_object_id for r in basic.get_page(object_type="contacts", object_id=contact.id, to_object_type=tid).results] == [p1.id]
