"""Token checks at the HTTP edge: builds the app's ``TokenVerifier`` and turns its verdicts into
401/403 answers. Views call ``verify`` or use ``user_required``; they never read auth headers
themselves.

The sidebar (``user_required``) takes user tokens only: after the checks every token passes, the
installation token is recognised by its stored digest (refused unless
``STUDIO_ALLOW_INSTALLATION_TOKEN``), and anything else must carry the user-token claims and an
``exp``; lifecycle and webhook tokens fail that with 401 ``token_kind``.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import replace
from pathlib import Path

import jwt
from flask import current_app, g, request

from .clockify.tokens import (
    BUNDLED_PUBLIC_KEY,
    INSTALLATION,
    AddonClaims,
    TokenError,
    TokenMismatch,
    TokenVerifier,
    load_public_key,
    require_user_token,
)
from .dev_signing_key import dev_private_key
from .errors import Forbidden, InvalidToken
from .request_context import bind_workspace

log = logging.getLogger(__name__)
EXTENSION_KEY = "addon.tokens"


def init_app(app, settings) -> None:
    """Build the verifier once: Clockify's key (or the configured one), plus the development key."""
    if settings.clockify_public_key:
        pem = settings.clockify_public_key
    elif settings.clockify_public_key_path:
        pem = Path(settings.clockify_public_key_path).read_text()
    else:
        pem = BUNDLED_PUBLIC_KEY.read_text()
    keys = [load_public_key(pem)]
    if settings.env == "development":
        keys.append(dev_private_key(settings.instance_path).public_key())
    jwks = jwt.PyJWKClient(settings.clockify_jwks_url, cache_keys=True, lifespan=300, timeout=5) \
        if settings.clockify_jwks_url else None
    app.extensions[EXTENSION_KEY] = TokenVerifier(
        keys, settings.addon_key, verify_signature=settings.require_signature_verification, jwks_client=jwks)


def verifier() -> TokenVerifier:
    """The current app's token verifier."""
    return current_app.extensions[EXTENSION_KEY]


def verify(token: str | None, *, workspace_id: str | None = None, addon_id: str | None = None,
           kind: str = "token") -> AddonClaims:
    """Verify ``token`` for ``workspace_id`` / ``addon_id``.

    :raise InvalidToken: 401 naming the failed check.
    :raise Forbidden: 403 ``workspace_mismatch`` or ``addon_mismatch``.
    """
    try:
        claims = verifier().verify(token, workspace_id=workspace_id, addon_id=addon_id)
    except TokenError as error:
        log.warning("%s rejected: %s", kind, error.check, extra={"check": error.check, "path": request.path})
        raise InvalidToken(error.message, check=error.check) from None
    except TokenMismatch as error:
        log.warning("%s rejected: %s", kind, error.code, extra={"check": error.code, "path": request.path})
        raise Forbidden(error.message, code=error.code) from None
    bind_workspace(claims.workspace_id)
    return claims


def refuse_user_token(claims: AddonClaims, *, kind: str) -> None:
    """Refuse a user token where Clockify's own calls are expected (lifecycle): a workspace user
    must not pass for Clockify.

    :raise InvalidToken: 401 ``token_kind``.
    """
    if claims.has_user_claims:
        log.warning("%s rejected: token_kind", kind, extra={"check": "token_kind", "path": request.path})
        raise InvalidToken(f"A user token is not a {kind}.", check="token_kind")


def check_match(claims: AddonClaims, *, workspace_id: str | None = None, addon_id: str | None = None,
                kind: str = "token") -> None:
    """Check that already verified ``claims`` are about ``workspace_id`` / ``addon_id``
    (for callers that verify the token before they can read what the request is about).

    :raise Forbidden: 403 ``workspace_mismatch`` or ``addon_mismatch``.
    """
    try:
        TokenVerifier.check_match(claims, workspace_id=workspace_id, addon_id=addon_id)
    except TokenMismatch as error:
        log.warning("%s rejected: %s", kind, error.code, extra={"check": error.code, "path": request.path})
        raise Forbidden(error.message, code=error.code) from None


def user_token_from_request(allow_query: bool = False) -> str | None:
    """The user token of an API Studio call: ``Authorization: Bearer``, else ``X-Addon-Token``,
    else (page loads only) the ``auth_token`` query parameter."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    if request.headers.get("X-Addon-Token"):
        return request.headers["X-Addon-Token"].strip()
    if allow_query:
        return request.args.get("auth_token") or None
    return None


def user_required(view=None, *, admin: bool = False, allow_query: bool = False):
    """Decorator: verify the caller's user token (see the module docstring for the kinds), load
    its active installation, and put them on ``g.claims`` (with ``kind`` set) and
    ``g.installation``.

    :raise InvalidToken: 401 (``token_kind`` for another kind of token). :raise Forbidden: 403
        (``admin_required`` when ``admin`` and the token is not an OWNER/ADMIN's or the
        installation's). :raise NotFound: 404, never installed. :raise Gone: 410, installation
        inactive or deleted.
    """
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            from .store import installations

            token = user_token_from_request(allow_query)
            claims = verify(token, kind="user token")
            installation = installations.get(claims.workspace_id)
            claims = _sidebar_claims(claims, installations.is_installation_token(installation, token))
            installation = installations.check_active(installation)
            if claims.addon_id is not None and claims.addon_id != installation.addon_id:
                raise Forbidden("The token belongs to another installation of the add-on.", code="addon_mismatch")
            if admin and not claims.is_admin:
                raise Forbidden("Only workspace owners and admins may do this.", code="admin_required")
            g.claims, g.installation = claims, installation
            return func(*args, **kwargs)
        return wrapper
    return decorate(view) if view is not None else decorate


def _sidebar_claims(claims: AddonClaims, is_installation_token: bool) -> AddonClaims:
    """``claims`` marked with their kind, if the sidebar takes that kind.

    :raise InvalidToken: 401 ``token_kind``.
    """
    try:
        if not is_installation_token:
            return require_user_token(claims)
        if not current_app.config["SETTINGS"].studio_allow_installation_token:
            raise TokenError("token_kind", "The installation token is not accepted here "
                             "(STUDIO_ALLOW_INSTALLATION_TOKEN is off).")
    except TokenError as error:
        log.warning("user token rejected: %s", error.check, extra={"check": error.check, "path": request.path})
        raise InvalidToken(error.message, check=error.check) from None
    return replace(claims, kind=INSTALLATION)
