"""bootstrap runs with a checkpoint row per listing (replaces bootstrap_jobs)

The old table kept every checkpoint in one JSON column; nothing in it is needed by the new
bootstrap (a run in flight is simply started again), so it is dropped, not converted. The
cached entities keep their data; their stamp of the run that last listed them is cleared,
since the run ids start over.

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("bootstrap_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bootstrap_jobs_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_bootstrap_jobs_status"))
    op.drop_table("bootstrap_jobs")

    op.create_table(
        "bootstrap_runs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("sources", JSON, nullable=True),
        sa.Column("request_id", sa.String(length=128), nullable=True),
        sa.Column("operations_total", sa.Integer(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("window_start", sa.String(length=32), nullable=True),
        sa.Column("window_end", sa.String(length=32), nullable=True),
        sa.Column("rq_job_id", sa.String(length=160), nullable=True),
        sa.Column("resumes", sa.Integer(), nullable=False),
        sa.Column("resume_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bootstrap_runs")),
    )
    with op.batch_alter_table("bootstrap_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bootstrap_runs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_bootstrap_runs_workspace_id"), ["workspace_id"], unique=False)

    op.create_table(
        "bootstrap_checkpoints",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("op_key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("next_page", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("error", JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["bootstrap_runs.id"], name=op.f("fk_bootstrap_checkpoints_run_id_bootstrap_runs"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bootstrap_checkpoints")),
        sa.UniqueConstraint("run_id", "op_key", name=op.f("uq_bootstrap_checkpoints_run_id_op_key")),
    )
    with op.batch_alter_table("bootstrap_checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bootstrap_checkpoints_workspace_id"), ["workspace_id"], unique=False)

    op.execute("UPDATE workspace_data SET bootstrap_job_id = NULL")
    with op.batch_alter_table("workspace_data", schema=None) as batch_op:
        batch_op.alter_column("bootstrap_job_id", new_column_name="bootstrap_run_id")


def downgrade():
    op.execute("UPDATE workspace_data SET bootstrap_run_id = NULL")
    with op.batch_alter_table("workspace_data", schema=None) as batch_op:
        batch_op.alter_column("bootstrap_run_id", new_column_name="bootstrap_job_id")
    with op.batch_alter_table("bootstrap_checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bootstrap_checkpoints_workspace_id"))
    op.drop_table("bootstrap_checkpoints")
    with op.batch_alter_table("bootstrap_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bootstrap_runs_workspace_id"))
        batch_op.drop_index(batch_op.f("ix_bootstrap_runs_status"))
    op.drop_table("bootstrap_runs")
    op.create_table(
        "bootstrap_jobs",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("workspace_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("operations_total", sa.Integer(), nullable=False),
        sa.Column("operations_done", sa.Integer(), nullable=False),
        sa.Column("items_stored", sa.Integer(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("checkpoints", JSON, nullable=False),
        sa.Column("rq_job_id", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bootstrap_jobs")),
    )
    with op.batch_alter_table("bootstrap_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bootstrap_jobs_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_bootstrap_jobs_workspace_id"), ["workspace_id"], unique=False)
