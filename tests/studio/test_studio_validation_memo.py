"""Remembered parameter checks (``operation_checks.ParameterCheck``) answer exactly what the
checks computed afresh answer: for every parameter of every operation of the spec, over values
valid and invalid, given once and again, absent, repeated, and too long to be remembered."""

import pytest
from werkzeug.datastructures import ImmutableMultiDict

from addon.clockify.openapi_catalog import get_catalog
from addon.clockify.operation_checks import REMEMBERED_TEXT_CHARS
from addon.clockify.request_validation import get_validator

TEXTS = [(), ("",), ("10",), ("0",), ("-1",), ("1.5",), ("abc",), ("true",), ("FALSE",), ("ACTIVE",),
         ("2020-01-01T00:00:00Z",), ("2020-13-45",), ("5b715612b079875110791111",), ("a,b",), ("1", "2"),
         ("10", "abc"), ("ACTIVE", "nope"), ("x" * (REMEMBERED_TEXT_CHARS + 1),)]


def _checks():
    validator, found = get_validator(), []
    for operation in get_catalog().operations.values():
        for check in validator._checks_for(operation).parameters:
            found.append(pytest.param(check, id=f"{operation.operation_id}.{check.name}"))
    return found


def _source(check, texts):
    if check.location == "query":
        return ImmutableMultiDict([(check.name, text) for text in texts])
    return {check.name: texts[0]} if texts else {}


@pytest.mark.parametrize("check", _checks())
def test_a_remembered_answer_is_the_fresh_answer(check):
    for texts in TEXTS + TEXTS:  # the second pass answers from memory
        source = _source(check, texts)
        assert check.errors(source) == check._errors(source), texts


def test_most_parameters_are_remembered_and_long_values_are_not():
    checks = [param.values[0] for param in _checks()]
    remembered = [check for check in checks if check._remembered is not None]
    assert len(remembered) > 0.9 * len(checks)
    check = remembered[0]
    check._remembered.cache_clear()
    check.errors(_source(check, ("x" * (REMEMBERED_TEXT_CHARS + 1),)))
    check.errors(_source(check, ("10",)))
    check.errors(_source(check, ("10",)))
    assert (check._remembered.cache_info().currsize, check._remembered.cache_info().hits) == (1, 1)
