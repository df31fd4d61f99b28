"""Flask extensions, created once here and bound to each app in ``create_app``."""

from typing import TYPE_CHECKING, cast

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import CursorResult, Executable, MetaData
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
