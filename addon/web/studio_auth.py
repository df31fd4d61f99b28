"""API Studio's token at the HTTP edge: read from the request, checked by
``addon.flows.studio_access``. Views never read auth headers themselves."""

from __future__ import annotations

import functools

from flask import current_app, g, request

from ..flows import studio_access


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


def authorize(*, admin: bool = False, allow_query: bool = False) -> studio_access.Caller:
    """The current request's caller (``studio_access.authorize`` on the request's token)."""
    return studio_access.authorize(user_token_from_request(allow_query), current_app.config["SETTINGS"],
                                   admin=admin)


def user_required(view=None, *, admin: bool = False, allow_query: bool = False):
    """Decorator: authorize the request's caller (``studio_access.authorize``: 401, 403, 404, 410)
    and put it on ``g.caller``, with its claims on ``g.claims``."""
    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            caller = authorize(admin=admin, allow_query=allow_query)
            g.caller, g.claims = caller, caller.claims
            return func(*args, **kwargs)
        return wrapper
    return decorate(view) if view is not None else decorate
