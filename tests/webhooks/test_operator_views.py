"""GET /webhooks and GET /installations: development only, paginated, filtered, token-free."""

import json

import pytest

from addon import create_app
from addon.extensions import db
from addon.testkit.webhooks import entity_payload


@pytest.fixture
def dev_client(base_overrides):
    dev = create_app({**base_overrides, "ADDON_ENV": "development"})
    yield dev.test_client()
    with dev.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def two_workspaces(install, deliver):
    alpha, beta = install("ws-a", "addon-a", api_events=("TASK_UPDATED",)), install("ws-b", "addon-b")
    for event in ("NEW_PROJECT", "NEW_TAG", "NEW_PROJECT"):
        deliver(alpha, event, entity_payload("ws-a"))
    deliver(beta, "NEW_CLIENT", entity_payload("ws-b"))
    return alpha, beta


@pytest.mark.parametrize("path", ["/webhooks", "/installations"])
def test_views_do_not_exist_outside_development(path, client, two_workspaces):
    response = client.get(path)
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_webhook_events_are_listed_newest_first_with_filters(dev_client, two_workspaces):
    body = dev_client.get("/webhooks").get_json()
    assert body["total"] == 4 and body["page"] == 1 and body["per_page"] == 50
    assert [i["event_type"] for i in body["items"]] == ["NEW_CLIENT", "NEW_PROJECT", "NEW_TAG", "NEW_PROJECT"]

    body = dev_client.get("/webhooks?workspace=ws-a&event=NEW_PROJECT").get_json()
    assert body["total"] == 2
    assert {(i["workspace_id"], i["event_type"], i["status"]) for i in body["items"]} == {
        ("ws-a", "NEW_PROJECT", "received")}

    page2 = dev_client.get("/webhooks?per_page=3&page=2").get_json()
    assert page2["total"] == 4 and len(page2["items"]) == 1 and page2["items"][0]["event_type"] == "NEW_PROJECT"
    assert dev_client.get("/webhooks?status=processed").get_json()["total"] == 0


def test_installations_are_listed_with_webhooks_and_no_token(dev_client, two_workspaces):
    alpha, beta = two_workspaces
    response = dev_client.get("/installations")
    text = response.get_data(as_text=True)
    body = json.loads(text)
    assert body["total"] == 2
    assert [i["workspace_id"] for i in body["items"]] == ["ws-b", "ws-a"]
    webhooks = body["items"][1]["webhooks"]
    assert {(w["path"], w["event"], w["source"]) for w in webhooks} >= {
        ("/webhooks/time", "", "manifest"), ("/webhooks/project", "TASK_UPDATED", "api")}
    for secret in [*alpha.tokens.values(), *alpha.api_tokens.values(), *beta.tokens.values()]:
        assert secret not in text
    assert "token" not in text.lower()

    only = dev_client.get("/installations?workspace=ws-b").get_json()
    assert [i["workspace_id"] for i in only["items"]] == ["ws-b"]
    by_event = dev_client.get("/installations?event=TASK_UPDATED").get_json()
    assert [i["workspace_id"] for i in by_event["items"]] == ["ws-a"]


def test_webhook_listing_never_shows_a_token(dev_client, two_workspaces):
    alpha, _ = two_workspaces
    text = dev_client.get("/webhooks").get_data(as_text=True)
    for secret in alpha.tokens.values():
        assert secret not in text
    assert "Clockify-Signature" not in text


@pytest.mark.parametrize("query", ["page=0", "per_page=500", "page=x", "per_page=-1"])
def test_bad_pagination_is_422(query, dev_client):
    response = dev_client.get(f"/webhooks?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"] == "validation_failed" and response.get_json()["errors"]


def test_timestamps_carry_their_utc_offset_on_every_database(dev_client, two_workspaces):
    """Regression: on SQLite the views gave naive times (no offset), which are not RFC 3339."""
    from datetime import datetime, timedelta

    event = dev_client.get("/webhooks").get_json()["items"][0]
    installation = dev_client.get("/installations").get_json()["items"][0]
    for moment in (event["received_at"], installation["installed_at"]):
        assert datetime.fromisoformat(moment).utcoffset() == timedelta(0)


def test_a_nul_in_a_filter_is_a_422_naming_it(dev_client, two_workspaces):
    """Regression (found by fuzzing): PostgreSQL refused the NUL and the view answered 503."""
    response = dev_client.get("/installations?workspace=ws%00a")
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"location": "query", "field": "workspace",
         "message": "Must not contain NUL characters or unpaired surrogates."}]
