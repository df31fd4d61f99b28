"""One guard on every outbound path: each confusable URL, wherever it comes from (a user token's
URL claims, the installation's ``apiUrl``, INSTALLED and its token), is refused with 403
``host_not_allowed`` or fails the job, and nothing connects to the 127.0.0.2 listeners or to the
fake Clockify."""

from __future__ import annotations

import pytest
from confusable_urls import CONFUSABLE_URLS, WORKSPACE, confusable_ids

from addon import create_app
from addon.extensions import db
from addon.jobs import schedule
from addon.jobs.webhook_registration import register_webhooks
from addon.models import ApiCall, Installation
from addon.queueing import get_queue, get_redis
from addon.store import api_webhooks, bootstrap_runs
from addon.testkit.addon_transports import FlaskTransport
from addon.testkit.clockify_calls import ClockifySimulator
from addon.testkit.clockify_payloads import installed_payload
from addon.workers import AppSimpleWorker

EXECUTE = "/ui/api-explorer/execute"
URL_CLAIMS = ("backendUrl", "reportsUrl", "ptoUrl", "locationsUrl", "screenshotsUrl")
# PostgreSQL text cannot hold NUL: such an apiUrl is refused at INSTALLED and never stored.
STORABLE_URLS = [u for u in CONFUSABLE_URLS if "\x00" not in u]
STORABLE_IDS = [i for u, i in zip(CONFUSABLE_URLS, confusable_ids(), strict=True) if "\x00" not in u]
table = pytest.mark.parametrize("template", CONFUSABLE_URLS, ids=confusable_ids())
storable_table = pytest.mark.parametrize("template", STORABLE_URLS, ids=STORABLE_IDS)


def _point_installation_at(app, api_url: str) -> None:
    with app.app_context():
        row = db.session.execute(db.select(Installation).filter_by(workspace_id=WORKSPACE)).scalar_one()
        row.api_url = api_url
        db.session.commit()
        db.session.remove()


def _refused(response) -> None:
    """A Flask response or a simulator ``Reply``: 403 ``host_not_allowed``."""
    body = response.json() if callable(getattr(response, "json", None)) else response.get_json()
    assert (response.status_code, body["error"]) == (403, "host_not_allowed"), body


@table
@pytest.mark.parametrize("claim", URL_CLAIMS)
def test_execute_refuses_a_token_naming_a_confusable_host(app, client, user_token, no_connections, claim, template):
    token = user_token(**{claim: no_connections(template)})
    operation = "generateDetailedReport" if claim == "reportsUrl" else "getProjects"
    body = {"operationId": operation, "confirm": True}
    if operation == "generateDetailedReport":
        body["body"] = {"dateRangeStart": "2026-01-01T00:00:00Z", "dateRangeEnd": "2026-01-31T23:59:59Z"}
    _refused(client.post(EXECUTE, json=body, headers={"Authorization": f"Bearer {token}"}))
    with app.app_context():
        [row] = db.session.execute(db.select(ApiCall)).scalars().all()
        assert row.outcome == "host_not_allowed"


@table
def test_api_call_refuses_a_confusable_backend_url(client, user_token, no_connections, template):
    token = user_token(backendUrl=no_connections(template))
    _refused(client.post("/api-call", json={"method": "GET", "path": "/v1/workspaces/{workspaceId}/projects"},
                         headers={"X-Addon-Token": token}))


@pytest.fixture(scope="module")
def installation_token_app(app, base_overrides):
    return create_app({**base_overrides, "STUDIO_ALLOW_INSTALLATION_TOKEN": "true"})


@storable_table
def test_execute_with_the_installation_token_refuses_a_confusable_api_url(
        installation_token_app, installation, user_token, no_connections, template):
    _point_installation_at(installation_token_app, no_connections(template))
    response = installation_token_app.test_client().post(
        EXECUTE, json={"operationId": "getProjects", "useInstallationToken": True},
        headers={"Authorization": f"Bearer {user_token()}"})
    _refused(response)


@table
def test_installed_refuses_a_confusable_api_url_and_stores_nothing(app, client, signer, no_connections, template):
    kit = ClockifySimulator(signer, FlaskTransport(client), api_url=no_connections(template))
    reply = kit.install("ws-sec-installed").reply
    # The body checks refuse some forms first (400: a NUL; 422: not a URL); the rest is the host
    # guard's 403.
    assert reply.status_code in (400, 403, 422), reply.body
    if reply.status_code == 403:
        _refused(reply)
    with app.app_context():
        assert db.session.execute(db.select(Installation)).scalars().all() == []


@table
@pytest.mark.parametrize("claim", ["backendUrl", "reportsUrl", "locationsUrl"])
def test_installed_refuses_an_installation_token_naming_a_confusable_host(app, client, signer, fake_clockify,
                                                                          no_connections, claim, template):
    kit = ClockifySimulator(signer, FlaskTransport(client), api_url=fake_clockify.api_url)
    claims = {"backendUrl": fake_clockify.api_url, claim: no_connections(template)}
    auth_token = signer.make_token(workspaceId="ws-sec-installed", addonId="addon-x", user="owner", **claims)
    payload = installed_payload(signer, "ws-sec-installed", "addon-x", auth_token=auth_token,
                                api_url=fake_clockify.api_url)
    _refused(kit.send_lifecycle("INSTALLED", payload))
    with app.app_context():
        assert db.session.execute(db.select(Installation)).scalars().all() == []


@storable_table
def test_bootstrap_of_a_confusable_api_url_fails_without_a_connection(app, installation, no_connections,
                                                                      template):
    _point_installation_at(app, no_connections(template))
    with app.app_context():
        run, created = schedule.request_bootstrap(WORKSPACE, "manual")
        assert created
        AppSimpleWorker([get_queue("bootstrap")], connection=get_redis(), app=app) \
            .work(burst=True, logging_level="ERROR")
        finished = bootstrap_runs.get(run.id)
        assert finished.status == "failed"
        assert finished.errors[0]["status"] == "host_not_allowed"


@pytest.fixture(scope="module")
def hooks_app(app, base_overrides):
    """Schema 1.3 cannot declare PROJECT_UPDATED: it is registered through the API."""
    return create_app({**base_overrides, "WEBHOOK_EVENTS": "NEW_TIME_ENTRY,PROJECT_UPDATED",
                       "MANIFEST_SCHEMA_VERSION": "1.3"})


@storable_table
def test_webhook_registration_on_a_confusable_api_url_fails_once_without_a_connection(
        hooks_app, installation, no_connections, template):
    _point_installation_at(hooks_app, no_connections(template))
    with hooks_app.app_context():
        outcome = register_webhooks(WORKSPACE)
        assert outcome["failed"] == ["PROJECT_UPDATED"] and outcome["registered"] == []
        [hook] = api_webhooks.for_workspace(WORKSPACE)
        assert hook.status == "failed" and "host_not_allowed" in hook.last_error
        db.session.remove()
