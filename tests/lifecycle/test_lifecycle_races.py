"""Lifecycle calls of one workspace racing each other (a retry arriving while another call runs)
apply one after the other: a call never writes over a change committed while it ran.

The other call is played at the database level: a transaction that locks the installation row,
uninstalls it (``status = 'DELETED'``, as the DELETED call writes) and commits while the call
under test is in flight. PostgreSQL only: SQLite has one writer at a time, so the interleaving
cannot happen there."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from addon.extensions import db
from addon.models import Installation, LifecycleOutbox

WS = "60332d61ff30282b1f23e624"
IN_FLIGHT_SECONDS = 0.5


@pytest.fixture
def postgresql_only(base_overrides):
    if base_overrides["DATABASE_URL"].startswith("sqlite"):
        pytest.skip(reason="SQLite has a single writer: lifecycle calls cannot interleave there")


def _state(app) -> tuple[str, dict, int]:
    with app.app_context():
        installation = db.session.execute(db.select(Installation).where(Installation.workspace_id == WS)).scalar_one()
        outbox = db.session.execute(db.select(sa.func.count()).select_from(LifecycleOutbox)).scalar_one()
        state = installation.status, dict(installation.settings or {}), outbox
        db.session.remove()
        return state


@pytest.mark.parametrize(("before", "call"), [
    ("ACTIVE", lambda kit: kit.change_status(WS, "INACTIVE")),
    ("INACTIVE", lambda kit: kit.change_status(WS, "ACTIVE")),
    ("ACTIVE", lambda kit: kit.update_settings(WS, [{"id": "auto_bootstrap", "name": "Load", "value": False}])),
], ids=["inactive", "active-again", "settings"])
def test_a_call_in_flight_while_the_add_on_is_uninstalled_changes_nothing(app, kit, postgresql_only, before, call):
    assert kit.install(WS).reply.status_code == 200
    if before == "INACTIVE":
        assert kit.change_status(WS, "INACTIVE").status_code == 200
    _, settings_before, outbox_before = _state(app)
    replies = []
    with app.app_context(), db.engine.connect() as other_call:
        other_call.execute(sa.text("SELECT id FROM installations WHERE workspace_id = :ws FOR UPDATE"), {"ws": WS})
        other_call.execute(sa.text("UPDATE installations SET status = 'DELETED' WHERE workspace_id = :ws"), {"ws": WS})
        in_flight = threading.Thread(target=lambda: replies.append(call(kit)))
        in_flight.start()
        time.sleep(IN_FLIGHT_SECONDS)  # the call reads the installation, and waits for the row
        other_call.commit()
    in_flight.join(timeout=30)
    [reply] = replies
    assert (reply.status_code, reply.json().get("error")) == (410, "installation_inactive")
    assert _state(app) == ("DELETED", settings_before, outbox_before)
