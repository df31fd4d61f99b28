"""The canonical contract: events, categories, scopes and lifecycle types, checked against the
bundled official schemas."""

import pytest

from addon.clockify import event_types, lifecycle, schemas

EXPECTED_CATEGORIES = {
    "time": ["NEW_TIME_ENTRY", "NEW_TIMER_STARTED", "TIMER_STOPPED", "TIME_ENTRY_UPDATED", "TIME_ENTRY_DELETED",
             "TIME_ENTRY_RESTORED", "TIME_ENTRY_SPLIT"],
    "project": ["NEW_PROJECT", "PROJECT_UPDATED", "PROJECT_DELETED", "NEW_TASK", "TASK_UPDATED", "TASK_DELETED",
                "NEW_CLIENT", "CLIENT_UPDATED", "CLIENT_DELETED", "NEW_TAG", "TAG_UPDATED", "TAG_DELETED",
                "BILLABLE_RATE_UPDATED", "COST_RATE_UPDATED"],
    "user": ["USER_JOINED_WORKSPACE", "USER_DELETED_FROM_WORKSPACE", "USER_DEACTIVATED_ON_WORKSPACE",
             "USER_ACTIVATED_ON_WORKSPACE", "USER_EMAIL_CHANGED", "USER_UPDATED", "USERS_INVITED_TO_WORKSPACE",
             "LIMITED_USERS_ADDED_TO_WORKSPACE", "USER_GROUP_CREATED", "USER_GROUP_UPDATED", "USER_GROUP_DELETED"],
    "expense": ["EXPENSE_CREATED", "EXPENSE_UPDATED", "EXPENSE_DELETED", "EXPENSE_RESTORED", "NEW_INVOICE",
                "INVOICE_UPDATED"],
    "custom": ["NEW_APPROVAL_REQUEST", "APPROVAL_REQUEST_STATUS_UPDATED", "TIME_OFF_REQUESTED",
               "TIME_OFF_REQUEST_APPROVED", "TIME_OFF_REQUEST_REJECTED", "TIME_OFF_REQUEST_WITHDRAWN",
               "TIME_OFF_REQUEST_UPDATED", "TIME_OFF_REQUEST_STARTED", "BALANCE_UPDATED"],
    "generic": ["ASSIGNMENT_CREATED", "ASSIGNMENT_UPDATED", "ASSIGNMENT_DELETED", "ASSIGNMENT_PUBLISHED"],
}


def test_there_are_51_events_in_the_contract_order():
    assert len(event_types.ALL_EVENTS) == 51 == len(set(event_types.ALL_EVENTS))
    assert list(event_types.ALL_EVENTS) == [e for c in EXPECTED_CATEGORIES.values() for e in c]


def test_categories_are_exactly_the_issue_s():
    assert event_types.CATEGORIES == tuple(EXPECTED_CATEGORIES)
    assert {c: list(v) for c, v in event_types.EVENTS_BY_CATEGORY.items()} == EXPECTED_CATEGORIES


def test_each_event_is_in_exactly_one_category():
    for event in event_types.ALL_EVENTS:
        homes = [c for c, members in event_types.EVENTS_BY_CATEGORY.items() if event in members]
        assert homes == [event_types.category_of(event)], event


def _official_events() -> frozenset[str]:
    """Every event name any bundled schema version allows."""
    return frozenset(e for v in schemas.VERSIONS for e in schemas.allowed_events(v))


def test_contract_events_equal_the_union_of_the_official_schemas():
    assert set(event_types.ALL_EVENTS) == _official_events()


def test_dropping_an_event_from_the_contract_breaks_the_schema_union_check(monkeypatch):
    monkeypatch.setattr(event_types, "ALL_EVENTS", event_types.ALL_EVENTS[1:])
    assert set(event_types.ALL_EVENTS) != _official_events()


@pytest.mark.parametrize(("version", "count"), [("1.2", 42), ("1.3", 22), ("1.4", 22), ("1.5", 50), ("1.6", 51)])
def test_events_each_schema_version_allows(version, count):
    allowed = event_types.events_for_version(version)
    assert len(allowed) == count
    assert set(allowed) == set(schemas.allowed_events(version))
    assert list(allowed) == [e for e in event_types.ALL_EVENTS if e in allowed]  # contract order


def test_only_1_6_allows_time_off_request_started():
    assert [v for v in schemas.VERSIONS if "TIME_OFF_REQUEST_STARTED" in schemas.allowed_events(v)] == ["1.6"]


def test_1_3_does_not_allow_update_and_delete_events_of_projects():
    assert "NEW_PROJECT" in schemas.allowed_events("1.3")
    assert "PROJECT_UPDATED" not in schemas.allowed_events("1.3")
    assert "PROJECT_UPDATED" in schemas.allowed_events("1.2")


def test_unknown_events_go_to_generic():
    assert event_types.category_of("SOMETHING_NEW") == "generic"
    assert not event_types.is_known("SOMETHING_NEW")
    assert event_types.is_known("NEW_TIME_ENTRY")


def test_route_paths():
    assert [event_types.route_path(c) for c in event_types.CATEGORIES] == [
        "/webhooks/time", "/webhooks/project", "/webhooks/user", "/webhooks/expense", "/webhooks/custom",
        "/webhooks/generic"]
    with pytest.raises(ValueError, match="unknown webhook category"):
        event_types.route_path("billing")


@pytest.mark.parametrize("version", schemas.VERSIONS)
def test_every_version_has_the_same_30_scopes(version):
    scopes = schemas.scopes(version)
    assert len(scopes) == 30 == len(set(scopes))
    assert scopes == schemas.scopes()
    assert {s.rsplit("_", 1)[1] for s in scopes} == {"READ", "WRITE"}


def test_lifecycle_types_match_the_schemas():
    for version in schemas.VERSIONS:
        declared = schemas.manifest_schema(version)["definitions"]["lifecycle"]["properties"]["type"]["enum"]
        assert set(declared) == set(lifecycle.PATHS) == {"INSTALLED", "DELETED", "SETTINGS_UPDATED", "STATUS_CHANGED"}
    assert set(lifecycle.PATHS.values()) == {"/lifecycle/installed", "/lifecycle/settings-updated",
                                             "/lifecycle/status-changed", "/lifecycle/deleted"}


def test_unsupported_schema_version_is_refused():
    with pytest.raises(ValueError, match="unsupported manifest schema version"):
        schemas.manifest_schema("1.1")
