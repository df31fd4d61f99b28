"""Validation of outgoing calls with openapi-core's parts, errors listed per field."""

from concurrent.futures import ThreadPoolExecutor

import pytest
from openapi_spec_validator import validate

from addon.clockify.openapi_catalog import get_catalog, load_spec
from addon.clockify.operation_checks import validation_spec
from addon.clockify.request_validation import (
    RequestValidator,
    UnsupportedBaseUrl,
    encode_body,
    get_validator,
    query_pairs,
)

API = "https://api.clockify.me/api"


@pytest.fixture(scope="module")
def validator():
    return get_validator()


def check(validator, operation_id, path_params, query=None, body=None, base_url=API):
    operation = get_catalog().get(operation_id)
    return [e.as_dict() for e in validator.validate(operation, base_url, path_params, query, body, encode_body(body))]


def test_patched_spec_is_a_valid_openapi_document():
    validate(validation_spec(load_spec()))


@pytest.mark.parametrize("base_url", [
    "https://api.clockify.me/api", "https://euc1.clockify.me/api", "https://developer.clockify.me/api",
    "http://127.0.0.1:8123/api",
])
def test_valid_calls_pass_on_every_regional_host(validator, base_url):
    assert check(validator, "getProjects", {"workspaceId": "ws1"},
                 {"page": 2, "archived": True, "clients": ["a", "b"]}, base_url=base_url) == []
    assert check(validator, "createNewProject", {"workspaceId": "ws1"}, body={"name": "Apollo"},
                 base_url=base_url) == []


@pytest.mark.parametrize("base_url", [
    "https://reports.api.clockify.me", "https://use2.clockify.me/report", "https://developer.clockify.me/report",
])
def test_reports_hosts_match(validator, base_url):
    body = {"dateRangeStart": "2026-01-01T00:00:00Z", "dateRangeEnd": "2026-01-31T23:59:59Z", "detailedFilter": {}}
    assert check(validator, "generateDetailedReport", {"workspaceId": "ws1"}, body=body, base_url=base_url) == []


def test_query_errors_name_each_parameter(validator):
    errors = check(validator, "getProjects", {"workspaceId": "ws1"},
                   {"page": "x", "archived": "maybe", "bogus": 1, "name": {"nested": 1}})
    assert {(e["location"], e["field"]): e["message"] for e in errors} == {
        ("query", "page"): "Must be an integer.",
        ("query", "archived"): "Must be a boolean.",
        ("query", "bogus"): "Not a query parameter of this operation.",
        ("query", "name"): "Must be a string, number, boolean or a list of them.",
    }


def test_body_errors_carry_dotted_field_paths(validator):
    errors = check(validator, "createNewProject", {"workspaceId": "ws1"},
                   body={"name": 5, "memberships": [{"userId": 3}], "color": "#fff"})
    fields = {e["field"]: e["message"] for e in errors}
    assert set(fields) == {"name", "memberships[0].userId", "color"}
    assert all(e["location"] == "body" for e in errors)
    assert fields["name"] == "5 is not of type 'string'."


def test_missing_required_properties_are_named(validator):
    errors = check(validator, "generateDetailedReport", {"workspaceId": "ws1"}, body={})
    assert errors == [{"location": "body", "field": f, "message": "Required."}
                      for f in ("dateRangeEnd", "dateRangeStart", "detailedFilter")]


def test_missing_body_and_unexpected_body(validator):
    assert check(validator, "createNewProject", {"workspaceId": "ws1"}) == [
        {"location": "body", "field": "", "message": "A request body is required."}]
    assert check(validator, "getProjects", {"workspaceId": "ws1"}, body={"a": 1}) == [
        {"location": "body", "field": "", "message": "This operation takes no request body."}]


def test_missing_and_unknown_path_parameters(validator):
    errors = check(validator, "getProject", {"workspaceId": "ws1", "nope": "x"})
    assert {"location": "path", "field": "projectId", "message": "Required."} in errors
    assert {"location": "path", "field": "nope", "message": "Not a path parameter of this operation."} in errors


def test_string_enums_declared_as_objects_accept_their_values(validator):
    body = {"currency": "USD", "discountPercent": 0, "dueDate": "2026-02-01T00:00:00Z",
            "issuedDate": "2026-01-01T00:00:00Z", "number": "1", "tax2Percent": 0, "taxPercent": 0}
    params = {"workspaceId": "ws1", "invoiceId": "i1"}
    assert check(validator, "updateInvoice", params, body={**body, "taxType": "SIMPLE"}) == []
    assert check(validator, "updateInvoice", params, body={**body, "taxType": "BAD"}) == [
        {"location": "body", "field": "taxType", "message": "'BAD' is not one of ['COMPOUND', 'SIMPLE', 'NONE']."}]


def test_formats_are_enforced(validator):
    body = {"clientId": "c1", "currency": "USD", "number": "7", "issuedDate": "2026-01-01T00:00:00Z"}
    valid = {**body, "dueDate": "2026-02-01T08:00:00Z"}
    assert check(validator, "createInvoice", {"workspaceId": "ws1"}, body=valid) == []
    errors = check(validator, "createInvoice", {"workspaceId": "ws1"}, body={**body, "dueDate": "next week"})
    assert [e["field"] for e in errors] == ["dueDate"]


def test_multipart_operations_are_refused_once(validator):
    assert check(validator, "createExpense", {"workspaceId": "ws1"}, body={"amount": 1}) == [
        {"location": "body", "field": "",
         "message": "multipart/form-data uploads are not supported by API Studio; only JSON bodies can be sent."}]


def test_operations_that_refuse_addon_tokens_still_validate(validator):
    assert check(validator, "getWorkspacesOfUser", {}) == []


@pytest.mark.parametrize("base_url", [
    "https://euc1.clockify.me/elsewhere/api", "https://euc1.clockify.me//api", "https://euc1.clockify.me/api/..",
])
def test_unexpected_base_url_shape_is_reported(validator, base_url):
    with pytest.raises(UnsupportedBaseUrl):
        check(validator, "getProjects", {"workspaceId": "ws1"}, base_url=base_url)


def test_huge_values_do_not_make_huge_messages(validator):
    errors = check(validator, "createNewProject", {"workspaceId": "ws1"}, body={"name": ["x" * 5000]})
    assert len(errors[0]["message"]) < 400


def test_query_pairs_write_values_as_on_the_wire():
    pairs, errors = query_pairs({"a": True, "b": [1, "x"], "c": None, "d": 2.5})
    assert pairs == [("a", "true"), ("b", "1"), ("b", "x"), ("d", "2.5")] and errors == []


def test_validator_is_built_once():
    assert get_validator() is get_validator()
    assert isinstance(get_validator(), RequestValidator)


def test_one_validator_serves_threads_at_once(validator):
    calls = [("getProjects", {"workspaceId": "ws1"}, {"page": "x"}, None),
             ("getProjects", {"workspaceId": "ws1"}, {"page": 2, "archived": "maybe"}, None),
             ("createNewProject", {"workspaceId": "ws1"}, None, {"name": 5, "memberships": [{"userId": 3}]}),
             ("createNewProject", {"workspaceId": "ws1"}, None, {"name": "Apollo"})]
    expected = [check(validator, op, params, query, body) for op, params, query, body in calls]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: check(validator, *calls[i % 4]), range(400)))
    assert results == [expected[i % 4] for i in range(400)]
