"""Work deferred until after the answer (``addon.after_answer``) runs once the server closes the
answer, in order, in an app context with the request's id; outside a request it runs at once;
and no deferred call is lost: not to a failing sibling, not to a streamed answer, not to a
failing ``after_request`` hook. Driven at the WSGI level, as a server drives the app."""

import logging

import pytest
from flask import Response, current_app
from werkzeug.test import EnvironBuilder, run_wsgi_app

from addon import after_answer, create_app
from addon.request_context import current_request_id


@pytest.fixture
def own_app(base_overrides):
    """An app of its own: each test adds a view to it."""
    return create_app(base_overrides)


def _call(app, path):
    environ = EnvironBuilder(path=path, headers={"X-Request-ID": "req-after-1"}).get_environ()
    return run_wsgi_app(app, environ)


def _ran(ran, label):
    ran.append((label, current_app.name, current_request_id()))


def test_outside_a_request_a_deferred_call_runs_at_once(own_app):
    ran = []
    with own_app.app_context():
        after_answer.defer(_ran, ran, "job")
        assert ran == [("job", own_app.name, None)]


def test_an_answer_never_closed_keeps_nothing_of_what_the_thread_does_next(own_app):
    # A client gone before reading, a test reading without closing: the thread's next work (a
    # job run inline, a CLI command) must not defer into a request that is over.
    ran = []
    own_app.add_url_rule("/_test/unclosed", view_func=lambda: {"ok": True})
    _call(own_app, "/_test/unclosed")  # never closed
    with own_app.app_context():
        after_answer.defer(ran.append, "job")
    assert ran == ["job"]


def test_deferred_calls_run_in_order_once_the_answer_is_closed_and_a_failure_loses_none(own_app, caplog):
    ran = []

    def fail():
        raise ValueError("the row's secret value")

    def view():
        after_answer.defer(_ran, ran, "first")
        after_answer.defer(fail)
        after_answer.defer(_ran, ran, "last")
        return {"ok": True}

    own_app.add_url_rule("/_test/deferred", view_func=view)
    answer, status, _ = _call(own_app, "/_test/deferred")
    assert (status, b"".join(answer), ran) == ("200 OK", b'{"ok":true}\n', [])
    with caplog.at_level(logging.ERROR, logger="addon.after_answer"):
        answer.close()
    assert ran == [("first", own_app.name, "req-after-1"), ("last", own_app.name, "req-after-1")]
    [failure] = caplog.records
    assert "fail" in failure.getMessage() and "ValueError" in failure.getMessage()
    assert "secret value" not in caplog.text


def test_a_streamed_answer_runs_its_deferred_calls_before_its_first_byte(own_app):
    ran, seen_at_first_byte = [], []

    def view():
        after_answer.defer(_ran, ran, "first page")

        def lines():
            seen_at_first_byte.extend(ran)
            yield b"page\n"
        return Response(lines())

    own_app.add_url_rule("/_test/streamed", view_func=view)
    answer, status, _ = _call(own_app, "/_test/streamed")
    assert b"".join(answer) == b"page\n"
    answer.close()
    assert seen_at_first_byte == ran == [("first page", own_app.name, "req-after-1")]


def test_calls_deferred_while_an_answer_streams_run_at_once(own_app):
    # Fetch all pages audits each page as it goes: a run cut short keeps the pages it fetched.
    ran = []

    def view():
        def lines():
            after_answer.defer(ran.append, "page 1")
            yield b"1\n"
            after_answer.defer(ran.append, "page 2")
            yield b"2\n"
        return Response(lines())

    own_app.add_url_rule("/_test/pages", view_func=view)
    answer, _, _ = _call(own_app, "/_test/pages")
    assert list(answer) == [b"1\n", b"2\n"] and ran == ["page 1", "page 2"]
    answer.close()
    assert ran == ["page 1", "page 2"]


@pytest.mark.parametrize("propagate", [True, False], ids=["errors-propagate", "production"])
@pytest.mark.parametrize("fails", ["once", "always"])
@pytest.mark.parametrize("runs", ["before-ours", "after-ours"])
def test_a_failing_after_request_hook_loses_no_deferred_call(own_app, runs, fails, propagate):
    # "after-ours" is where prometheus-flask-exporter's hook sits (registered before ours); a
    # hook that fails makes Flask answer a fresh 500, running the hooks again on that.
    ran, failures = [], []

    def view():
        after_answer.defer(_ran, ran, "kept")
        return {"ok": True}

    def broken_hook(response):
        if fails == "always" or not failures:
            failures.append(response.status_code)
            raise RuntimeError("hook failed")
        return response

    own_app.add_url_rule("/_test/broken-hook", view_func=view)
    own_app.config["PROPAGATE_EXCEPTIONS"] = propagate
    hooks = own_app.after_request_funcs.setdefault(None, [])
    hooks.append(broken_hook) if runs == "before-ours" else hooks.insert(0, broken_hook)  # run in reverse
    if propagate:
        with pytest.raises(RuntimeError, match="hook failed"):
            _call(own_app, "/_test/broken-hook")
    else:
        answer, status, _ = _call(own_app, "/_test/broken-hook")
        b"".join(answer)
        answer.close()
        assert status == "500 INTERNAL SERVER ERROR"
    assert [label for label, _, _ in ran] == ["kept"]


def test_a_view_failing_after_it_deferred_a_call_loses_no_deferred_call(own_app):
    ran = []

    def view():
        after_answer.defer(_ran, ran, "kept")
        raise RuntimeError("view failed")

    own_app.add_url_rule("/_test/broken-view", view_func=view)
    answer, status, _ = _call(own_app, "/_test/broken-view")  # the add-on's one error path answers
    b"".join(answer)
    answer.close()
    assert (status, [label for label, _, _ in ran]) == ("500 INTERNAL SERVER ERROR", ["kept"])
