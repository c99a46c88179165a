"""Durable turns: answer lifecycle (error_code, reply_to, started_at) and idempotency keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("error_code", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("reply_to", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_messages_in_progress", "messages", ["conversation_id"], unique=False,
        postgresql_where=sa.text("status = 'in_progress'"), sqlite_where=sa.text("status = 'in_progress'"),
    )
    # Existing answers name the user message just before them.
    op.execute(
        """
        UPDATE messages SET reply_to = (
            SELECT prior.id FROM messages AS prior
            WHERE prior.conversation_id = messages.conversation_id AND prior.seq = messages.seq - 1
              AND prior.role = 'user'
        )
        WHERE role = 'assistant'
        """
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("route", sa.String(length=32), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.Uuid(), nullable=False),
        sa.Column("answer_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_messages_in_progress", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("started_at")
        batch_op.drop_column("reply_to")
        batch_op.drop_column("error_code")
