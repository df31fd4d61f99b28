"""Token checks: builds the app's ``TokenVerifier`` and turns its verdicts into 401/403 refusals
(logged, without the token). The flows call ``verify`` with the token their caller read from the
request; nothing here reads a request (a failure's log line names the request's path when there
is one).

The sidebar (``sidebar_claims``) takes user tokens only: after the checks every token passes, the
installation token is recognised by its stored digest (refused unless
``STUDIO_ALLOW_INSTALLATION_TOKEN``), and anything else must carry the user-token claims and an
``exp``; lifecycle and webhook tokens fail that with 401 ``token_kind``. Lifecycle calls
(``refuse_other_kinds``) refuse user tokens by their claims, and the installation's stored tokens
(installation, webhook) by digest.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import jwt
from flask import current_app, has_request_context, request

from .clockify.tokens import (
    BUNDLED_PUBLIC_KEY,
    INSTALLATION,
    USER,
    WEBHOOK,
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
_NAMES = {USER: "A user token", INSTALLATION: "The installation token", WEBHOOK: "A webhook token"}


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
        log.warning("%s rejected: %s", kind, error.check, extra={"check": error.check, "path": _path()})
        raise InvalidToken(error.message, check=error.check) from None
    except TokenMismatch as error:
        log.warning("%s rejected: %s", kind, error.code, extra={"check": error.code, "path": _path()})
        raise Forbidden(error.message, code=error.code) from None
    bind_workspace(claims.workspace_id)
    return claims


def refuse_other_kinds(claims: AddonClaims, *, stored_kind: str | None, kind: str) -> None:
    """Refuse a token of another kind where Clockify's own calls are expected (lifecycle): a user
    token (by its user claims: a workspace user must not pass for Clockify), and a token the
    installation stores, its installation token or one of its webhook tokens (by digest: they
    never expire, and Clockify's API lists webhook tokens, so whoever reads them must not be able
    to uninstall or reconfigure the add-on).

    :param stored_kind: ``installations.stored_token_kind`` of the token (None: not stored).
    :raise InvalidToken: 401 ``token_kind``.
    """
    refused = USER if claims.has_user_claims else stored_kind
    if refused is not None:
        log.warning("%s rejected: token_kind (%s token)", kind, refused,
                    extra={"check": "token_kind", "token_kind": refused, "path": _path()})
        raise InvalidToken(f"{_NAMES[refused]} is not a {kind}.", check="token_kind")


def check_match(claims: AddonClaims, *, workspace_id: str | None = None, addon_id: str | None = None,
                kind: str = "token") -> None:
    """Check that already verified ``claims`` are about ``workspace_id`` / ``addon_id``
    (for callers that verify the token before they can read what the request is about).

    :raise Forbidden: 403 ``workspace_mismatch`` or ``addon_mismatch``.
    """
    try:
        TokenVerifier.check_match(claims, workspace_id=workspace_id, addon_id=addon_id)
    except TokenMismatch as error:
        log.warning("%s rejected: %s", kind, error.code, extra={"check": error.code, "path": _path()})
        raise Forbidden(error.message, code=error.code) from None


def sidebar_claims(claims: AddonClaims, *, is_installation_token: bool,
                   allow_installation_token: bool) -> AddonClaims:
    """Verified ``claims`` marked with their kind, if the sidebar takes that kind (see the module
    docstring).

    :param is_installation_token: the token is the installation's (by its stored digest).
    :param allow_installation_token: ``STUDIO_ALLOW_INSTALLATION_TOKEN``.
    :raise InvalidToken: 401 ``token_kind``.
    """
    try:
        if not is_installation_token:
            return require_user_token(claims)
        if not allow_installation_token:
            raise TokenError("token_kind", "The installation token is not accepted here "
                             "(STUDIO_ALLOW_INSTALLATION_TOKEN is off).")
    except TokenError as error:
        log.warning("user token rejected: %s", error.check, extra={"check": error.check, "path": _path()})
        raise InvalidToken(error.message, check=error.check) from None
    return replace(claims, kind=INSTALLATION)


def _path() -> str | None:
    return request.path if has_request_context() else None
