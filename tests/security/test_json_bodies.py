"""One body parser, with limits, for every JSON endpoint (issue #11 item 4).

Every JSON endpoint (the four lifecycle callbacks, a webhook route, API Studio's execute and
``/api-call``) is sent every body of the table with valid credentials. Nothing is a 500;
what the parser refuses is 400 ``malformed_json`` and writes nothing.
"""

from __future__ import annotations

import codecs

import pytest

from addon.clockify import lifecycle
from addon.clockify.event_types import category_of, route_path
from addon.extensions import db
from addon.json_bodies import MAX_JSON_DEPTH, MalformedJson, decode_json
from addon.models import ApiCall, WebhookEvent
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator

WORKSPACE = "ws-bodies-1"
EVENT = "NEW_TIME_ENTRY"


def _nested(depth: int, open_: bytes = b"[", close: bytes = b"]", inner: bytes = b"") -> bytes:
    return open_ * depth + inner + close * depth


def _object_around(value: bytes) -> bytes:
    return b'{"a": ' + value + b"}"


# Refused by the parser on every endpoint.
MALFORMED = {
    "array 5,000 deep": _nested(5000),
    "array 100,000 deep": _nested(100_000),
    "object 5,000 deep": _nested(5000, b'{"a":', b"}", b"1"),
    "mixed 3,000 deep": _nested(1500, b'[{"a":', b"}]", b"1"),
    "65 arrays in an object": _object_around(_nested(MAX_JSON_DEPTH)),
    "unclosed 50,000 deep": b"[" * 50_000,
    "NaN": b'{"a": NaN}',
    "Infinity": b'{"a": Infinity}',
    "-Infinity": b'{"a": -Infinity}',
    "1e999": b'{"a": 1e999}',
    "-1e999": b'{"a": -1e999}',
    "5,000-digit integer": b'{"a": ' + b"9" * 5000 + b"}",
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "UTF-8 BOM": codecs.BOM_UTF8 + b"{}",
    "UTF-16": '{"a": 1}'.encode("utf-16"),
    "UTF-16-LE without BOM": '{"a": 1}'.encode("utf-16-le"),
    "UTF-32": '{"a": 1}'.encode("utf-32"),
    "latin-1 byte": b'{"a": "caf\xe9"}',
    "overlong UTF-8": b'{"a": "\xc0\xaf"}',
    "truncated": b'{"a": ',
    "trailing garbage": b"{} x",
    "two documents": b"{}{}",
    "single quotes": b"{'a': 1}",
    "raw control character": b'{"a": "\x01"}',
    "trailing comma": b'{"a": 1,}',
    "comment": b'{"a": 1} // no',
    "NUL byte": b'{"a": 1}\x00',
}
# Valid JSON the database cannot hold: refused where the body is stored as JSON (lifecycle,
# API Studio); webhooks keep the text verbatim and may accept it.
UNSTORABLE = {
    "NUL escape": b'{"a": "\\u0000"}',
    "lone high surrogate": b'{"a": "\\ud800"}',
    "lone low surrogate in a key": b'{"\\udfff": 1}',
}
# Parsed: each endpoint answers with its own status, never 500.
ODD_BUT_JSON = {
    "64 levels": _object_around(_nested(MAX_JSON_DEPTH - 1)),
    "duplicate keys": b'{"workspaceId": "x", "workspaceId": "y"}',
    "array": b"[1, 2, 3]",
    "string": b'"text"',
    "null": b"null",
    "huge float": b'{"a": 1.7976931348623157e308}',
    "escaped unicode": b'{"a": "\\u00e9\\ud83d\\ude00"}',
    "wide array": b"[" + b",".join([b"0"] * 20_000) + b"]",
}

ENDPOINTS = ("installed", "settings-updated", "status-changed", "deleted", "webhook", "execute", "api-call")


@pytest.fixture
def kit(app, signer):
    simulator = ClockifySimulator(signer, FlaskTransport(app.test_client()))
    assert simulator.install(WORKSPACE, events=[EVENT]).reply.status_code == 200
    return simulator


@pytest.fixture
def send(app, client, kit, signer):
    installed = kit.installs[WORKSPACE]
    user_token = signer.user_token(WORKSPACE, installed.addon_id)

    def post(endpoint: str, body: bytes):
        headers = {"Content-Type": "application/json"}
        if endpoint == "webhook":
            headers.update({"Clockify-Signature": installed.webhook_tokens[EVENT],
                            "Clockify-Webhook-Event-Type": EVENT})
            path = route_path(category_of(EVENT))
        elif endpoint in ("execute", "api-call"):
            headers["Authorization"] = f"Bearer {user_token}"
            path = "/ui/api-explorer/execute" if endpoint == "execute" else "/api-call"
        else:
            headers["X-Addon-Lifecycle-Token"] = kit.lifecycle_token(WORKSPACE, installed.addon_id)
            path = lifecycle.PATHS[{"installed": lifecycle.INSTALLED, "settings-updated": lifecycle.SETTINGS_UPDATED,
                                    "status-changed": lifecycle.STATUS_CHANGED, "deleted": lifecycle.DELETED}[endpoint]]
        return client.post(path, data=body, headers=headers)

    return post


def _written(app) -> tuple[int, int]:
    with app.app_context():
        return (db.session.query(WebhookEvent).count(), db.session.query(ApiCall).count())


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_bodies_are_400_malformed_json(app, send, endpoint, name):
    response = send(endpoint, MALFORMED[name])
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.get_json()["error"] == "malformed_json"
    assert _written(app) == (0, 0)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", UNSTORABLE)
def test_unstorable_text_is_refused_by_every_json_endpoint(app, send, endpoint, name):
    response = send(endpoint, UNSTORABLE[name])
    assert response.status_code == 400 and response.get_json()["error"] == "unsupported_text"
    assert _written(app) == (0, 0)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("name", ODD_BUT_JSON)
def test_odd_but_valid_json_is_never_a_500(send, endpoint, name):
    response = send(endpoint, ODD_BUT_JSON[name])
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    assert response.is_json


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_body_over_the_cap_is_413(app, send, endpoint):
    response = send(endpoint, b'{"a": "' + b"x" * 6_000_000 + b'"}')
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"
    assert _written(app) == (0, 0)


@pytest.mark.parametrize(("depth", "accepted"), [(1, True), (MAX_JSON_DEPTH, True), (MAX_JSON_DEPTH + 1, False),
                                                 (1000, False), (10_000, False)])
@pytest.mark.parametrize("shape", ["array", "object"])
def test_the_depth_limit_is_exact(depth, accepted, shape):
    raw = _nested(depth) if shape == "array" else _nested(depth, b'{"a":', b"}", b"1")
    if accepted:
        assert decode_json(raw) is not None
    else:
        with pytest.raises(MalformedJson, match="nested deeper"):
            decode_json(raw)
