"""Jobs that register, through Clockify's API, the webhook events the manifest could not declare,
and delete them again when the installation turns INACTIVE or is DELETED.

Registration: ``POST /v1/workspaces/{ws}/webhooks`` per event of
``webhook_plan(settings).via_api`` with ``{"name", "url", "webhookEvent",
"triggerSourceType": "WORKSPACE_ID", "triggerSource": [ws]}``, the url being our category route.
Each webhook's id and token are stored (token encrypted, digest for lookup). Webhooks Clockify
already has for the same url and event (a retried POST that had succeeded) are adopted, not
duplicated.

Both jobs of a workspace run one at a time, under a per-workspace Redis lock, and converge to the
installation's status when they run: registration only while it is ACTIVE, deregistration only
while it is not (a later ACTIVE call has queued a registration meanwhile). So INACTIVE then
ACTIVE a moment later waits for the deregistration to end, then registers anew; the registered
set always follows the last status.

Deregistration: ``DELETE /v1/workspaces/{ws}/webhooks/{id}`` for every API-registered webhook.
The client retries 429, 5xx and connection errors with backoff; 404 means already gone; 401 and
403 are terminal (recorded, never retried; expected on DELETED, when the token is dead); retries
exhausted leave ``delete_failed`` rows, the job fails so RQ retries it later, and
``flask webhooks deregister --retry`` can run them again.
"""

from __future__ import annotations

import logging

from flask import current_app

from ..clockify.client import ClockifyError, ClockifyResponse, ClockifyUnavailable, RateLimitExceeded, join_url
from ..clockify.event_types import category_of, route_path
from ..clockify.manifest import webhook_plan
from ..extensions import db
from ..models import InstallationStatus
from ..outbound import get_client
from ..queueing import get_redis
from ..store import api_webhooks, installations
from .callbacks import app_context
from .schedule import WEBHOOK_JOB_TIMEOUT

log = logging.getLogger(__name__)

SLOT_WAIT_SECONDS = 60.0
TERMINAL_DELETE_STATUSES = (401, 403)
NAME_MAX_LENGTH = 30  # CreateWebhookRequestV1.name: 2 to 30 characters


class RegistrationIncomplete(Exception):
    """Some events could not be registered for a reason worth retrying (RQ retries the job)."""


class DeregistrationIncomplete(Exception):
    """Some webhooks could not be deleted after the client's retries (RQ retries the job)."""


def register_webhooks(workspace_id: str) -> dict:
    """Job: register the ``via_api`` events of the plan that have no active webhook yet, if the
    installation is ACTIVE when the workspace's lock is taken.

    :return: ``{"registered": [...], "adopted": [...], "failed": [...]}`` (event names).
    :raise RegistrationIncomplete: when an event failed with 429, 5xx or a connection error.
    :raise redis.exceptions.LockError: the workspace's other job held the lock too long (retried).
    """
    with workspace_lock(workspace_id):
        return _register(workspace_id)


def workspace_lock(workspace_id: str):
    """The lock that serializes a workspace's registration and deregistration work. It expires
    with the job timeout, so a worker killed while holding it blocks nobody for longer."""
    return get_redis().lock(f"addon:webhook-registration:{workspace_id}", timeout=WEBHOOK_JOB_TIMEOUT,
                            blocking_timeout=WEBHOOK_JOB_TIMEOUT)


def _register(workspace_id: str) -> dict:
    outcome: dict[str, list[str]] = {"registered": [], "adopted": [], "failed": []}
    installation = installations.get(workspace_id)
    if installation is None or installation.status != InstallationStatus.ACTIVE.value:
        log.info("webhook registration skipped: installation of %s is not active", workspace_id)
        return outcome
    token = installation.installation_token
    if token is None:  # erased: nothing can be registered with it
        log.info("webhook registration skipped: installation of %s has no token", workspace_id)
        return outcome
    settings = current_app.config["SETTINGS"]
    wanted = [e for e in webhook_plan(settings).via_api if e not in api_webhooks.active_events(workspace_id)]
    if not wanted:
        return outcome
    client = get_client()
    base = join_url(installation.api_url, f"/v1/workspaces/{workspace_id}/webhooks")
    if not client.hosts.allows(base):  # retrying cannot help: fail every event once, nothing sent
        for event in wanted:
            api_webhooks.save_registration_failure(workspace_id, event, route_path(category_of(event)),
                                                   "host_not_allowed: the installation's apiUrl is refused")
        db.session.commit()
        log.warning("webhook registration of %s refused: apiUrl host not allowed", workspace_id)
        return {**outcome, "failed": wanted}
    existing = _existing_webhooks(client, base, workspace_id, token)
    retryable = []
    for event in wanted:
        path = route_path(category_of(event))
        url = settings.base_url + path
        hook = existing.get((url, event))
        if hook is not None:
            api_webhooks.save_registered(workspace_id, event, path, str(hook["id"]), hook.get("authToken"))
            outcome["adopted"].append(event)
            db.session.commit()
            continue
        body = {"name": event[:NAME_MAX_LENGTH], "url": url, "webhookEvent": event,
                "triggerSourceType": "WORKSPACE_ID", "triggerSource": [workspace_id]}
        try:
            response = client.request("POST", base, workspace_id=workspace_id, token=token, json=body,
                                      wait=SLOT_WAIT_SECONDS)
        except (ClockifyUnavailable, RateLimitExceeded) as exc:
            api_webhooks.save_registration_failure(workspace_id, event, path, str(exc))
            retryable.append(event)
        else:
            if response.ok and isinstance(response.body, dict) and response.body.get("id"):
                api_webhooks.save_registered(workspace_id, event, path, str(response.body["id"]),
                                             response.body.get("authToken"))
                outcome["registered"].append(event)
            else:
                api_webhooks.save_registration_failure(workspace_id, event, path, _describe(response))
                if response.status == 429 or response.status >= 500:
                    retryable.append(event)
        if event not in outcome["registered"]:
            outcome["failed"].append(event)
        db.session.commit()
    log.info("webhooks of %s: %d registered, %d adopted, %d failed", workspace_id, len(outcome["registered"]),
             len(outcome["adopted"]), len(outcome["failed"]))
    if retryable:
        raise RegistrationIncomplete(f"{len(retryable)} webhook registrations failed and will be retried")
    return outcome


def deregister_webhooks(workspace_id: str) -> list[dict]:
    """Job: delete every API-registered webhook of ``workspace_id`` at Clockify.

    Skipped while the installation is ACTIVE again when the lock is taken: the ACTIVE call
    queued a registration, which keeps what is registered.
    :return: one ``{"event", "webhook_id", "status", "error"}`` per webhook tried.
    :raise DeregistrationIncomplete: when some are left ``delete_failed``.
    """
    with workspace_lock(workspace_id):
        if installations.is_active(workspace_id):
            log.info("webhook deregistration skipped: installation of %s is active again", workspace_id)
            return []
        report = _deregister(workspace_id, only_failed=False)
    failed = [entry for entry in report if entry["status"] == "delete_failed"]
    if failed:
        raise DeregistrationIncomplete(f"{len(failed)} webhooks of {workspace_id} could not be deleted yet")
    return report


def deregister_now(workspace_id: str | None, only_failed: bool) -> dict[str, list[dict]]:
    """Deregister in this process (``flask webhooks deregister``): one workspace, or with
    ``only_failed`` and no workspace, every workspace with failed deletions."""
    if workspace_id is not None:
        workspaces = [workspace_id]
    else:
        workspaces = api_webhooks.workspaces_with_failed_deregistration()
    report = {}
    for ws in workspaces:
        with workspace_lock(ws):
            report[ws] = _deregister(ws, only_failed)
    return report


def _deregister(workspace_id: str, only_failed: bool) -> list[dict]:
    installation = installations.get(workspace_id)
    rows = api_webhooks.to_deregister(workspace_id, only_failed)
    if installation is None or not rows:
        return []
    client, token = get_client(), installation.installation_token
    if token is None:
        return _erased_token_report(workspace_id, rows)
    report = []
    for row in rows:
        url = join_url(installation.api_url, f"/v1/workspaces/{workspace_id}/webhooks/{row.clockify_webhook_id}")
        try:
            response = client.request("DELETE", url, workspace_id=workspace_id, token=token, wait=SLOT_WAIT_SECONDS)
        except (ClockifyUnavailable, RateLimitExceeded) as exc:
            api_webhooks.mark(row, "delete_failed", str(exc))
        except ClockifyError as exc:  # the host is refused or the URL unusable: retrying cannot help
            api_webhooks.mark(row, "delete_refused", str(exc))
        else:
            if response.ok or response.status == 404:
                api_webhooks.mark(row, "deleted", None if response.ok else "already gone at Clockify (404)")
            elif response.status in TERMINAL_DELETE_STATUSES:
                api_webhooks.mark(row, "delete_refused", _describe(response))
            elif response.status == 429 or response.status >= 500:
                api_webhooks.mark(row, "delete_failed", _describe(response))
            else:
                api_webhooks.mark(row, "delete_refused", _describe(response))
        db.session.commit()
        report.append({"event": row.event, "webhook_id": row.clockify_webhook_id, "status": row.status,
                       "error": row.last_error})
    log.info("deregistration of %s: %s", workspace_id,
             ", ".join(f"{entry['event']}={entry['status']}" for entry in report))
    return report


def _erased_token_report(workspace_id: str, rows) -> list[dict]:
    """DELETED erased the installation token, which Clockify revoked anyway: a DELETE with it
    could only be refused (401), so none is sent."""
    report = []
    for row in rows:
        api_webhooks.mark(row, "delete_refused", "the installation token was erased at uninstall")
        report.append({"event": row.event, "webhook_id": row.clockify_webhook_id, "status": row.status,
                       "error": row.last_error})
    db.session.commit()
    log.info("deregistration of %s: the installation token was erased at uninstall", workspace_id)
    return report


def record_registration_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: mark the planned events still without a webhook as failed."""
    with app_context():
        workspace_id = job.args[0]
        settings = current_app.config["SETTINGS"]
        active = api_webhooks.active_events(workspace_id)
        recorded = {row.event for row in api_webhooks.for_workspace(workspace_id) if row.status == "failed"}
        message = f"{exc_type.__name__}: {exc_value}"[:300]
        for event in webhook_plan(settings).via_api:
            if event not in active and event not in recorded:
                api_webhooks.save_registration_failure(workspace_id, event, route_path(category_of(event)), message)
        db.session.commit()
        log.error("webhook registration of %s failed (%s); retries left: %s", workspace_id, exc_type.__name__,
                  job.retries_left)


def record_deregistration_failure(job, connection, exc_type, exc_value, traceback) -> None:
    """RQ failure callback: webhooks the job did not get to are left ``delete_failed``."""
    with app_context():
        workspace_id = job.args[0]
        message = f"{exc_type.__name__}: {exc_value}"[:300]
        for row in api_webhooks.to_deregister(workspace_id):
            if row.status == "active":
                api_webhooks.mark(row, "delete_failed", message)
        db.session.commit()
        log.error("webhook deregistration of %s failed (%s); retries left: %s", workspace_id, exc_type.__name__,
                  job.retries_left)


def _existing_webhooks(client, base: str, workspace_id: str, token: str) -> dict[tuple[str | None, str | None], dict]:
    """Clockify's webhooks of the workspace by (url, event); empty if it cannot tell."""
    try:
        response = client.request("GET", base, workspace_id=workspace_id, token=token, wait=SLOT_WAIT_SECONDS)
    except (ClockifyUnavailable, RateLimitExceeded):
        return {}
    hooks = response.body.get("webhooks") if response.ok and isinstance(response.body, dict) else None
    return {(h.get("url"), h.get("webhookEvent")): h for h in hooks or [] if isinstance(h, dict) and h.get("id")}


def _describe(response: ClockifyResponse) -> str:
    return f"{response.status}: {response.error_message()}"
