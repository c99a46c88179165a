"""Reading stored messages: one query for a conversation's tail (with tool
calls), and the public shape every caller returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, literal_column, or_, select

from chatapp.db import Message, ToolCall
from chatapp.db.types import iso_z

# Most rows a turn reads to fill its token budget, however short the messages.
MAX_WINDOW_ROWS = 400


@dataclass(slots=True)
class StoredToolCall:
    id: uuid.UUID
    call_id: str
    tool_name: str
    parameters: dict[str, Any]
    result: Any
    executed_at: datetime

    def view(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "tool_name": self.tool_name,
            "parameters": self.parameters,
            "result": self.result,
            "executed_at": iso_z(self.executed_at),
        }


@dataclass(slots=True)
class StoredMessage:
    id: uuid.UUID
    seq: int
    role: str
    content: str
    status: str
    created_at: datetime
    token_count: int = 0
    tool_calls: list[StoredToolCall] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "seq": self.seq,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "created_at": iso_z(self.created_at),
            "tool_calls": [call.view() for call in self.tool_calls],
        }


def _tail_statement(*, budgeted: bool, bounded: bool) -> Any:
    """The newest messages of a conversation (below `before_seq` when
    bounded), walking the (conversation_id, seq) index backwards, so the cost
    is the rows read, never the conversation's length.

    Budgeted: the newest `limit` rows plus older ones while a running sum of
    token_count stays within `budget` (looking at most MAX_WINDOW_ROWS back).
    Both conditions select a newest-first prefix, so the window is a seq
    range: its lower bound is computed over (seq, token_count) alone, then
    only the rows in range are read in full."""
    in_conversation = [Message.conversation_id == bindparam("conversation_id")]
    if bounded:
        in_conversation.append(Message.seq < bindparam("before_seq"))
    if budgeted:
        tail = (
            select(Message.seq, Message.token_count)
            .where(*in_conversation)
            .order_by(Message.seq.desc())
            .limit(bindparam("max_rows"))
            .subquery()
        )
        ranked = select(
            tail.c.seq,
            func.row_number().over(order_by=tail.c.seq.desc()).label("rank"),
            (func.sum(tail.c.token_count).over(order_by=tail.c.seq.desc()) - tail.c.token_count).label("spent_before"),
        ).subquery()
        lowest_seq = (
            select(func.coalesce(func.min(ranked.c.seq), literal_column("0")))
            .where(or_(ranked.c.rank <= bindparam("limit"), ranked.c.spent_before < bindparam("budget")))
            .scalar_subquery()
        )
        page = (
            select(Message.id, Message.seq, Message.role, Message.content, Message.status, Message.created_at,
                   Message.token_count)
            .where(*in_conversation, Message.seq >= lowest_seq)
            .subquery()
        )
    else:
        page = (
            select(Message.id, Message.seq, Message.role, Message.content, Message.status, Message.created_at,
                   Message.token_count)
            .where(*in_conversation)
            .order_by(Message.seq.desc())
            .limit(bindparam("limit"))
            .subquery()
        )
    return (
        select(
            page.c.id, page.c.seq, page.c.role, page.c.content, page.c.status, page.c.created_at, page.c.token_count,
            ToolCall.id.label("tool_call_id"), ToolCall.call_id, ToolCall.tool_name, ToolCall.parameters,
            ToolCall.result, ToolCall.executed_at,
        )
        .select_from(page.outerjoin(ToolCall, ToolCall.message_id == page.c.id))
        .order_by(page.c.seq, ToolCall.position)
    )


# Built once: constructing SQL expressions costs more than running them.
_TAIL = {(budgeted, bounded): _tail_statement(budgeted=budgeted, bounded=bounded)
         for budgeted in (False, True) for bounded in (False, True)}


def read_tail(
    connection: Connection,
    conversation_id: uuid.UUID,
    *,
    limit: int,
    before_seq: int | None = None,
    token_budget: int | None = None,
) -> list[StoredMessage]:
    """Oldest first: the latest `limit` messages before `before_seq`, and
    with a `token_budget` also every older one that fits in it."""
    params: dict[str, Any] = {"conversation_id": conversation_id, "limit": limit}
    if before_seq is not None:
        params["before_seq"] = before_seq
    if token_budget is not None:
        params.update(budget=token_budget, max_rows=max(limit, MAX_WINDOW_ROWS))
    rows = connection.execute(_TAIL[(token_budget is not None, before_seq is not None)], params).all()
    messages: list[StoredMessage] = []
    for row in rows:
        if not messages or messages[-1].id != row[0]:
            messages.append(StoredMessage(row[0], row[1], row[2], row[3], row[4], row[5], row[6]))
        if row[7] is not None:
            messages[-1].tool_calls.append(StoredToolCall(row[7], row[8], row[9], row[10], row[11], row[12]))
    return messages


def has_older(messages: list[StoredMessage]) -> bool:
    """seq is gap-free from 1, so older messages exist exactly when the
    oldest one in hand is not seq 1."""
    return bool(messages) and messages[0].seq > 1
