"""Pipelines v3 (pipelines, stages, audits) through client.crm.pipelines.*, and deal/ticket records
validated against them.

Every test works on its own uniquely labelled pipelines; the seeded defaults ("default" for deals,
"0" for tickets) are only read, never changed.

SDK notes (hubspot-api-client 12.0.0):
- PipelineInput / PipelineStageInput have no pipelineId / stageId fields, so bodies that need them
  are passed as plain dicts (the SDK serialises dicts unchanged).
- pipeline_stages_api.archive has no validateReferencesBeforeDelete parameter: that case goes
  through `raw`.
- pipeline_stage_audits_api.get_audit(object_type, stage_id) has no pipeline_id although its path
  template contains {pipelineId}, so it can only request a literal ".../{pipelineId}/stages/…";
  stage audits are requested through the SDK's api_client with the pipeline id filled in (same
  deserialisation as the SDK method).
"""
import json
from datetime import datetime, timezone

import pytest

from hubspot.crm.deals import ApiException as DealsApiException
from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInput as DealBatchUpdate
from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInputForCreate as DealBatchCreate
from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInputUpsert as DealBatchUpsert
from hubspot.crm.deals import SimplePublicObjectBatchInput as DealBatchInput
from hubspot.crm.deals import SimplePublicObjectBatchInputForCreate as DealBatchCreateInput
from hubspot.crm.deals import SimplePublicObjectBatchInputUpsert as DealUpsertInput
from hubspot.crm.deals import SimplePublicObjectInput as DealInput
from hubspot.crm.deals import SimplePublicObjectInputForCreate as DealCreate
from hubspot.crm.pipelines import ApiException as PipelinesApiException
from hubspot.crm.pipelines import PipelineInput, PipelinePatchInput, PipelineStageInput, PipelineStagePatchInput
from hubspot.crm.properties import ApiException as PropertiesApiException
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.tickets import ApiException as TicketsApiException
from hubspot.crm.tickets import SimplePublicObjectInput as TicketInput
from hubspot.crm.tickets import SimplePublicObjectInputForCreate as TicketCreate

from spoke_helpers import error_body, property_errors

API_EXCEPTIONS = (PipelinesApiException, DealsApiException, TicketsApiException, PropertiesApiException)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

DEFAULT_DEAL_STAGES = [
    ("appointmentscheduled", "Appointment Scheduled", 0, "0.2", "false"),
    ("qualifiedtobuy", "Qualified To Buy", 1, "0.4", "false"),
    ("presentationscheduled", "Presentation Scheduled", 2, "0.6", "false"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", 3, "0.8", "false"),
    ("contractsent", "Contract Sent", 4, "0.9", "false"),
    ("closedwon", "Closed Won", 5, "1.0", "true"),
    ("closedlost", "Closed Lost", 6, "0.0", "true"),
]
DEFAULT_DEAL_STAGE_IDS = [s[0] for s in DEFAULT_DEAL_STAGES]
DEFAULT_TICKET_STAGES = [
    ("1", "New", 0, "OPEN", "false"),
    ("2", "Waiting on contact", 1, "OPEN", "false"),
    ("3", "Waiting on us", 2, "OPEN", "false"),
    ("4", "Closed", 3, "CLOSED", "true"),
]


def expect_error(call, status, category=None):
    with pytest.raises(API_EXCEPTIONS) as info:
        call()
    assert info.value.status == status, (info.value.status, info.value.body)
    body = error_body(info.value)
    if category is not None:
        assert body["category"] == category, body
    return body


def stage_not_in_pipeline_message(stage, pipeline_id, stage_ids):
    return f"{stage} is not a valid pipeline stage ID. Valid options are: pipelineId={pipeline_id} : [{', '.join(stage_ids)}]"


def is_numeric_id(value):
    return isinstance(value, str) and value.isdigit()


@pytest.fixture(scope="module")
def pipes(client):
    return client.crm.pipelines.pipelines_api


@pytest.fixture(scope="module")
def stages_api(client):
    return client.crm.pipelines.pipeline_stages_api


@pytest.fixture
def deal_pipeline(pipes, unique):
    """deal_pipeline(n=3, **dict_fields) -> a new deals Pipeline with stages S0..S(n-1) (probability 0.1·(i+1))."""

    def make(n=3, label=None, display_order=50, stage_ids=None, pipeline_id=None):
        stages = []
        for i in range(n):
            stage = {"label": f"S{i}", "displayOrder": i, "metadata": {"probability": f"0.{i + 1}"}}
            if stage_ids:
                stage["stageId"] = stage_ids[i]
            stages.append(stage)
        body = {"label": label or unique("Deals pipe"), "displayOrder": display_order, "stages": stages}
        if pipeline_id:
            body["pipelineId"] = pipeline_id
        return pipes.create(object_type="deals", pipeline_input=body)

    return make


@pytest.fixture
def ticket_pipeline(pipes, unique):
    def make(states=("OPEN", "CLOSED"), label=None):
        stages = [PipelineStageInput(label=f"T{i}", display_order=i, metadata={"ticketState": s}) for i, s in enumerate(states)]
        return pipes.create(
            object_type="tickets", pipeline_input=PipelineInput(label=label or unique("Ticket pipe"), display_order=50, stages=stages)
        )

    return make


def stage_audit(client, object_type, pipeline_id, stage_id):
    """GET …/{pipelineId}/stages/{stageId}/audit, deserialised like the SDK's get_audit."""
    return client.crm.pipelines.pipeline_stage_audits_api.api_client.call_api(
        "/crm/v3/pipelines/{objectType}/{pipelineId}/stages/{stageId}/audit",
        "GET",
        {"objectType": object_type, "pipelineId": pipeline_id, "stageId": stage_id},
        [],
        {"Accept": "application/json"},
        response_types_map={200: "CollectionResponsePublicAuditInfoNoPaging"},
        auth_settings=["oauth2"],
        _return_http_data_only=True,
    )


def create_deal(client, pipeline, stage, name="D"):
    return client.crm.deals.basic_api.create(
        simple_public_object_input_for_create=DealCreate(properties={"dealname": name, "pipeline": pipeline, "dealstage": stage})
    )


def update_deal(client, deal_id, **props):
    return client.crm.deals.basic_api.update(deal_id=deal_id, simple_public_object_input=DealInput(properties=props))


# --- seeded defaults ------------------------------------------------------------------------


@pytest.mark.parametrize("object_type", ["deals", "0-3", "DEALS"])
def test_seeded_deals_pipeline(pipes, object_type):
    p = pipes.get_by_id(object_type=object_type, pipeline_id="default")
    assert (p.id, p.label, p.display_order, p.archived, p.archived_at) == ("default", "Sales Pipeline", 0, False, None)
    assert p.created_at == EPOCH and p.updated_at == EPOCH
    got = [(s.id, s.label, s.display_order, s.metadata["probability"], s.metadata["isClosed"]) for s in p.stages]
    assert got == DEFAULT_DEAL_STAGES
    for s in p.stages:
        assert set(s.metadata) == {"probability", "isClosed"}
        assert (s.archived, s.created_at, s.updated_at) == (False, EPOCH, EPOCH)


@pytest.mark.parametrize("object_type", ["tickets", "0-5"])
def test_seeded_tickets_pipeline(pipes, stages_api, object_type):
    p = pipes.get_by_id(object_type=object_type, pipeline_id="0")
    assert (p.id, p.label, p.display_order, p.archived) == ("0", "Support Pipeline", 0, False)
    assert p.created_at == EPOCH and p.updated_at == EPOCH
    got = [(s.id, s.label, s.display_order, s.metadata["ticketState"], s.metadata["isClosed"]) for s in p.stages]
    assert got == DEFAULT_TICKET_STAGES
    listed = stages_api.get_all(object_type=object_type, pipeline_id="0").results
    assert [s.id for s in listed] == ["1", "2", "3", "4"]
    s4 = stages_api.get_by_id(object_type=object_type, pipeline_id="0", stage_id="4")
    assert (s4.label, s4.metadata) == ("Closed", {"ticketState": "CLOSED", "isClosed": "true"})


def test_get_all_includes_default_first_for_fresh_account(client2):
    """Account 2 never creates pipelines in this suite: it sees exactly the seeded defaults."""
    deals = client2.crm.pipelines.pipelines_api.get_all(object_type="deals").results
    assert [(p.id, p.label) for p in deals] == [("default", "Sales Pipeline")]
    assert [s.id for s in deals[0].stages] == DEFAULT_DEAL_STAGE_IDS
    tickets = client2.crm.pipelines.pipelines_api.get_all(object_type="tickets").results
    assert [(p.id, p.label) for p in tickets] == [("0", "Support Pipeline")]


def test_pipelines_are_per_account(client, client2, deal_pipeline):
    p = deal_pipeline()
    other = client2.crm.pipelines.pipelines_api
    expect_error(lambda: other.get_by_id(object_type="deals", pipeline_id=p.id), 404, "OBJECT_NOT_FOUND")
    assert p.id not in {x.id for x in other.get_all(object_type="deals").results}
    # the other account may create a pipeline with the same label
    twin = other.create(
        object_type="tickets",
        pipeline_input=PipelineInput(label=p.label, display_order=0, stages=[PipelineStageInput(label="x", display_order=0, metadata={})]),
    )
    try:
        assert twin.label == p.label
    finally:
        other.archive(object_type="tickets", pipeline_id=twin.id)
    assert [x.id for x in other.get_all(object_type="tickets").results] == ["0"]


# --- create / read --------------------------------------------------------------------------


def test_create_deal_pipeline_201(client, pipes, unique):
    label = unique("Renewals")
    body = PipelineInput(
        label=label,
        display_order=7,
        stages=[
            PipelineStageInput(label="Open", display_order=0, metadata={"probability": "0.5"}),
            PipelineStageInput(label="Won", display_order=1, metadata={"probability": "1.0"}),
            PipelineStageInput(label="Lost", display_order=2, metadata={"probability": "0.0"}),
        ],
    )
    created, status, _ = pipes.create_with_http_info(object_type="deals", pipeline_input=body)
    assert status == 201
    assert is_numeric_id(created.id) and created.id != "default"
    assert (created.label, created.display_order, created.archived, created.archived_at) == (label, 7, False, None)
    assert created.created_at.tzinfo is not None and created.created_at > EPOCH
    assert [(s.label, s.display_order, s.metadata) for s in created.stages] == [
        ("Open", 0, {"probability": "0.5", "isClosed": "false"}),
        ("Won", 1, {"probability": "1.0", "isClosed": "true"}),
        ("Lost", 2, {"probability": "0.0", "isClosed": "true"}),
    ]
    assert all(is_numeric_id(s.id) for s in created.stages)
    assert len({s.id for s in created.stages}) == 3
    assert all(s.archived is False for s in created.stages)
    got = pipes.get_by_id(object_type="deals", pipeline_id=created.id)
    assert got.to_dict() == created.to_dict()
    assert created.id in {p.id for p in pipes.get_all(object_type="deals").results}
    assert created.id not in {p.id for p in pipes.get_all(object_type="tickets").results}


def test_create_with_pipeline_id_and_stage_ids_then_duplicate_409(pipes, unique, deal_pipeline):
    pid, sids = unique("pipe"), [unique("st"), unique("st")]
    p = deal_pipeline(n=2, pipeline_id=pid, stage_ids=sids)
    assert p.id == pid
    assert [s.id for s in p.stages] == sids
    assert pipes.get_by_id(object_type="deals", pipeline_id=pid).label == p.label
    body = expect_error(lambda: deal_pipeline(n=1, pipeline_id=pid), 409, "CONFLICT")
    assert pid in body["message"]
    # a seeded id is taken as well
    expect_error(lambda: deal_pipeline(n=1, pipeline_id="default"), 409, "CONFLICT")


def test_probability_numbers_are_stored_as_strings(pipes, unique):
    body = {
        "label": unique("Numbers"),
        "displayOrder": 3,
        "stages": [
            {"label": "Half", "displayOrder": 0, "metadata": {"probability": 0.5}},
            {"label": "Won", "displayOrder": 1, "metadata": {"probability": 1.0}},
            {"label": "Lost", "displayOrder": 2, "metadata": {"probability": 0.0}},
        ],
    }
    p = pipes.create(object_type="deals", pipeline_input=body)
    assert [s.metadata for s in p.stages] == [
        {"probability": "0.5", "isClosed": "false"},
        {"probability": "1.0", "isClosed": "true"},
        {"probability": "0.0", "isClosed": "true"},
    ]


def test_ticket_pipeline_ticket_state_defaults_open(pipes, unique):
    p = pipes.create(
        object_type="tickets",
        pipeline_input=PipelineInput(
            label=unique("Tickets"),
            display_order=1,
            stages=[
                PipelineStageInput(label="New", display_order=0, metadata={}),
                PipelineStageInput(label="Open", display_order=1, metadata={"ticketState": "OPEN"}),
                PipelineStageInput(label="Done", display_order=2, metadata={"ticketState": "CLOSED"}),
            ],
        ),
    )
    assert [s.metadata for s in p.stages] == [
        {"ticketState": "OPEN", "isClosed": "false"},
        {"ticketState": "OPEN", "isClosed": "false"},
        {"ticketState": "CLOSED", "isClosed": "true"},
    ]


@pytest.mark.parametrize(
    "object_type, stages",
    [
        ("deals", []),
        ("tickets", []),
        ("deals", [{"label": "x", "displayOrder": 0, "metadata": {}}]),
        ("deals", [{"label": "x", "displayOrder": 0, "metadata": {"probability": "1.5"}}]),
        ("deals", [{"label": "x", "displayOrder": 0, "metadata": {"probability": "-0.1"}}]),
        ("deals", [{"label": "x", "displayOrder": 0, "metadata": {"probability": "high"}}]),
        ("deals", [{"label": "ok", "displayOrder": 0, "metadata": {"probability": "0.5"}}, {"label": "bad", "displayOrder": 1, "metadata": {}}]),
        ("tickets", [{"label": "x", "displayOrder": 0, "metadata": {"ticketState": "PENDING"}}]),
        ("tickets", [{"label": "x", "displayOrder": 0, "metadata": {}}, {"label": "x", "displayOrder": 1, "metadata": {}}]),
    ],
    ids=["deals-no-stages", "tickets-no-stages", "no-probability", "probability-1.5", "probability-negative",
         "probability-not-a-number", "second-stage-no-probability", "bad-ticket-state", "duplicate-stage-label"],
)
def test_create_invalid_pipeline_400(pipes, unique, object_type, stages):
    label = unique("Invalid")
    expect_error(
        lambda: pipes.create(object_type=object_type, pipeline_input={"label": label, "displayOrder": 0, "stages": stages}),
        400,
        "VALIDATION_ERROR",
    )
    assert label not in {p.label for p in pipes.get_all(object_type=object_type).results}


@pytest.mark.parametrize("object_type, label", [("deals", "Sales Pipeline"), ("tickets", "Support Pipeline")])
def test_create_duplicate_default_label_400(pipes, object_type, label):
    stage = {"label": "x", "displayOrder": 0, "metadata": {"probability": "0.5"}}
    expect_error(
        lambda: pipes.create(object_type=object_type, pipeline_input={"label": label, "displayOrder": 0, "stages": [stage]}),
        400,
        "VALIDATION_ERROR",
    )


def test_duplicate_label_only_among_live_pipelines(pipes, deal_pipeline):
    first = deal_pipeline()
    expect_error(lambda: deal_pipeline(label=first.label), 400, "VALIDATION_ERROR")
    pipes.archive(object_type="deals", pipeline_id=first.id)
    second = deal_pipeline(label=first.label)
    assert second.id != first.id and second.label == first.label
    # the same label on another object type is fine
    other = pipes.create(
        object_type="tickets",
        pipeline_input=PipelineInput(label=first.label, display_order=0, stages=[PipelineStageInput(label="x", display_order=0, metadata={})]),
    )
    assert other.label == first.label


@pytest.mark.parametrize("pipeline_id", ["999999999", "no_such_pipeline"])
def test_get_unknown_pipeline_404(pipes, pipeline_id):
    expect_error(lambda: pipes.get_by_id(object_type="deals", pipeline_id=pipeline_id), 404, "OBJECT_NOT_FOUND")


def test_default_pipeline_is_not_visible_under_other_type(pipes):
    expect_error(lambda: pipes.get_by_id(object_type="tickets", pipeline_id="default"), 404, "OBJECT_NOT_FOUND")
    expect_error(lambda: pipes.get_by_id(object_type="deals", pipeline_id="0"), 404, "OBJECT_NOT_FOUND")


def test_get_all_sorted_by_display_order_then_label(pipes, deal_pipeline, unique):
    prefix = unique("sort")
    b = deal_pipeline(label=f"{prefix} b", display_order=20)
    a = deal_pipeline(label=f"{prefix} a", display_order=20)
    c = deal_pipeline(label=f"{prefix} c", display_order=19)
    results = pipes.get_all(object_type="deals").results
    mine = [p.id for p in results if p.label.startswith(prefix)]
    assert mine == [c.id, a.id, b.id]
    keys = [(p.display_order, p.label) for p in results]
    assert keys == sorted(keys)


# --- replace / update / archive -------------------------------------------------------------


def test_replace_pipeline(pipes, stages_api, deal_pipeline, unique):
    keep, drop = unique("keep"), unique("drop")
    p = deal_pipeline(n=2, stage_ids=[keep, drop])
    new_label = unique("Replaced")
    body = {
        "label": new_label,
        "displayOrder": 9,
        "stages": [
            {"stageId": keep, "label": "Kept", "displayOrder": 1, "metadata": {"probability": "0.3"}},
            {"label": "Fresh", "displayOrder": 0, "metadata": {"probability": "1.0"}},
        ],
    }
    replaced, status, _ = pipes.replace_with_http_info(object_type="deals", pipeline_id=p.id, pipeline_input=body)
    assert status == 200
    assert (replaced.id, replaced.label, replaced.display_order) == (p.id, new_label, 9)
    by_label = {s.label: s for s in replaced.stages}
    assert set(by_label) == {"Kept", "Fresh"}
    assert by_label["Kept"].id == keep
    assert by_label["Kept"].metadata == {"probability": "0.3", "isClosed": "false"}
    assert by_label["Kept"].display_order == 1
    assert is_numeric_id(by_label["Fresh"].id)
    assert by_label["Fresh"].metadata == {"probability": "1.0", "isClosed": "true"}
    got = pipes.get_by_id(object_type="deals", pipeline_id=p.id)
    assert got.label == new_label and {s.id for s in got.stages} == {keep, by_label["Fresh"].id}
    assert {s.id for s in stages_api.get_all(object_type="deals", pipeline_id=p.id).results} == {keep, by_label["Fresh"].id}
    expect_error(lambda: stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id=drop), 404, "OBJECT_NOT_FOUND")


def test_replace_with_sdk_model_and_invalid_body(pipes, deal_pipeline, unique):
    p = deal_pipeline(n=3)
    new_label = unique("SDK replace")
    replaced = pipes.replace(
        object_type="deals",
        pipeline_id=p.id,
        pipeline_input=PipelineInput(label=new_label, display_order=1, stages=[PipelineStageInput(label="Only", display_order=0, metadata={"probability": "0.1"})]),
    )
    assert [s.label for s in replaced.stages] == ["Only"]
    # invalid replacements change nothing
    expect_error(
        lambda: pipes.replace(object_type="deals", pipeline_id=p.id, pipeline_input=PipelineInput(label="x", display_order=0, stages=[])),
        400,
        "VALIDATION_ERROR",
    )
    expect_error(
        lambda: pipes.replace(
            object_type="deals", pipeline_id=p.id,
            pipeline_input=PipelineInput(label="x", display_order=0, stages=[PipelineStageInput(label="a", display_order=0, metadata={})]),
        ),
        400,
        "VALIDATION_ERROR",
    )
    got = pipes.get_by_id(object_type="deals", pipeline_id=p.id)
    assert (got.label, [s.label for s in got.stages]) == (new_label, ["Only"])
    expect_error(
        lambda: pipes.replace(object_type="deals", pipeline_id="999999998", pipeline_input=PipelineInput(label="x", display_order=0, stages=[])),
        404,
    )


def test_update_label_and_display_order(pipes, deal_pipeline, unique):
    p = deal_pipeline(n=2)
    new_label = unique("Patched")
    patched, status, _ = pipes.update_with_http_info(
        object_type="deals", pipeline_id=p.id, pipeline_patch_input=PipelinePatchInput(label=new_label)
    )
    assert status == 200
    assert (patched.label, patched.display_order) == (new_label, p.display_order)
    assert [s.id for s in patched.stages] == [s.id for s in p.stages]
    assert patched.updated_at >= p.updated_at and patched.created_at == p.created_at
    patched = pipes.update(object_type="deals", pipeline_id=p.id, pipeline_patch_input=PipelinePatchInput(display_order=42))
    assert (patched.label, patched.display_order) == (new_label, 42)
    got = pipes.get_by_id(object_type="deals", pipeline_id=p.id)
    assert (got.label, got.display_order) == (new_label, 42)
    # renaming onto another live pipeline's label is refused
    expect_error(
        lambda: pipes.update(object_type="deals", pipeline_id=p.id, pipeline_patch_input=PipelinePatchInput(label="Sales Pipeline")),
        400,
        "VALIDATION_ERROR",
    )
    expect_error(
        lambda: pipes.update(object_type="deals", pipeline_id="999999997", pipeline_patch_input=PipelinePatchInput(label="x")), 404
    )


def test_archive_and_restore_pipeline(pipes, deal_pipeline):
    p = deal_pipeline(n=2)
    expect_error(
        lambda: pipes.update(object_type="deals", pipeline_id=p.id, pipeline_patch_input=PipelinePatchInput(archived=True)),
        400,
        "VALIDATION_ERROR",
    )
    _, status, _ = pipes.archive_with_http_info(object_type="deals", pipeline_id=p.id)
    assert status == 204
    expect_error(lambda: pipes.get_by_id(object_type="deals", pipeline_id=p.id), 404, "OBJECT_NOT_FOUND")
    assert p.id not in {x.id for x in pipes.get_all(object_type="deals").results}
    restored = pipes.update(object_type="deals", pipeline_id=p.id, pipeline_patch_input=PipelinePatchInput(archived=False))
    assert (restored.id, restored.label, restored.archived) == (p.id, p.label, False)
    assert [s.id for s in restored.stages] == [s.id for s in p.stages]
    assert pipes.get_by_id(object_type="deals", pipeline_id=p.id).archived is False
    assert p.id in {x.id for x in pipes.get_all(object_type="deals").results}


def test_archive_unknown_pipeline_404(pipes):
    expect_error(lambda: pipes.archive(object_type="deals", pipeline_id="999999996"), 404)


def test_archived_pipeline_no_longer_accepts_records(client, pipes, deal_pipeline):
    p = deal_pipeline(n=2)
    pipes.archive(object_type="deals", pipeline_id=p.id)
    body = expect_error(lambda: create_deal(client, p.id, p.stages[0].id), 400, "VALIDATION_ERROR")
    _, codes = property_errors(body)
    assert codes.get("pipeline") == "INVALID_OPTION", body


# --- stages ---------------------------------------------------------------------------------


def test_stage_crud(stages_api, deal_pipeline):
    p = deal_pipeline(n=2)
    created, status, _ = stages_api.create_with_http_info(
        object_type="deals",
        pipeline_id=p.id,
        pipeline_stage_input=PipelineStageInput(label="Negotiation", display_order=5, metadata={"probability": "0.7"}),
    )
    assert status == 201
    assert is_numeric_id(created.id) and created.id not in {s.id for s in p.stages}
    assert (created.label, created.display_order, created.metadata, created.archived) == (
        "Negotiation", 5, {"probability": "0.7", "isClosed": "false"}, False
    )
    got = stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id=created.id)
    assert got.to_dict() == created.to_dict()
    listed = stages_api.get_all(object_type="deals", pipeline_id=p.id).results
    assert [s.id for s in listed] == [s.id for s in p.stages] + [created.id]

    replaced = stages_api.replace(
        object_type="deals",
        pipeline_id=p.id,
        stage_id=created.id,
        pipeline_stage_input=PipelineStageInput(label="Negotiation 2", display_order=6, metadata={"probability": "0.0"}),
    )
    assert (replaced.id, replaced.label, replaced.display_order, replaced.metadata) == (
        created.id, "Negotiation 2", 6, {"probability": "0.0", "isClosed": "true"}
    )

    patched = stages_api.update(
        object_type="deals", pipeline_id=p.id, stage_id=created.id, pipeline_stage_patch_input=PipelineStagePatchInput(label="Haggling")
    )
    assert (patched.label, patched.display_order, patched.metadata) == ("Haggling", 6, {"probability": "0.0", "isClosed": "true"})

    _, status, _ = stages_api.archive_with_http_info(object_type="deals", pipeline_id=p.id, stage_id=created.id)
    assert status == 204
    expect_error(lambda: stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id=created.id), 404, "OBJECT_NOT_FOUND")
    assert [s.id for s in stages_api.get_all(object_type="deals", pipeline_id=p.id).results] == [s.id for s in p.stages]


def test_stage_create_with_stage_id(stages_api, deal_pipeline, unique):
    p = deal_pipeline(n=1)
    sid = unique("st")
    created = stages_api.create(
        object_type="deals", pipeline_id=p.id,
        pipeline_stage_input={"stageId": sid, "label": "Given id", "displayOrder": 1, "metadata": {"probability": "0.5"}},
    )
    assert created.id == sid
    assert stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id=sid).label == "Given id"


def test_stage_patch_merges_metadata(stages_api, ticket_pipeline):
    p = ticket_pipeline(states=("OPEN", "OPEN"))
    s = p.stages[0]
    patched = stages_api.update(
        object_type="tickets", pipeline_id=p.id, stage_id=s.id,
        pipeline_stage_patch_input=PipelineStagePatchInput(display_order=9),
    )
    assert (patched.label, patched.display_order, patched.metadata) == (s.label, 9, {"ticketState": "OPEN", "isClosed": "false"})
    patched = stages_api.update(
        object_type="tickets", pipeline_id=p.id, stage_id=s.id,
        pipeline_stage_patch_input=PipelineStagePatchInput(metadata={"ticketState": "CLOSED"}),
    )
    assert patched.metadata["ticketState"] == "CLOSED"
    assert patched.display_order == 9
    got = stages_api.get_by_id(object_type="tickets", pipeline_id=p.id, stage_id=s.id)
    assert got.metadata["ticketState"] == "CLOSED"


def test_stage_patch_keeps_unmentioned_metadata(stages_api, pipes, unique):
    p = pipes.create(
        object_type="deals",
        pipeline_input={"label": unique("Meta"), "displayOrder": 0,
                        "stages": [{"label": "A", "displayOrder": 0, "metadata": {"probability": "0.5", "color": "blue"}}]},
    )
    s = p.stages[0]
    assert s.metadata == {"probability": "0.5", "color": "blue", "isClosed": "false"}
    patched = stages_api.update(
        object_type="deals", pipeline_id=p.id, stage_id=s.id, pipeline_stage_patch_input=PipelineStagePatchInput(metadata={"probability": "0.6"})
    )
    assert patched.metadata["probability"] == "0.6"
    assert patched.metadata["color"] == "blue"


@pytest.mark.parametrize(
    "object_type, start, patch, expected",
    [
        ("deals", {"probability": "0.5"}, {"probability": "1.0"}, "true"),
        ("deals", {"probability": "1.0"}, {"probability": "0.5"}, "false"),
        ("tickets", {"ticketState": "OPEN"}, {"ticketState": "CLOSED"}, "true"),
        ("tickets", {"ticketState": "CLOSED"}, {"ticketState": "OPEN"}, "false"),
    ],
    ids=["deal-open-to-won", "deal-won-to-open", "ticket-open-to-closed", "ticket-closed-to-open"],
)
def test_stage_patch_rederives_is_closed(stages_api, pipes, unique, object_type, start, patch, expected):
    """isClosed follows the probability / ticketState it is derived from, also after a PATCH."""
    p = pipes.create(
        object_type=object_type,
        pipeline_input={"label": unique("Closed"), "displayOrder": 0,
                        "stages": [{"label": "A", "displayOrder": 0, "metadata": start}, {"label": "B", "displayOrder": 1, "metadata": start}]},
    )
    s = p.stages[0]
    patched = stages_api.update(
        object_type=object_type, pipeline_id=p.id, stage_id=s.id, pipeline_stage_patch_input=PipelineStagePatchInput(metadata=patch)
    )
    assert patched.metadata == {**patch, "isClosed": expected}, patched.metadata


def test_stage_invalid_input_400(stages_api, deal_pipeline):
    p = deal_pipeline(n=2)
    expect_error(
        lambda: stages_api.create(
            object_type="deals", pipeline_id=p.id, pipeline_stage_input=PipelineStageInput(label="No prob", display_order=3, metadata={})
        ),
        400,
        "VALIDATION_ERROR",
    )
    expect_error(
        lambda: stages_api.create(
            object_type="deals", pipeline_id=p.id, pipeline_stage_input=PipelineStageInput(label="S0", display_order=3, metadata={"probability": "0.5"})
        ),
        400,
        "VALIDATION_ERROR",
    )
    expect_error(
        lambda: stages_api.update(
            object_type="deals", pipeline_id=p.id, stage_id=p.stages[0].id,
            pipeline_stage_patch_input=PipelineStagePatchInput(metadata={"probability": "2"}),
        ),
        400,
        "VALIDATION_ERROR",
    )
    assert stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id=p.stages[0].id).metadata["probability"] == "0.1"
    assert len(stages_api.get_all(object_type="deals", pipeline_id=p.id).results) == 2


def test_stage_unknown_404(stages_api, deal_pipeline):
    p = deal_pipeline(n=1)
    expect_error(lambda: stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id="999999995"), 404, "OBJECT_NOT_FOUND")
    # a stage of another pipeline is not found under this one
    expect_error(lambda: stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id="closedwon"), 404, "OBJECT_NOT_FOUND")
    expect_error(lambda: stages_api.get_all(object_type="deals", pipeline_id="999999994"), 404, "OBJECT_NOT_FOUND")
    expect_error(
        lambda: stages_api.create(
            object_type="deals", pipeline_id="999999994", pipeline_stage_input=PipelineStageInput(label="x", display_order=0, metadata={"probability": "0.5"})
        ),
        404,
    )


def test_last_live_stage_cannot_be_archived(stages_api, deal_pipeline):
    p = deal_pipeline(n=2)
    stages_api.archive(object_type="deals", pipeline_id=p.id, stage_id=p.stages[0].id)
    expect_error(lambda: stages_api.archive(object_type="deals", pipeline_id=p.id, stage_id=p.stages[1].id), 400, "VALIDATION_ERROR")
    assert [s.id for s in stages_api.get_all(object_type="deals", pipeline_id=p.id).results] == [p.stages[1].id]


# --- stages in use (validateReferencesBeforeDelete) -----------------------------------------


def check_stage_in_use(body, stage_ids, object_ids):
    assert body["category"] == "VALIDATION_ERROR", body
    assert body["subCategory"] == "PipelineError.STAGE_ID_IN_USE", body
    assert sorted(body["context"]["stageIds"]) == sorted(stage_ids), body
    assert sorted(body["context"]["objectIds"]) == sorted(object_ids), body


def test_delete_used_stage_with_validation_400(client, raw, stages_api, deal_pipeline):
    p = deal_pipeline(n=2)
    used, free = p.stages[0].id, p.stages[1].id
    deal = create_deal(client, p.id, used)
    resp = raw.delete(f"/crm/v3/pipelines/deals/{p.id}/stages/{used}?validateReferencesBeforeDelete=true")
    assert resp.status_code == 400, resp.text
    check_stage_in_use(resp.json(), [used], [deal.id])
    assert stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id=used).archived is False
    # an unused stage may be deleted with validation
    resp = raw.delete(f"/crm/v3/pipelines/deals/{p.id}/stages/{free}?validateReferencesBeforeDelete=true")
    assert resp.status_code == 204, resp.text
    # stage ids of other pipelines are not counted: a default-pipeline deal in "appointmentscheduled"
    # does not block anything here; without the flag the used stage is archived
    stages_api.create(object_type="deals", pipeline_id=p.id, pipeline_stage_input=PipelineStageInput(label="Spare", display_order=9, metadata={"probability": "0.5"}))
    stages_api.archive(object_type="deals", pipeline_id=p.id, stage_id=used)
    expect_error(lambda: stages_api.get_by_id(object_type="deals", pipeline_id=p.id, stage_id=used), 404, "OBJECT_NOT_FOUND")


def test_delete_used_pipeline_with_validation_400(client, pipes, deal_pipeline):
    p = deal_pipeline(n=3)
    d1 = create_deal(client, p.id, p.stages[0].id)
    d2 = create_deal(client, p.id, p.stages[2].id)
    body = expect_error(
        lambda: pipes.archive(object_type="deals", pipeline_id=p.id, validate_references_before_delete=True), 400, "VALIDATION_ERROR"
    )
    # stageIds names the stages being removed (all of the pipeline's), objectIds the records using them
    check_stage_in_use(body, [s.id for s in p.stages], [d1.id, d2.id])
    assert pipes.get_by_id(object_type="deals", pipeline_id=p.id).archived is False
    _, status, _ = pipes.archive_with_http_info(object_type="deals", pipeline_id=p.id)
    assert status == 204
    expect_error(lambda: pipes.get_by_id(object_type="deals", pipeline_id=p.id), 404)


def test_delete_unused_pipeline_with_validation_204(pipes, deal_pipeline):
    p = deal_pipeline(n=2)
    _, status, _ = pipes.archive_with_http_info(object_type="deals", pipeline_id=p.id, validate_references_before_delete=True)
    assert status == 204


def test_replace_removing_used_stage_with_validation_400(client, pipes, ticket_pipeline):
    p = ticket_pipeline(states=("OPEN", "OPEN", "CLOSED"))
    used, kept = p.stages[1].id, p.stages[0].id
    t = client.crm.tickets.basic_api.create(
        simple_public_object_input_for_create=TicketCreate(properties={"subject": "in use", "hs_pipeline": p.id, "hs_pipeline_stage": used})
    )
    body = {"label": p.label, "displayOrder": 1, "stages": [{"stageId": kept, "label": "T0", "displayOrder": 0, "metadata": {}}]}
    err = expect_error(
        lambda: pipes.replace(object_type="tickets", pipeline_id=p.id, pipeline_input=body, validate_references_before_delete=True),
        400,
        "VALIDATION_ERROR",
    )
    # stageIds names the stages the PUT would remove (the used one and the unused CLOSED one)
    check_stage_in_use(err, [used, p.stages[2].id], [t.id])
    assert len(pipes.get_by_id(object_type="tickets", pipeline_id=p.id).stages) == 3
    # keeping the used stage passes the validation
    body_keep = {"label": p.label, "displayOrder": 1, "stages": [
        {"stageId": kept, "label": "T0", "displayOrder": 0, "metadata": {}},
        {"stageId": used, "label": "T1", "displayOrder": 1, "metadata": {}},
    ]}
    replaced = pipes.replace(object_type="tickets", pipeline_id=p.id, pipeline_input=body_keep, validate_references_before_delete=True)
    assert [s.id for s in replaced.stages] == [kept, used]
    # without the flag the used stage may be removed
    replaced = pipes.replace(object_type="tickets", pipeline_id=p.id, pipeline_input=body)
    assert [s.id for s in replaced.stages] == [kept]


# --- audits ---------------------------------------------------------------------------------


def test_pipeline_audit(client, pipes, deal_pipeline, unique, account_id):
    p = deal_pipeline(n=2)
    new_label = unique("Audited")
    pipes.update(object_type="deals", pipeline_id=p.id, pipeline_patch_input=PipelinePatchInput(label=new_label))
    pipes.archive(object_type="deals", pipeline_id=p.id)
    pipes.update(object_type="deals", pipeline_id=p.id, pipeline_patch_input=PipelinePatchInput(archived=False))
    audit = client.crm.pipelines.pipeline_audits_api.get_audit(object_type="deals", pipeline_id=p.id).results
    assert [a.action for a in audit] == ["UPDATE", "DELETE", "UPDATE", "CREATE"]
    for a in audit:
        assert a.identifier == f"{account_id}:{p.id}"
        assert a.portal_id == account_id
        assert isinstance(a.raw_object, str)
    times = [a.timestamp for a in audit]
    assert all(t is not None and t.tzinfo is not None for t in times)
    assert times == sorted(times, reverse=True)
    raws = [json.loads(a.raw_object) for a in audit]
    assert [(r["id"], r["label"], r["archived"]) for r in raws] == [
        (p.id, new_label, False), (p.id, new_label, True), (p.id, new_label, False), (p.id, p.label, False),
    ]
    assert [s["id"] for s in raws[-1]["stages"]] == [s.id for s in p.stages]


def test_pipeline_audit_unknown_404(client):
    expect_error(lambda: client.crm.pipelines.pipeline_audits_api.get_audit(object_type="deals", pipeline_id="999999993"), 404)


def test_stage_audit_lists_only_that_stage(client, stages_api, deal_pipeline, account_id):
    p = deal_pipeline(n=2)
    s0, s1 = p.stages[0].id, p.stages[1].id
    stages_api.update(object_type="deals", pipeline_id=p.id, stage_id=s0, pipeline_stage_patch_input=PipelineStagePatchInput(label="First"))
    stages_api.update(object_type="deals", pipeline_id=p.id, stage_id=s0, pipeline_stage_patch_input=PipelineStagePatchInput(display_order=7))
    stages_api.update(object_type="deals", pipeline_id=p.id, stage_id=s1, pipeline_stage_patch_input=PipelineStagePatchInput(label="Second"))
    new = stages_api.create(
        object_type="deals", pipeline_id=p.id, pipeline_stage_input=PipelineStageInput(label="Third", display_order=8, metadata={"probability": "0.9"})
    )
    stages_api.archive(object_type="deals", pipeline_id=p.id, stage_id=new.id)

    a0 = stage_audit(client, "deals", p.id, s0).results
    assert [a.action for a in a0] == ["UPDATE", "UPDATE"]
    raws = [json.loads(a.raw_object) for a in a0]
    assert [(r["id"], r["label"], r["displayOrder"]) for r in raws] == [(s0, "First", 7), (s0, "First", 0)]
    assert all(a.identifier == f"{account_id}:{p.id}" and a.portal_id == account_id for a in a0)

    a1 = stage_audit(client, "deals", p.id, s1).results
    assert [(a.action, json.loads(a.raw_object)["label"]) for a in a1] == [("UPDATE", "Second")]

    # a stage created and then deleted: newest first, the last entry shows it archived
    a_new = stage_audit(client, "deals", p.id, new.id).results
    assert [a.action for a in a_new][-1] == "CREATE"
    assert json.loads(a_new[0].raw_object)["archived"] is True
    assert json.loads(a_new[-1].raw_object)["label"] == "Third"


# --- records validated against pipelines ---------------------------------------------------


def test_deal_walks_default_pipeline_then_moves_to_custom(client, deal_pipeline, unique):
    deal = create_deal(client, "default", "appointmentscheduled", unique("Walk"))
    assert (deal.properties["pipeline"], deal.properties["dealstage"]) == ("default", "appointmentscheduled")
    for stage in DEFAULT_DEAL_STAGE_IDS[1:6]:  # … up to closedwon
        patched = update_deal(client, deal.id, dealstage=stage)
        assert patched.properties["dealstage"] == stage
        got = client.crm.deals.basic_api.get_by_id(deal_id=deal.id, properties=["dealstage", "pipeline"])
        assert (got.properties["pipeline"], got.properties["dealstage"]) == ("default", stage)

    p = deal_pipeline(n=3)
    custom_ids = [s.id for s in p.stages]
    # a stage of the custom pipeline alone is checked against the stored pipeline (default)
    body = expect_error(lambda: update_deal(client, deal.id, dealstage=custom_ids[0]), 400, "VALIDATION_ERROR")
    _, codes = property_errors(body)
    assert codes == {"dealstage": "INVALID_OPTION"}
    assert body["errors"][0]["message"] == stage_not_in_pipeline_message(custom_ids[0], "default", DEFAULT_DEAL_STAGE_IDS)
    # changing only the pipeline leaves "closedwon", which is no stage of the custom pipeline
    body = expect_error(lambda: update_deal(client, deal.id, pipeline=p.id), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    assert body["errors"][0]["message"] == stage_not_in_pipeline_message("closedwon", p.id, custom_ids)
    got = client.crm.deals.basic_api.get_by_id(deal_id=deal.id, properties=["dealstage", "pipeline"])
    assert (got.properties["pipeline"], got.properties["dealstage"]) == ("default", "closedwon")
    # pipeline and stage together move it
    moved = update_deal(client, deal.id, pipeline=p.id, dealstage=custom_ids[1])
    assert (moved.properties["pipeline"], moved.properties["dealstage"]) == (p.id, custom_ids[1])
    moved = update_deal(client, deal.id, dealstage=custom_ids[2])
    assert moved.properties["dealstage"] == custom_ids[2]
    body = expect_error(lambda: update_deal(client, deal.id, dealstage="closedwon"), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["message"] == stage_not_in_pipeline_message("closedwon", p.id, custom_ids)
    got = client.crm.deals.basic_api.get_by_id(deal_id=deal.id, properties=["dealstage", "pipeline"])
    assert (got.properties["pipeline"], got.properties["dealstage"]) == (p.id, custom_ids[2])


def test_deal_create_with_stage_of_other_pipeline_400(client, deal_pipeline, unique):
    p = deal_pipeline(n=2)
    name = unique("Wrong")
    body = expect_error(lambda: create_deal(client, "default", p.stages[0].id, name), 400, "VALIDATION_ERROR")
    array, codes = property_errors(body)
    assert codes == {"dealstage": "INVALID_OPTION"}
    expected = stage_not_in_pipeline_message(p.stages[0].id, "default", DEFAULT_DEAL_STAGE_IDS)
    assert body["errors"][0]["message"] == expected
    assert array[0]["message"] == expected and array[0]["name"] == "dealstage"
    body = expect_error(lambda: create_deal(client, p.id, "appointmentscheduled", name), 400, "VALIDATION_ERROR")
    assert body["errors"][0]["message"] == stage_not_in_pipeline_message("appointmentscheduled", p.id, [s.id for s in p.stages])
    created = create_deal(client, p.id, p.stages[1].id, name)
    assert (created.properties["pipeline"], created.properties["dealstage"]) == (p.id, p.stages[1].id)


@pytest.mark.parametrize("missing", ["dealname", "dealstage", "pipeline"])
def test_deal_create_requires_each_required_property(client, unique, missing):
    props = {"dealname": unique("D"), "pipeline": "default", "dealstage": "appointmentscheduled"}
    del props[missing]
    body = expect_error(
        lambda: client.crm.deals.basic_api.create(simple_public_object_input_for_create=DealCreate(properties=props)), 400, "VALIDATION_ERROR"
    )
    _, codes = property_errors(body)
    assert codes == {missing: "REQUIRED_PROPERTY"}


def test_ticket_pipeline_and_stage_validation(client, ticket_pipeline, unique):
    p = ticket_pipeline(states=("OPEN", "CLOSED"))
    ids = [s.id for s in p.stages]
    tickets = client.crm.tickets.basic_api

    def create(pipeline, stage):
        return tickets.create(
            simple_public_object_input_for_create=TicketCreate(properties={"subject": unique("T"), "hs_pipeline": pipeline, "hs_pipeline_stage": stage})
        )

    body = expect_error(lambda: create("0", ids[0]), 400, "VALIDATION_ERROR")
    _, codes = property_errors(body)
    assert codes == {"hs_pipeline_stage": "INVALID_OPTION"}
    assert body["errors"][0]["message"] == stage_not_in_pipeline_message(ids[0], "0", ["1", "2", "3", "4"])
    t = create(p.id, ids[0])
    assert (t.properties["hs_pipeline"], t.properties["hs_pipeline_stage"]) == (p.id, ids[0])
    t2 = tickets.update(ticket_id=t.id, simple_public_object_input=TicketInput(properties={"hs_pipeline_stage": ids[1]}))
    assert t2.properties["hs_pipeline_stage"] == ids[1]
    body = expect_error(
        lambda: tickets.update(ticket_id=t.id, simple_public_object_input=TicketInput(properties={"hs_pipeline_stage": "4"})), 400, "VALIDATION_ERROR"
    )
    assert body["errors"][0]["message"] == stage_not_in_pipeline_message("4", p.id, ids)
    body = expect_error(
        lambda: tickets.update(ticket_id=t.id, simple_public_object_input=TicketInput(properties={"hs_pipeline": "0"})), 400, "VALIDATION_ERROR"
    )
    assert body["errors"][0]["code"] == "INVALID_OPTION"
    moved = tickets.update(ticket_id=t.id, simple_public_object_input=TicketInput(properties={"hs_pipeline": "0", "hs_pipeline_stage": "4"}))
    assert (moved.properties["hs_pipeline"], moved.properties["hs_pipeline_stage"]) == ("0", "4")


def test_batch_create_update_apply_stage_rule(client, deal_pipeline, unique):
    p = deal_pipeline(n=2)
    batch = client.crm.deals.batch_api
    good = {"dealname": unique("B"), "pipeline": p.id, "dealstage": p.stages[0].id}
    bad = {"dealname": unique("B"), "pipeline": p.id, "dealstage": "closedwon"}
    body = expect_error(
        lambda: batch.create(batch_input_simple_public_object_batch_input_for_create=DealBatchCreate(
            inputs=[DealBatchCreateInput(properties=good), DealBatchCreateInput(properties=bad)])),
        400,
        "VALIDATION_ERROR",
    )
    assert "closedwon is not a valid pipeline stage ID" in json.dumps(body)
    created = batch.create(batch_input_simple_public_object_batch_input_for_create=DealBatchCreate(
        inputs=[DealBatchCreateInput(properties=good)])).results
    (deal,) = created
    # batch update of only the stage is checked against the stored pipeline
    body = expect_error(
        lambda: batch.update(batch_input_simple_public_object_batch_input=DealBatchUpdate(
            inputs=[DealBatchInput(id=deal.id, properties={"dealstage": "qualifiedtobuy"})])),
        400,
        "VALIDATION_ERROR",
    )
    assert "qualifiedtobuy is not a valid pipeline stage ID" in json.dumps(body)
    updated = batch.update(batch_input_simple_public_object_batch_input=DealBatchUpdate(
        inputs=[DealBatchInput(id=deal.id, properties={"dealstage": p.stages[1].id})])).results
    assert updated[0].properties["dealstage"] == p.stages[1].id
    got = client.crm.deals.basic_api.get_by_id(deal_id=deal.id, properties=["dealstage", "pipeline"])
    assert (got.properties["pipeline"], got.properties["dealstage"]) == (p.id, p.stages[1].id)


def test_batch_upsert_applies_stage_rule(client, deal_pipeline, unique, archive_later):
    p = deal_pipeline(n=2)
    prop = archive_later(client, "deals", unique("uq"))
    client.crm.properties.core_api.create(
        object_type="deals",
        property_create=PropertyCreate(name=prop, label="Unique", type="string", field_type="text", group_name="dealinformation", has_unique_value=True),
    )
    batch = client.crm.deals.batch_api
    key = unique("k")

    def upsert(props):
        return batch.upsert(batch_input_simple_public_object_batch_input_upsert=DealBatchUpsert(
            inputs=[DealUpsertInput(id=key, id_property=prop, properties=props)]))

    body = expect_error(lambda: upsert({"dealname": "U", "pipeline": p.id, "dealstage": "closedwon"}), 400, "VALIDATION_ERROR")
    assert "closedwon is not a valid pipeline stage ID" in json.dumps(body)
    (r,) = upsert({"dealname": "U", "pipeline": p.id, "dealstage": p.stages[0].id}).results
    assert r.new is True
    body = expect_error(lambda: upsert({"dealstage": "closedlost"}), 400, "VALIDATION_ERROR")
    assert "closedlost is not a valid pipeline stage ID" in json.dumps(body)
    (r2,) = upsert({"dealstage": p.stages[1].id}).results
    assert (r2.id, r2.new, r2.properties["dealstage"]) == (r.id, False, p.stages[1].id)


# --- property definitions follow the pipelines ----------------------------------------------


def option_values(client, object_type, name):
    return [o.value for o in client.crm.properties.core_api.get_by_name(object_type=object_type, property_name=name).options]


def test_dealstage_and_pipeline_options_follow_pipelines(client, pipes, stages_api, deal_pipeline):
    # options are grouped by pipeline: the default pipeline's stages in their order, together
    stage_opts = option_values(client, "deals", "dealstage")
    i = stage_opts.index("appointmentscheduled")
    assert stage_opts[i:i + 7] == DEFAULT_DEAL_STAGE_IDS
    assert "default" in option_values(client, "deals", "pipeline")

    p = deal_pipeline(n=2)
    stage_opts = option_values(client, "deals", "dealstage")
    assert {s.id for s in p.stages} <= set(stage_opts)
    assert p.id in option_values(client, "deals", "pipeline")

    new = stages_api.create(
        object_type="deals", pipeline_id=p.id, pipeline_stage_input=PipelineStageInput(label="Later", display_order=5, metadata={"probability": "0.5"})
    )
    assert new.id in option_values(client, "deals", "dealstage")
    stages_api.archive(object_type="deals", pipeline_id=p.id, stage_id=new.id)
    assert new.id not in option_values(client, "deals", "dealstage")

    pipes.archive(object_type="deals", pipeline_id=p.id)
    assert p.id not in option_values(client, "deals", "pipeline")
    assert not ({s.id for s in p.stages} & set(option_values(client, "deals", "dealstage")))


def test_dealstage_option_labels(client, deal_pipeline):
    p = deal_pipeline(n=1)
    options = client.crm.properties.core_api.get_by_name(object_type="deals", property_name="dealstage").options
    by_value = {o.value: o for o in options}
    assert by_value["closedwon"].label == "Closed Won"
    assert by_value[p.stages[0].id].label == "S0"
    pipeline_options = client.crm.properties.core_api.get_by_name(object_type="deals", property_name="pipeline").options
    assert {o.value: o.label for o in pipeline_options}[p.id] == p.label


def test_ticket_stage_options_follow_pipelines(client, ticket_pipeline):
    opts = option_values(client, "tickets", "hs_pipeline_stage")
    i = opts.index("1")
    assert opts[i:i + 4] == ["1", "2", "3", "4"]
    p = ticket_pipeline()
    assert {s.id for s in p.stages} <= set(option_values(client, "tickets", "hs_pipeline_stage"))
    assert p.id in option_values(client, "tickets", "hs_pipeline")


def test_dealstage_options_are_per_account(client2, deal_pipeline):
    p = deal_pipeline(n=1)
    assert option_values(client2, "deals", "dealstage") == DEFAULT_DEAL_STAGE_IDS
    assert option_values(client2, "deals", "pipeline") == ["default"]
    assert p.id not in option_values(client2, "deals", "pipeline")
