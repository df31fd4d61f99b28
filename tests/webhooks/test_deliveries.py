"""The plain decision functions of a delivery, and the handler registry API."""

import json

import pytest

from addon.clockify import deliveries
from addon.clockify.deliveries import ParsedBody
from addon.json_bodies import decode_json
from addon.store.webhook_events import storable_headers
from addon.webhook_handlers import ANY_EVENT, Registry
from addon.webhook_handlers.workspace_data import KINDS, find_entities


def test_parse_body():
    assert deliveries.parse_body(b'{"a": 1}', decode_json) == ParsedBody('{"a": 1}', {"a": 1})
    for bad in (b"", b"{", b"\xff", b"[1,]", b"NaN-ish"):
        assert not deliveries.parse_body(bad, decode_json).ok


def test_event_type_prefers_the_header():
    body = deliveries.parse_body(b'{"eventType": "NEW_TAG", "event": "NEW_TASK"}', decode_json)
    assert deliveries.event_type_of("NEW_PROJECT", body) == "NEW_PROJECT"
    assert deliveries.event_type_of(None, body) == "NEW_TAG"
    assert deliveries.event_type_of(None, deliveries.parse_body(b'{"event": "NEW_TASK"}', decode_json)) == "NEW_TASK"
    assert deliveries.event_type_of(" NEW_PROJECT ", body) == "NEW_PROJECT"


@pytest.mark.parametrize("header, body", [
    (None, b'{"event": {"type": "NEW_TAG"}}'), (None, b"[]"), (None, b"{"), ("lower_case", b"{}"),
    ("NEW PROJECT", b"{}"), (None, b'{"eventType": "bad name"}'),
])
def test_no_event_type(header, body):
    assert deliveries.event_type_of(header, deliveries.parse_body(body, decode_json)) is None


def test_check_route():
    assert deliveries.check_route("project", "NEW_PROJECT") == deliveries.RouteVerdict(True, True)
    assert not deliveries.check_route("time", "NEW_PROJECT").allowed
    assert "/webhooks/project" in deliveries.check_route("time", "NEW_PROJECT").message
    assert deliveries.check_route("generic", "SOMETHING_NEW") == deliveries.RouteVerdict(True, False)
    assert not deliveries.check_route("user", "SOMETHING_NEW").allowed
    assert not deliveries.check_route("generic", "NEW_PROJECT").allowed
    assert deliveries.check_route("project", "PROJECT_UPDATED", registered_event="PROJECT_UPDATED").allowed
    assert not deliveries.check_route("project", "PROJECT_DELETED", registered_event="PROJECT_UPDATED").allowed


def test_payload_workspace_ids():
    assert deliveries.payload_workspace_ids({"workspaceId": "w1", "project": {"workspaceId": "w9"}}) == {"w1"}
    assert deliveries.payload_workspace_ids([{"workspaceId": "w1"}, {"workspaceId": "w2"}, 3]) == {"w1", "w2"}
    assert deliveries.payload_workspace_ids({"id": "x"}) == set()
    assert deliveries.payload_workspace_ids({"workspaceId": None}) == set()
    assert deliveries.payload_workspace_ids({"workspaceId": 7}) == {"7"}
    assert deliveries.payload_workspace_ids("text") == set()


def _parsed(value) -> deliveries.ParsedBody:
    return deliveries.parse_body(json.dumps(value).encode(), decode_json)


@pytest.mark.parametrize(("event_type", "value", "entity"), [
    ("NEW_TIME_ENTRY", {"id": "te-1", "workspaceId": "w"}, "te-1"),
    ("TIME_ENTRY_UPDATED", {"id": " te-1 ", "billable": True}, "te-1"),
    ("PROJECT_DELETED", {"id": "p-1", "project": {"id": "other"}}, "p-1"),
    ("USER_UPDATED", {"id": "u-1"}, "u-1"),
    ("BALANCE_UPDATED", {"userId": "u-1", "policyId": "p"}, None),     # no top-level id
    ("NEW_TAG", {"id": 7}, None),                                       # not a string
    ("NEW_TAG", {"id": ""}, None),
    ("NEW_TAG", {"id": "x" * 257}, None),                               # too long to be an id
    ("NEW_TAG", [{"id": "t-1"}], None),                                 # a list is not one entity
    ("TIME_ENTRY_SPLIT", {"id": "te-1"}, None),                         # several entities
    ("USERS_INVITED_TO_WORKSPACE", {"id": "u-1"}, None),
    ("LIMITED_USERS_ADDED_TO_WORKSPACE", {"id": "u-1"}, None),
    ("SOMETHING_NEW", {"id": "n-1"}, "n-1"),
])
def test_entity_id_per_event_family(event_type, value, entity):
    assert deliveries.entity_id(event_type, _parsed(value)) == entity


def test_dedupe_key_subjects():
    body = json.dumps({"id": "te-1", "billable": True}).encode()
    key = deliveries.dedupe_key("TIME_ENTRY_UPDATED", body, deliveries.parse_body(body, decode_json))
    assert key.subject.startswith("entity:") and not key.windowed and len(key.subject) <= 80
    other_state = json.dumps({"id": "te-1", "billable": False}).encode()
    other = deliveries.dedupe_key("TIME_ENTRY_UPDATED", other_state, deliveries.parse_body(other_state, decode_json))
    assert other.subject == key.subject and other.digest != key.digest
    anonymous = b'[{"id": "u-1"}]'
    by_body = deliveries.dedupe_key("USERS_INVITED_TO_WORKSPACE", anonymous,
                                    deliveries.parse_body(anonymous, decode_json))
    assert by_body.subject == "body:" + by_body.digest and by_body.windowed
    # A delivery id decides first, whatever the body says.
    assert deliveries.dedupe_key("NEW_TAG", b"{}", deliveries.parse_body(b"{}", decode_json), "d-1") == \
        deliveries.dedupe_key("NEW_TAG", body, deliveries.parse_body(body, decode_json), "d-1")


def test_delivery_id_headers():
    assert deliveries.delivery_id({"Clockify-Delivery-Id": "abc-1"}) == "abc-1"
    assert deliveries.delivery_id({"X-Clockify-Delivery-Id": "abc:2"}) == "abc:2"
    assert deliveries.delivery_id({"X-Request-Id": "abc"}) is None
    assert deliveries.delivery_id({"Clockify-Delivery-Id": "has space"}) is None


def test_storable_headers_drop_credentials():
    kept = storable_headers({"Clockify-Signature": "eyJa.b.c", "authorization": "Bearer x",
                                        "Cookie": "s=1", "X-Forwarded-For": "1.2.3.4",
                                        "X-Odd": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"})
    assert kept == {"X-Forwarded-For": "1.2.3.4", "X-Odd": "[REDACTED]"}


def test_metric_labels_come_from_fixed_sets():
    assert deliveries.event_label("NEW_PROJECT") == "NEW_PROJECT"
    assert deliveries.event_label("WHATEVER") == deliveries.event_label(None) == "UNKNOWN"
    assert deliveries.rejection_reason("invalid_token", "webhook_token") == "webhook_token"
    assert deliveries.rejection_reason("invalid_token", "signature") == "invalid_token"
    assert deliveries.rejection_reason("something_else") == "other"


def test_registry_on_and_handlers_for():
    registry = Registry()

    @registry.on("NEW_TAG", "TAG_UPDATED")
    def tags(event):
        return None

    @registry.on(ANY_EVENT)
    def everything(event):
        return None

    registry.on("NEW_TAG")(tags)  # registering twice keeps one
    assert registry.handlers_for("NEW_TAG") == (tags, everything)
    assert registry.handlers_for("SOMETHING_ELSE") == (everything,)
    registry.remove(everything)
    assert registry.handlers_for("TAG_UPDATED") == (tags,)


@pytest.mark.parametrize("names", [(), ("new_tag",), ("NEW TAG",), ("",)])
def test_registry_refuses_bad_names(names):
    with pytest.raises(ValueError):
        Registry().on(*names)


def test_builtin_handlers_cover_every_cached_kind():
    assert {k.source for k in KINDS} == {"projects", "clients", "tags", "tasks", "time-entries", "users",
                                         "expenses"}
    from addon.webhook_handlers import registry
    from addon.webhook_handlers.workspace_data import refresh_workspace_data

    for kind in KINDS:
        for event in kind.upsert_events + kind.delete_events:
            assert refresh_workspace_data in registry.handlers_for(event)


def test_find_entities_is_defensive():
    assert find_entities({"id": "a", "x": 1}, ("project",)) == [("a", {"id": "a", "x": 1})]
    assert find_entities({"project": {"id": 5}}, ("project",)) == [("5", {"id": 5})]
    assert find_entities([{"id": "a"}, {"id": "a", "v": 2}], ()) == [("a", {"id": "a", "v": 2})]
    for odd in (None, 3, "s", [], {}, {"id": True}, {"id": "x" * 200}, {"project": [1, "2"]}, {"other": {"id": "z"}}):
        assert find_entities(odd, ("project",)) == []


@pytest.mark.slow
def test_handler_modules_are_discovered_without_importing_them(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from addon.webhook_handlers import registry; "
            "assert 'addon.webhook_handlers.workspace_data' not in sys.modules; "
            "print([h.__name__ for h in registry.handlers_for('NEW_PROJECT')])")
    root = Path(__file__).resolve().parents[2]
    output = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "['refresh_workspace_data']"


def test_readme_handler_example_registers_and_runs(caplog):
    import logging
    import re
    from datetime import UTC, datetime
    from pathlib import Path

    from addon.webhook_handlers import Event, Skipped, registry

    readme = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    section = readme.split("## Webhook handlers", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {"__name__": "readme_example"}
    exec(compile(code, "docs/webhooks.md", "exec"), namespace)
    handler = namespace["announce_project"]
    try:
        assert handler in registry.handlers_for("PROJECT_UPDATED")
        caplog.set_level(logging.INFO, logger="readme_example")
        handler(Event(1, "ws", "NEW_PROJECT", {"name": "Apollo"}, True, datetime.now(UTC), 1))
        assert "Apollo" in caplog.text
        with pytest.raises(Skipped):
            handler(Event(2, "ws", "NEW_PROJECT", [], True, datetime.now(UTC), 1))
    finally:
        registry.remove(handler)
