"""Searching one cached collection (``GET /ui/workspace-data?source=&q=``): by id or by any text
in the entity's JSON, case-insensitively, only in the token's workspace, paged over the matches."""

from __future__ import annotations

import pytest

from addon.extensions import db
from addon.store import workspace_data


@pytest.fixture
def cached(app, installation):
    with app.app_context():
        workspace_data.upsert("ws-studio-1", "projects", [
            ("p1", {"id": "p1", "name": "Apollo", "client": {"name": "NASA"}}),
            ("p2", {"id": "p2", "name": "Gemini 100%", "note": "a_b"}),
            ("p3", {"id": "p3", "name": "Mercury", "client": {"name": "nasa ames"}}),
        ])
        workspace_data.upsert("ws-studio-1", "tags", [("t1", {"id": "t1", "name": "Apollo tag"})])
        workspace_data.upsert("ws-other-9", "projects", [("x1", {"id": "x1", "name": "Apollo elsewhere"})])
        db.session.commit()


@pytest.mark.parametrize(("q", "expected"), [
    ("apollo", ["p1"]), ("NASA", ["p1", "p3"]), ("p2", ["p2"]), ("100%", ["p2"]), ("%", ["p2"]),
    ("a_b", ["p2"]), ("_", ["p2"]), ("zzz", []), ("", ["p1", "p2", "p3"]), ("elsewhere", []),
])
def test_search_matches_ids_and_json_text(client, auth_headers, cached, q, expected):
    query = {"source": "projects", "q": q}
    data = client.get("/ui/workspace-data", query_string=query, headers=auth_headers).get_json()
    assert [item["entityId"] for item in data["items"]] == expected
    assert data["total"] == len(expected)


def test_search_pages_over_the_matches(client, auth_headers, cached):
    query = {"source": "projects", "q": "nasa", "pageSize": 1}
    pages = [client.get("/ui/workspace-data", query_string={**query, "page": n}, headers=auth_headers).get_json()
             for n in (1, 2)]
    assert [[i["entityId"] for i in p["items"]] for p in pages] == [["p1"], ["p3"]]
    assert {p["total"] for p in pages} == {2}


def test_a_too_long_search_is_refused(client, auth_headers, cached):
    response = client.get("/ui/workspace-data", query_string={"source": "projects", "q": "x" * 201},
                          headers=auth_headers)
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "q"
