"""Webhook events and the route category each one is delivered to.

The set of events comes from the bundled official schemas (the union of 1.2 to 1.6: 51 names);
the category of each is our routing choice. ``tests/contract`` checks that the two agree.
``ALL_EVENTS`` is in the contract's order, the order in which the manifest declares them.
"""

from __future__ import annotations

from . import schemas

TIME, PROJECT, USER, EXPENSE, CUSTOM, GENERIC = "time", "project", "user", "expense", "custom", "generic"
CATEGORIES = (TIME, PROJECT, USER, EXPENSE, CUSTOM, GENERIC)

EVENTS_BY_CATEGORY: dict[str, tuple[str, ...]] = {
    TIME: ("NEW_TIME_ENTRY", "NEW_TIMER_STARTED", "TIMER_STOPPED", "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED",
           "TIME_ENTRY_RESTORED", "TIME_ENTRY_SPLIT"),
    PROJECT: ("NEW_PROJECT", "PROJECT_UPDATED", "PROJECT_DELETED", "NEW_TASK", "TASK_UPDATED", "TASK_DELETED",
              "NEW_CLIENT", "CLIENT_UPDATED", "CLIENT_DELETED", "NEW_TAG", "TAG_UPDATED", "TAG_DELETED",
              "BILLABLE_RATE_UPDATED", "COST_RATE_UPDATED"),
    USER: ("USER_JOINED_WORKSPACE", "USER_DELETED_FROM_WORKSPACE", "USER_DEACTIVATED_ON_WORKSPACE",
           "USER_ACTIVATED_ON_WORKSPACE", "USER_EMAIL_CHANGED", "USER_UPDATED", "USERS_INVITED_TO_WORKSPACE",
           "LIMITED_USERS_ADDED_TO_WORKSPACE", "USER_GROUP_CREATED", "USER_GROUP_UPDATED", "USER_GROUP_DELETED"),
    EXPENSE: ("EXPENSE_CREATED", "EXPENSE_UPDATED", "EXPENSE_DELETED", "EXPENSE_RESTORED", "NEW_INVOICE",
              "INVOICE_UPDATED"),
    CUSTOM: ("NEW_APPROVAL_REQUEST", "APPROVAL_REQUEST_STATUS_UPDATED", "TIME_OFF_REQUESTED",
             "TIME_OFF_REQUEST_APPROVED", "TIME_OFF_REQUEST_REJECTED", "TIME_OFF_REQUEST_WITHDRAWN",
             "TIME_OFF_REQUEST_UPDATED", "TIME_OFF_REQUEST_STARTED", "BALANCE_UPDATED"),
    GENERIC: ("ASSIGNMENT_CREATED", "ASSIGNMENT_UPDATED", "ASSIGNMENT_DELETED", "ASSIGNMENT_PUBLISHED"),
}

ALL_EVENTS: tuple[str, ...] = tuple(e for events in EVENTS_BY_CATEGORY.values() for e in events)
CATEGORY_OF: dict[str, str] = {e: c for c, events in EVENTS_BY_CATEGORY.items() for e in events}


def category_of(event: str) -> str:
    """The route category of ``event``; events the contract does not know go to ``generic``."""
    return CATEGORY_OF.get(event, GENERIC)


def route_path(category: str) -> str:
    """The path webhooks of ``category`` are delivered to."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown webhook category {category!r}")
    return f"/webhooks/{category}"


def is_known(event: str) -> bool:
    """True for the 51 events of the contract."""
    return event in CATEGORY_OF


def events_for_version(version: str) -> tuple[str, ...]:
    """The contract's events that ``version`` can declare, in the contract's order."""
    allowed = set(schemas.allowed_events(version))
    return tuple(e for e in ALL_EVENTS if e in allowed)
