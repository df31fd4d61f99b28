"""Fixtures of the API Studio tests: an installed workspace and users' tokens for it."""

from __future__ import annotations

import time

import pytest

from addon.extensions import db
from addon.models import Installation

WORKSPACE = "ws-studio-1"
ADDON_ID = "addon-studio-1"
OTHER_WORKSPACE = "ws-other-9"


@pytest.fixture
def installation(app, signer):
    """An ACTIVE installation of WORKSPACE (committed, so live servers see it too)."""
    with app.app_context():
        row = Installation(workspace_id=WORKSPACE, addon_id=ADDON_ID,
                           installation_token=signer.installation_token(WORKSPACE, ADDON_ID),
                           api_url=signer.backend_url, reports_url=signer.reports_url)
        db.session.add(row)
        db.session.commit()
        db.session.expunge(row)
    return row


@pytest.fixture
def user_token(signer, installation):
    """A user token factory: ``user_token(role="OWNER", **claims)``."""
    def make(role: str = "OWNER", user_id: str = "user-1", **claims) -> str:
        if claims:
            base = {"workspaceId": WORKSPACE, "addonId": ADDON_ID, "user": user_id, "workspaceRole": role,
                    "theme": "DEFAULT", "language": "EN", "backendUrl": signer.backend_url,
                    "reportsUrl": signer.reports_url, "exp": int(time.time()) + 1800}
            base.update(claims)
            return signer.make_token(**base)
        return signer.user_token(WORKSPACE, ADDON_ID, user_id=user_id, role=role)
    return make


@pytest.fixture
def auth_headers(user_token):
    """Headers of an OWNER's XHR call."""
    return {"Authorization": f"Bearer {user_token()}"}
