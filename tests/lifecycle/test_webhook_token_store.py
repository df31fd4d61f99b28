"""``addon.store.webhooks``: manifest tokens per workspace, found by token in constant time."""

import pytest

from addon.extensions import db
from addon.models import InstallationWebhook
from addon.store import webhooks


@pytest.fixture
def stored(ctx):
    webhooks.add_manifest_tokens("ws-1", [("/webhooks/time", "tok-time"), ("/webhooks/user", "tok-user")])
    webhooks.add_manifest_tokens("ws-2", [("/webhooks/time", "tok-other-ws")])
    db.session.add(InstallationWebhook(workspace_id="ws-1", path="/webhooks/project", event="PROJECT_UPDATED",
                                       source=webhooks.API, token="tok-api", token_digest=None))
    db.session.commit()


def test_find_by_token(stored):
    row = webhooks.find_by_token("ws-1", "tok-time")
    assert (row.path, row.event, row.source) == ("/webhooks/time", "", "manifest")
    assert webhooks.find_by_token("ws-1", "tok-time", path="/webhooks/time") is row


@pytest.mark.parametrize(("workspace", "token", "path"), [
    ("ws-1", "tok-time", "/webhooks/user"),       # right token, another route
    ("ws-1", "tok-other-ws", None),               # another workspace's token
    ("ws-2", "tok-time", None),
    ("ws-1", "tok-tim", None), ("ws-1", "", None), ("ws-1", "tok-time ", None),
])
def test_find_by_token_refuses(stored, workspace, token, path):
    assert webhooks.find_by_token(workspace, token, path=path) is None


def test_replace_keeps_api_rows(stored):
    webhooks.replace_manifest_tokens("ws-1", [("/webhooks/custom", "tok-new")])
    db.session.commit()
    rows = webhooks.list_for_workspace("ws-1")
    assert [(r.path, r.source) for r in rows] == [("/webhooks/project", "api"), ("/webhooks/custom", "manifest")]
    assert webhooks.find_by_token("ws-1", "tok-time") is None
    assert [r.path for r in webhooks.list_for_workspace("ws-1", source="manifest")] == ["/webhooks/custom"]
    assert len(webhooks.list_for_workspace("ws-2")) == 1


def test_a_digest_collision_with_a_different_token_is_refused(stored):
    """The digest only finds the row; the stored token itself must equal the one presented."""
    row = webhooks.find_by_token("ws-1", "tok-user")
    row.token = "tok-tampered"
    db.session.commit()
    assert webhooks.find_by_token("ws-1", "tok-user") is None
