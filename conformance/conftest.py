"""Shared fixtures for the Spoke conformance suite.

The suite runs against one server started by run.sh (SPOKE_URL, SPOKE_TOKEN, SPOKE_TOKEN_2).
Every test creates its own uniquely named data so tests can share the server and be re-run.
"""
import os
import uuid

import pytest
import hubspot

from spoke_helpers import Raw


def _env(name):
    value = os.environ.get(name)
    if not value:
        pytest.exit(f"{name} is not set: run the suite through conformance/run.sh", returncode=2)
    return value


@pytest.fixture(scope="session")
def base_url():
    return _env("SPOKE_URL").rstrip("/")


@pytest.fixture(scope="session")
def token():
    return _env("SPOKE_TOKEN")


@pytest.fixture(scope="session")
def token2():
    return _env("SPOKE_TOKEN_2")


@pytest.fixture(scope="session")
def client(base_url, token):
    return hubspot.Client.create(access_token=token, host=base_url)


@pytest.fixture(scope="session")
def client2(base_url, token2):
    return hubspot.Client.create(access_token=token2, host=base_url)


@pytest.fixture(scope="session")
def unique():
    """unique("t") -> "t_<12 hex>": lower-case, valid as a property/group name."""

    def make(prefix="t"):
        return f"{prefix}_{uuid.uuid4().hex[:12]}"

    return make


@pytest.fixture
def unique_email(unique):
    def make(prefix="c"):
        return f"{unique(prefix)}@example.com"

    return make


@pytest.fixture(scope="session")
def raw(base_url, token):
    return Raw(base_url, token)


@pytest.fixture(scope="session")
def raw_anon(base_url):
    return Raw(base_url, None)


@pytest.fixture(scope="session")
def raw2(base_url, token2):
    return Raw(base_url, token2)


@pytest.fixture
def archive_later():
    """archive_later(client, object_type, name): archive a property at teardown.

    Used for hasUniqueValue properties: an object type may have at most 10 live ones, so tests
    must not leave them behind when the suite is re-run against the same server.
    """
    created = []

    def register(c, object_type, name):
        created.append((c, object_type, name))
        return name

    yield register
    for c, object_type, name in reversed(created):
        try:
            c.crm.properties.core_api.archive(object_type=object_type, property_name=name)
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass


MARKER_PROPERTY = "conformance_marker"


@pytest.fixture(scope="session")
def marker_property(client):
    """marker_property(object_type) -> name of a plain string property that tests set to a unique
    value on every record they create, so searches can be narrowed to a test's own records.

    Created once per object type and session (a 409 from an earlier test run is fine).
    """
    from hubspot.crm.properties import ApiException as PropertiesApiException
    from hubspot.crm.properties import PropertyCreate

    ready = set()

    def ensure(object_type):
        if object_type not in ready:
            # use the group of a built-in property so this works for any object type
            group = client.crm.properties.core_api.get_by_name(
                object_type=object_type, property_name="hs_object_id"
            ).group_name
            try:
                client.crm.properties.core_api.create(
                    object_type=object_type,
                    property_create=PropertyCreate(
                        name=MARKER_PROPERTY, label="Conformance marker", type="string", field_type="text", group_name=group
                    ),
                )
            except PropertiesApiException as e:
                assert e.status == 409, (object_type, e.status, e.body)
            ready.add(object_type)
        return MARKER_PROPERTY

    return ensure


# --- admin commands (spoke owners …) against the server's data dir ------------------------------


@pytest.fixture(scope="session")
def account_id():
    """Account id (portal id) of SPOKE_TOKEN's account, as an int."""
    return int(_env("SPOKE_ACCOUNT_ID"))


@pytest.fixture(scope="session")
def account_id_2():
    """Account id of SPOKE_TOKEN_2's account, as an int."""
    return int(_env("SPOKE_ACCOUNT_ID_2"))


@pytest.fixture(scope="session")
def spoke_admin():
    """spoke_admin("owners", "create", ...) -> stdout of `spoke <args> --data-dir <server data dir>`.

    Runs the spoke binary the server was started from (SPOKE_BIN) on its data dir (SPOKE_DATA_DIR);
    a non-zero exit fails the test.
    """
    import subprocess

    binary, data_dir = _env("SPOKE_BIN"), _env("SPOKE_DATA_DIR")

    def run(*args):
        env = dict(os.environ, RUST_LOG="warn")
        proc = subprocess.run(
            [binary, *map(str, args), "--data-dir", data_dir], capture_output=True, text=True, timeout=60, env=env
        )
        assert proc.returncode == 0, f"spoke {' '.join(map(str, args))} exited {proc.returncode}: {proc.stderr}"
        return proc.stdout

    return run
