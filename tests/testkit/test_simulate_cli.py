"""``flask clockify simulate``: signs with the development key and talks to a real server."""

import json
import socket
from urllib.parse import parse_qs, urlsplit

import pytest

from addon import auth, create_app
from addon.extensions import db
from addon.models import Installation
from addon.testkit.stored_rows import webhook_holding


@pytest.fixture
def dev_server(app, base_overrides, serve):
    """The add-on in development (it trusts the development key), on a real socket."""
    dev_app = create_app({**base_overrides, "ADDON_ENV": "development"})
    return dev_app, serve(dev_app)


@pytest.fixture
def flask_cli(app):
    runner = app.test_cli_runner()

    def invoke(*args):
        return runner.invoke(args=list(args))
    return invoke


def installation(app, workspace="dev-workspace"):
    with app.app_context():
        return db.session.execute(db.select(Installation).where(Installation.workspace_id == workspace)
                                  ).scalar_one_or_none()


def test_install_then_uninstall_against_a_running_server(app, dev_server, flask_cli):
    _dev_app, url = dev_server
    result = flask_cli("clockify", "simulate", "install", "--url", url)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("HTTP 200")
    assert json.loads(result.output.split("\n", 1)[1])["installation"] == "created"
    stored = installation(app)
    assert (stored.addon_id, stored.status) == ("addon-dev-workspace", "ACTIVE")

    result = flask_cli("clockify", "simulate", "uninstall", "--url", url)
    assert result.exit_code == 0, result.output
    assert installation(app).status == "DELETED"


def test_webhook_sends_the_token_install_registered(app, dev_server, flask_cli, recorder):
    _dev_app, url = dev_server
    assert flask_cli("clockify", "simulate", "install", "--url", url, "--workspace", "ws-cli").exit_code == 0
    payload = json.dumps({"id": "te-1", "workspaceId": "ws-cli", "description": "from the CLI"})
    result = flask_cli("clockify", "simulate", "webhook", "NEW_TIME_ENTRY", "--url", recorder.url,
                       "--workspace", "ws-cli", "--payload", payload)
    assert result.exit_code == 0, result.output
    [request] = recorder.requests
    assert request["path"] == "/webhooks/time"
    assert request["headers"]["Clockify-Webhook-Event-Type"] == "NEW_TIME_ENTRY"
    assert json.loads(request["body"]) == json.loads(payload)
    with app.app_context():
        assert webhook_holding("ws-cli", request["headers"]["Clockify-Signature"], path="/webhooks/time")


def test_webhook_payload_from_a_file(app, flask_cli, recorder, tmp_path):
    body = tmp_path / "body.json"
    body.write_text('{"id": "p-1", "workspaceId": "dev-workspace"}')
    result = flask_cli("clockify", "simulate", "webhook", "PROJECT_UPDATED", "--url", recorder.url,
                       "--payload", f"@{body}")
    assert result.exit_code == 0, result.output
    assert recorder.requests[0]["path"] == "/webhooks/project"
    assert json.loads(recorder.requests[0]["body"])["id"] == "p-1"


def test_ui_prints_a_signed_sidebar_url(app, dev_server, flask_cli):
    dev_app, url = dev_server
    result = flask_cli("clockify", "simulate", "ui", "--url", url, "--role", "ADMIN", "--theme", "DARK")
    assert result.exit_code == 0, result.output
    printed = urlsplit(result.output.strip())
    assert f"{printed.scheme}://{printed.netloc}" == url and printed.path == "/ui"
    [token] = parse_qs(printed.query)["auth_token"]
    with dev_app.app_context():
        claims = dev_app.extensions[auth.EXTENSION_KEY].verify(token, workspace_id="dev-workspace")
    assert (claims.addon_id, claims.workspace_role, claims.theme) == ("addon-dev-workspace", "ADMIN", "DARK")
    assert claims.expires_at is not None


def test_a_server_outside_development_refuses_the_development_key(app, serve, flask_cli):
    url = serve(app)  # the test app trusts only the test signer
    result = flask_cli("clockify", "simulate", "install", "--url", url)
    assert result.exit_code == 1
    assert "HTTP 401" in result.output and "ADDON_ENV=development" in result.output
    assert installation(app) is None


def test_an_unreachable_server_is_a_clear_error(app, flask_cli):
    with socket.socket() as probe:  # a port nothing listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = flask_cli("clockify", "simulate", "uninstall", "--url", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1 and "cannot reach the server" in result.output


def test_bad_payload_json_is_refused(app, flask_cli):
    result = flask_cli("clockify", "simulate", "webhook", "NEW_TAG", "--payload", "{nope")
    assert result.exit_code == 2 and "not valid JSON" in result.output
