"""The fake Clockify: real HTTP on 127.0.0.1, pagination, webhooks, faults and its request log."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from addon.testkit.fake_clockify import Fault, max_in_sliding_window

TOKEN = {"X-Addon-Token": "installation-token"}


def get(fake, path, **params):
    return requests.get(fake.api_url + path, params=params, headers=TOKEN, timeout=5)


def test_requests_without_a_token_answer_401(fake_clockify):
    response = requests.get(fake_clockify.api_url + "/v1/workspaces/ws1/projects", timeout=5)
    assert response.status_code == 401
    assert fake_clockify.requests()[0].status == 401


def test_revoked_token_answers_401(fake_clockify):
    fake_clockify.revoke_token("installation-token")
    assert get(fake_clockify, "/v1/workspaces/ws1/projects").status_code == 401


def test_listing_pages_with_last_page_header(fake_clockify):
    fake_clockify.seed("ws1", "projects", [{"id": f"p{i}"} for i in range(5)])
    first = get(fake_clockify, "/v1/workspaces/ws1/projects", page=1, **{"page-size": 2})
    last = get(fake_clockify, "/v1/workspaces/ws1/projects", page=3, pageSize=2)
    assert [p["id"] for p in first.json()] == ["p0", "p1"]
    assert first.headers["Last-Page"] == "false"
    assert [p["id"] for p in last.json()] == ["p4"]
    assert last.headers["Last-Page"] == "true"


def test_last_page_header_can_be_omitted(fake_clockify):
    fake_clockify.seed("ws1", "tags", [{"id": "t1"}])
    fake_clockify.last_page_header = False
    response = get(fake_clockify, "/v1/workspaces/ws1/tags", page=1)
    assert "Last-Page" not in response.headers
    assert response.json() == [{"id": "t1"}]


def test_lists_are_wrapped_as_the_spec_wraps_them(fake_clockify):
    fake_clockify.seed("ws1", "invoices", [{"id": "i1"}])
    fake_clockify.seed("ws1", "expenses", [{"id": "e1"}])
    assert get(fake_clockify, "/v1/workspaces/ws1/invoices").json()["invoices"] == [{"id": "i1"}]
    assert get(fake_clockify, "/v1/workspaces/ws1/expenses").json()["expenses"]["expenses"] == [{"id": "e1"}]


def test_dependent_collections_and_unseeded_lists(fake_clockify):
    fake_clockify.seed_tasks("ws1", "p1", [{"id": "t1"}])
    fake_clockify.seed_time_entries("ws1", "u1", [{"id": "te1"}])
    assert get(fake_clockify, "/v1/workspaces/ws1/projects/p1/tasks").json() == [{"id": "t1"}]
    assert get(fake_clockify, "/v1/workspaces/ws1/user/u1/time-entries").json() == [{"id": "te1"}]
    empty = get(fake_clockify, "/v1/workspaces/ws1/clients", page=1)
    assert empty.json() == [] and empty.headers["Last-Page"] == "true"


def test_seeded_object_is_answered_as_is(fake_clockify):
    fake_clockify.seed("ws1", "", {"id": "ws1", "name": "Acme"})
    assert get(fake_clockify, "/v1/workspaces/ws1").json() == {"id": "ws1", "name": "Acme"}


def test_webhooks_are_created_listed_and_deleted(fake_clockify):
    body = {"name": "x", "url": "https://addon.example.com/webhooks/time", "webhookEvent": "TIME_ENTRY_SPLIT",
            "triggerSourceType": "WORKSPACE_ID", "triggerSource": ["ws1"]}
    created = requests.post(fake_clockify.api_url + "/v1/workspaces/ws1/webhooks", json=body, headers=TOKEN,
                            timeout=5)
    assert created.status_code == 201
    hook = created.json()
    assert hook["id"] and hook["authToken"] and hook["webhookEvent"] == "TIME_ENTRY_SPLIT"
    listed = get(fake_clockify, "/v1/workspaces/ws1/webhooks").json()
    assert [w["id"] for w in listed["webhooks"]] == [hook["id"]]
    url = f"{fake_clockify.api_url}/v1/workspaces/ws1/webhooks/{hook['id']}"
    assert requests.delete(url, headers=TOKEN, timeout=5).status_code == 200
    assert requests.delete(url, headers=TOKEN, timeout=5).status_code == 404
    assert fake_clockify.webhooks("ws1") == []


def test_webhook_tokens_are_signed_when_given_a_signer(fake_clockify, signer):
    import jwt

    fake_clockify.signer = signer
    token = signer.installation_token("ws1", "addon-1")
    body = {"url": "https://a.example/webhooks/time", "webhookEvent": "NEW_TAG", "triggerSourceType": "WORKSPACE_ID"}
    hook = requests.post(fake_clockify.api_url + "/v1/workspaces/ws1/webhooks", json=body,
                         headers={"X-Addon-Token": token}, timeout=5).json()
    claims = jwt.decode(hook["authToken"], options={"verify_signature": False})
    assert claims["workspaceId"] == "ws1" and claims["addonId"] == "addon-1"


def test_other_operations_echo_with_the_spec_success_status(fake_clockify):
    response = requests.post(fake_clockify.api_url + "/v1/workspaces/ws1/projects", json={"name": "New"},
                             headers=TOKEN, timeout=5)
    assert response.status_code == 201
    assert response.json()["body"] == {"name": "New"}
    report = requests.post(fake_clockify.reports_url + "/v1/workspaces/ws1/reports/detailed", json={},
                           headers=TOKEN, timeout=5)
    assert report.status_code == 200 and report.json()["path"] == "/v1/workspaces/ws1/reports/detailed"


def test_injected_faults_are_served_in_order_then_normal_answers(fake_clockify):
    fake_clockify.inject("*/projects", Fault.rate_limited("2"), Fault.status(503), method="GET")
    first = get(fake_clockify, "/v1/workspaces/ws1/projects")
    second = get(fake_clockify, "/v1/workspaces/ws1/projects")
    third = get(fake_clockify, "/v1/workspaces/ws1/projects")
    assert (first.status_code, first.headers["Retry-After"]) == (429, "2")
    assert second.status_code == 503
    assert third.status_code == 200
    assert [r.status for r in fake_clockify.requests(path_glob="*/projects")] == [429, 503, 200]


def test_dropped_connection_and_slow_answer(fake_clockify):
    fake_clockify.inject("*/tags", Fault.drop(), Fault.slow(1.0))
    with pytest.raises(requests.ConnectionError):
        get(fake_clockify, "/v1/workspaces/ws1/tags")
    with pytest.raises(requests.ReadTimeout):
        requests.get(fake_clockify.api_url + "/v1/workspaces/ws1/tags", headers=TOKEN, timeout=(1, 0.2))
    assert get(fake_clockify, "/v1/workspaces/ws1/tags").status_code == 200
    assert fake_clockify.requests()[0].status is None


def test_rate_limit_mode_answers_429_over_the_limit(fake_clockify):
    fake_clockify.rate_limit = 3
    statuses = [get(fake_clockify, "/v1/workspaces/ws1/tags").status_code for _ in range(5)]
    assert statuses[:3] == [200, 200, 200] and 429 in statuses[3:]


def test_request_log_records_query_headers_and_body(fake_clockify):
    requests.put(fake_clockify.api_url + "/v1/workspaces/ws1/tags/t1", params={"a": "1"}, json={"name": "n"},
                 headers={**TOKEN, "X-Request-ID": "rid-1"}, timeout=5)
    entry = fake_clockify.requests(method="PUT")[0]
    assert entry.path == "/api/v1/workspaces/ws1/tags/t1" and entry.workspace_id == "ws1"
    assert entry.param("a") == "1" and entry.body == {"name": "n"}
    assert entry.headers["x-request-id"] == "rid-1"


def test_requests_are_served_concurrently(fake_clockify):
    fake_clockify.latency = 0.3
    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(lambda _: get(fake_clockify, "/v1/workspaces/ws1/tags").status_code, range(10)))
    arrivals = [r.at for r in fake_clockify.requests()]
    assert statuses == [200] * 10
    # Served one at a time, the last request would arrive 9 latencies after the first.
    assert max(arrivals) - min(arrivals) < 9 * 0.3


def test_sliding_window_count():
    assert max_in_sliding_window([]) == 0
    assert max_in_sliding_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_sliding_window([0.0, 0.1, 0.2], window=0.15) == 2
