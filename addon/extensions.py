"""Flask extensions, created once here and bound to each app in ``create_app``."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, cast

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import Connection, CursorResult, Executable, MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints keep Alembic able to alter them later, SQLite batch mode included.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)

# The base class of the tables. flask-sqlalchemy builds ``db.Model`` at run time as a subclass of
# ``Base``; a type checker cannot follow that, so it sees ``Base`` itself (whose columns it types).
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()


def execute_dml(statement: Executable) -> CursorResult:
    """Run an INSERT, UPDATE or DELETE on the session. Its result is a ``CursorResult`` (with
    ``rowcount``); ``Session.execute`` is typed with the generic ``Result``."""
    return cast(CursorResult, db.session.execute(statement))


@contextmanager
def autocommit_connection() -> Iterator[Connection]:
    """A pooled connection of its own, outside the session, in autocommit mode: each statement
    is its own transaction. For a lone read or write on a hot path, where the session's
    ``BEGIN`` and ``COMMIT``/``ROLLBACK`` would double the round trips (in ``READ COMMITTED`` a
    lone statement sees the same data either way)."""
    with db.engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")
