"""Backfill token counts and running totals for messages stored before 0002

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 00:30:00

0002 added `messages.token_count` with a default of 0 and no backfill, and
0003 summed those zeros into `tokens_before` and `conversations.token_total`,
so history older than 0002 weighs nothing in the token-budgeted window.

Which rows are uncounted: the app writes every complete message with at least
`ITEM_OVERHEAD_TOKENS`, so a complete message with 0 was stored before 0002
(statuses other than complete came with 0004, after counting began; an
interrupted or in-progress answer's 0 is the app's own and stays). Each such
row gets the count the app writes (`message_tokens` over its text and its
tool calls), and each conversation that had one gets its running totals
recomputed in seq order, as an import writes them. Conversations are read a
batch at a time, so memory stays bounded; a second run finds nothing to do.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from chatapp.db.types import JSONValue
from chatapp.services.tokens import message_tokens

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CONVERSATIONS_PER_BATCH = 100
IDS_PER_QUERY = 500

conversations = sa.table("conversations", sa.column("id", sa.Uuid()), sa.column("token_total", sa.Integer()))
messages = sa.table(
    "messages",
    sa.column("id", sa.Uuid()), sa.column("conversation_id", sa.Uuid()), sa.column("seq", sa.Integer()),
    sa.column("content", sa.Text()), sa.column("status", sa.String()),
    sa.column("token_count", sa.Integer()), sa.column("tokens_before", sa.Integer()),
)
tool_calls = sa.table(
    "tool_calls",
    sa.column("message_id", sa.Uuid()), sa.column("position", sa.Integer()), sa.column("tool_name", sa.String()),
    sa.column("parameters", JSONValue), sa.column("result", JSONValue),
)
UNCOUNTED = sa.and_(messages.c.token_count == 0, messages.c.status == "complete")


def calls_of(connection: sa.Connection, message_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[tuple[str, Any, Any]]]:
    """Each message's tool calls as `message_tokens` takes them."""
    calls: dict[uuid.UUID, list[tuple[str, Any, Any]]] = defaultdict(list)
    for start in range(0, len(message_ids), IDS_PER_QUERY):
        rows = connection.execute(
            sa.select(tool_calls.c.message_id, tool_calls.c.tool_name, tool_calls.c.parameters, tool_calls.c.result)
            .where(tool_calls.c.message_id.in_(message_ids[start:start + IDS_PER_QUERY]))
            .order_by(tool_calls.c.message_id, tool_calls.c.position)
        )
        for message_id, tool_name, parameters, result in rows:
            calls[message_id].append((tool_name, parameters, result))
    return calls


def backfill(connection: sa.Connection, conversation_ids: list[uuid.UUID]) -> None:
    rows = connection.execute(
        sa.select(messages.c.id, messages.c.conversation_id, messages.c.content, messages.c.status,
                  messages.c.token_count, messages.c.tokens_before)
        .where(messages.c.conversation_id.in_(conversation_ids))
        .order_by(messages.c.conversation_id, messages.c.seq)
    ).all()
    calls = calls_of(connection, [row.id for row in rows if row.token_count == 0 and row.status == "complete"])
    message_updates: list[dict[str, Any]] = []
    totals: dict[uuid.UUID, int] = defaultdict(int)
    for row in rows:
        count = row.token_count
        if count == 0 and row.status == "complete":
            count = message_tokens(row.content, calls.get(row.id, []))
        before = totals[row.conversation_id]
        if (count, before) != (row.token_count, row.tokens_before):
            message_updates.append({"b_id": row.id, "b_count": count, "b_before": before})
        totals[row.conversation_id] = before + count
    if message_updates:
        connection.execute(
            messages.update().where(messages.c.id == sa.bindparam("b_id"))
            .values(token_count=sa.bindparam("b_count"), tokens_before=sa.bindparam("b_before")),
            message_updates,
        )
    connection.execute(
        conversations.update().where(conversations.c.id == sa.bindparam("b_id"))
        .values(token_total=sa.bindparam("b_total")),
        [{"b_id": conversation_id, "b_total": totals[conversation_id]} for conversation_id in conversation_ids],
    )


def upgrade() -> None:
    connection = op.get_bind()
    after: uuid.UUID | None = None
    while True:
        query = sa.select(messages.c.conversation_id).where(UNCOUNTED).distinct()
        if after is not None:
            query = query.where(messages.c.conversation_id > after)
        batch = list(connection.scalars(query.order_by(messages.c.conversation_id).limit(CONVERSATIONS_PER_BATCH)))
        if not batch:
            return
        backfill(connection, batch)
        after = batch[-1]


def downgrade() -> None:
    """Nothing to undo: the counts are what the app would have written."""
