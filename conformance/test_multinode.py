"""Two Spoke nodes on one PostgreSQL database, driven with the official SDK as a user would:
writes through either node, reads back through either. Runs when the suite's server is on
PostgreSQL (run.sh with SPOKE_TEST_DATABASE_URL, as scripts/test.sh does); skipped on SQLite,
whose store belongs to one process.
"""
import os
import re
import subprocess
import time

import hubspot
import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate

DATABASE_URL = os.environ.get("SPOKE_DATABASE_URL", "")

pytestmark = pytest.mark.skipif(not DATABASE_URL, reason="needs the suite's server on PostgreSQL")


@pytest.fixture(scope="module")
def second_node(token):
    """A second `spoke serve` on the suite server's database; its base URL."""
    proc = subprocess.Popen(
        [os.environ["SPOKE_BIN"], "serve", "--listen", "127.0.0.1:0", "--token", token],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, RUST_LOG="warn", SPOKE_DATABASE_URL=DATABASE_URL),
    )
    url = None
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            url = m.group(1)
            break
    assert url, "the second node did not start"
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def nodes(base_url, token, second_node):
    a = hubspot.Client.create(access_token=token, host=base_url)
    b = hubspot.Client.create(access_token=token, host=second_node)
    assert base_url != second_node
    return a, b


def test_writes_through_either_node_read_back_through_either(nodes, unique, unique_email):
    a, b = nodes
    ids = []
    for i, node in enumerate([a, b, a, b]):
        c = node.crm.contacts.basic_api.create(
            SimplePublicObjectInputForCreate(properties={"email": unique_email(f"n{i}"), "firstname": f"Node{i}"})
        )
        ids.append(c.id)
    assert len(set(ids)) == 4
    for cid in ids:
        for node in (a, b):
            got = node.crm.contacts.basic_api.get_by_id(cid, properties=["firstname"])
            assert got.id == cid
    # An update through B is what A reads next.
    b.crm.contacts.basic_api.update(ids[0], SimplePublicObjectInput(properties={"lastname": "FromB"}))
    got = a.crm.contacts.basic_api.get_by_id(ids[0], properties=["lastname"], properties_with_history=["lastname"])
    assert got.properties["lastname"] == "FromB"
    assert [h.value for h in got.properties_with_history["lastname"]] == ["FromB"]


def test_a_property_made_through_one_node_is_usable_through_the_other(nodes, unique, unique_email):
    a, b = nodes
    name = unique("mn")
    # B reads contacts' definitions first, so it has them cached when A adds one.
    b.crm.properties.core_api.get_all("contacts")
    a.crm.properties.core_api.create(
        "contacts",
        PropertyCreate(name=name, label="Multi node", type="number", field_type="number", group_name="contactinformation"),
    )
    c = b.crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": unique_email(), name: "7"})
    )
    found = a.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": name, "operator": "EQ", "value": "7"}]}], properties=[name]
        )
    )
    assert [r.id for r in found.results] == [c.id]


def test_one_email_created_through_both_nodes_exists_once(nodes, unique_email):
    a, b = nodes
    email = unique_email("dup")
    a.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": email}))
    with pytest.raises(ApiException) as err:
        b.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"email": email}))
    assert err.value.status == 409
    # Upserts through both nodes land on that one record.
    for node, name in ((a, "A"), (b, "B")):
        res = node.crm.contacts.batch_api.upsert(
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[SimplePublicObjectBatchInputUpsert(id_property="email", id=email, properties={"firstname": name})]
            )
        )
        assert res.results[0].new is False
    found = b.crm.contacts.search_api.do_search(
        PublicObjectSearchRequest(
            filter_groups=[{"filters": [{"propertyName": "email", "operator": "EQ", "value": email}]}],
            properties=["firstname"],
        )
    )
    assert found.total == 1 and found.results[0].properties["firstname"] == "B"
