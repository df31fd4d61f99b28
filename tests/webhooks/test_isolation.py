"""One workspace can never see or touch another's events."""

from addon.extensions import db
from addon.jobs.webhook_requeue import replay
from addon.models import WorkspaceData
from addon.store import webhook_events
from addon.testkit.webhooks import entity_payload


def test_a_token_cannot_deliver_into_another_workspace(install, deliver, signer, stored_events):
    alpha, beta = install("ws-a", "addon-a"), install("ws-b", "addon-b")
    # Alpha's stored token with a payload about beta.
    assert deliver(alpha, "NEW_PROJECT", entity_payload("ws-b")).status_code == 403
    # Beta's stored token on alpha's behalf: the token names beta, so it is stored for beta.
    response = deliver(alpha, "NEW_PROJECT", entity_payload("ws-a"), token=beta.tokens["project"])
    assert response.status_code == 403 and response.get_json()["error"] == "workspace_mismatch"
    # A validly signed token naming alpha but not stored for alpha.
    forged = signer.webhook_token("ws-a", "addon-b")
    assert deliver(alpha, "NEW_PROJECT", entity_payload("ws-a"), token=forged).status_code == 401
    assert stored_events() == []


def test_identical_bodies_in_two_workspaces_are_two_events(install, deliver, stored_events):
    alpha, beta = install("ws-a", "addon-a"), install("ws-b", "addon-b")
    body = {"id": "same-entity", "name": "no workspace id in this payload"}
    first = deliver(alpha, "NEW_PROJECT", body)
    second = deliver(beta, "NEW_PROJECT", body)
    assert first.get_json()["status"] == second.get_json()["status"] == "accepted"
    assert sorted(r.workspace_id for r in stored_events()) == ["ws-a", "ws-b"]


def test_store_lookups_and_replay_are_scoped(app, install, deliver, stored_events, run_jobs):
    alpha = install("ws-a", "addon-a")
    install("ws-b", "addon-b")
    deliver(alpha, "NEW_PROJECT", entity_payload("ws-a", "pa"))
    run_jobs()
    [row] = stored_events()
    with app.app_context():
        assert webhook_events.get("ws-b", row.id) is None
        assert webhook_events.get("ws-a", row.id).id == row.id
        assert webhook_events.page(workspace_id="ws-b").total == 0
        assert replay("ws-b").enqueued == 0
        cached = db.session.execute(db.select(WorkspaceData.workspace_id, WorkspaceData.entity_id)).all()
    assert [tuple(c) for c in cached] == [("ws-a", "pa")]
    assert stored_events()[0].attempts == 1
