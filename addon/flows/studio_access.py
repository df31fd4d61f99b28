"""Who may use API Studio: the token the sidebar presents, checked down to the workspace's
active installation.

``authorize`` verifies the token (401), takes only the kinds the sidebar takes (401
``token_kind``; ``addon.auth.sidebar_claims``), requires an active installation (404, 410) of the
token's add-on (403 ``addon_mismatch``) and, for admin-only actions, an OWNER/ADMIN's token or
the installation's (403 ``admin_required``). Its ``Caller`` is the explicit input of every API
Studio flow.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import auth
from ..clockify.tokens import AddonClaims
from ..errors import Forbidden
from ..store import installations
from .installation_checks import require_active


@dataclass(frozen=True)
class Caller:
    """An authorized API Studio user: the verified claims (their ``kind`` set), the workspace's
    active installation, and the token presented (the one the user's own calls run with)."""

    claims: AddonClaims
    installation: installations.InstallationSummary
    token: str = field(repr=False)


def authorize(token: str | None, settings, *, admin: bool = False) -> Caller:
    """The caller ``token`` identifies, if it may use API Studio (see the module docstring).

    :raise InvalidToken: 401. :raise Forbidden: 403 ``addon_mismatch`` or ``admin_required``.
    :raise NotFound: 404, never installed. :raise Gone: 410, installation inactive or deleted.
    """
    claims = auth.verify(token, kind="user token")
    token = token or ""  # (for the type checker: verify refuses a missing token)
    installation = installations.summary(claims.workspace_id)
    claims = auth.sidebar_claims(claims, is_installation_token=installations.is_installation_token(installation, token),
                                 allow_installation_token=settings.studio_allow_installation_token)
    installation = require_active(installation)
    if claims.addon_id is not None and claims.addon_id != installation.addon_id:
        raise Forbidden("The token belongs to another installation of the add-on.", code="addon_mismatch")
    if admin and not claims.is_admin:
        raise Forbidden("Only workspace owners and admins may do this.", code="admin_required")
    return Caller(claims, installation, token)
