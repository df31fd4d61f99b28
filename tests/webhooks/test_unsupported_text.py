"""Acknowledged means processed: JSON text no database can store (``\\u0000``, an unpaired
surrogate) is refused at ingestion with 400 ``unsupported_text`` by every JSON endpoint, webhook
and lifecycle alike; everything answered 200 reaches ``processed`` (the point of running this on
PostgreSQL, whose JSONB refuses both)."""

from __future__ import annotations

import json

import pytest

from addon.clockify.json_text import find_unsupported_text
from addon.extensions import db
from addon.models import Installation, WorkspaceData
from addon.testkit import clockify_payloads as payloads
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator

# JSON text fragments put in a time entry: (id, fragment, where the checker points).
REFUSED = [
    ("NUL in a value", '"description": "a\\u0000b"', "$.description"),
    ("NUL alone", '"description": "\\u0000"', "$.description"),
    ("NUL in a key", '"de\\u0000sc": 1', "$ (a key)"),
    ("NUL in a nested value", '"project": {"tags": ["ok", "x\\u0000"]}', "$.project.tags[1]"),
    ("NUL in a nested key", '"project": {"n\\u0000": true}', "$.project (a key)"),
    ("lone high surrogate", '"description": "\\ud800"', "$.description"),
    ("lone low surrogate", '"description": "\\udfff"', "$.description"),
    ("high surrogate at the end", '"description": "abc\\ud83d"', "$.description"),
    ("pair in the wrong order", '"description": "\\ude00\\ud83d"', "$.description"),
    ("surrogate in a key", '"\\udc80": 1', "$ (a key)"),
    ("surrogate deep in a list", '"custom": [[["\\ud834"]]]', "$.custom[0][0][0]"),
]
ACCEPTED = [
    ("valid surrogate pair", '"description": "\\ud83d\\ude00"'),
    ("raw UTF-8 emoji", '"description": "\U0001f600 caf\u00e9"'),
    ("escaped backslash before u0000", '"description": "\\\\u0000"'),
    ("other control escapes", '"description": "tab\\there\\nline\\u0001"'),
    ("NUL-like text", '"description": "U+0000 \\\\x00"'),
]


def _body(workspace_id: str, fragment: str) -> bytes:
    return f'{{"id": "te-text", "workspaceId": "{workspace_id}", {fragment}}}'.encode()


@pytest.mark.parametrize(("fragment", "where"), [(f, w) for _, f, w in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_the_checker_names_where_the_text_is(fragment, where):
    assert find_unsupported_text(json.loads(_body("ws", fragment))) == where


@pytest.mark.parametrize("fragment", [f for _, f in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_the_checker_accepts_storable_text(fragment):
    assert find_unsupported_text(json.loads(_body("ws", fragment))) is None


@pytest.mark.parametrize("fragment", [f for _, f, _ in REFUSED], ids=[i for i, _, _ in REFUSED])
def test_a_webhook_with_unstorable_text_is_refused_and_nothing_is_stored(workspace, deliver, stored_events,
                                                                        fragment):
    reply = deliver(workspace, "NEW_TIME_ENTRY", body=_body(workspace.workspace_id, fragment))
    assert reply.status_code == 400, reply.get_json()
    assert reply.get_json()["error"] == "unsupported_text"
    assert stored_events() == []


@pytest.mark.parametrize("fragment", [f for _, f in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_a_webhook_answered_200_is_processed(app, workspace, deliver, stored_events, run_jobs, fragment):
    reply = deliver(workspace, "NEW_TIME_ENTRY", body=_body(workspace.workspace_id, fragment))
    assert reply.status_code == 200 and reply.get_json()["status"] == "accepted"
    run_jobs()
    [row] = stored_events()
    assert (row.status, row.last_error) == ("processed", None)
    with app.app_context():
        cached = db.session.execute(db.select(WorkspaceData.data)).scalar_one()
    assert cached == json.loads(_body(workspace.workspace_id, fragment))


LIFECYCLE_FORMS = [
    ("NUL in a setting value", [{"id": "note", "name": "Note", "value": "a\u0000"}]),
    ("lone surrogate in a setting value", [{"id": "note", "name": "Note", "value": "\ud800"}]),
    ("NUL in a setting id", [{"id": "no\u0000te", "name": "Note", "value": "x"}]),
    ("lone surrogate in a nested list", [{"id": "tags", "name": "Tags", "value": ["ok", "\udfff"]}]),
]


@pytest.fixture
def lifecycle(app, client, signer):
    kit = ClockifySimulator(signer, FlaskTransport(client))
    assert kit.install("ws-text", "addon-text").reply.status_code == 200
    return kit


def _settings(app) -> dict:
    with app.app_context():
        value = db.session.execute(db.select(Installation.settings)).scalar_one()
        db.session.remove()
    return value


@pytest.mark.parametrize("settings", [s for _, s in LIFECYCLE_FORMS], ids=[i for i, _ in LIFECYCLE_FORMS])
def test_a_lifecycle_call_with_unstorable_text_is_refused_the_same_way(app, lifecycle, settings):
    before = _settings(app)
    body = json.dumps(payloads.settings_updated_payload("ws-text", "addon-text", settings)).encode()
    reply = lifecycle.send_lifecycle("SETTINGS_UPDATED", None, body=body, workspace_id="ws-text",
                                     addon_id="addon-text")
    assert reply.status_code == 400 and reply.json()["error"] == "unsupported_text", reply.json()
    assert _settings(app) == before


def test_a_lifecycle_call_with_a_valid_surrogate_pair_is_stored(app, lifecycle):
    settings = [{"id": "note", "name": "Note", "value": "\ud83d\ude00"}]
    body = json.dumps(payloads.settings_updated_payload("ws-text", "addon-text", settings)).encode()
    reply = lifecycle.send_lifecycle("SETTINGS_UPDATED", None, body=body, workspace_id="ws-text",
                                     addon_id="addon-text")
    assert reply.status_code == 200, reply.json()
    assert _settings(app)["note"] == "\U0001f600"
