"""An API Studio call's audit row and its count of requests sent to Clockify are written once the
answer has been sent (when the server closes it), never before, and never lost: for every
outcome of a call, refused or sent, on both endpoints. Driven at the WSGI level, as a server
drives the app: the whole answer is read first, then closed."""

import json

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from addon import metrics
from addon.extensions import db
from addon.models import ApiCall
from addon.testkit.fake_clockify import Fault

WORKSPACE, OTHER_WORKSPACE = "ws-studio-1", "ws-other-9"  # (tests/studio/conftest.py)
EXECUTE, API_CALL = "/ui/api-explorer/execute", "/api-call"

CASES = [
    # (name, endpoint, body, fault on the fake, answer status, audited outcome, sent to Clockify)
    ("ok", EXECUTE, {"operationId": "getProjects"}, None, 200, "ok", True),
    ("ok by path", API_CALL, {"method": "GET", "path": f"/v1/workspaces/{WORKSPACE}/projects"}, None, 200, "ok", True),
    ("clockify error", EXECUTE, {"operationId": "getProjects"}, Fault.status(404, {"message": "nope"}), 200,
     "clockify_error", True),
    ("clockify unreachable", EXECUTE, {"operationId": "getProjects"}, Fault.drop(), 503, "clockify_unavailable", True),
    ("unknown operation", EXECUTE, {"operationId": "getNothing"}, None, 404, "unknown_operation", False),
    ("unknown path", API_CALL, {"method": "GET", "path": "/v1/nothing"}, None, 404, "unknown_operation", False),
    ("invalid query", EXECUTE, {"operationId": "getProjects", "query": {"page": "x"}}, None, 422,
     "validation_failed", False),
    ("another workspace", EXECUTE, {"operationId": "getProjects", "pathParams": {"workspaceId": OTHER_WORKSPACE}},
     None, 403, "workspace_mismatch", False),
    ("write not confirmed", EXECUTE, {"operationId": "createNewProject", "body": {"name": "X"}}, None, 428,
     "confirmation_required", False),
]


def _rows(app) -> list[ApiCall]:
    with app.app_context():
        rows = db.session.execute(db.select(ApiCall).order_by(ApiCall.id)).scalars().all()
        db.session.expunge_all()
        return rows


def _sent_count(redis_conn) -> float:
    return sum(float(v) for v in redis_conn.hgetall(metrics.CLOCKIFY_REQUESTS.key).values())


@pytest.mark.parametrize(("name", "endpoint", "body", "fault", "status", "outcome", "sent"), CASES,
                         ids=[case[0] for case in CASES])
def test_the_audit_row_and_the_count_are_written_after_the_answer(app, user_token, fake_clockify, redis_conn,
                                                                  name, endpoint, body, fault, status, outcome, sent):
    token = user_token(backendUrl=fake_clockify.api_url, reportsUrl=fake_clockify.reports_url)
    if fault is not None:
        fake_clockify.inject("*/projects", fault)
    environ = EnvironBuilder(path=endpoint, method="POST", json=body,
                             headers={"Authorization": f"Bearer {token}"}).get_environ()

    answer, answer_status, _ = run_wsgi_app(app, environ)
    payload = json.loads(b"".join(answer))  # the whole answer is out...
    assert int(answer_status.split()[0]) == status, payload
    assert (_rows(app), _sent_count(redis_conn)) == ([], 0)  # ...and nothing is written yet

    answer.close()  # the server has sent it
    [row] = _rows(app)
    assert (row.outcome, row.workspace_id, row.user_id) == (outcome, WORKSPACE, "user-1")
    assert _sent_count(redis_conn) == (1 if sent else 0)
    assert len(fake_clockify.requests()) == (1 if sent else 0)
