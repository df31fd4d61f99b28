"""``/ready`` checks the database and Redis: 200 when both answer, 503 naming the part that
does not (its worker check and ``jobs`` figures: test_jobs_health.py). The shared servers are
never stopped: the apps here point at closed ports."""

from __future__ import annotations

import pytest

from addon.testkit.processes import UNREACHABLE_POSTGRES, UNREACHABLE_REDIS

DATABASE_DOWN = {
    "postgresql": UNREACHABLE_POSTGRES,
    "sqlite": "sqlite:////nonexistent-directory/addon.db",
}


def _ready(app):
    response = app.test_client().get("/ready")
    body = response.get_json()
    assert set(body) == {"status", "checks", "jobs"} and set(body["checks"]) == {"database", "redis", "workers"}
    return response.status_code, body


def test_ready_when_both_answer(make_app):
    status, body = _ready(make_app())
    assert status == 200 and body["status"] == "ok"
    assert body["checks"] == {"database": "ok", "redis": "ok", "workers": "ok"}


def test_redis_down_is_named(make_app):
    status, body = _ready(make_app(REDIS_URL=UNREACHABLE_REDIS))
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"].startswith("unavailable")


@pytest.mark.parametrize("database", list(DATABASE_DOWN))
def test_database_down_is_named(make_app, database):
    status, body = _ready(make_app(DATABASE_URL=DATABASE_DOWN[database]))
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["database"].startswith("unavailable")
    assert "hunter2" not in str(body)  # the URL's password never shows


def test_both_down_are_both_named(make_app):
    status, body = _ready(make_app(DATABASE_URL=UNREACHABLE_POSTGRES, REDIS_URL=UNREACHABLE_REDIS))
    assert status == 503 and body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("unavailable")
    assert body["checks"]["redis"].startswith("unavailable")


def test_health_does_not_depend_on_either(make_app):
    app = make_app(DATABASE_URL=UNREACHABLE_POSTGRES, REDIS_URL=UNREACHABLE_REDIS)
    response = app.test_client().get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
