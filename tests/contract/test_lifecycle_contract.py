"""Lifecycle contract helpers and body validation, without HTTP."""

import pytest

from addon.clockify import lifecycle
from addon.clockify import lifecycle_payloads as payloads


@pytest.mark.parametrize(("path", "base_url", "expected"), [
    ("https://addon.example.com/webhooks/time", "https://addon.example.com", "/webhooks/time"),
    ("/webhooks/time", "https://addon.example.com", "/webhooks/time"),
    ("webhooks/time/", "https://addon.example.com", "/webhooks/time"),
    ("https://host.example.com/addon/webhooks/user", "https://host.example.com/addon", "/webhooks/user"),
    ("https://other.example.com/webhooks/user?x=1", "https://addon.example.com", "/webhooks/user"),
    ("/webhooks/user?x=1", "https://addon.example.com", "/webhooks/user"),
])
def test_webhook_paths_from_install_map_to_route_paths(path, base_url, expected):
    assert lifecycle.webhook_route_path(path, base_url) == expected


def test_token_header_precedence():
    headers = {"X-Webhook-Signature": "legacy-2", "X-Addon-Signature": "legacy-1", "Clockify-Signature": "sig",
               "X-Addon-Lifecycle-Token": "life"}
    assert lifecycle.token_from(headers) == "life"
    headers["X-Addon-Lifecycle-Token"] = "  "
    assert lifecycle.token_from(headers) == "sig"
    del headers["Clockify-Signature"]
    assert lifecycle.token_from(headers) == "legacy-1"
    del headers["X-Addon-Signature"]
    assert lifecycle.token_from(headers) == "legacy-2"
    assert lifecycle.token_from({}) is None


@pytest.mark.parametrize(("raw", "expected"), [
    ([{"id": "auto_bootstrap", "name": "x", "value": False}, {"id": "developer_mode", "value": "true"}],
     {"auto_bootstrap": False, "developer_mode": "true"}),
    ({"tabs": [{"id": "t", "settings": [{"id": "a", "value": 1}],
                "groups": [{"id": "g", "settings": [{"id": "b", "value": [1]}]}]}]}, {"a": 1, "b": [1]}),
    ({"auto_bootstrap": False}, {"auto_bootstrap": False}),
    (None, {}), ("nonsense", {}), ([1, {"no": "id"}], {}),
    # A tree with a malformed part: that part is ignored, the valid settings beside it are kept.
    *[({"tabs": [{"settings": [{"id": "kept", "value": 1}], **part}]}, {"kept": 1}) for part in (
        {"groups": 7}, {"groups": True}, {"groups": "groups"}, {"groups": {"settings": []}}, {"groups": [None, 3, "g"]},
        {"groups": [{"settings": 5}]}, {"groups": [{"settings": True}]}, {"groups": [{"settings": "abc"}]},
        {"groups": [{"settings": {"id": "x", "value": 2}}]}, {"groups": [{"settings": [None, "s", {"id": 5}]}]})],
    *[({"tabs": [tab, {"settings": [{"id": "kept", "value": 1}]}]}, {"kept": 1}) for tab in (
        None, 3, "tab", [], {"settings": 5}, {"settings": True}, {"settings": "abc"}, {"settings": {"id": "x"}},
        {"settings": [None, 4, "s", {"value": 2}, {"id": ["x"], "value": 3}]})],
    ({"tabs": "tabs"}, {"tabs": "tabs"}), ({"tabs": None}, {"tabs": None}),
])
def test_settings_values_accept_every_shape(raw, expected):
    assert lifecycle.settings_values(raw) == expected


@pytest.mark.parametrize(("value", "checked"), [
    (True, True), (False, False), ("true", True), ("TRUE", True), ("false", False), ("", False), (None, False),
    (1, True), (0, False), ("on", True), ([True], False)])
def test_checkbox_values(value, checked):
    assert lifecycle.is_checked(value) is checked


def installed_body(**changes):
    body = {"addonId": "a1", "authToken": "tok", "workspaceId": "ws1", "asUser": "u1",
            "apiUrl": "https://api.clockify.me/api", "addonUserId": "au1",
            "webhooks": [{"path": "/webhooks/time", "webhookType": "ADDON", "authToken": "wt"}]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def test_installed_payload_parses_and_tolerates_unknown_fields():
    payload = payloads.load(lifecycle.INSTALLED, installed_body(somethingNew={"x": 1}))
    assert payload.workspace_id == "ws1" and payload.addon_id == "a1" and payload.api_url.startswith("https://")
    assert payload.webhooks == (payloads.InstalledWebhook("/webhooks/time", "wt", "ADDON"),)
    assert "tok" not in repr(payload) and "wt" not in repr(payload.webhooks[0])


def test_installed_without_optional_fields():
    payload = payloads.load(lifecycle.INSTALLED, {"addonId": "a1", "authToken": "t", "workspaceId": "w",
                                                  "webhooks": None})
    assert payload.webhooks == () and payload.api_url is None and payload.settings is None


def test_every_bad_field_is_named():
    body = installed_body(addonId=..., workspaceId=7, apiUrl="not a url",
                          webhooks=[{"path": "", "authToken": "x"}, {"authToken": "y"}])
    with pytest.raises(payloads.PayloadError) as info:
        payloads.load(lifecycle.INSTALLED, body)
    fields = {e["field"] for e in info.value.errors}
    assert fields == {"addonId", "workspaceId", "apiUrl", "webhooks[0].path", "webhooks[1].path"}
    assert all(e["message"] for e in info.value.errors)


@pytest.mark.parametrize("body", [[], "text", 3, None])
def test_a_body_that_is_not_an_object(body):
    with pytest.raises(payloads.PayloadError) as info:
        payloads.load(lifecycle.DELETED, body)
    assert info.value.errors == [{"field": "$", "message": "The body must be a JSON object."}]


def test_settings_updated_values():
    body = {"workspaceId": "w", "addonId": "a", "settings": [
        {"id": "s1", "name": "n", "value": "x"}, {"id": "s2", "value": 2.5}, {"id": "s3", "value": ["a"]},
        {"id": "s4", "value": None}, {"id": "s5", "value": {"nested": True}}, {"name": "no id", "value": 1}]}
    with pytest.raises(payloads.PayloadError) as info:
        payloads.load(lifecycle.SETTINGS_UPDATED, body)
    assert {e["field"] for e in info.value.errors} == {"settings[4].value", "settings[5].id"}
    del body["settings"][4:]
    assert len(payloads.load(lifecycle.SETTINGS_UPDATED, body).settings) == 4


def test_status_must_be_active_or_inactive():
    with pytest.raises(payloads.PayloadError) as info:
        payloads.load(lifecycle.STATUS_CHANGED, {"workspaceId": "w", "addonId": "a", "status": "PAUSED"})
    assert [e["field"] for e in info.value.errors] == ["status"]
    assert payloads.load(lifecycle.STATUS_CHANGED, {"workspaceId": "w", "addonId": "a", "status": "INACTIVE"}
                         ).status == "INACTIVE"


def test_ids_longer_than_the_columns_are_refused():
    with pytest.raises(payloads.PayloadError) as info:
        payloads.load(lifecycle.DELETED, {"workspaceId": "w" * 65, "addonId": "a"})
    assert [e["field"] for e in info.value.errors] == ["workspaceId"]
