"""POST /bootstrap and GET /bootstrap/status with real user tokens."""

from datetime import UTC, datetime, timedelta

import pytest

from addon.extensions import db
from addon.models import BootstrapRunStatus, CheckpointState, Installation
from addon.queueing import get_queue
from addon.store import bootstrap_runs
from addon.store.bootstrap_runs import Checkpoint

WS, ADDON = "ws-endpoints", "addon-9"
FIELDS = {"status", "operations_total", "operations_done", "items_stored", "errors", "started_at", "finished_at",
          "resume_at"}


@pytest.fixture
def installed(app, signer):
    def make(status="ACTIVE"):
        with app.app_context():
            db.session.add(Installation(workspace_id=WS, addon_id=ADDON, status=status,
                                        installation_token=signer.installation_token(WS, ADDON),
                                        api_url="https://api.clockify.me/api"))
            db.session.commit()
    return make


def bearer(signer, role="OWNER"):
    return {"Authorization": "Bearer " + signer.user_token(WS, ADDON, role=role)}


def test_status_before_any_run_is_none(client, installed, signer):
    installed()
    response = client.get("/bootstrap/status", headers=bearer(signer, role="USER"))
    assert response.status_code == 200
    assert response.get_json() == {"status": "none", "operations_total": 0, "operations_done": 0,
                                   "items_stored": 0, "errors": [], "started_at": None, "finished_at": None,
                                   "resume_at": None}


def test_admin_starts_a_run_once(app, client, installed, signer):
    installed()
    first = client.post("/bootstrap", headers=bearer(signer, role="ADMIN"))
    assert first.status_code == 202
    assert set(first.get_json()) == FIELDS and first.get_json()["status"] == "pending"
    with app.app_context():
        assert get_queue("bootstrap").job_ids == ["bootstrap-ws-endpoints"]

    again = client.post("/bootstrap", headers=bearer(signer))
    assert again.status_code == 409
    body = again.get_json()
    assert body["error"] == "bootstrap_in_progress" and body["status"] == "pending"
    assert FIELDS <= set(body) and body["request_id"]

    status = client.get("/bootstrap/status", headers=bearer(signer, role="USER"))
    assert status.status_code == 200 and status.get_json()["status"] == "pending"


def test_members_may_not_start_a_run(client, installed, signer):
    installed()
    response = client.post("/bootstrap", headers=bearer(signer, role="USER"))
    assert response.status_code == 403
    assert response.get_json()["error"] == "admin_required"


def test_tokens_are_required(client, installed):
    installed()
    assert client.post("/bootstrap").status_code == 401
    assert client.get("/bootstrap/status").status_code == 401


def test_inactive_installation_answers_410(client, installed, signer):
    installed(status="INACTIVE")
    assert client.post("/bootstrap", headers=bearer(signer)).status_code == 410


def test_a_throttled_run_shows_waiting_and_when_it_resumes(app, client, installed, signer):
    installed()
    resume_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    with app.app_context():
        run = bootstrap_runs.create(WS, "install")
        bootstrap_runs.start(run.id, 20, {"start": "2026-01-01T00:00:00Z", "end": "2026-01-31T00:00:00Z"})
        bootstrap_runs.save_checkpoint(run.id, WS, "getClients", "clients", Checkpoint(3, 7, CheckpointState.DONE))
        bootstrap_runs.save_checkpoint(run.id, WS, "getTags", "tags", Checkpoint(2, 5, CheckpointState.RUNNING))
        bootstrap_runs.hand_over(run.id, "bootstrap-1-s1", resume_at)
        db.session.commit()
    body = client.get("/bootstrap/status", headers=bearer(signer, role="USER")).get_json()
    assert body["status"] == BootstrapRunStatus.WAITING == "waiting"
    assert datetime.fromisoformat(body["resume_at"]) == resume_at
    assert (body["operations_total"], body["operations_done"], body["items_stored"]) == (20, 1, 12)

    again = client.post("/bootstrap", headers=bearer(signer))
    assert again.status_code == 409 and again.get_json()["status"] == "waiting"


def test_workspace_data_says_how_each_collection_stays_fresh(app, client, installed, signer):
    installed()
    with app.app_context():
        run = bootstrap_runs.create(WS, "install")
        bootstrap_runs.save_checkpoint(run.id, WS, "getClients", "clients", Checkpoint(2, 1, CheckpointState.DONE))
        bootstrap_runs.save_checkpoint(run.id, WS, "getTags", "tags", Checkpoint(2, 1, CheckpointState.FAILED))
        db.session.commit()
    body = client.get("/ui/workspace-data", headers=bearer(signer, role="USER")).get_json()
    collections = {c["source"]: c for c in body["collections"]}
    # The tests' manifest is schema 1.3: no collection has all its events subscribed.
    assert {c["freshness"] for c in collections.values()} == {"refresh"}
    assert {"projects", "tasks", "time-entries", "user-groups", "expenses"} <= set(collections)
    assert collections["clients"]["lastRefreshedAt"] is not None
    assert collections["tags"]["lastRefreshedAt"] is None  # its listing failed
