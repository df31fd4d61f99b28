"""Validation of lifecycle bodies (shapes from Clockify's lifecycle docs) with marshmallow.

Unknown fields are tolerated: Clockify may add some. ``load(kind, body)`` returns a small typed
payload or raises ``PayloadError`` whose ``errors`` name each wrong field the way Clockify
spells it (``workspaceId``, ``webhooks[0].path``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate

from .lifecycle import DELETED, INSTALLED, SETTINGS_UPDATED, STATUS_CHANGED, STATUSES

# Column sizes of the tables the values land in.
_ID = validate.Length(min=1, max=64)
# Workspace and add-on ids end up in RQ job ids and Redis keys, which allow only these characters;
# Clockify's own ids are 24 hexadecimal digits.
_WORKSPACE_ID = validate.And(_ID, validate.Regexp(r"^[A-Za-z0-9_-]+\Z", error="Must be letters, digits, _ or -."))
_TOKEN = validate.Length(min=1, max=8192)
_URL = validate.And(validate.Length(max=512), validate.URL(schemes={"http", "https"}, require_tld=False))


class PayloadError(ValueError):
    """The body does not have the expected shape; ``errors`` is ``[{"field", "message"}]``."""

    def __init__(self, errors: list[dict]):
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))
        self.errors = errors


@dataclass(frozen=True)
class InstalledWebhook:
    path: str
    auth_token: str = field(repr=False)
    webhook_type: str | None = None


@dataclass(frozen=True)
class Installed:
    workspace_id: str
    addon_id: str
    auth_token: str = field(repr=False)
    api_url: str | None = None
    as_user: str | None = None
    addon_user_id: str | None = None
    webhooks: tuple[InstalledWebhook, ...] = ()
    settings: object = None


@dataclass(frozen=True)
class SettingsUpdated:
    workspace_id: str
    addon_id: str
    settings: tuple[dict, ...]


@dataclass(frozen=True)
class StatusChanged:
    workspace_id: str
    addon_id: str
    status: str


@dataclass(frozen=True)
class Deleted:
    workspace_id: str
    addon_id: str
    as_user: str | None = None


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE


class _WorkspaceBody(_Lenient):
    workspace_id = fields.String(data_key="workspaceId", required=True, validate=_WORKSPACE_ID)
    addon_id = fields.String(data_key="addonId", required=True, validate=_WORKSPACE_ID)


class InstalledWebhookSchema(_Lenient):
    path = fields.String(required=True, validate=validate.Length(min=1, max=2048))
    auth_token = fields.String(data_key="authToken", required=True, validate=_TOKEN)
    webhook_type = fields.String(data_key="webhookType", load_default=None, allow_none=True)

    @post_load
    def _make(self, data, **_):
        return InstalledWebhook(**data)


class InstalledSchema(_WorkspaceBody):
    auth_token = fields.String(data_key="authToken", required=True, validate=_TOKEN)
    api_url = fields.String(data_key="apiUrl", load_default=None, allow_none=True, validate=_URL)
    as_user = fields.String(data_key="asUser", load_default=None, allow_none=True, validate=_ID)
    addon_user_id = fields.String(data_key="addonUserId", load_default=None, allow_none=True, validate=_ID)
    webhooks = fields.List(fields.Nested(InstalledWebhookSchema), load_default=list, allow_none=True)
    settings = fields.Raw(load_default=None, allow_none=True)

    @post_load
    def _make(self, data, **_):
        data["webhooks"] = tuple(data["webhooks"] or ())
        return Installed(**data)


def _setting_value(value) -> None:
    if value is not None and not isinstance(value, (str, int, float, bool, list)):
        raise ValidationError("Must be a string, number, boolean or array.")


class SettingSchema(_Lenient):
    id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    name = fields.String(load_default=None, allow_none=True)
    value = fields.Raw(required=True, allow_none=True, validate=_setting_value)


class SettingsUpdatedSchema(_WorkspaceBody):
    settings = fields.List(fields.Nested(SettingSchema), required=True)

    @post_load
    def _make(self, data, **_):
        return SettingsUpdated(workspace_id=data["workspace_id"], addon_id=data["addon_id"],
                               settings=tuple(data["settings"]))


class StatusChangedSchema(_WorkspaceBody):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))

    @post_load
    def _make(self, data, **_):
        return StatusChanged(**data)


class DeletedSchema(_WorkspaceBody):
    as_user = fields.String(data_key="asUser", load_default=None, allow_none=True, validate=_ID)

    @post_load
    def _make(self, data, **_):
        return Deleted(**data)


SCHEMAS = {INSTALLED: InstalledSchema, SETTINGS_UPDATED: SettingsUpdatedSchema,
           STATUS_CHANGED: StatusChangedSchema, DELETED: DeletedSchema}


def load(kind: str, body) -> Installed | SettingsUpdated | StatusChanged | Deleted:
    """Validate the parsed JSON ``body`` of the lifecycle call ``kind``.

    :raise PayloadError: listing every missing or invalid field.
    """
    if not isinstance(body, dict):
        raise PayloadError([{"field": "$", "message": "The body must be a JSON object."}])
    try:
        return SCHEMAS[kind]().load(body)
    except ValidationError as error:
        raise PayloadError(flatten(error.messages)) from None


def flatten(messages, prefix: str = "") -> list[dict]:
    """Turn marshmallow's nested messages into ``[{"field": "webhooks[0].path", "message"}]``."""
    if isinstance(messages, list):
        return [{"field": prefix or "$", "message": str(m)} for m in messages]
    errors: list[dict] = []
    for key, value in messages.items():
        if isinstance(key, int):
            name = f"{prefix}[{key}]"
        elif key == "_schema":
            name = prefix
        else:
            name = f"{prefix}.{key}" if prefix else key
        errors.extend(flatten(value, name))
    return errors
