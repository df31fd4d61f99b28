"""api_calls.url: the URL an API Studio call went out with, exactly as sent

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("url", sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table("api_calls", schema=None) as batch_op:
        batch_op.drop_column("url")
