"""API Studio's "Fetch all pages" (``POST /ui/api-explorer/all-pages``): pages walked on the
server following ``Last-Page`` and the page size, capped by ``STUDIO_MAX_PAGES``, every page an
audited call on the shared rate budget, progress streamed as NDJSON, cancelled by hanging up."""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
from werkzeug.serving import make_server

from addon import create_app
from addon.extensions import db
from addon.models import ApiCall
from addon.testkit.fake_clockify import Fault

WORKSPACE = "ws-studio-1"
ALL_PAGES = "/ui/api-explorer/all-pages"


@pytest.fixture
def token(user_token, fake_clockify):
    return user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)


def _lines(response) -> list[dict]:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/x-ndjson"
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


def _post(client, token, body):
    return client.post(ALL_PAGES, json=body, headers={"Authorization": f"Bearer {token}"})


def _seed(fake_clockify, count):
    fake_clockify.seed(WORKSPACE, "projects", [{"id": f"p{i:04d}", "name": f"P{i}"} for i in range(count)])


@pytest.mark.parametrize("last_page_header", [True, False])
def test_every_page_is_fetched_and_merged_in_order(app, client, token, fake_clockify, last_page_header):
    _seed(fake_clockify, 250)
    fake_clockify.last_page_header = last_page_header
    lines = _lines(_post(client, token, {"operationId": "getProjects", "query": {"page-size": 100, "archived": False}}))
    progress, done = lines[:-1], lines[-1]
    assert [(p["pages"], p["items"], p["requestsLeft"]) for p in progress] == [(1, 100, 49), (2, 200, 48), (3, 250, 47)]
    assert done["type"] == "done" and done["stoppedBy"] == "last_page" and done["status"] == 200
    assert [item["id"] for item in done["body"]] == [f"p{i:04d}" for i in range(250)]
    sent = fake_clockify.requests()
    assert [(r.param("page"), r.param("page-size"), r.param("archived")) for r in sent] == [
        ("1", "100", "false"), ("2", "100", "false"), ("3", "100", "false")]
    with app.app_context():
        rows = db.session.execute(db.select(ApiCall).order_by(ApiCall.id)).scalars().all()
        assert [(r.operation_id, r.request["query"]["page"], r.status_code) for r in rows] == [
            ("getProjects", 1, 200), ("getProjects", 2, 200), ("getProjects", 3, 200)]


def test_an_exact_multiple_ends_on_last_page_or_an_empty_page(client, token, fake_clockify):
    _seed(fake_clockify, 200)
    done = _lines(_post(client, token, {"operationId": "getProjects", "query": {"page-size": 100}}))[-1]
    assert done["stoppedBy"] == "last_page" and done["items"] == 200 and len(fake_clockify.requests()) == 2


@pytest.mark.parametrize(("query", "expected"), [({"page": 7}, "200"), ({"page-size": "30"}, "30"),
                                                 ({"page-size": 5000}, "5000")])
def test_the_page_size_is_the_asked_one_else_the_bootstrap_page_size(client, token, fake_clockify, query, expected):
    _seed(fake_clockify, 5)
    _lines(_post(client, token, {"operationId": "getProjects", "query": query}))
    [sent] = fake_clockify.requests()
    assert (sent.param("page"), sent.param("page-size")) == ("1", expected)


@pytest.mark.parametrize("cap", ["1", "3"])
def test_a_run_stops_at_studio_max_pages(base_overrides, installation, token, fake_clockify, cap):
    _seed(fake_clockify, 1000)
    capped = create_app({**base_overrides, "STUDIO_MAX_PAGES": cap})
    done = _lines(_post(capped.test_client(), token, {"operationId": "getProjects", "query": {"page-size": 10}}))[-1]
    assert done["stoppedBy"] == "max_pages" and done["pages"] == int(cap) and done["items"] == 10 * int(cap)
    assert len(fake_clockify.requests()) == int(cap)


def test_a_clockify_error_midway_stops_the_run_and_is_shown(client, token, fake_clockify):
    _seed(fake_clockify, 300)
    fake_clockify.inject(f"/api/v1/workspaces/{WORKSPACE}/projects", Fault.slow(0), Fault.status(
        500, {"message": "boom"}))
    done = _lines(_post(client, token, {"operationId": "getProjects", "query": {"page-size": 100}}))[-1]
    assert done["stoppedBy"] == "clockify_error" and done["status"] == 500 and done["pages"] == 2


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"operationId": "createNewProject", "body": {"name": "x"}}, 422, "validation_failed"),
    ({"operationId": "getProject", "pathParams": {"projectId": "p1"}}, 422, "validation_failed"),
    ({"operationId": "noSuchOperation"}, 404, "unknown_operation"),
    ({"operationId": "getProjects", "pathParams": {"workspaceId": "ws-other-9"}}, 403, "workspace_mismatch"),
    ({"operationId": "getProjects", "query": {"page-size": "many"}}, 422, "validation_failed"),
    ({"operationId": "getProjects", "query": {"page-size": 0}}, 422, "validation_failed"),
    ({"operationId": "getProjects", "query": {"page-size": True}}, 422, "validation_failed"),
    # Text str.isdigit() accepts but int() does not, or only past Python's digit limit.
    *[({"operationId": "getProjects", "query": {"page-size": size}}, 422, "validation_failed")
      for size in ("²", "1²", "⑦", "9" * 5000, "-1", "+5", "1.5", "1e3", " 10", "10 ", "", "0x10", "1_000", -4, 2.5,
                   [10], {"n": 10})],
])
def test_refusals_come_before_any_page_as_json(client, token, fake_clockify, body, status, error):
    response = _post(client, token, body)
    assert response.status_code == status and response.get_json()["error"] == error
    assert fake_clockify.requests() == []


def test_a_token_is_required(client, installation):
    assert client.post(ALL_PAGES, json={"operationId": "getProjects"}).status_code == 401


def test_a_spent_rate_budget_is_waited_out_not_refused(app, client, token, fake_clockify):
    from addon.outbound import get_rate_limiter

    _seed(fake_clockify, 30)
    with app.app_context():
        get_rate_limiter().penalize(WORKSPACE, 0.8)  # as after a 429: nobody gets a slot for 0.8 s
    started = time.monotonic()
    done = _lines(_post(client, token, {"operationId": "getProjects", "query": {"page-size": 10}}))[-1]
    assert done["stoppedBy"] == "last_page" and done["items"] == 30
    assert time.monotonic() - started >= 0.7


def test_hanging_up_cancels_the_run(app, token, fake_clockify):
    _seed(fake_clockify, 5000)
    fake_clockify.inject(f"/api/v1/workspaces/{WORKSPACE}/projects", *[Fault.slow(0.2)] * 60)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}{ALL_PAGES}"
        with requests.post(url, json={"operationId": "getProjects", "query": {"page-size": 10}},
                           headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=30) as response:
            lines = response.iter_lines()
            assert json.loads(next(lines))["pages"] == 1
            assert json.loads(next(lines))["pages"] == 2
        # The server notices at its next write, a page or two later; a run still going would
        # fetch a page every 0.2 s (the slow fault), so a quiet 0.6 s means it has stopped.
        count = _requests_once_quiet(fake_clockify, quiet=0.6, limit=4.0)
        assert count is not None and count < 8
    finally:
        server.shutdown()
        thread.join(timeout=10)


def _requests_once_quiet(fake, quiet: float, limit: float) -> int | None:
    """How many requests ``fake`` has received once none has arrived for ``quiet`` seconds; None
    if they still arrive after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    count = len(fake.requests())
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = len(fake.requests())
        if now == count:
            return count
        count = now
    return None
