"""Lifecycle calls from Clockify: installed, settings-updated, status-changed, deleted.

Each flow takes the call's body as read (its size already capped: 413 is the reader's), the
lifecycle token from its header, and the settings; it returns what the call did (a
``LifecycleResult``, whose ``answer()`` is the JSON body) or raises an ``addon.errors`` refusal.

Every call goes through the same gate (``_accept``), in this order: token valid (401) → not a
user token (401 ``token_kind``) → JSON parses (400) → token and body about the same workspace
and add-on (403) → not a token the workspace's installation stores, its installation token or a
webhook token (401 ``token_kind``; lifecycle token claims are unconfirmed, so stored tokens are
told apart by digest, at INSTALLED too when the workspace has a row) → installation known (404,
except INSTALLED; its row locked until the call commits, so racing calls apply one after the
other) → body shape (422; INSTALLED's ``authToken`` must not be a user token) → for INSTALLED,
every Clockify URL it names (``apiUrl``, the installation token's URL claims) allowed by the host
policy (403). No outbound call happens inside the flow: each state change is committed together
with the jobs it implies (the lifecycle outbox, ``addon.jobs.lifecycle_outbox``), which are then enqueued. When
Redis is down the call still succeeds: the jobs wait in the outbox, and the workers' sweep or the
workspace's next lifecycle call enqueues them, so a retried call, or none, ends with the same jobs
as a clean one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from redis.exceptions import RedisError

from .. import auth
from ..clockify import lifecycle
from ..clockify import lifecycle_payloads as payloads
from ..clockify.manifest import setting_defaults, webhook_plan
from ..clockify.tokens import AddonClaims, TokenError, TokenMismatch
from ..errors import Forbidden, Gone, ValidationFailed
from ..jobs import cancellation, lifecycle_outbox
from ..json_bodies import parse_json
from ..models import Installation, InstallationStatus
from ..outbound import require_allowed_hosts
from ..store import installations
from ..store import lifecycle_outbox as outbox_store
from .installation_checks import require_installed

log = logging.getLogger(__name__)
KIND = "lifecycle token"
_PATH_LIMIT = 255


@dataclass(frozen=True)
class LifecycleResult:
    """What a lifecycle call did to the workspace's installation; ``answer()`` is the 200 body."""

    workspace_id: str
    # Each kind's fields, by the name its JSON answer gives them.
    _ANSWER: ClassVar[dict[str, str]] = {}

    def answer(self) -> dict:
        """``{"status": "ok", "workspaceId", ...}`` with the fields of this kind of call."""
        return {"status": "ok", "workspaceId": self.workspace_id,
                **{name: getattr(self, attribute) for name, attribute in self._ANSWER.items()}}


@dataclass(frozen=True)
class InstallResult(LifecycleResult):
    """INSTALLED: ``installation`` is ``created``, ``updated`` or ``reactivated``; ``webhooks``
    counts the stored webhook tokens; ``jobs`` says what was queued."""

    installation: str
    webhooks: int
    jobs: dict[str, str]
    _ANSWER = {"installation": "installation", "webhooks": "webhooks", "jobs": "jobs"}


@dataclass(frozen=True)
class SettingsResult(LifecycleResult):
    """SETTINGS_UPDATED: whether the stored settings changed."""

    changed: bool
    _ANSWER = {"changed": "changed"}


@dataclass(frozen=True)
class StatusResult(LifecycleResult):
    """STATUS_CHANGED: the status now, whether it changed, and the jobs the change queued."""

    installation_status: str
    changed: bool
    jobs: dict[str, str]
    _ANSWER = {"installationStatus": "installation_status", "changed": "changed", "jobs": "jobs"}


@dataclass(frozen=True)
class DeleteResult(LifecycleResult):
    """DELETED: whether it was deleted already, and the cleanup jobs queued."""

    already_deleted: bool
    jobs: dict[str, str]
    installation_status: str = InstallationStatus.DELETED.value
    _ANSWER = {"installationStatus": "installation_status", "alreadyDeleted": "already_deleted", "jobs": "jobs"}


@dataclass(frozen=True)
class _Call:
    claims: AddonClaims
    payload: Any  # the ``lifecycle_payloads`` class of the call's kind
    installation: Installation | None  # None for INSTALLED only


def install(raw: bytes, token: str | None, settings) -> InstallResult:
    """Store (or refresh) the workspace's installation and tokens, then enqueue the bootstrap
    and the API registration of the webhooks the manifest could not declare.

    :raise AddonError: a refusal of the gate (module docstring).
    """
    payload: payloads.Installed = _accept(lifecycle.INSTALLED, raw, token).payload
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
    return InstallResult(workspace_id, installation=outcome, webhooks=len(record.webhooks), jobs=jobs)


def update_settings(raw: bytes, token: str | None, settings) -> SettingsResult:
    """Store the flat settings list as ``{id: value}``; a repeat changes nothing.

    :raise AddonError: a refusal of the gate; 410 once the installation is deleted.
    """
    call = _accept(lifecycle.SETTINGS_UPDATED, raw, token)
    installation = _refuse_deleted(call.installation)
    values = {**setting_defaults(), **lifecycle.settings_values(list(call.payload.settings))}
    changed = installations.update_settings(installation, values)
    _dispatch(installation.workspace_id)  # jobs an earlier call of the workspace left behind
    log.info("settings %s", "changed" if changed else "unchanged")
    return SettingsResult(installation.workspace_id, changed=changed)


def change_status(raw: bytes, token: str | None, settings) -> StatusResult:
    """Record ACTIVE/INACTIVE. Turning inactive deregisters the API-registered webhooks;
    turning active again registers them anew.

    :raise AddonError: a refusal of the gate; 410 once the installation is deleted.
    """
    call = _accept(lifecycle.STATUS_CHANGED, raw, token)
    installation = _refuse_deleted(call.installation)
    workspace_id, status = installation.workspace_id, call.payload.status
    steps: tuple[str, ...]
    jobs: dict[str, str]
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
    return StatusResult(workspace_id, installation_status=status, changed=changed, jobs=jobs if changed else {})


def delete(raw: bytes, token: str | None, settings) -> DeleteResult:
    """Soft-delete the installation, drop its queued jobs, enqueue the deregistration of its
    API webhooks and the purge of its cached data. A repeat succeeds too.

    :raise AddonError: a refusal of the gate.
    """
    installation = cast(Installation, _accept(lifecycle.DELETED, raw, token).installation)
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
    log.info("installation deleted%s", "" if changed else " (repeat)")
    return DeleteResult(workspace_id, already_deleted=not changed,
                        jobs={"webhookDeregistration": "queued", "purge": "queued"} if changed or lost else {})


def _accept(kind: str, raw: bytes, token: str | None) -> _Call:
    """Run the gate of every lifecycle call; return the verified claims and the payload."""
    claims = auth.verify(token, kind=KIND)
    auth.refuse_other_kinds(claims, stored_kind=None, kind=KIND)  # a user token, told by its claims
    body = parse_json(raw)
    fields = body if isinstance(body, dict) else {}
    body_workspace, body_addon = _text(fields.get("workspaceId")), _text(fields.get("addonId"))
    auth.check_match(claims, workspace_id=body_workspace, addon_id=body_addon, kind=KIND)
    # Stored tokens are told by digest, once the JSON checks passed: the workspace id is then one
    # the database can be asked about.
    stored_kind = installations.stored_token_kind(claims.workspace_id, cast(str, token))  # verify refuses None
    auth.refuse_other_kinds(claims, stored_kind=stored_kind, kind=KIND)
    installation = None
    if kind != lifecycle.INSTALLED:
        installation = require_installed(installations.get_for_change(claims.workspace_id))
        auth.check_match(claims, addon_id=installation.addon_id, kind=KIND)
        if body_addon is not None and body_addon != installation.addon_id:
            raise Forbidden("The body names another installation of the add-on.", code="addon_mismatch")
    try:
        payload = payloads.load(kind, body)
    except payloads.PayloadError as error:
        raise ValidationFailed(f"The body is not a valid {kind} payload.", errors=_located(error.errors)) from None
    return _Call(claims, payload, installation)


def _refuse_deleted(installation: Installation | None) -> Installation:
    installation = cast(Installation, installation)  # the gate loaded it (every kind but INSTALLED)
    if installation.status == InstallationStatus.DELETED.value:
        raise Gone("The add-on was uninstalled from this workspace.", status_value=installation.status)
    return installation


def _text(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _located(errors: list[dict]) -> list[dict]:
    return [{"location": "body", **e} for e in errors]


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
    workspace and add-on (its claims also give the reports host), and not be a user token.
    An ``exp`` is not refused: whether Clockify's installation token carries one is unconfirmed."""
    try:
        claims = auth.verifier().verify(payload.auth_token, workspace_id=payload.workspace_id,
                                        addon_id=payload.addon_id)
        if not claims.has_user_claims:
            return claims
        # Stored, a 30-minute user token would run the backend jobs as that user, then fail.
        message = "A user token, not the installation token (it carries user-token claims)."
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


def _cleanup_known(workspace_id: str) -> bool:
    # Unknown Redis state counts as known: the outbox keeps what was not enqueued.
    try:
        return cancellation.is_known(cancellation.PURGE, workspace_id)
    except RedisError:
        return True
