"""Running token totals: conversations.token_total, messages.tokens_before

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("token_total", sa.Integer(), server_default="0", nullable=False))
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tokens_before", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_messages_conversation_id_tokens_before", ["conversation_id", "tokens_before"], unique=False)
    # Existing rows: running sums in seq order.
    op.execute(
        """
        UPDATE messages SET tokens_before = (
            SELECT COALESCE(SUM(earlier.token_count), 0) FROM messages AS earlier
            WHERE earlier.conversation_id = messages.conversation_id AND earlier.seq < messages.seq
        )
        """
    )
    op.execute(
        """
        UPDATE conversations SET token_total = (
            SELECT COALESCE(SUM(m.token_count), 0) FROM messages AS m WHERE m.conversation_id = conversations.id
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_conversation_id_tokens_before")
        batch_op.drop_column("tokens_before")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("token_total")
