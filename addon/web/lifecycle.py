"""Lifecycle callbacks from Clockify: installed, settings-updated, status-changed, deleted.

Every call goes through the same gate, in this order: body size (413) → token valid (401) →
JSON parses (400) → token and body about the same workspace and add-on (403) → installation
known (404, except INSTALLED) → body shape (422) → for INSTALLED, every Clockify URL it names
(``apiUrl``, the installation token's URL claims) allowed by the host policy (403). No outbound
call happens inside the request: each state change is committed together with the jobs it implies
(the lifecycle outbox, ``addon.jobs.lifecycle_outbox``), which are then enqueued. When Redis is
down the call still answers 200: the jobs wait in the outbox, and the workers' sweep or the
workspace's next lifecycle call enqueues them, so a retried call, or none, ends with the same jobs
as a clean one.
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
from ..jobs import cancellation, lifecycle_outbox
from ..models import Installation, InstallationStatus
from ..outbound import require_allowed_hosts
from ..store import installations
from ..store import lifecycle_outbox as outbox_store
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
    bootstrap = lifecycle.is_checked(values.get("auto_bootstrap"))
    register = bool(webhook_plan(settings).via_api)
    # A purge or deregistration queued by an earlier uninstall must not run on the new install.
    steps = [lifecycle_outbox.cancel(cancellation.DEREGISTER), lifecycle_outbox.cancel(cancellation.PURGE)]
    steps += [lifecycle_outbox.bootstrap("install")] if bootstrap else []
    steps += [lifecycle_outbox.REGISTER] if register else []
    installation, outcome = installations.record_install(record, jobs=tuple(steps))
    workspace_id = installation.workspace_id
    dispatched = _dispatch(workspace_id)

    jobs = {"bootstrap": "disabled", "webhookRegistration": "queued" if register else "not_needed"}
    if bootstrap:
        created = dispatched.get(lifecycle_outbox.bootstrap("install"), True)
        jobs["bootstrap"] = "queued" if created else "already_running"
    log.info("installation %s", outcome, extra={"webhooks": len(record.webhooks), **jobs})
    return _ok(workspace_id, installation=outcome, webhooks=len(record.webhooks), jobs=jobs)


def _dispatch(workspace_id: str) -> dict[str, object]:
    """Enqueue the workspace's pending outbox steps; with Redis down they wait for the sweep."""
    try:
        return lifecycle_outbox.dispatch(workspace_id)
    except RedisError as error:  # LockError included: the sweep retries
        log.warning("lifecycle jobs of %s stored but not enqueued (%s); the sweep will enqueue them",
                    workspace_id, type(error).__name__)
        return {}


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
    _dispatch(installation.workspace_id)  # jobs an earlier call of the workspace left behind
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
    if status == lifecycle.INACTIVE:
        steps, jobs = (lifecycle_outbox.cancel(cancellation.REGISTER), lifecycle_outbox.DEREGISTER), \
            {"webhookDeregistration": "queued"}
    elif webhook_plan(settings).via_api:
        steps, jobs = (lifecycle_outbox.cancel(cancellation.DEREGISTER), lifecycle_outbox.REGISTER), \
            {"webhookRegistration": "queued"}
    else:
        steps, jobs = (), {}
    changed = installations.set_status(installation, status, jobs=steps)
    _dispatch(workspace_id)
    log.info("status %s (%s)", status, "changed" if changed else "unchanged")
    return _ok(workspace_id, installationStatus=status, changed=changed, jobs=jobs if changed else {})


@bp.post("/deleted")
@_counted(lifecycle.DELETED)
def deleted():
    """Soft-delete the installation, drop its queued jobs, enqueue the deregistration of its
    API webhooks and the purge of its cached data. A repeat answers 200 too."""
    call = _accept(lifecycle.DELETED)
    installation = call.installation
    workspace_id = installation.workspace_id
    steps = (*(lifecycle_outbox.cancel(kind) for kind in cancellation.KINDS), lifecycle_outbox.DEREGISTER,
             lifecycle_outbox.PURGE)
    changed = installations.mark_deleted(installation, jobs=steps)
    # A repeat enqueues again only when Redis lost the first call's jobs after they were
    # enqueued (it restarted empty); jobs not enqueued yet are still in the outbox.
    lost = not changed and not outbox_store.pending(workspace_id) and not _cleanup_known(workspace_id)
    if lost:
        installations.add_outbox(workspace_id, "deleted", steps)
    _dispatch(workspace_id)
    jobs = {"webhookDeregistration": "queued", "purge": "queued"} if changed or lost else {}
    log.info("installation deleted%s", "" if changed else " (repeat)")
    return _ok(workspace_id, installationStatus=InstallationStatus.DELETED.value, alreadyDeleted=not changed,
               jobs=jobs)


def _cleanup_known(workspace_id: str) -> bool:
    # Unknown Redis state counts as known: the outbox keeps what was not enqueued.
    try:
        return cancellation.is_known(cancellation.PURGE, workspace_id)
    except RedisError:
        return True
