"""``X-Request-ID``: accepted when 1-128 characters of ``[A-Za-z0-9._-]``, replaced otherwise,
always echoed; present in the JSON log lines of the request and of the RQ jobs it enqueued.
Tokens never reach a log line."""

from __future__ import annotations

import logging
import re

import pytest

from addon.queueing import enqueue, get_queue, get_redis
from addon.request_context import current_request_id
from addon.workers import AppSimpleWorker

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ3b3Jrc3BhY2VJZCI6IndzLTEiLCJ0eXBlIjoiYWRkb24ifQ.c2lnbmF0dXJlLXZhbHVlLWhlcmU"
GENERATED = re.compile(r"^[0-9a-f]{32}$")

ACCEPTED = ["a", "A" * 128, "abc.DEF-123_x", "0", "req-42", "..--__"]
REPLACED = ["a" * 129, "has space", "réq", "請求", "a/b", "a;b", "<script>", "id\ttab", "a:b", "a+b="]


@pytest.mark.parametrize("value", ACCEPTED, ids=lambda v: v[:20])
def test_well_formed_request_id_is_echoed(client, value):
    assert client.get("/health", headers={"X-Request-ID": value}).headers["X-Request-ID"] == value


@pytest.mark.parametrize("value", REPLACED, ids=lambda v: v[:20])
def test_malformed_request_id_is_replaced(client, value):
    echoed = client.get("/health", headers={"X-Request-ID": value}).headers["X-Request-ID"]
    assert echoed != value and GENERATED.match(echoed)


def test_missing_or_empty_request_id_is_generated_per_request(client):
    ids = {client.get("/health").headers["X-Request-ID"],
           client.get("/health", headers={"X-Request-ID": ""}).headers["X-Request-ID"]}
    assert len(ids) == 2 and all(GENERATED.match(i) for i in ids)


def test_error_answers_echo_the_request_id_too(client):
    response = client.get("/no/such/page", headers={"X-Request-ID": "rid-404"})
    assert response.headers["X-Request-ID"] == "rid-404" == response.get_json()["request_id"]


def test_request_log_line_is_json_with_the_request_id(make_app, log_lines):
    app = make_app()

    @app.get("/_log")
    def _log():
        logging.getLogger("addon.probe").info("inside the request")
        return {}

    app.test_client().get("/_log", headers={"X-Request-ID": "req-log-1"})
    line = next(line for line in log_lines() if line["message"] == "inside the request")
    assert line["request_id"] == "req-log-1"
    assert line["level"] == "INFO" and line["name"] == "addon.probe" and line["time"]


def test_request_id_is_carried_into_the_logs_of_the_job_it_enqueued(make_app, log_lines):
    app = make_app()

    @app.post("/_enqueue")
    def _enqueue():
        job = enqueue("default", "addon.testkit.jobs.log_message", "inside the job", workspace_id="ws-77")
        return {"job": job.id}

    job_id = app.test_client().post("/_enqueue", headers={"X-Request-ID": "req-job-1"}).get_json()["job"]
    with app.app_context():
        assert current_request_id() is None  # the request is over: only the job can supply it
        job = get_queue("default").fetch_job(job_id)
        assert job.meta["request_id"] == "req-job-1"
        AppSimpleWorker([get_queue("default")], connection=get_redis(), app=app).work(burst=True)
        assert job.get_status(refresh=True) == "finished"
    line = next(line for line in log_lines() if line["message"] == "inside the job")
    assert line["request_id"] == "req-job-1" and line["workspace_id"] == "ws-77"
    assert line["name"] == "addon.testkit.jobs"


def test_jwt_in_a_message_is_redacted(log_lines):
    logging.getLogger("addon.probe").info("calling Clockify with %s", JWT)
    assert JWT not in log_lines.text()
    assert log_lines()[-1]["message"] == "calling Clockify with [REDACTED]"


def test_tokens_in_extra_fields_are_redacted(log_lines):
    logging.getLogger("addon.probe").info("headers", extra={
        "authorization": f"Bearer {JWT}",
        "detail": f"token was {JWT}",
        "headers": {"X-Addon-Token": "opaque-secret-value", "Accept": "application/json"},
        "calls": [{"url": "https://api.clockify.me/x?auth_token=opaque-query-secret"}],
    })
    text = log_lines.text()
    assert JWT not in text and "opaque-secret-value" not in text and "opaque-query-secret" not in text
    line = log_lines()[-1]
    assert line["headers"] == {"X-Addon-Token": "[REDACTED]", "Accept": "application/json"}
    assert line["detail"] == "token was [REDACTED]"


def test_token_in_an_exception_is_redacted(log_lines):
    try:
        raise ValueError(f"Clockify refused token {JWT}")
    except ValueError:
        logging.getLogger("addon.probe").exception("call failed")
    line = log_lines()[-1]
    assert "ValueError: Clockify refused token [REDACTED]" in line["exc_info"]
    assert JWT not in log_lines.text()


def test_token_in_a_query_string_is_redacted(log_lines):
    logging.getLogger("werkzeug").info('"GET /sidebar?auth_token=opaque-user-token&theme=dark HTTP/1.1" 200')
    assert "opaque-user-token" not in log_lines.text()
    assert "auth_token=[REDACTED]&theme=dark" in log_lines()[-1]["message"]


def test_fields_about_tokens_that_are_not_secrets_stay(log_lines):
    logging.getLogger("addon.probe").info("call", extra={"token_kind": "user", "check": "signature"})
    line = log_lines()[-1]
    assert line["token_kind"] == "user" and line["check"] == "signature"
