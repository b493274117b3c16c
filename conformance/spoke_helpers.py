"""Helpers shared by the conformance test modules."""
import json
import re
from datetime import datetime

import requests

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)
ISO_MS_Z_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


# --- helpers used by several test modules -------------------------------------------------


def error_body(exc):
    """Parse the JSON body of an ApiException and check the common HubSpot error envelope."""
    assert exc.body, f"error response (status {exc.status}) has no body"
    body = json.loads(exc.body)
    assert body.get("status") == "error", body
    assert isinstance(body.get("message"), str) and body["message"], body
    assert UUID_RE.match(body.get("correlationId", "")), body
    assert isinstance(body.get("category"), str), body
    check_error_shape(body)
    return body


def check_error_shape(body):
    """Optional keys are omitted rather than null; every context maps to arrays of strings."""
    assert all(v is not None for v in body.values()), f"null member in error body: {body}"

    def check_context(ctx):
        assert isinstance(ctx, dict), ctx
        for key, value in ctx.items():
            assert isinstance(value, list) and all(isinstance(x, str) for x in value), f"context[{key!r}] = {value!r}"

    if "context" in body:
        check_context(body["context"])
    for err in body.get("errors", []):
        assert isinstance(err.get("message"), str), err
        if "context" in err:
            check_context(err["context"])


def parse_iso(value):
    """Parse an ISO-8601 UTC timestamp string with milliseconds and Z."""
    assert isinstance(value, str) and ISO_MS_Z_RE.match(value), f"not ISO UTC with ms and Z: {value!r}"
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")


def property_errors(body):
    """(message array, {propertyName: code}) from a 'Property values were not valid' 400 body."""
    prefix = "Property values were not valid: "
    assert body["category"] == "VALIDATION_ERROR", body
    assert body["message"].startswith(prefix + "["), body["message"]
    array = json.loads(body["message"][len(prefix):])
    assert isinstance(array, list) and array
    codes = {}
    for err in body.get("errors") or []:
        names = err["context"]["propertyName"]
        assert isinstance(names, list) and len(names) == 1, err
        codes[names[0]] = err["code"]
    return array, codes


class Raw:
    """Thin requests wrapper for what the SDK cannot send (bad JSON, no auth, odd routes)."""

    def __init__(self, base_url, token):
        self.base_url = base_url
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, method, path, **kwargs):
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.base_url + path, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)
