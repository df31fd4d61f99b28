"""Declared once (issue #12 item 5): every setting comes from its ``VARIABLES`` entry; one
redaction rule for logs, the audit and stored headers; one naive-to-UTC conversion; one
query-argument reader with one error shape."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from addon.config import VARIABLES, Settings, load_settings
from addon.logs import REDACTED, is_secret_field, redact_url, redact_value
from addon.models import as_utc, isoformat_utc
from addon.store.api_calls import stored_request
from addon.store.webhook_events import storable_headers


def test_settings_hold_exactly_one_attribute_per_variable(tmp_path):
    settings = load_settings({"ADDON_ENV": "test"}, str(tmp_path))
    assert set(settings._values) == {v.setting for v in VARIABLES} | {"instance_path"}
    assert len({v.setting for v in VARIABLES}) == len(VARIABLES)


def test_every_default_parses(tmp_path):
    settings = load_settings({"ADDON_ENV": "test"}, str(tmp_path))
    for variable in VARIABLES:
        if variable.default is not None:
            assert getattr(settings, variable.setting) is not None, variable.name


def test_settings_are_read_only_and_never_show_the_key(tmp_path):
    settings = load_settings({"ADDON_ENV": "test"}, str(tmp_path))
    with pytest.raises(AttributeError):
        settings.env = "production"
    with pytest.raises(AttributeError):
        _ = settings.no_such_setting
    assert all(key.decode() not in repr(settings) for key in settings.token_encryption_key)
    assert isinstance(settings, Settings)


SECRET_FIELDS = ["token", "auth_token", "authToken", "X-Addon-Token", "x-addon-lifecycle-token", "Authorization",
                 "Proxy-Authorization", "Clockify-Signature", "clientSecret", "secret", "password", "db_passwd",
                 "api_key", "X-Api-Key", "apiKey", "Cookie", "credentials", "private_key", "refreshTokens"]
PLAIN_FIELDS = ["token_kind", "token_digest", "tokenCount", "name", "Content-Type", "signatureAlgorithm", "keyId",
                "workspaceId", "description", "secretary_name"]


@pytest.mark.parametrize("name", SECRET_FIELDS)
def test_secret_fields_are_redacted_the_same_everywhere(name):
    assert is_secret_field(name)
    assert redact_value({name: "s3cr3t"}) == {name: REDACTED}
    assert stored_request({name: "s3cr3t"}, {name: "s3cr3t"}, {name: "s3cr3t"}) == {
        "pathParams": {name: REDACTED}, "query": {name: REDACTED}, "body": {name: REDACTED}}
    assert name not in storable_headers({name: "s3cr3t", "Content-Type": "application/json"})


@pytest.mark.parametrize("name", SECRET_FIELDS)
@pytest.mark.parametrize("form", ["{name}=s3cr3t", "{name}=s3cr3t&page=2", "page=2&{name}=s3cr3t&page-size=10",
                                  "{name}=s3cr3t&{name}=again"])
def test_secret_query_parameters_are_redacted_in_a_stored_url(name, form):
    # The audit keeps the URL as it went on the wire: the same rule as its parameters.
    url = "https://api.clockify.me/api/v1/workspaces/ws1/projects?" + form.format(name=quote(name))
    redacted = redact_url(url)
    assert "s3cr3t" not in redacted and "again" not in redacted
    assert redacted == url.replace("s3cr3t", REDACTED).replace("again", REDACTED)


@pytest.mark.parametrize("url", [
    "https://api.clockify.me/api/v1/workspaces/ws1/projects?name=Apollo&page=1",
    "https://api.clockify.me/api/v1/workspaces/ws1/projects?name=a%26b%3Dc&token_kind=user",
    "https://api.clockify.me/api/v1/workspaces/ws1/projects", "https://api.clockify.me/api/v1/x?flag", "",
])
def test_a_url_without_secrets_is_stored_as_it_went(url):
    assert redact_url(url) == url


@pytest.mark.parametrize("url", [
    "https://api.clockify.me/api/v1/workspaces/ws1/projects?name={jwt}",
    "https://api.clockify.me/api/v1/workspaces/ws1/projects/{jwt}",
    "https://api.clockify.me/api/v1/x?note=token%20{jwt}&page=1",
])
def test_a_token_anywhere_in_a_stored_url_is_redacted(url):
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    assert redact_url(url.format(jwt=jwt)) == url.format(jwt=REDACTED)


@pytest.mark.parametrize("name", PLAIN_FIELDS)
def test_plain_fields_are_kept_the_same_everywhere(name):
    assert not is_secret_field(name)
    assert redact_value({name: "value"}) == {name: "value"}
    assert stored_request({name: "value"}, None, None)["pathParams"] == {name: "value"}
    assert storable_headers({name: "value"}) == {name: "value"}


@pytest.mark.parametrize(("given", "expected"), [
    (datetime(2026, 1, 2, 3, 4, 5), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
    (datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)),
])
def test_one_conversion_to_utc(given, expected):
    assert as_utc(given) == expected and as_utc(given).utcoffset() == timedelta(0)
    assert isoformat_utc(given) == expected.isoformat()


def test_isoformat_utc_keeps_none():
    assert isoformat_utc(None) is None


def test_query_arguments_are_refused_in_one_shape(client, app, base_overrides):
    from addon import create_app

    operator = create_app({**base_overrides, "ADDON_ENV": "development"}).test_client()
    answer = operator.get("/webhooks?page=0&per_page=x&workspace=a%00b")
    assert answer.status_code == 422
    assert answer.get_json()["errors"] == [
        {"location": "query", "field": "page", "message": "Must be a whole number from 1 to 1000000."},
        {"location": "query", "field": "per_page", "message": "Must be a whole number from 1 to 200."},
        {"location": "query", "field": "workspace",
         "message": "Must not contain NUL characters or unpaired surrogates."}]
