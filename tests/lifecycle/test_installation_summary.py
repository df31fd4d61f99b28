"""The sidebar's read of an installation (``installations.summary``, a Core select) says what the
ORM row says, in every state the lifecycle leaves it in, and decrypts the installation token
only when asked."""

import pytest

from addon.extensions import db
from addon.models import Installation, InstallationStatus
from addon.store import installations

WORKSPACE, TOKEN = "ws-summary-1", "installation-token-of-ws-summary-1"


def _active():
    row = Installation(workspace_id=WORKSPACE, addon_id="addon-1", installation_token=TOKEN,
                       api_url="https://api.clockify.me/api", reports_url=None)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.mark.parametrize("change", ["active", "inactive", "deleted", "reports url"])
def test_the_summary_says_what_the_row_says(ctx, change):
    row = _active()
    if change == "inactive":
        installations.set_status(row, InstallationStatus.INACTIVE.value)
    elif change == "deleted":
        installations.mark_deleted(row)
    elif change == "reports url":
        row.reports_url = "https://reports.api.clockify.me"
        db.session.commit()

    summary = installations.summary(WORKSPACE)
    row = installations.get(WORKSPACE)
    assert (summary.workspace_id, summary.addon_id, summary.status, summary.is_active, summary.api_url,
            summary.reports_url, summary.installation_token_digest, summary.installation_token) == (
        row.workspace_id, row.addon_id, row.status, row.is_active, row.api_url,
        row.reports_url, row.installation_token_digest, row.installation_token)
    assert installations.is_installation_token(summary, TOKEN)
    assert summary.installation_token == (None if change == "deleted" else TOKEN)
    assert summary.encrypted_installation_token != TOKEN  # read as stored: encrypted
    assert TOKEN not in repr(summary)


def test_no_installation_has_no_summary(ctx):
    assert installations.summary("ws-never-installed") is None
