"""The served manifest, and drift between the manifest's paths and the app's routes."""

import pytest
from flask import Flask
from werkzeug.exceptions import MethodNotAllowed, NotFound

from addon import create_app
from addon.clockify import event_types, manifest

# The paths web/manifest.py serves the manifest at.
MANIFEST_PATHS = ("/manifest", "/manifest.json")

def routes_match(app, path: str, method: str) -> bool:
    adapter = app.url_map.bind("addon.example.com")
    try:
        adapter.match(path, method=method)
    except (NotFound, MethodNotAllowed):
        return False
    return True


@pytest.mark.parametrize("path", MANIFEST_PATHS)
def test_the_manifest_is_served(app, client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/json" and response.headers["Cache-Control"] == "no-cache"
    served = response.get_json()
    assert served == manifest.build_manifest(app.config["SETTINGS"])
    assert served["baseUrl"] == "https://addon.example.com" and served["key"] == "test-addon"
    manifest.validate_manifest(served)


def test_a_manifest_for_schema_1_6_with_every_event_is_served_valid(app, base_overrides):
    other = create_app({**base_overrides, "MANIFEST_SCHEMA_VERSION": "1.6", "WEBHOOK_EVENTS": "all",
                        "MANIFEST_MAX_WEBHOOKS": "100", "STUDIO_ACCESS_LEVEL": "EVERYONE"})
    served = other.test_client().get("/manifest.json").get_json()
    manifest.validate_manifest(served)
    assert served["schemaVersion"] == "1.6" and len(served["webhooks"]) == 51
    assert served["components"][0]["accessLevel"] == "EVERYONE"


def test_lifecycle_paths_are_post_routes(app):
    paths = [entry["path"] for entry in manifest.build_manifest(app.config["SETTINGS"])["lifecycle"]]
    assert len(paths) == 4
    assert [p for p in paths if not routes_match(app, p, "POST")] == []


def test_manifest_paths_are_get_routes(app):
    assert all(routes_match(app, path, "GET") for path in MANIFEST_PATHS)


def test_the_icon_is_served(app, client):
    built = manifest.build_manifest(app.config["SETTINGS"])
    for path in {built["iconPath"], built["components"][0]["iconPath"]}:
        response = client.get(path)
        assert response.status_code == 200 and response.mimetype == "image/svg+xml"
        response.close()


def missing_component_routes(app, built: dict) -> list[str]:
    return [c["path"] for c in built["components"] if not routes_match(app, c["path"], "GET")]


def missing_webhook_routes(app, built: dict) -> list[str]:
    """Webhook paths of the manifest and of every category the contract routes to (unknown
    events included) that are not POST routes of ``app``."""
    in_use = {event_types.category_of(e) for e in event_types.ALL_EVENTS} | {event_types.category_of("UNKNOWN_EVENT")}
    paths = {event_types.route_path(c) for c in in_use} | {w["path"] for w in built["webhooks"]}
    return [p for p in sorted(paths) if not routes_match(app, p, "POST")]


def test_component_paths_are_get_routes(app):
    assert missing_component_routes(app, manifest.build_manifest(app.config["SETTINGS"])) == []


def test_webhook_routes_exist_for_every_category_in_use(app):
    """Every category the contract can route to (unknown events included) is a POST route."""
    assert missing_webhook_routes(app, manifest.build_manifest(app.config["SETTINGS"])) == []


def test_the_route_drift_checks_detect_missing_and_present_routes(app):
    """The two checks above, run on a bare app: they fail on a missing route and pass once the
    routes exist, static (`/webhooks/time`) or variable (`/webhooks/<category>`)."""
    built = manifest.build_manifest(app.config["SETTINGS"])
    bare = Flask("drift-probe")
    assert missing_component_routes(bare, built) == ["/ui"]
    assert missing_webhook_routes(bare, built) == [event_types.route_path(c) for c in sorted(event_types.CATEGORIES)]

    bare.add_url_rule("/ui", "ui", lambda: "", methods=["GET"])
    bare.add_url_rule("/webhooks/time", "time", lambda: "", methods=["POST"])
    assert missing_component_routes(bare, built) == []
    assert "/webhooks/time" not in missing_webhook_routes(bare, built)

    bare.add_url_rule("/webhooks/<category>", "category", lambda category: "", methods=["POST"])
    assert missing_webhook_routes(bare, built) == []
    wrong_method = Flask("drift-probe-get")
    wrong_method.add_url_rule("/webhooks/<category>", "category", lambda category: "", methods=["GET"])
    assert len(missing_webhook_routes(wrong_method, built)) == 6
