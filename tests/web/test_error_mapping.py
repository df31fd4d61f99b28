"""The one error handler: database refusals of a value are the caller's 400, never a 503."""

import pytest
from sqlalchemy.exc import DataError, OperationalError

from addon import create_app
from addon.extensions import db


@pytest.fixture
def raising_app(base_overrides):
    app = create_app(base_overrides)

    @app.get("/_raise/<kind>")
    def _raise(kind):
        error = {"data": DataError, "operational": OperationalError}[kind]
        raise error("INSERT ...", {}, Exception("refused"))

    yield app
    with app.app_context():
        db.engine.dispose()


def test_a_value_the_database_refuses_is_a_400(raising_app):
    response = raising_app.test_client().get("/_raise/data")
    assert response.status_code == 400
    body = response.get_json()
    assert body["error"] == "invalid_data" and "Retry-After" not in response.headers
    assert "INSERT" not in body["message"] and "refused" not in body["message"]


def test_an_unreachable_database_is_still_a_503(raising_app):
    response = raising_app.test_client().get("/_raise/operational")
    assert response.status_code == 503 and response.get_json()["error"] == "storage_unavailable"
    assert response.headers["Retry-After"] == "5"
