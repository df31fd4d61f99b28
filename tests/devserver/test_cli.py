"""The developer CLI against a running development server: ``simulate`` finds the ``make dev``
server by itself (and says which URL it tried), ``--api-url`` reaches every token that names
Clockify's URLs, an unsubscribed event is called that, ``webhooks replay`` in embedded mode runs
on the server, ``clockify fake`` serves the seeded fake alone."""

from __future__ import annotations

import json
import shutil
import subprocess
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import requests

from addon import create_app
from addon.dev_signing_key import DEV_KEY_FILE, dev_private_key
from addon.extensions import db
from addon.models import Installation, WebhookEvent
from addon.testkit.processes import ROOT, clean_env, command, free_port, stop
from addon.testkit.sandbox import RUNTIME_FILE


@pytest.fixture
def cli(app, base_overrides, tmp_path):
    """``cli(*args, embedded=False)``: a ``flask`` command of a development app whose instance
    folder is ``tmp_path`` (holding the same development key as the servers)."""
    dev_private_key(str(ROOT / "instance"))
    shutil.copy(ROOT / "instance" / DEV_KEY_FILE, tmp_path / DEV_KEY_FILE)
    built = []

    def invoke(*args, embedded=False, env=None):
        overrides = {**base_overrides, "ADDON_ENV": "development", **({"REDIS_URL": None} if embedded else {})}
        cli_app = create_app(overrides, instance_path=str(tmp_path))
        built.append(cli_app)
        return cli_app.test_cli_runner().invoke(args=list(args), env=env)

    yield invoke
    for built_app in built:
        with built_app.app_context():
            db.session.remove()
            db.engine.dispose()


def _runtime(tmp_path, **info):
    (tmp_path / RUNTIME_FILE).write_text(json.dumps(info))


@pytest.mark.parametrize("args", [("install",), ("webhook", "NEW_TAG"), ("uninstall",)])
def test_without_a_running_sandbox_the_default_is_port_of_make_dev_and_the_error_names_it(cli, args):
    port = str(free_port())
    result = cli("clockify", "simulate", *args, env={"PORT": port})
    assert result.exit_code == 1
    assert f"cannot reach the server at http://127.0.0.1:{port}" in result.output


@pytest.mark.parametrize("args", [("install",), ("webhook", "NEW_TAG"), ("uninstall",)])
def test_the_running_sandbox_described_in_the_instance_folder_is_the_default(cli, tmp_path, args):
    port = free_port()
    _runtime(tmp_path, url=f"http://127.0.0.1:{port}", api_url="http://127.0.0.1:9/api", workspace_id="ws-j",
             addon_id="addon-j")
    result = cli("clockify", "simulate", *args)
    assert result.exit_code == 1 and f"cannot reach the server at http://127.0.0.1:{port}" in result.output


def test_install_and_ui_use_the_sandbox_workspace_and_fake_clockify(cli, sandboxed, tmp_path):
    dev_app, url, sandbox = sandboxed
    _runtime(tmp_path, **sandbox.runtime_info(url))
    result = cli("clockify", "simulate", "install")
    assert result.exit_code == 0, result.output
    with dev_app.app_context():
        stored = db.session.execute(db.select(Installation).where(
            Installation.workspace_id == sandbox.workspace_id)).scalar_one()
        assert (stored.addon_id, stored.api_url) == (sandbox.addon_id, sandbox.fake.api_url)
    result = cli("clockify", "simulate", "ui")
    printed = urlsplit(result.output.strip())
    assert f"{printed.scheme}://{printed.netloc}" == url
    claims = jwt.decode(parse_qs(printed.query)["auth_token"][0], options={"verify_signature": False})
    assert (claims["workspaceId"], claims["addonId"], claims["backendUrl"], claims["reportsUrl"]) == (
        sandbox.workspace_id, sandbox.addon_id, sandbox.fake.api_url, sandbox.fake.reports_url)
    assert requests.get(result.output.strip(), timeout=5).status_code == 200


@pytest.mark.parametrize("subcommand", ["ui", "install"])
def test_api_url_names_clockify_in_the_tokens(cli, sandboxed, subcommand):
    _dev_app, url, _sandbox = sandboxed
    api_url = "http://127.0.0.1:7/api"
    result = cli("clockify", "simulate", subcommand, "--url", url, "--workspace", "ws-api", "--api-url", api_url)
    assert result.exit_code == 0, result.output
    if subcommand == "ui":
        query = parse_qs(urlsplit(result.output.strip()).query)
        claims = jwt.decode(query["auth_token"][0], options={"verify_signature": False})
        assert claims["backendUrl"] == api_url and claims["reportsUrl"] == "http://127.0.0.1:7/report"
    else:
        with _dev_app.app_context():
            assert db.session.execute(db.select(Installation.api_url).where(
                Installation.workspace_id == "ws-api")).scalar_one() == api_url


@pytest.mark.parametrize("event", ["PROJECT_UPDATED", "TAG_DELETED", "EXPENSE_CREATED"])
def test_an_unsubscribed_event_is_called_so(cli, sandboxed, event):
    _dev_app, url, _sandbox = sandboxed
    result = cli("clockify", "simulate", "webhook", event, "--url", url)
    assert result.exit_code == 1
    assert f"{event} is not subscribed" in result.output and "ADDON_ENV" not in result.output


def test_an_event_registered_through_the_api_is_delivered_by_the_fake(cli, sandboxed, tmp_path):
    dev_app, url, sandbox = sandboxed
    requests.post(f"{sandbox.fake.api_url}/v1/workspaces/{sandbox.workspace_id}/webhooks", timeout=5,
                  headers={"X-Addon-Token": sandbox.user_token("OWNER")},
                  json={"url": url + "/webhooks/project", "webhookEvent": "PROJECT_UPDATED",
                        "triggerSourceType": "WORKSPACE_ID"})
    result = cli("clockify", "simulate", "webhook", "PROJECT_UPDATED", "--url", url)
    # Registered by hand, not by the add-on: it holds no token for it and refuses the fake's delivery.
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.split("\n", 1)[1]) == {"event": "PROJECT_UPDATED", "statuses": [401]}


def test_a_declared_event_is_accepted_with_the_token_the_sandbox_installed(cli, sandboxed, tmp_path):
    dev_app, url, sandbox = sandboxed
    _runtime(tmp_path, **sandbox.runtime_info(url))
    result = cli("clockify", "simulate", "webhook", "NEW_PROJECT")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.split("\n", 1)[1])["status"] == "accepted"


def test_replay_in_embedded_mode_runs_on_the_server(cli, sandboxed):
    dev_app, url, sandbox = sandboxed
    assert sandbox.send_sample("NEW_TAG") == [200]
    result = cli("webhooks", "replay", "--workspace", sandbox.workspace_id, "--url", url, embedded=True)
    assert result.exit_code == 0, result.output
    assert f"replayed by the running server at {url}" in result.output
    enqueued, pending = (int(word) for word in result.output.split() if word.isdigit())
    assert enqueued + pending == 1
    with dev_app.app_context():
        event = db.session.execute(db.select(WebhookEvent)).scalar_one()
        assert (event.status, event.event_type) == ("received", "NEW_TAG")


def test_replay_in_embedded_mode_without_a_server_says_nothing_was_replayed(cli):
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("webhooks", "replay", "--workspace", "ws", "--url", url, embedded=True)
    assert result.exit_code == 1 and url in result.output and "Nothing was replayed" in result.output


@pytest.mark.slow
def test_clockify_fake_serves_the_seeded_workspace_alone(tmp_path):
    port = free_port()
    process = subprocess.Popen(command("flask", "clockify", "fake", "--port", str(port), "--no-install"),
                               env=clean_env({"ADDON_ENV": "development", "PYTHONPATH": str(ROOT),
                                              "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}),
                               cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        api_url = process.stdout.readline().strip()
        assert api_url == f"http://127.0.0.1:{port}/api"
        projects = requests.get(f"{api_url}/v1/workspaces/64b7f1a2c3d4e5f6a7b8c9d0/projects",
                                headers={"X-Api-Key": "k"}, params={"page-size": 100}, timeout=5).json()
        assert len(projects) == 20
    finally:
        assert stop(process) in (0, -15)
