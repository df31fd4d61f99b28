"""What a missing or inactive installation means to a caller: 404 ``not_installed``, 410
``installation_inactive``. The store answers rows or None; these turn them into refusals."""

from __future__ import annotations

from typing import Protocol, TypeVar

from ..errors import Gone, NotFound


class _HasStatus(Protocol):
    @property
    def status(self) -> str: ...

    @property
    def is_active(self) -> bool: ...


# An ``Installation`` row or a store ``InstallationSummary``: the checks read only the status.
AnyInstallation = TypeVar("AnyInstallation", bound=_HasStatus)


def require_installed(installation: AnyInstallation | None) -> AnyInstallation:
    """``installation`` (any status) when the workspace has one.

    :raise NotFound: 404 ``not_installed`` when the workspace never installed the add-on.
    """
    if installation is None:
        raise NotFound("The add-on is not installed on this workspace.", code="not_installed")
    return installation


def require_active(installation: AnyInstallation | None) -> AnyInstallation:
    """``installation`` when it exists and is ACTIVE.

    :raise NotFound: 404 ``not_installed``. :raise Gone: 410 when inactive or deleted.
    """
    installation = require_installed(installation)
    if not installation.is_active:
        raise gone(installation.status)
    return installation


def gone(status: str) -> Gone:
    """The 410 of an installation in ``status`` (INACTIVE or DELETED), naming the status."""
    return Gone(f"The add-on is {status.lower()} on this workspace.", status_value=status)
