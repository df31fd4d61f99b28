"""Hypothesis on what Clockify sends: lifecycle and webhook bodies of random shape (JSON of any
kind, nearly valid payloads with wrong fields, raw bytes), always correctly signed, so the
checks behind the token are what is exercised. Whatever the body: never a 500, every rejection
the JSON error shape (the test client also checks each answer against the OpenAPI document),
and a rejected call leaves no row and no job behind."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from addon.clockify import event_types, lifecycle
from addon.extensions import db
from addon.jobs import schedule
from addon.models import BootstrapRun, Installation, InstallationWebhook, WebhookEvent
from addon.queueing import PRIORITY_ORDER, get_queue, get_redis
from addon.testkit import clockify_payloads as payloads

EXAMPLES = 60
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Text a database cannot hold, mixed into every string strategy: NUL and unpaired surrogates.
AWKWARD_TEXT = st.sampled_from(["\x00", "a\x00b", "\ud800", "x\udfff", "", " ", "é", "\u2028", "' OR 1=1 --"])
TEXT = st.one_of(st.text(max_size=30), AWKWARD_TEXT)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False), TEXT)
# A header value cannot hold a line break (no HTTP client or server lets one through).
HEADER_TEXT = TEXT.filter(lambda text: "\n" not in text and "\r" not in text)
JSON_VALUES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)), max_leaves=12)


def _encode(value, style: str) -> bytes:
    """JSON text of ``value``: ASCII escapes, raw UTF-8 (surrogates pass through as invalid
    bytes), or padded with whitespace."""
    if style == "utf8":
        return json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if style == "padded":
        return b" \n\t" + json.dumps(value).encode() + b"\r\n"
    return json.dumps(value).encode()


def _bodies(valid: dict) -> st.SearchStrategy[bytes]:
    """Raw bytes, any JSON, or ``valid`` with one field replaced, or fields dropped and added."""
    keys = sorted(valid)
    field_values = st.one_of(
        JSON_VALUES, TEXT,
        st.lists(st.fixed_dictionaries({"id": TEXT, "name": TEXT, "value": JSON_VALUES}), max_size=3),
        st.lists(st.fixed_dictionaries({"path": TEXT, "authToken": TEXT}), max_size=2))
    one_field = st.builds(lambda key, value: {**valid, key: value},
                          st.sampled_from([*keys, "settings", "extra"]), field_values)
    reshaped = st.builds(
        lambda drop, changes: {**{k: v for k, v in valid.items() if k not in drop}, **changes},
        st.sets(st.sampled_from(keys), max_size=2),
        st.dictionaries(st.sampled_from([*keys, "extra", "settings"]), field_values, max_size=2))
    documents = st.one_of(st.just(valid), JSON_VALUES, one_field, one_field, reshaped)
    encoded = st.builds(_encode, documents, st.sampled_from(["ascii", "utf8", "padded"]))
    return st.one_of(st.binary(max_size=200), encoded, encoded, encoded)


def _rows(app) -> dict:
    """Everything a lifecycle or webhook call may write, as comparable tuples, plus queue lengths."""
    with app.app_context():
        snapshot = {
            "installations": sorted(
                (i.workspace_id, i.addon_id, i.status, json.dumps(i.settings, sort_keys=True), i.as_user,
                 i.installation_token) for i in db.session.execute(db.select(Installation)).scalars()),
            "webhooks": sorted(
                (w.workspace_id, w.path, w.event, w.source, w.token_digest or "")
                for w in db.session.execute(db.select(InstallationWebhook)).scalars()),
            "bootstrap_runs": db.session.execute(db.select(db.func.count()).select_from(BootstrapRun)).scalar_one(),
            "events": db.session.execute(db.select(db.func.count()).select_from(WebhookEvent)).scalar_one(),
            "queued": {name: len(get_queue(name)) for name in PRIORITY_ORDER},
            "events_job_queued": bool(get_redis().exists(schedule.received_job_flag(WS))),
        }
        db.session.remove()
    return snapshot


def _assert_json_error(reply) -> dict:
    assert reply.headers.get("Content-Type", "").startswith("application/json"), reply.body[:200]
    body = reply.json()
    assert all(isinstance(body.get(k), str) for k in ("error", "message", "request_id")), body
    return body


def _signing_ids(raw: bytes, default: tuple[str, str]) -> tuple[str, str]:
    """The workspace and add-on a correctly signed call for ``raw`` is about: the body's, when
    it names them as strings, else ``default``."""
    try:
        body = json.loads(raw)
    except ValueError:
        return default
    if isinstance(body, dict) and all(isinstance(body.get(k), str) and body[k] for k in ("workspaceId", "addonId")):
        return body["workspaceId"], body["addonId"]
    return default


WS, ADDON = "ws-fuzz", "addon-fuzz"


@pytest.mark.parametrize("kind", tuple(lifecycle.PATHS))
def test_lifecycle_bodies_never_crash_or_half_write(app, kit, signer, kind):
    valid = {
        lifecycle.INSTALLED: payloads.installed_payload(signer, WS, ADDON, webhooks=[
            {"path": "/webhooks/time", "webhookType": "ADDON", "authToken": signer.webhook_token(WS, ADDON)}]),
        lifecycle.SETTINGS_UPDATED: payloads.settings_updated_payload(WS, ADDON, {"developer_mode": True}),
        lifecycle.STATUS_CHANGED: payloads.status_changed_payload(WS, ADDON, "INACTIVE"),
        lifecycle.DELETED: payloads.deleted_payload(WS, ADDON),
    }[kind]

    @FUZZ_SETTINGS
    @given(raw=_bodies(valid))
    def check(raw: bytes):
        if kind != lifecycle.INSTALLED:
            assert kit.install(WS, ADDON, events=()).reply.status_code == 200
        workspace, addon = _signing_ids(raw, (WS, ADDON))
        before = _rows(app)
        reply = kit.send_lifecycle(kind, None, body=raw, token=kit.lifecycle_token(workspace, addon))
        after = _rows(app)
        assert reply.status_code in (200, 400, 403, 404, 410, 422), (reply.status_code, reply.body[:300])
        if reply.status_code != 200:
            _assert_json_error(reply)
            assert after == before, f"a refused {kind} ({reply.json()['error']}) changed rows or jobs"
            return
        result = reply.json()
        installed = {i[0]: i for i in after["installations"]}
        assert result["workspaceId"] in installed
        if kind == lifecycle.INSTALLED:
            status = installed[result["workspaceId"]][2]
            hooks = [w for w in after["webhooks"] if w[0] == result["workspaceId"]]
            assert status == "ACTIVE" and len(hooks) == result["webhooks"]

    check()


@pytest.mark.parametrize("category", event_types.CATEGORIES)
def test_webhook_bodies_never_crash_or_half_write(app, kit, installed, category):
    route = event_types.route_path(category)
    token = installed.route_tokens[route]
    own_events = list(event_types.EVENTS_BY_CATEGORY[category])
    drawn_event_types = st.one_of(st.none(), st.sampled_from(own_events), st.sampled_from(event_types.ALL_EVENTS),
                            st.sampled_from(["SOME_FUTURE_EVENT", "lower_case", " NEW_TAG ", ""]), HEADER_TEXT)
    valid = payloads.sample_webhook_payload(own_events[0], WS)

    @FUZZ_SETTINGS
    @given(raw=_bodies(valid), event_type=drawn_event_types, delivery_id=st.one_of(st.none(), HEADER_TEXT))
    def check(raw: bytes, event_type: str | None, delivery_id: str | None):
        headers = {"Content-Type": "application/json", "Clockify-Signature": token}
        if event_type is not None:
            headers["Clockify-Webhook-Event-Type"] = event_type
        if delivery_id is not None:
            headers["Clockify-Delivery-Id"] = delivery_id
        before = _rows(app)
        reply = kit.transport.request("POST", route, body=raw, headers=headers)
        after = _rows(app)
        assert reply.status_code in (200, 400, 403), (reply.status_code, reply.body[:300])
        if reply.status_code != 200:
            _assert_json_error(reply)
            assert after == before, f"a refused delivery ({reply.json()['error']}) changed rows or jobs"
            return
        result = reply.json()
        if result["status"] == "accepted":
            assert after["events"] == before["events"] + 1
            # One job serves every delivery that arrives while it is queued.
            assert after["events_job_queued"]
            assert after["queued"]["high"] == before["queued"]["high"] + (0 if before["events_job_queued"] else 1)
        else:
            assert after == before

    check()
