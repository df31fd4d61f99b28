"""webhook dedupe: one latest delivery per subject, whatever its event type

Revision ID: 0006
Revises: 0005

A latest delivery per (workspace, event type, subject) dropped real changes: after TIME_ENTRY_DELETED,
TIME_ENTRY_RESTORED and the same TIME_ENTRY_DELETED body again, the second deletion still
repeated the latest DELETED of the entry and was answered as a duplicate, so the entry stayed
cached. A delivery is now a duplicate only when it repeats the latest delivery of its subject, the
same event type and body (``addon.store.webhook_events.record``): the unique key becomes
(workspace, subject) and ``event_type`` the type of that latest delivery.

Of the rows a subject has per event type, the newest (greatest ``seen_at``, then ``id``) is the
subject's latest delivery; the others are removed. The downgrade only restores the old key, which
the remaining rows satisfy.
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD_KEY = 'uq_webhook_latest_deliveries_workspace_id_event_type_subject'
NEW_KEY = 'uq_webhook_latest_deliveries_workspace_id_subject'


def upgrade():
    latest = sa.table('webhook_latest_deliveries', sa.column('id'), sa.column('workspace_id'), sa.column('subject'),
                      sa.column('seen_at'))
    newer = latest.alias('newer')
    # One correlated DELETE, the same on PostgreSQL and SQLite: a row goes when its subject has a newer one.
    op.execute(latest.delete().where(sa.exists().where(
        newer.c.workspace_id == latest.c.workspace_id, newer.c.subject == latest.c.subject,
        sa.or_(newer.c.seen_at > latest.c.seen_at,
               sa.and_(newer.c.seen_at == latest.c.seen_at, newer.c.id > latest.c.id)))))
    with op.batch_alter_table('webhook_latest_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(OLD_KEY, type_='unique')
        batch_op.create_unique_constraint(NEW_KEY, ['workspace_id', 'subject'])


def downgrade():
    with op.batch_alter_table('webhook_latest_deliveries', schema=None) as batch_op:
        batch_op.drop_constraint(NEW_KEY, type_='unique')
        batch_op.create_unique_constraint(OLD_KEY, ['workspace_id', 'event_type', 'subject'])
