import json
import logging

from addon import create_app
from addon.logs import configure_logging


def test_health_answers_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_checks_database_and_redis(client):
    response = client.get("/ready")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["checks"] == {"database": "ok", "redis": "ok", "workers": "ok"}
    assert set(body["jobs"]) == {"queues", "oldest_unprocessed_webhook_seconds", "worker_missing_grace_seconds",
                                 "stalled"}


def test_well_formed_request_id_is_echoed(client):
    response = client.get("/health", headers={"X-Request-ID": "abc.DEF-123_x"})
    assert response.headers["X-Request-ID"] == "abc.DEF-123_x"


def test_malformed_request_id_is_replaced(client):
    response = client.get("/health", headers={"X-Request-ID": "bad id<script>"})
    rid = response.headers["X-Request-ID"]
    assert rid != "bad id<script>" and len(rid) == 32


def test_request_id_lands_in_json_log_line(base_overrides, capsys):
    app = create_app(base_overrides)
    configure_logging("INFO")

    @app.get("/_log_probe")
    def _probe():
        logging.getLogger("addon.probe").info("probe line")
        return "", 204

    app.test_client().get("/_log_probe", headers={"X-Request-ID": "req-42"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    probe = [line for line in lines if line["message"] == "probe line"]
    assert probe and probe[0]["request_id"] == "req-42" and probe[0]["level"] == "INFO"


def test_unknown_route_is_a_json_404(client):
    response = client.get("/nope", headers={"X-Request-ID": "rid-1"})
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "not_found" and body["request_id"] == "rid-1" and body["message"]
