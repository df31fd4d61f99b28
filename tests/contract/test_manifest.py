"""The manifest: built from settings and the contract, valid against the official schema of
every supported version, and in step with the committed ``manifest.json``."""

import copy
import json

import pytest

from addon import ROOT, config
from addon.clockify import event_types, manifest, schemas
from addon.config import ConfigError, load_settings

COMMITTED = ROOT / "manifest.json"


@pytest.fixture
def settings_for(tmp_path):
    def build(**env):
        return load_settings({"ADDON_ENV": "test", **{k: str(v) for k, v in env.items()}}, str(tmp_path))
    return build


@pytest.mark.parametrize("version", schemas.VERSIONS)
@pytest.mark.parametrize("webhook_events", [None, "all"])
def test_manifest_of_every_version_validates(settings_for, version, webhook_events):
    env = {"MANIFEST_SCHEMA_VERSION": version, "BASE_URL": "https://addon.example.com"}
    if webhook_events:
        env["WEBHOOK_EVENTS"] = webhook_events
    settings = settings_for(**env)
    built = manifest.build_manifest(settings)
    manifest.validate_manifest(built)
    assert built["schemaVersion"] == version
    plan = manifest.webhook_plan(settings)
    allowed = schemas.allowed_events(version)
    assert len(plan.declared) == min(len(allowed), 20)
    assert set(plan.declared) <= set(allowed)
    assert [w["event"] for w in built["webhooks"]] == list(plan.declared)
    assert not set(plan.declared) & set(plan.via_api)
    expected = event_types.ALL_EVENTS if webhook_events == "all" else event_types.events_for_version(version)
    assert sorted(plan.declared + plan.via_api) == sorted(expected)


@pytest.mark.parametrize("version", schemas.VERSIONS)
def test_every_declarable_event_validates_when_the_cap_allows_it(settings_for, version):
    settings = settings_for(MANIFEST_SCHEMA_VERSION=version, WEBHOOK_EVENTS="all", MANIFEST_MAX_WEBHOOKS=100)
    built = manifest.build_manifest(settings)
    manifest.validate_manifest(built)
    assert {w["event"] for w in built["webhooks"]} == set(schemas.allowed_events(version))


def test_default_manifest(settings_for):
    settings = settings_for(BASE_URL="https://addon.example.com")
    built = manifest.build_manifest(settings)
    assert built["schemaVersion"] == "1.3"
    assert built["key"] == "clockify-api-studio" and built["name"] == "API Studio"
    assert built["baseUrl"] == "https://addon.example.com"
    assert built["description"] and built["iconPath"] == "/static/icon.svg"
    assert built["minimalSubscriptionPlan"] == "FREE"
    assert built["scopes"] == list(schemas.scopes("1.3")) and len(built["scopes"]) == 30
    assert built["components"] == [{"type": "sidebar", "accessLevel": "ADMINS", "path": "/ui", "label": "API Studio",
                                     "iconPath": "/static/icon.svg"}]
    assert built["lifecycle"] == [
        {"type": "INSTALLED", "path": "/lifecycle/installed"},
        {"type": "SETTINGS_UPDATED", "path": "/lifecycle/settings-updated"},
        {"type": "STATUS_CHANGED", "path": "/lifecycle/status-changed"},
        {"type": "DELETED", "path": "/lifecycle/deleted"}]
    assert len(built["webhooks"]) == 20
    assert built["webhooks"][0] == {"event": "NEW_TIME_ENTRY", "path": "/webhooks/time"}
    assert {w["path"] for w in built["webhooks"]} == {"/webhooks/time", "/webhooks/project", "/webhooks/user",
                                                      "/webhooks/expense", "/webhooks/custom"}
    assert manifest.webhook_plan(settings).via_api == ("TIME_OFF_REQUEST_WITHDRAWN", "BALANCE_UPDATED")


def test_structured_settings(settings_for):
    tabs = manifest.build_manifest(settings_for())["settings"]["tabs"]
    found = {s["id"]: s for tab in tabs for s in tab["settings"]}
    assert set(found) == {"auto_bootstrap", "developer_mode"}
    assert found["auto_bootstrap"]["type"] == found["developer_mode"]["type"] == "CHECKBOX"
    assert found["auto_bootstrap"]["value"] is True and found["developer_mode"]["value"] is False
    assert manifest.setting_defaults() == {"auto_bootstrap": True, "developer_mode": False}


def test_configured_scopes_access_level_and_events(settings_for):
    settings = settings_for(ADDON_SCOPES="TAG_READ,PROJECT_READ,TAG_READ", STUDIO_ACCESS_LEVEL="everyone",
                            WEBHOOK_EVENTS="PROJECT_UPDATED,NEW_TIME_ENTRY", MANIFEST_SCHEMA_VERSION="1.2")
    built = manifest.build_manifest(settings)
    manifest.validate_manifest(built)
    assert built["scopes"] == ["TAG_READ", "PROJECT_READ"]
    assert built["components"][0]["accessLevel"] == "EVERYONE"
    assert built["webhooks"] == [{"event": "NEW_TIME_ENTRY", "path": "/webhooks/time"},
                                 {"event": "PROJECT_UPDATED", "path": "/webhooks/project"}]


def test_events_the_version_cannot_declare_go_through_the_api(settings_for):
    settings = settings_for(WEBHOOK_EVENTS="PROJECT_UPDATED,NEW_PROJECT")  # 1.3 knows only NEW_PROJECT
    plan = manifest.webhook_plan(settings)
    assert plan == manifest.WebhookPlan(declared=("NEW_PROJECT",), via_api=("PROJECT_UPDATED",))
    manifest.validate_manifest(manifest.build_manifest(settings))


def test_a_zero_cap_declares_no_webhook(settings_for):
    settings = settings_for(MANIFEST_MAX_WEBHOOKS=0)
    built = manifest.build_manifest(settings)
    manifest.validate_manifest(built)
    assert built["webhooks"] == []
    assert len(manifest.webhook_plan(settings).via_api) == 22


@pytest.mark.parametrize(("env", "message"), [
    ({"WEBHOOK_EVENTS": "NEW_TIME_ENTRY,NOT_AN_EVENT"}, "WEBHOOK_EVENTS names an unknown event: 'NOT_AN_EVENT'"),
    ({"ADDON_SCOPES": "TAG_READ,TAG_DESTROY"},
     "ADDON_SCOPES names a scope manifest schema 1.3 does not have: 'TAG_DESTROY'"),
])
def test_configuration_with_unknown_names_is_refused(settings_for, env, message):
    with pytest.raises(ConfigError, match=message):
        settings_for(**env)


# -- validation -----------------------------------------------------------------------------

@pytest.fixture
def valid(settings_for):
    return manifest.build_manifest(settings_for())


def errors_of(candidate) -> list[str]:
    with pytest.raises(manifest.ManifestError) as info:
        manifest.validate_manifest(candidate)
    assert str(info.value).startswith("manifest is not valid")
    return info.value.errors


def test_an_event_the_version_does_not_allow_is_named(valid):
    valid["webhooks"].append({"event": "PROJECT_UPDATED", "path": "/webhooks/project"})
    errors = errors_of(valid)
    assert len(errors) == 1 and errors[0].startswith("webhooks[20].event: 'PROJECT_UPDATED' is not one of")


def test_the_same_event_passes_1_2(valid):
    valid["webhooks"].append({"event": "PROJECT_UPDATED", "path": "/webhooks/project"})
    valid["schemaVersion"] = "1.2"
    manifest.validate_manifest(valid)


def test_an_empty_setting_value_is_refused(valid):
    valid["settings"]["tabs"][0]["settings"][0]["value"] = ""
    assert errors_of(valid) == ["settings.tabs[0].settings[0].value: '' should be non-empty"]


def test_false_is_a_valid_checkbox_value(valid):
    assert valid["settings"]["tabs"][0]["settings"][1]["value"] is False
    manifest.validate_manifest(valid)


def test_several_errors_are_all_listed(valid):
    del valid["key"]
    valid["baseUrl"] = "ftp://addon.example.com"
    valid["components"][0]["accessLevel"] = "OWNERS"
    errors = errors_of(valid)
    assert any(e.startswith("$: 'key' is a required property") for e in errors)
    assert any(e.startswith("baseUrl: ") for e in errors)
    assert any(e.startswith("components[0].accessLevel: 'OWNERS' is not one of") for e in errors)


def test_component_label_is_required_from_1_3(valid):
    del valid["components"][0]["label"]
    assert errors_of(valid) == ["components[0]: 'label' is a required property"]
    valid["schemaVersion"] = "1.2"
    manifest.validate_manifest(valid)


@pytest.mark.parametrize(("version", "message"), [(None, "schemaVersion: missing"), ("1.1", "'1.1' is not one of")])
def test_schema_version_must_be_stated_and_supported(valid, version, message):
    if version is None:
        del valid["schemaVersion"]
    else:
        valid["schemaVersion"] = version
    assert message in errors_of(valid)[0]


@pytest.mark.parametrize("version", schemas.VERSIONS)
def test_bundled_schemas_are_valid_draft4(version):
    from jsonschema import Draft4Validator

    Draft4Validator.check_schema(schemas.manifest_schema(version))


# -- drift: the committed manifest.json -----------------------------------------------------

def drift(committed: dict, generated: dict) -> list[str]:
    """What differs between the committed manifest and a freshly generated one."""
    problems = [f"{key}: committed {committed.get(key)!r} != generated {generated.get(key)!r}"
                for key in sorted(set(committed) | set(generated)) if committed.get(key) != generated.get(key)]
    return problems


def test_committed_manifest_json_equals_the_generated_one():
    committed = json.loads(COMMITTED.read_text())
    generated = manifest.build_manifest(config.default_settings())
    assert drift(committed, generated) == [], "manifest.json is stale: run `flask manifest write --defaults`"
    assert COMMITTED.read_text() == manifest.render(generated), "manifest.json is not formatted as written"
    manifest.validate_manifest(committed)


def test_adding_an_event_to_the_contract_makes_the_drift_check_fail(monkeypatch):
    """Simulates a new Clockify event added to the contract (and to the schema that allows it)
    without regenerating manifest.json."""
    new_event = "TIME_ENTRY_APPROVED"
    by_category = copy.deepcopy(event_types.EVENTS_BY_CATEGORY)
    by_category["time"] = (new_event, *by_category["time"])
    monkeypatch.setattr(event_types, "EVENTS_BY_CATEGORY", by_category)
    monkeypatch.setattr(event_types, "ALL_EVENTS", tuple(e for members in by_category.values() for e in members))
    monkeypatch.setattr(event_types, "CATEGORY_OF", {e: c for c, members in by_category.items() for e in members})
    allowed = schemas.allowed_events
    monkeypatch.setattr(schemas, "allowed_events", lambda v: (*allowed(v), new_event))

    committed = json.loads(COMMITTED.read_text())
    generated = manifest.build_manifest(config.default_settings())
    assert [w["event"] for w in generated["webhooks"]][0] == new_event
    assert [p.split(":")[0] for p in drift(committed, generated)] == ["webhooks"]

