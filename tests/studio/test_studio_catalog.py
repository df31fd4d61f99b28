"""The OpenAPI catalog: every operation of Clockify's spec, grouped by tag, schemas resolved."""

import json

import pytest

from addon.clockify.openapi_catalog import Catalog, get_catalog, load_spec
from addon.clockify.openapi_schemas import form_schema, normalized_schemas


@pytest.fixture(scope="module")
def spec():
    return load_spec()


@pytest.fixture(scope="module")
def catalog():
    return get_catalog()


def _spec_operations(spec):
    return [(path, method, op) for path, item in spec["paths"].items()
            for method, op in item.items() if method in ("get", "post", "put", "patch", "delete")]


def test_catalog_lists_all_166_operations_once_under_their_tags(catalog, spec):
    listing = catalog.listing()
    listed = [op["operationId"] for tag in listing["tags"] for op in tag["operations"]]
    assert listing["count"] == 166
    assert len(listed) == 166 and len(set(listed)) == 166
    expected = {op["operationId"]: op["tags"][0] for _, _, op in _spec_operations(spec)}
    assert {op_id: tag["name"] for tag in listing["tags"] for op_id in
            (o["operationId"] for o in tag["operations"])} == expected


def test_tags_follow_the_order_of_x_tag_groups(catalog, spec):
    order = [(group["name"], tag) for group in spec["x-tagGroups"] for tag in group["tags"]]
    listed = [(tag["group"], tag["name"]) for tag in catalog.listing()["tags"]]
    assert listed == [pair for pair in order if pair[1] in {name for _, name in listed}]
    assert listed[0] == ("Clockify API", "User")
    # The guide tag has no operation and is left out.
    assert "Entity Changes: Use cases" not in [name for _, name in listed]


def test_operation_summaries_carry_the_contract_fields(catalog):
    op = next(o for t in catalog.listing()["tags"] for o in t["operations"] if o["operationId"] == "getProjects")
    assert op == {"operationId": "getProjects", "method": "GET", "path": "/v1/workspaces/{workspaceId}/projects",
                  "summary": "Get all projects on a workspace", "deprecated": False, "host": "api"}


def test_reports_operations_run_on_the_reports_host(catalog, spec):
    reports = {op.operation_id for op in catalog.operations.values() if op.host == "reports"}
    expected = {op["operationId"] for path, _, op in _spec_operations(spec)
                if spec["paths"][path]["servers"][0]["url"] == "https://reports.api.clockify.me"}
    assert reports == expected and len(reports) == 10
    assert catalog.get("getAuditLogs").host == "api"


def test_deprecated_flags_come_from_the_spec(catalog, spec):
    deprecated = {op["operationId"] for _, _, op in _spec_operations(spec) if op.get("deprecated")}
    assert deprecated and {o.operation_id for o in catalog.operations.values() if o.deprecated} == deprecated


def test_operations_refusing_addon_tokens_are_marked(catalog):
    refused = {o.operation_id for o in catalog.operations.values() if not o.addon_token_accepted}
    assert refused == {"getWorkspacesOfUser", "createWorkspace", "getAuditLogs"}


def test_details_have_no_ref_left_and_keep_form_facts(catalog):
    for op in catalog.operations.values():
        assert "$ref" not in json.dumps(op.detail_dict()), op.operation_id
    detail = catalog.get("createNewProject").detail_dict()
    body = detail["requestBody"]
    assert body["required"] is True and body["contentType"] == "application/json"
    schema = body["schema"]
    assert schema["type"] == "object" and schema["required"] == ["name"]
    memberships = schema["properties"]["memberships"]
    assert memberships["type"] == "array" and memberships["items"]["type"] == "object"
    assert "userId" in memberships["items"]["properties"]
    assert schema["properties"]["color"]["pattern"]
    assert "example" in schema["properties"]["name"]
    path_param = next(p for p in detail["parameters"] if p["name"] == "workspaceId")
    assert path_param["in"] == "path" and path_param["required"] is True


def test_object_shaped_enums_become_string_enums(catalog):
    tax_type = catalog.get("updateInvoice").detail_dict()["requestBody"]["schema"]["properties"]["taxType"]
    assert tax_type["type"] == "string" and tax_type["enum"] == ["COMPOUND", "SIMPLE", "NONE"]


def test_recursive_schemas_stop_at_the_first_repeat():
    children = {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
    schemas = {"Node": {"type": "object", "properties": {"name": {"type": "string"}, "children": children}}}
    resolved = form_schema({"$ref": "#/components/schemas/Node"}, schemas)
    assert resolved["properties"]["children"]["items"] == {"type": "object", "recursive": "Node", "description": ""}


def test_recursive_schema_of_the_real_spec_resolves(spec):
    schemas = normalized_schemas(spec)
    resolved = form_schema({"$ref": "#/components/schemas/GroupOneDto"}, schemas)
    assert resolved["properties"]["children"]["items"]["recursive"] == "GroupOneDto"


def test_every_ref_in_the_spec_resolves(spec):
    refs = set()

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                refs.add(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(spec)
    assert refs
    for ref in refs:
        target = spec
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]


@pytest.mark.parametrize(("method", "path", "operation_id", "params"), [
    ("GET", "/v1/workspaces/{workspaceId}/projects", "getProjects", {}),
    ("get", "/v1/workspaces/ws1/projects", "getProjects", {"workspaceId": "ws1"}),
    ("GET", "/v1/workspaces/ws1/projects/", "getProjects", {"workspaceId": "ws1"}),
    ("GET", "/v1/workspaces/{workspaceId}/projects/p1", "getProject", {"projectId": "p1"}),
    # A literal segment beats a variable one (OpenAPI: concrete paths first).
    ("GET", "/v1/workspaces/ws1/expenses/categories", "getCategories", {"workspaceId": "ws1"}),
    ("GET", "/v1/workspaces/ws1/expenses/e1", "getExpense", {"workspaceId": "ws1", "expenseId": "e1"}),
    ("POST", "/v1/workspaces/ws1/reports/detailed", "generateDetailedReport", {"workspaceId": "ws1"}),
])
def test_resolve_maps_templates_and_concrete_paths_to_one_operation(catalog, method, path, operation_id, params):
    resolution = catalog.resolve(method, path)
    assert resolution.operation.operation_id == operation_id
    assert resolution.path_params == params


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/v1/workspaces/ws1/nothing-here"),
    ("PATCH", "/v1/workspaces/ws1/projects"),
    ("GET", "/v2/workspaces/ws1/projects"),
    ("GET", "/v1/workspaces/ws1/projects/p1/extra/segments"),
])
def test_resolve_returns_none_for_unknown_operations(catalog, method, path):
    assert catalog.resolve(method, path) is None


def test_suggestions_name_close_operations(catalog):
    assert catalog.suggest_operation_ids("getProjectz")[0]["operationId"] in ("getProjects", "getProject")
    assert catalog.suggest_operation_ids("zzzzzzzz") == []
    suggestions = catalog.suggest_paths("GET", "/v1/workspaces/5b715612b079875110791111/projectz")
    assert suggestions[0] == {"operationId": "getProjects", "method": "GET",
                              "path": "/v1/workspaces/{workspaceId}/projects"}


def test_catalog_is_built_once_per_process(catalog):
    assert get_catalog() is catalog


def test_etag_changes_with_the_spec(spec):
    first = Catalog.from_spec(spec)
    changed = json.loads(json.dumps(spec))
    changed["paths"]["/v1/workspaces/{workspaceId}/projects"]["get"]["summary"] = "Something else"
    assert Catalog.from_spec(changed).etag != first.etag
    assert Catalog.from_spec(spec).etag == first.etag
