"""Development without ``REDIS_URL``: in-memory Redis, and jobs the app enqueues run on a thread
of the web process, which says so in its log. Production refuses to run that way."""

from __future__ import annotations

import logging
import time

import pytest
from cryptography.fernet import Fernet
from rq.job import Job

from addon import create_app
from addon.queueing import enqueue, get_redis
from addon.workers import EmbeddedWorker

KEY = Fernet.generate_key().decode()


@pytest.fixture
def development_app(bare_environ):
    app = create_app({"ADDON_ENV": "development", "DATABASE_URL": f"sqlite:///{bare_environ / 'dev.db'}",
                      "TOKEN_ENCRYPTION_KEY": KEY})
    yield app
    app.extensions[EmbeddedWorker.EXTENSION_KEY].stop(timeout=10)


def _wait_for(job: Job, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while (status := job.get_status(refresh=True)) not in ("finished", "failed") and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


def test_job_enqueued_by_the_app_runs_on_the_embedded_thread(development_app, caplog):
    app = development_app

    @app.post("/_enqueue")
    def _enqueue():
        return {"job": enqueue("default", "addon.testkit.jobs.thread_name").id}

    worker = app.extensions[EmbeddedWorker.EXTENSION_KEY]
    assert not worker.is_alive()  # nothing runs until the app serves
    with caplog.at_level(logging.INFO):
        job_id = app.test_client().post("/_enqueue").get_json()["job"]
        with app.app_context():
            job = Job.fetch(job_id, connection=get_redis())
            assert _wait_for(job) == "finished"
            assert job.return_value() == "embedded-rq-worker"
    assert worker.is_alive()
    assert any(r.name == "addon.workers" and "embedded worker started" in r.getMessage() for r in caplog.records)
    worker.stop(timeout=10)
    assert not worker.is_alive()


def test_embedded_mode_is_announced_in_the_log(bare_environ, caplog):
    with caplog.at_level(logging.INFO):
        app = create_app({"ADDON_ENV": "development", "DATABASE_URL": "sqlite://", "TOKEN_ENCRYPTION_KEY": KEY})
    assert app.config["SETTINGS"].embedded_redis
    assert any(r.name == "addon.queueing" and r.levelno == logging.WARNING
               and "REDIS_URL is not set: embedded mode" in r.getMessage() for r in caplog.records)


def test_test_environment_without_redis_runs_no_job_thread(bare_environ):
    app = create_app({"ADDON_ENV": "test", "DATABASE_URL": "sqlite://", "TOKEN_ENCRYPTION_KEY": KEY})
    assert EmbeddedWorker.EXTENSION_KEY not in app.extensions


def test_production_without_redis_is_refused(bare_environ):
    with pytest.raises(SystemExit) as raised:
        create_app({"ADDON_ENV": "production", "BASE_URL": "https://addon.example.com",
                    "DATABASE_URL": "postgresql://u@127.0.0.1:1/x", "TOKEN_ENCRYPTION_KEY": KEY})
    assert raised.value.code == "configuration error: REDIS_URL is required in production"


def test_job_timeout_is_enforced_on_the_embedded_thread(development_app):
    app = development_app

    @app.post("/_enqueue")
    def _enqueue():
        return {"job": enqueue("default", "addon.testkit.jobs.sleep_then_record", 30, "k", "v", job_timeout=1).id}

    job_id = app.test_client().post("/_enqueue").get_json()["job"]
    with app.app_context():
        job = Job.fetch(job_id, connection=get_redis())
        assert _wait_for(job) == "failed"
        assert "JobTimeoutException" in job.latest_result().exc_string
        assert get_redis().lrange("k", 0, -1) == []
