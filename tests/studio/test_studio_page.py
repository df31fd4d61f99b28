"""The sidebar page and the read-only JSON endpoints of API Studio."""

import json
import re
import time

from addon.extensions import db
from addon.store import workspace_data


def _bootstrap(html: str) -> dict:
    match = re.search(r"data-bootstrap='([^']*)'", html)
    assert match, "the page carries its bootstrap data in a data- attribute"
    return json.loads(match.group(1).replace("&#39;", "'").replace("&amp;", "&"))


def test_page_opens_with_a_valid_token(client, user_token):
    response = client.get(f"/ui?auth_token={user_token()}")
    assert response.status_code == 200
    assert response.content_type.startswith("text/html")
    html = response.get_data(as_text=True)
    data = _bootstrap(html)
    assert data["workspaceId"] == "ws-studio-1" and data["role"] == "OWNER"
    assert data["backendUrl"] == "https://api.clockify.me/api"
    assert data["installationTokenAllowed"] is False
    assert user_token() not in html and "auth_token" not in html.split("<body>")[1]
    assert 'data-theme="light"' in html


def test_page_headers_allow_clockify_frames_only(client, user_token):
    response = client.get(f"/ui?auth_token={user_token()}")
    csp = response.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["frame-ancestors"] == "'self' https://*.clockify.me https://clockify.me"
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp
    assert "X-Frame-Options" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_page_has_no_inline_script_or_external_resource(client, user_token):
    html = client.get(f"/ui?auth_token={user_token()}").get_data(as_text=True)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and body.strip() == "" for attrs, body in scripts)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)


def test_frame_ancestors_are_configurable(app, base_overrides, signer, installation):
    from addon import create_app

    other = create_app({**base_overrides, "FRAME_ANCESTORS": "https://app.example.org"})
    token = signer.user_token("ws-studio-1", "addon-studio-1")
    response = other.test_client().get(f"/ui?auth_token={token}")
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"].endswith("frame-ancestors https://app.example.org")


def test_dark_theme_follows_the_token(client, user_token):
    html = client.get(f"/ui?auth_token={user_token(theme='DARK')}").get_data(as_text=True)
    assert 'data-theme="dark"' in html


def test_page_refuses_an_invalid_token_with_an_html_error(client, user_token):
    response = client.get(f"/ui?auth_token={user_token()}x")
    assert response.status_code == 401
    assert response.content_type.startswith("text/html")
    html = response.get_data(as_text=True)
    assert "invalid_token" in html and "open it again" in html
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]


def test_page_refuses_an_expired_token(client, user_token):
    response = client.get(f"/ui?auth_token={user_token(exp=int(time.time()) - 3600)}")
    assert response.status_code == 401 and "expired" in response.get_data(as_text=True)


def test_page_without_token_is_401(client, installation):
    assert client.get("/ui").status_code == 401


def test_page_for_a_workspace_without_installation_is_404(client, signer, installation):
    response = client.get(f"/ui?auth_token={signer.user_token('ws-never', 'addon-x')}")
    assert response.status_code == 404 and "not_installed" in response.get_data(as_text=True)


def test_page_escapes_claims_it_shows(client, user_token):
    html = client.get(f"/ui?auth_token={user_token(user_id='<img src=x onerror=alert(1)>')}").get_data(as_text=True)
    assert "<img src=x" not in html


def test_session_endpoint_describes_the_token(client, auth_headers):
    response = client.get("/ui/session", headers=auth_headers)
    assert response.status_code == 200
    data = response.get_json()
    assert data["workspaceId"] == "ws-studio-1" and data["expiresAt"] > time.time()


def test_catalog_endpoint_needs_a_user_token(client, installation):
    response = client.get("/ui/api-explorer/endpoints")
    assert response.status_code == 401 and response.get_json()["error"] == "invalid_token"


def test_catalog_endpoint_lists_166_operations_with_caching_headers(client, auth_headers):
    response = client.get("/ui/api-explorer/endpoints", headers=auth_headers)
    assert response.status_code == 200
    data = response.get_json()
    assert data["count"] == 166
    assert sum(len(t["operations"]) for t in data["tags"]) == 166
    assert set(data["tags"][0]) == {"name", "group", "operations"}
    assert response.headers["ETag"]
    assert "private" in response.headers["Cache-Control"] and "max-age=" in response.headers["Cache-Control"]


def test_catalog_endpoint_answers_304_to_a_matching_etag(client, auth_headers):
    etag = client.get("/ui/api-explorer/endpoints", headers=auth_headers).headers["ETag"]
    again = client.get("/ui/api-explorer/endpoints", headers={**auth_headers, "If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["ETag"] == etag
    stale = client.get("/ui/api-explorer/endpoints", headers={**auth_headers, "If-None-Match": '"stale"'})
    assert stale.status_code == 200


def test_catalog_etag_does_not_skip_authentication(client, auth_headers, installation):
    etag = client.get("/ui/api-explorer/endpoints", headers=auth_headers).headers["ETag"]
    response = client.get("/ui/api-explorer/endpoints", headers={"If-None-Match": etag})
    assert response.status_code == 401


def test_x_addon_token_header_is_accepted(client, user_token):
    response = client.get("/ui/api-explorer/endpoints", headers={"X-Addon-Token": user_token()})
    assert response.status_code == 200


def test_operation_endpoint_resolves_schemas(client, auth_headers):
    response = client.get("/ui/api-explorer/endpoints/createNewProject", headers=auth_headers)
    assert response.status_code == 200
    data = response.get_json()
    assert data["operationId"] == "createNewProject" and data["write"] is True
    assert data["requestBody"]["schema"]["required"] == ["name"]
    assert any(p["name"] == "workspaceId" and p["in"] == "path" for p in data["parameters"])
    assert response.headers["ETag"]


def test_unknown_operation_endpoint_suggests_close_names(client, auth_headers):
    response = client.get("/ui/api-explorer/endpoints/getProjectz", headers=auth_headers)
    assert response.status_code == 404
    data = response.get_json()
    assert data["error"] == "unknown_operation"
    assert "getProjects" in [s["operationId"] for s in data["suggestions"]]


def test_workspace_data_counts_and_pages(app, client, auth_headers):
    with app.app_context():
        workspace_data.upsert("ws-studio-1", "projects", [(f"p{i}", {"id": f"p{i}", "name": f"Project {i}"})
                                                         for i in range(5)])
        workspace_data.upsert("ws-studio-1", "tags", [("t1", {"id": "t1", "name": "Tag"})])
        workspace_data.upsert("ws-other-9", "projects", [("x", {"id": "x", "name": "Other"})])
        db.session.commit()
    counts = client.get("/ui/workspace-data", headers=auth_headers).get_json()
    assert counts["counts"] == {"projects": 5, "tags": 1} and counts["items"] == []
    page = client.get("/ui/workspace-data?source=projects&page=2&pageSize=2", headers=auth_headers).get_json()
    assert page["total"] == 5 and page["page"] == 2
    assert [i["entityId"] for i in page["items"]] == ["p2", "p3"]
    assert page["items"][0]["name"] == "Project 2"


def test_workspace_data_refuses_bad_paging(client, auth_headers):
    response = client.get("/ui/workspace-data?source=projects&page=0", headers=auth_headers)
    assert response.status_code == 422
    assert response.get_json()["errors"] == [
        {"location": "query", "field": "page", "message": "Must be a whole number from 1 to 1000000."}]
    assert client.get("/ui/workspace-data?pageSize=x", headers=auth_headers).status_code == 422


def test_static_assets_are_served(client):
    for name in ("app.js", "form.js", "session.js", "dom.js", "studio.css"):
        assert client.get(f"/static/studio/{name}").status_code == 200


def test_static_scripts_never_use_inner_html(client):
    for name in ("app.js", "form.js", "session.js", "dom.js"):
        source = client.get(f"/static/studio/{name}").get_data(as_text=True)
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source and "document.write" not in source
