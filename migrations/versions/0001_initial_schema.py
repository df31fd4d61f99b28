"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 14:39:03.190864

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    # Reviewed: tokens are EncryptedText in the models, plain Text (ciphertext) here.
    op.create_table('api_calls',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.String(length=64), nullable=True),
    sa.Column('operation_id', sa.String(length=128), nullable=True),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('path', sa.String(length=512), nullable=False),
    sa.Column('token_kind', sa.String(length=16), nullable=False),
    sa.Column('request', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('outcome', sa.String(length=32), nullable=False),
    sa.Column('duration_ms', sa.Float(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_calls'))
    )
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_calls_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_calls_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('bootstrap_jobs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('trigger', sa.String(length=16), nullable=False),
    sa.Column('operations_total', sa.Integer(), nullable=False),
    sa.Column('operations_done', sa.Integer(), nullable=False),
    sa.Column('items_stored', sa.Integer(), nullable=False),
    sa.Column('errors', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('checkpoints', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('rq_job_id', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bootstrap_jobs'))
    )
    with op.batch_alter_table('bootstrap_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_bootstrap_jobs_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_bootstrap_jobs_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('installation_webhooks',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.Column('event', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('token', sa.Text(), nullable=True),
    sa.Column('token_digest', sa.String(length=64), nullable=True),
    sa.Column('clockify_webhook_id', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installation_webhooks')),
    sa.UniqueConstraint('workspace_id', 'token_digest', name=op.f('uq_installation_webhooks_workspace_id_token_digest'))
    )
    with op.batch_alter_table('installation_webhooks', schema=None) as batch_op:
        batch_op.create_index('ix_installation_webhooks_workspace_path', ['workspace_id', 'path'], unique=False)
        batch_op.create_index(batch_op.f('ix_installation_webhooks_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('installations',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('addon_id', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('installation_token', sa.Text(), nullable=False),
    sa.Column('api_url', sa.String(length=512), nullable=False),
    sa.Column('reports_url', sa.String(length=512), nullable=True),
    sa.Column('as_user', sa.String(length=64), nullable=True),
    sa.Column('addon_user_id', sa.String(length=64), nullable=True),
    sa.Column('settings', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('settings_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('installed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('uninstalled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_installations'))
    )
    with op.batch_alter_table('installations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_installations_workspace_id'), ['workspace_id'], unique=True)

    op.create_table('webhook_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('route', sa.String(length=16), nullable=False),
    sa.Column('known_event', sa.Boolean(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=128), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('headers', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('enqueued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_events')),
    sa.UniqueConstraint('workspace_id', 'dedupe_key', name=op.f('uq_webhook_events_workspace_id_dedupe_key'))
    )
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_events_event_type'), ['event_type'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_events_received_at'), ['received_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_events_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_events_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('workspace_data',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('entity_id', sa.String(length=128), nullable=False),
    sa.Column('data', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('bootstrap_job_id', sa.BigInteger(), nullable=True),
    sa.Column('fetched_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspace_data')),
    sa.UniqueConstraint('workspace_id', 'source', 'entity_id', name=op.f('uq_workspace_data_workspace_id_source_entity_id'))
    )
    with op.batch_alter_table('workspace_data', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workspace_data_workspace_id'), ['workspace_id'], unique=False)




def downgrade():
    # Drops in reverse order of creation.
    with op.batch_alter_table('workspace_data', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_workspace_data_workspace_id'))

    op.drop_table('workspace_data')
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_events_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_webhook_events_status'))
        batch_op.drop_index(batch_op.f('ix_webhook_events_received_at'))
        batch_op.drop_index(batch_op.f('ix_webhook_events_event_type'))

    op.drop_table('webhook_events')
    with op.batch_alter_table('installations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_installations_workspace_id'))

    op.drop_table('installations')
    with op.batch_alter_table('installation_webhooks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_installation_webhooks_workspace_id'))
        batch_op.drop_index('ix_installation_webhooks_workspace_path')

    op.drop_table('installation_webhooks')
    with op.batch_alter_table('bootstrap_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_bootstrap_jobs_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_bootstrap_jobs_status'))

    op.drop_table('bootstrap_jobs')
    with op.batch_alter_table('api_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_calls_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_api_calls_created_at'))

    op.drop_table('api_calls')

