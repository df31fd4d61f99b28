"""webhook dedupe on the latest delivery per entity; the lifecycle outbox

Revision ID: 0005
Revises: 0004

A delivery is a duplicate only when it repeats the latest one stored for its event type and
subject (``addon.store.webhook_events.record``). ``webhook_events.dedupe_key`` stops being unique (an
entity legitimately comes back to an earlier state) and keeps the subject. Existing events are
carried over: each (workspace, event type, subject) gets the row of its newest event.

``lifecycle_outbox`` holds the jobs each lifecycle state change implies, written in the change's
transaction (``addon.jobs.lifecycle_outbox``); it starts empty.
"""
import hashlib
import json
from datetime import timedelta

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The defaults at the time of this migration (WEBHOOK_DEDUPE_WINDOW_SECONDS, the entity rule of
# addon.clockify.deliveries): a migration must not change meaning when the app code does.
WINDOW = timedelta(seconds=3600)
WITHOUT_ENTITY = {"TIME_ENTRY_SPLIT", "USERS_INVITED_TO_WORKSPACE", "LIMITED_USERS_ADDED_TO_WORKSPACE"}


def upgrade():
    latest = op.create_table('webhook_latest_deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('event_type', sa.String(length=64), nullable=False),
    sa.Column('subject', sa.String(length=80), nullable=False),
    sa.Column('body_digest', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.BigInteger(), nullable=True),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_latest_deliveries')),
    sa.UniqueConstraint('workspace_id', 'event_type', 'subject',
                        name=op.f('uq_webhook_latest_deliveries_workspace_id_event_type_subject'))
    )
    with op.batch_alter_table('webhook_latest_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_webhook_latest_deliveries_workspace_id'), ['workspace_id'], unique=False)
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.drop_constraint('uq_webhook_events_workspace_id_dedupe_key', type_='unique')
    _carry_over(latest)
    op.create_table('lifecycle_outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.String(length=64), nullable=False),
    sa.Column('change', sa.String(length=32), nullable=False),
    sa.Column('steps', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('steps_done', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lifecycle_outbox'))
    )
    with op.batch_alter_table('lifecycle_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifecycle_outbox_dispatched_at'), ['dispatched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lifecycle_outbox_workspace_id'), ['workspace_id'], unique=False)


def _carry_over(latest):
    events = sa.table('webhook_events', sa.column('id'), sa.column('workspace_id'), sa.column('event_type'),
                      sa.column('dedupe_key'), sa.column('payload'),
                      sa.column('received_at', sa.DateTime(timezone=True)))
    connection = op.get_bind()
    newest = {}
    for row in connection.execute(sa.select(events).order_by(events.c.id)):
        subject, digest, windowed = _subject(row)
        key = (row.workspace_id, row.event_type, subject)
        newest[key] = {"workspace_id": row.workspace_id, "event_type": row.event_type, "subject": subject,
                       "body_digest": digest, "event_id": row.id, "seen_at": row.received_at,
                       "expires_at": row.received_at + WINDOW if windowed else None}
        connection.execute(events.update().where(events.c.id == row.id).values(dedupe_key=subject))
    if newest:
        connection.execute(latest.insert(), list(newest.values()))


def _subject(row) -> tuple[str, str, bool]:
    if row.dedupe_key.startswith('delivery:'):
        return row.dedupe_key, '', False
    digest = hashlib.sha256(row.payload.encode('utf-8', 'surrogatepass')).hexdigest()
    try:
        value = json.loads(row.payload)
    except ValueError:
        value = None
    entity = value.get('id') if isinstance(value, dict) and row.event_type not in WITHOUT_ENTITY else None
    if isinstance(entity, str) and 0 < len(entity.strip()) <= 256:
        return 'entity:' + hashlib.sha256(entity.strip().encode()).hexdigest(), digest, False
    return 'body:' + digest, digest, True


def downgrade():
    with op.batch_alter_table('lifecycle_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifecycle_outbox_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_lifecycle_outbox_dispatched_at'))
    op.drop_table('lifecycle_outbox')
    # Keeps one event per old key: later events with a repeated body are the ones the old rule
    # would have refused, so they are dropped before the unique constraint comes back.
    events = sa.table('webhook_events', sa.column('id'), sa.column('workspace_id'), sa.column('event_type'),
                      sa.column('dedupe_key'), sa.column('payload'))
    connection = op.get_bind()
    seen = set()
    for row in connection.execute(sa.select(events).order_by(events.c.id)):
        if row.dedupe_key.startswith('delivery:'):
            key = row.dedupe_key
        else:
            key = 'sha256:' + hashlib.sha256(row.event_type.encode() + b'\n'
                                             + row.payload.encode('utf-8', 'surrogatepass')).hexdigest()
        if (row.workspace_id, key) in seen:
            connection.execute(events.delete().where(events.c.id == row.id))
            continue
        seen.add((row.workspace_id, key))
        connection.execute(events.update().where(events.c.id == row.id).values(dedupe_key=key))
    with op.batch_alter_table('webhook_events', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_webhook_events_workspace_id_dedupe_key', ['workspace_id', 'dedupe_key'])
    with op.batch_alter_table('webhook_latest_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_webhook_latest_deliveries_workspace_id'))
    op.drop_table('webhook_latest_deliveries')
