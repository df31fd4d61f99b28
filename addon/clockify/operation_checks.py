"""The checks of one operation's parameters and JSON body, built once from the spec with
openapi-core's own parts and applied as its request validator applies them.

openapi-core's validator finds the operation's path anew on every call, walks the spec through
``jsonschema_path`` for each parameter, and builds each parameter's style deserializer, caster
and schema validator (copying the format checker) before using them once: about 60% of an API
Studio execute's CPU. Here those parts are built once per operation (``OperationChecks.build``)
from one openapi-core request validator over the whole spec, so its deserialising, casting,
formats and error types stay exactly its own. The parts keep no state between calls: one
``OperationChecks`` serves every thread.

Errors come back as ``FieldError`` lists, one per field; the messages are openapi-core's and
jsonschema's, made into sentences. Plain Python.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openapi_core.casting.schemas.exceptions import CastError
from openapi_core.deserializing.styles.exceptions import EmptyQueryParameterValue
from openapi_core.exceptions import OpenAPIError
from openapi_core.schema.parameters import get_style_and_explode
from openapi_core.templating.media_types.exceptions import MediaTypeNotFound
from openapi_core.validation.schemas.exceptions import InvalidSchemaValue
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from .openapi_schemas import normalized_schemas

JSON = "application/json"
MAX_MESSAGE_CHARS = 300
# Per parameter; values longer than this are checked every time, so the memory stays bounded.
REMEMBERED_VALUES = 256
REMEMBERED_TEXT_CHARS = 256
_UNSTRUCTURED_TYPES = ("string", "integer", "number", "boolean", "array")


@dataclass(frozen=True)
class FieldError:
    """One invalid field: ``location`` is ``path``, ``query`` or ``body``; ``field`` is the
    parameter name or the body's dotted path (``memberships[0].userId``, ``""`` = the body)."""

    location: str
    field: str
    message: str

    def as_dict(self) -> dict:
        return {"location": self.location, "field": self.field, "message": self.message}


class SpecUnusable(RuntimeError):
    """The spec could not be used for this operation (an unresolvable ``$ref``, a parameter
    described by ``content``)."""


def validation_spec(spec: dict, schemas: dict | None = None) -> dict:
    """``spec`` with Clockify's string enums declared as objects turned into string enums (see
    ``openapi_schemas.normalized_schemas``), or valid values such as ``"taxType": "SIMPLE"``
    would be refused. Shallow: every other subtree is ``spec``'s own, which is never modified.

    :param schemas: ``normalized_schemas(spec)`` when already computed (the catalog has them).
    """
    components = {**spec.get("components", {}),
                  "schemas": normalized_schemas(spec) if schemas is None else schemas}
    return {**spec, "components": components}


class ParameterCheck:
    """One declared parameter: openapi-core's style deserializer (with its caster) and schema
    validator for it, built once."""

    def __init__(self, validator, param) -> None:
        """:param validator: an openapi-core request validator (its factories and settings).
        :param param: the parameter's ``SchemaPath``."""
        if "content" in param:
            raise SpecUnusable(f"parameter {(param / 'name').read_str()!r} is described by content, not a schema")
        self.name = (param / "name").read_str()
        self.location = (param / "in").read_str()
        self.required = (param / "required").read_bool(default=False)
        self.empty_allowed = (param / "allowEmptyValue").read_bool(default=False)
        schema = param / "schema"
        self.has_default = "default" in schema
        self.default = (schema / "default").read_value() if self.has_default else None
        style, explode = get_style_and_explode(param)
        self.deserializer = validator.style_deserializers_factory.create(
            validator.spec, schema, style, explode, name=self.name)
        self.schema_validator = _schema_validator(validator, schema)
        # openapi-core's deserialising and validation is pure but slow (a third of a millisecond
        # for a path and a query parameter), and the same values come back call after call (the
        # workspace id, a page size). Its result is remembered when the value is this name's
        # texts alone: not for an object (form-exploded objects and deepObject read other names).
        self._remembered = None
        if style in ("form", "simple") and (schema / "type").read_str(default=None) in _UNSTRUCTURED_TYPES:
            self._remembered = functools.lru_cache(maxsize=REMEMBERED_VALUES)(self._errors_of_texts)

    def errors(self, source: Mapping[str, Any]) -> list[FieldError]:
        """What is wrong with this parameter's value in ``source`` (its location's values)."""
        if self._remembered is not None:
            texts = tuple(source.getlist(self.name)) if isinstance(source, MultiDict) else (
                (source[self.name],) if self.name in source else ())
            if sum(len(str(text)) for text in texts) <= REMEMBERED_TEXT_CHARS:
                return list(self._remembered(texts))
        return self._errors(source)

    def _errors_of_texts(self, texts: tuple[Any, ...]) -> tuple[FieldError, ...]:
        source = ImmutableMultiDict([(self.name, text) for text in texts]) if self.location == "query" else (
            {self.name: texts[0]} if texts else {})
        return tuple(self._errors(source))

    def _errors(self, source: Mapping[str, Any]) -> list[FieldError]:
        try:
            try:
                value = self.deserializer.deserialize(source)
            except KeyError:  # how openapi-core's deserializers say the parameter is absent
                if not self.has_default:
                    return [FieldError(self.location, self.name, "Required.")] if self.required else []
                value = self.default
            else:
                if self.location == "query" and value == "" and not self.empty_allowed:
                    raise EmptyQueryParameterValue(self.name)
            self.schema_validator.validate(value)
        except OpenAPIError as error:
            return [FieldError(self.location, self.name, _parameter_message(error))]
        return []


class BodyCheck:
    """The request body of one operation: required or not, and the JSON media type's
    deserializer and schema validator, built once."""

    def __init__(self, validator, request_body) -> None:
        """:param request_body: the operation's ``requestBody`` as a ``SchemaPath``."""
        self.required = (request_body / "required").read_bool(default=False)
        content = request_body / "content"
        self.media_types = list(content.str_keys())
        self.deserializer = self.schema_validator = None
        if JSON in content:
            media_type = content / JSON
            schema = media_type / "schema" if "schema" in media_type else None
            self.schema_validator = _schema_validator(validator, schema) if schema is not None else None
            self.deserializer = validator.media_type_deserializers_factory.create(
                validator.spec, JSON, schema=schema, schema_validator=self.schema_validator,
                extra_media_type_deserializers=validator.extra_media_type_deserializers)

    def errors(self, body_bytes: bytes | None) -> list[FieldError]:
        """What is wrong with the JSON body ``body_bytes`` (None: no body)."""
        if not body_bytes:
            return [FieldError("body", "", "A request body is required.")] if self.required else []
        try:
            if self.deserializer is None:  # openapi-core's answer; the precheck refuses such a body first
                raise MediaTypeNotFound(JSON, self.media_types)
            value = self.deserializer.deserialize(body_bytes)
            if self.schema_validator is not None:
                self.schema_validator.validate(value)
        except InvalidSchemaValue as invalid:
            return [e for schema_error in invalid.schema_errors for e in _body_errors(schema_error)]
        except OpenAPIError as error:
            return [FieldError("body", "", str(error))]
        return []


class OperationChecks:
    """Every check of one operation, in the order openapi-core applies them."""

    def __init__(self, parameters: tuple[ParameterCheck, ...], body: BodyCheck | None):
        self.parameters = parameters
        self.body = body

    @classmethod
    def build(cls, validator, path: str, method: str) -> OperationChecks:
        """The checks of ``method`` ``path`` (its operation-level parameters and its body).

        :param validator: an openapi-core request validator of the whole (validation) spec.
        :raise SpecUnusable: a parameter is described by ``content``.
        :raise referencing.exceptions.Unresolvable: a ``$ref`` leads nowhere.
        """
        operation = validator.spec / "paths" / path / method
        parameters = operation / "parameters" if "parameters" in operation else []
        body = BodyCheck(validator, operation / "requestBody") if "requestBody" in operation else None
        return cls(tuple(ParameterCheck(validator, param) for param in parameters), body)

    def errors(self, sources: Mapping[str, Mapping[str, Any]], body_bytes: bytes | None,
               check_body: bool = True) -> list[FieldError]:
        """The errors of a call: path parameters, required parameters and the query parameters
        sent (others are left out, as absent optional parameters: their defaults are not
        checked), then the body (``check_body=False``: already refused).

        :param sources: each location's values (``path``: name -> text; ``query``: a
            ``MultiDict``); a location not given has none.
        """
        errors: list[FieldError] = []
        query = sources.get("query", {})
        for check in self.parameters:
            if check.location != "path" and not check.required and check.name not in query:
                continue
            errors += check.errors(sources.get(check.location, {}))
        if check_body and self.body is not None:
            errors += self.body.errors(body_bytes)
        return errors


def _schema_validator(validator, schema):
    return validator.schema_validators_factory.create(
        validator.spec, schema, format_validators=validator.format_validators,
        extra_format_validators=validator.extra_format_validators,
        forbid_unspecified_additional_properties=validator.forbid_unspecified_additional_properties,
        enforce_properties_required=validator.enforce_properties_required)


def _parameter_message(error: OpenAPIError) -> str:
    if isinstance(error, CastError):
        return f"Must be a{'n' if str(error.type)[:1] in 'aeiou' else ''} {error.type}."
    if isinstance(error, InvalidSchemaValue):
        # jsonschema's ValidationErrors, which openapi-core types as plain Exceptions.
        return "; ".join(_sentence(getattr(e, "message", str(e))) for e in error.schema_errors) or "Invalid value."
    return _sentence(str(error))


def _body_errors(schema_error) -> list[FieldError]:
    path = list(schema_error.absolute_path)
    if schema_error.validator == "required" and isinstance(schema_error.instance, dict):
        missing = [n for n in schema_error.validator_value if n not in schema_error.instance]
        return [FieldError("body", _dotted(path + [name]), "Required.") for name in missing]
    return [FieldError("body", _dotted(path), _sentence(schema_error.message))]


def _dotted(path: list) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _sentence(message: str) -> str:
    message = message.strip()
    if len(message) > MAX_MESSAGE_CHARS:  # schema messages quote the value, which may be huge
        message = message[:MAX_MESSAGE_CHARS] + "…"
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".") if message else message
