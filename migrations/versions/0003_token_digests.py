"""installation token digest; tokens erasable at DELETED

The installation row keeps the SHA-256 digest of its token, so the sidebar recognises the
installation token without decrypting anything, and an uninstalled workspace keeps only digests.

Revision ID: 0003
Revises: 0002
"""
import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("installations") as batch_op:
        batch_op.add_column(sa.Column("installation_token_digest", sa.String(length=64), nullable=True))
        batch_op.alter_column("installation_token", existing_type=sa.Text(), nullable=True)
    _backfill_digests()


def _backfill_digests():
    """Digest the tokens already stored (decrypted with the app's key, which runs the migration)."""
    from addon.crypto import current_cipher

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, installation_token FROM installations "
                                "WHERE installation_token IS NOT NULL")).all()
    if not rows:
        return
    cipher = current_cipher()
    for row_id, ciphertext in rows:
        digest = hashlib.sha256(cipher.decrypt(ciphertext).encode()).hexdigest()
        bind.execute(sa.text("UPDATE installations SET installation_token_digest = :digest WHERE id = :id"),
                     {"digest": digest, "id": row_id})


def downgrade():
    with op.batch_alter_table("installations") as batch_op:
        batch_op.drop_column("installation_token_digest")
