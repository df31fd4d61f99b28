"""Lifecycle callbacks from Clockify: installed, settings-updated, status-changed, deleted.

Every call goes through the same gate, in this order: body size (413) → token valid (401) →
JSON parses (400) → token and body about the same workspace and add-on (403) → installation
known (404, except INSTALLED) → body shape (422) → for INSTALLED, every Clockify URL it names
(``apiUrl``, the installation token's URL claims) allowed by the host policy (403). Work that
talks to Clockify is enqueued after the database commit; no outbound call happens inside the
request.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from flask import Blueprint, current_app, jsonify, request
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from .. import auth, metrics
from ..clockify import lifecycle
from ..clockify import lifecycle_payloads as payloads
from ..clockify.manifest import setting_defaults, webhook_plan
from ..clockify.tokens import AddonClaims, TokenError, TokenMismatch
from ..errors import AddonError, Forbidden, Gone, ValidationFailed
from ..jobs import cancellation, schedule
from ..models import Installation, InstallationStatus
from ..outbound import require_allowed_hosts
from ..store import installations
from .request_body import parse_json, read_limited_body

log = logging.getLogger(__name__)
bp = Blueprint("lifecycle", __name__, url_prefix="/lifecycle")

# Metric labels: a small fixed set.
_OUTCOMES = {"invalid_token": "invalid_token", "workspace_mismatch": "forbidden", "addon_mismatch": "forbidden",
             "not_installed": "not_installed", "validation_failed": "invalid_body", "malformed_json": "invalid_body",
             "payload_too_large": "too_large", "installation_inactive": "gone"}
_PATH_LIMIT = 255


@dataclass(frozen=True)
class _Call:
    claims: AddonClaims
    payload: object
    installation: Installation | None


def _counted(kind: str):
    """Count the call in ``LIFECYCLE_EVENTS{type, outcome}`` whatever its answer."""
    label = kind.lower()

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            try:
                response = view(*args, **kwargs)
            except AddonError as error:
                metrics.LIFECYCLE_EVENTS.labels(type=label, outcome=_OUTCOMES.get(error.code, "error")).inc()
                raise
            except (SQLAlchemyError, RedisError):
                metrics.LIFECYCLE_EVENTS.labels(type=label, outcome="unavailable").inc()
                raise
            except Exception:
                metrics.LIFECYCLE_EVENTS.labels(type=label, outcome="error").inc()
                raise
            metrics.LIFECYCLE_EVENTS.labels(type=label, outcome="ok").inc()
            return response
        return wrapper
    return decorate


def _accept(kind: str) -> _Call:
    """Run the gate of every lifecycle call; return the verified claims and the payload."""
    settings = current_app.config["SETTINGS"]
    raw = read_limited_body(settings.webhook_max_payload_bytes)
    claims = auth.verify(lifecycle.token_from(request.headers), kind="lifecycle token")
    auth.refuse_user_token(claims, kind="lifecycle token")
    body = parse_json(raw)
    fields = body if isinstance(body, dict) else {}
    body_workspace, body_addon = _text(fields.get("workspaceId")), _text(fields.get("addonId"))
    auth.check_match(claims, workspace_id=body_workspace, addon_id=body_addon, kind="lifecycle token")
    installation = None
    if kind != lifecycle.INSTALLED:
        installation = installations.require(claims.workspace_id)
        auth.check_match(claims, addon_id=installation.addon_id, kind="lifecycle token")
        if body_addon is not None and body_addon != installation.addon_id:
            raise Forbidden("The body names another installation of the add-on.", code="addon_mismatch")
    try:
        payload = payloads.load(kind, body)
    except payloads.PayloadError as error:
        raise ValidationFailed(f"The body is not a valid {kind} payload.", errors=_located(error.errors)) from None
    return _Call(claims, payload, installation)


def _refuse_deleted(installation: Installation) -> Installation:
    if installation.status == InstallationStatus.DELETED.value:
        raise Gone("The add-on was uninstalled from this workspace.", status_value=installation.status)
    return installation


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _located(errors: list[dict]) -> list[dict]:
    return [{"location": "body", **e} for e in errors]


def _ok(workspace_id: str, **fields):
    return jsonify(status="ok", workspaceId=workspace_id, **fields)


@bp.post("/installed")
@_counted(lifecycle.INSTALLED)
def installed():
    """Store (or refresh) the workspace's installation and tokens, then enqueue the bootstrap
    and the API registration of the webhooks the manifest could not declare."""
    settings = current_app.config["SETTINGS"]
    call = _accept(lifecycle.INSTALLED)
    payload: payloads.Installed = call.payload
    token_claims = _installation_token_claims(payload)
    api_url = payload.api_url or token_claims.backend_url
    if api_url is None:
        raise ValidationFailed("The body is not a valid INSTALLED payload.", errors=_located(
            [{"field": "apiUrl", "message": "Missing, and the installation token has no backendUrl claim."}]))
    # Nothing is stored for a Clockify the add-on may not call (403 host_not_allowed).
    require_allowed_hosts(api_url, claims=token_claims.raw)
    values = {**setting_defaults(), **lifecycle.settings_values(payload.settings)}
    record = installations.InstallRecord(
        workspace_id=payload.workspace_id, addon_id=payload.addon_id, installation_token=payload.auth_token,
        api_url=api_url, reports_url=token_claims.reports_url, as_user=payload.as_user,
        addon_user_id=payload.addon_user_id, settings=values,
        webhooks=_webhook_tokens(payload.webhooks, settings.base_url))
    installation, outcome = installations.record_install(record)
    workspace_id = installation.workspace_id
    # A purge or deregistration queued by an earlier uninstall must not run on the new install.
    cancellation.cancel_queued(workspace_id, (cancellation.DEREGISTER, cancellation.PURGE))

    jobs = {"bootstrap": "disabled", "webhookRegistration": "not_needed"}
    if lifecycle.is_checked(values.get("auto_bootstrap")):
        _run, created = schedule.request_bootstrap(workspace_id, "install")
        jobs["bootstrap"] = "queued" if created else "already_running"
    if webhook_plan(settings).via_api:
        schedule.register_webhooks(workspace_id)
        jobs["webhookRegistration"] = "queued"
    log.info("installation %s", outcome, extra={"webhooks": len(record.webhooks), **jobs})
    return _ok(workspace_id, installation=outcome, webhooks=len(record.webhooks), jobs=jobs)


def _installation_token_claims(payload: payloads.Installed) -> AddonClaims:
    """Verify INSTALLED's ``authToken`` like any Clockify token: it must be about this
    workspace and add-on (its claims also give the reports host)."""
    try:
        return auth.verifier().verify(payload.auth_token, workspace_id=payload.workspace_id,
                                      addon_id=payload.addon_id)
    except TokenError as error:
        message = f"Not a valid Clockify installation token (failed check: {error.check})."
    except TokenMismatch as error:
        message = f"Not an installation token of this workspace and add-on ({error.code})."
    raise ValidationFailed("The body is not a valid INSTALLED payload.",
                           errors=_located([{"field": "authToken", "message": message}]))


def _webhook_tokens(entries, base_url: str) -> tuple[tuple[str, str], ...]:
    # A token listed twice is one webhook (stored once, answered as one).
    pairs, errors, seen = [], [], set()
    for index, entry in enumerate(entries):
        path = lifecycle.webhook_route_path(entry.path, base_url)
        if len(path) > _PATH_LIMIT:
            errors.append({"field": f"webhooks[{index}].path", "message": f"Longer than {_PATH_LIMIT} characters."})
        if entry.auth_token not in seen:
            seen.add(entry.auth_token)
            pairs.append((path, entry.auth_token))
    if errors:
        raise ValidationFailed("The body is not a valid INSTALLED payload.", errors=_located(errors))
    return tuple(pairs)


@bp.post("/settings-updated")
@_counted(lifecycle.SETTINGS_UPDATED)
def settings_updated():
    """Store the flat settings list as ``{id: value}``; a repeat changes nothing."""
    call = _accept(lifecycle.SETTINGS_UPDATED)
    installation = _refuse_deleted(call.installation)
    values = {**setting_defaults(), **lifecycle.settings_values(list(call.payload.settings))}
    changed = installations.update_settings(installation, values)
    log.info("settings %s", "changed" if changed else "unchanged")
    return _ok(installation.workspace_id, changed=changed)


@bp.post("/status-changed")
@_counted(lifecycle.STATUS_CHANGED)
def status_changed():
    """Record ACTIVE/INACTIVE. Turning inactive deregisters the API-registered webhooks;
    turning active again registers them anew."""
    settings = current_app.config["SETTINGS"]
    call = _accept(lifecycle.STATUS_CHANGED)
    installation = _refuse_deleted(call.installation)
    workspace_id, status = installation.workspace_id, call.payload.status
    changed = installations.set_status(installation, status)
    jobs = {}
    if changed and status == lifecycle.INACTIVE:
        cancellation.cancel_queued(workspace_id, (cancellation.REGISTER,))
        schedule.deregister_webhooks(workspace_id)
        jobs["webhookDeregistration"] = "queued"
    elif changed and status == lifecycle.ACTIVE and webhook_plan(settings).via_api:
        cancellation.cancel_queued(workspace_id, (cancellation.DEREGISTER,))
        schedule.register_webhooks(workspace_id)
        jobs["webhookRegistration"] = "queued"
    log.info("status %s (%s)", status, "changed" if changed else "unchanged")
    return _ok(workspace_id, installationStatus=status, changed=changed, jobs=jobs)


@bp.post("/deleted")
@_counted(lifecycle.DELETED)
def deleted():
    """Soft-delete the installation, drop its queued jobs, enqueue the deregistration of its
    API webhooks and the purge of its cached data. A repeat answers 200 too."""
    call = _accept(lifecycle.DELETED)
    installation = call.installation
    workspace_id = installation.workspace_id
    changed = installations.mark_deleted(installation)
    # A repeat re-enqueues only when the first call's jobs are unknown to Redis (e.g. Redis
    # failed after the commit and Clockify retried).
    if changed or not cancellation.is_known(cancellation.PURGE, workspace_id):
        cancellation.cancel_queued(workspace_id, cancellation.KINDS)
        schedule.deregister_webhooks(workspace_id)
        schedule.purge_workspace(workspace_id)
        jobs = {"webhookDeregistration": "queued", "purge": "queued"}
    else:
        jobs = {}
    log.info("installation deleted%s", "" if changed else " (repeat)")
    return _ok(workspace_id, installationStatus=InstallationStatus.DELETED.value, alreadyDeleted=not changed,
               jobs=jobs)
