"""POST /bootstrap and GET /bootstrap/status with real user tokens."""

import pytest

from addon.extensions import db
from addon.models import Installation
from addon.queueing import get_queue

WS, ADDON = "ws-endpoints", "addon-9"
FIELDS = {"status", "operations_total", "operations_done", "items_stored", "errors", "started_at", "finished_at"}


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
                                   "items_stored": 0, "errors": [], "started_at": None, "finished_at": None}


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
