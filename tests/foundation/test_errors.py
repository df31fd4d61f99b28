"""Every error answer is JSON ``{"error", "message", "request_id", ...}``, never HTML and never a
traceback."""

from __future__ import annotations

from sqlalchemy import text

from addon.extensions import db
from addon.queueing import get_redis
from addon.testkit.processes import UNREACHABLE_POSTGRES, UNREACHABLE_REDIS

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ3b3Jrc3BhY2VJZCI6IndzLTEifQ.c2lnbmF0dXJlLXZhbHVl"


def _error_body(response, status, code, request_id="rid-err"):
    assert response.status_code == status
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["error"] == code
    assert isinstance(body["message"], str) and body["message"]
    assert body["request_id"] == request_id == response.headers["X-Request-ID"]
    return body


def test_unknown_path_is_a_json_404(client):
    _error_body(client.get("/no/such/page", headers={"X-Request-ID": "rid-err"}), 404, "not_found")


def test_wrong_method_is_a_json_405(client):
    response = client.post("/health", headers={"X-Request-ID": "rid-err"})
    _error_body(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_unexpected_exception_is_a_json_500_without_traceback(make_app, log_lines):
    app = make_app()

    @app.get("/_boom")
    def _boom():
        raise RuntimeError(f"internal detail with a token {JWT}")

    response = app.test_client().get("/_boom", headers={"X-Request-ID": "rid-err"})
    body = _error_body(response, 500, "internal_error")
    assert set(body) == {"error", "message", "request_id"}
    text_ = response.get_data(as_text=True)
    assert "Traceback" not in text_ and "internal detail" not in text_ and JWT not in text_
    # The traceback goes to the log instead, with the request id and without the token.
    logged = [line for line in log_lines() if line["message"] == "unhandled error"]
    assert len(logged) == 1 and logged[0]["request_id"] == "rid-err"
    assert "RuntimeError" in logged[0]["exc_info"] and JWT not in log_lines.text()


def test_database_outage_is_a_json_503(make_app):
    app = make_app(DATABASE_URL=UNREACHABLE_POSTGRES)

    @app.get("/_query")
    def _query():
        db.session.execute(text("SELECT 1"))
        return {}

    response = app.test_client().get("/_query", headers={"X-Request-ID": "rid-err"})
    _error_body(response, 503, "storage_unavailable")
    assert response.headers["Retry-After"] == "5"
    assert "hunter2" not in response.get_data(as_text=True)


def test_redis_outage_is_a_json_503(make_app):
    app = make_app(REDIS_URL=UNREACHABLE_REDIS)

    @app.get("/_ping")
    def _ping():
        get_redis().ping()
        return {}

    response = app.test_client().get("/_ping", headers={"X-Request-ID": "rid-err"})
    _error_body(response, 503, "queue_unavailable")


def test_body_over_the_limit_is_a_json_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=10)

    @app.post("/_upload")
    def _upload():
        from flask import request

        return {"size": len(request.get_data())}

    response = app.test_client().post("/_upload", data=b"x" * 11, headers={"X-Request-ID": "rid-err"})
    _error_body(response, 413, "payload_too_large")
