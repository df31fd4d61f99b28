"""``addon.store.webhooks``: manifest tokens per workspace; a delivery is authenticated by its
token's digest and its route, in constant time."""

import pytest

from addon.extensions import db
from addon.models import Installation, InstallationWebhook
from addon.store import webhooks
from addon.testkit.stored_rows import webhook_rows


@pytest.fixture
def stored(ctx):
    for workspace_id in ("ws-1", "ws-2"):
        db.session.add(Installation(workspace_id=workspace_id, addon_id=f"addon-{workspace_id}",
                                    installation_token="installation", api_url="https://api.clockify.me/api"))
    webhooks.add_manifest_tokens("ws-1", [("/webhooks/time", "tok-time"), ("/webhooks/user", "tok-user")])
    webhooks.add_manifest_tokens("ws-2", [("/webhooks/time", "tok-other-ws")])
    db.session.add(InstallationWebhook(workspace_id="ws-1", path="/webhooks/project", event="PROJECT_UPDATED",
                                       source=webhooks.API, token="tok-api", token_digest=None))
    db.session.commit()


def test_a_delivery_is_found_by_its_token_and_route(stored):
    target = webhooks.find_delivery_target("ws-1", "/webhooks/time", "tok-time")
    assert target == webhooks.DeliveryTarget(event="", addon_id="addon-ws-1", installation_status="ACTIVE")
    assert target.installation_active


@pytest.mark.parametrize(("workspace", "path", "token"), [
    ("ws-1", "/webhooks/user", "tok-time"),        # right token, another route
    ("ws-1", "/webhooks/time", "tok-other-ws"),    # another workspace's token
    ("ws-2", "/webhooks/time", "tok-time"),
    ("ws-1", "/webhooks/time", "tok-tim"), ("ws-1", "/webhooks/time", ""), ("ws-1", "/webhooks/time", "tok-time "),
    ("ws-1", "/webhooks/project", "tok-api"),     # a row without a digest is never found
])
def test_a_delivery_with_any_other_token_or_route_is_refused(stored, workspace, path, token):
    assert webhooks.find_delivery_target(workspace, path, token) is None


def test_replace_keeps_api_rows(stored):
    webhooks.replace_manifest_tokens("ws-1", [("/webhooks/custom", "tok-new")])
    db.session.commit()
    assert [(r.path, r.source) for r in webhook_rows("ws-1")] == [
        ("/webhooks/project", "api"), ("/webhooks/custom", "manifest")]
    assert webhooks.find_delivery_target("ws-1", "/webhooks/time", "tok-time") is None
    assert webhooks.find_delivery_target("ws-1", "/webhooks/custom", "tok-new") is not None
    assert [r.path for r in webhook_rows("ws-1", source="manifest")] == ["/webhooks/custom"]
    assert len(webhook_rows("ws-2")) == 1
