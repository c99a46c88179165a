"""Reading stored messages: one query for a conversation's tail (with tool
calls), and the public shape every caller returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select

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
    imported: bool = False

    def view(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "tool_name": self.tool_name,
            "parameters": self.parameters,
            "result": self.result,
            "executed_at": iso_z(self.executed_at),
            "imported": self.imported,
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
    tokens_before: int = 0
    error_code: str | None = None
    reply_to: uuid.UUID | None = None
    started_at: datetime | None = None
    tool_calls: list[StoredToolCall] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "seq": self.seq,
            "role": self.role,
            "content": self.content,
            "status": self.status,
            "error_code": self.error_code,
            "reply_to": str(self.reply_to) if self.reply_to else None,
            "created_at": iso_z(self.created_at),
            "tool_calls": [call.view() for call in self.tool_calls],
        }


MESSAGE_COLUMNS = (
    Message.id, Message.seq, Message.role, Message.content, Message.status, Message.created_at,
    Message.token_count, Message.tokens_before, Message.error_code, Message.reply_to, Message.started_at,
)
TOOL_CALL_AT = len(MESSAGE_COLUMNS)
TOOL_CALL_FIELDS = 7  # id, call_id, tool_name, parameters, result, executed_at, imported


def _tail_statement(*, budgeted: bool, bounded: bool) -> Any:
    """The newest messages of a conversation (below `before_seq` when
    bounded), as one seq range on the (conversation_id, seq) index, so the
    cost is the rows read, never the conversation's length.

    Budgeted: the newest `limit` messages, plus older ones back to the first
    whose `tokens_before` reaches `min_tokens_before` (one probe of the
    (conversation_id, tokens_before) index), never more than `max_rows`."""
    in_conversation = Message.conversation_id == bindparam("conversation_id")
    if budgeted:
        floor = func.coalesce(
            select(Message.seq)
            .where(in_conversation, Message.tokens_before >= bindparam("min_tokens_before"))
            .order_by(Message.tokens_before)
            .limit(1)
            .scalar_subquery(),
            bindparam("page_lower"),
        )
        lower = case((floor < bindparam("page_lower"), floor), else_=bindparam("page_lower"))
        page = (
            select(*MESSAGE_COLUMNS)
            .where(in_conversation, Message.seq <= bindparam("through_seq"), Message.seq >= lower,
                   Message.seq >= bindparam("cap_lower"))
            .subquery()
        )
    else:
        tail = select(*MESSAGE_COLUMNS).where(in_conversation)
        if bounded:
            tail = tail.where(Message.seq < bindparam("before_seq"))
        page = tail.order_by(Message.seq.desc()).limit(bindparam("limit")).subquery()
    return (
        select(
            *page.c,
            ToolCall.id.label("tool_call_id"), ToolCall.call_id, ToolCall.tool_name, ToolCall.parameters,
            ToolCall.result, ToolCall.executed_at, ToolCall.imported,
        )
        .select_from(page.outerjoin(ToolCall, ToolCall.message_id == page.c.id))
        .order_by(page.c.seq, ToolCall.position)
    )


# Built once: constructing SQL expressions costs more than running them.
_PAGE = {bounded: _tail_statement(budgeted=False, bounded=bounded) for bounded in (False, True)}
_WINDOW = _tail_statement(budgeted=True, bounded=True)


def rows_to_messages(rows: Any) -> list[StoredMessage]:
    messages: list[StoredMessage] = []
    for row in rows:
        if not messages or messages[-1].id != row[0]:
            messages.append(StoredMessage(*row[:TOOL_CALL_AT]))
        if row[TOOL_CALL_AT] is not None:
            messages[-1].tool_calls.append(StoredToolCall(*row[TOOL_CALL_AT:TOOL_CALL_AT + TOOL_CALL_FIELDS]))
    return messages


def read_tail(
    connection: Connection, conversation_id: uuid.UUID, *, limit: int, before_seq: int | None = None
) -> list[StoredMessage]:
    """A page: the latest `limit` messages before `before_seq`, oldest first."""
    params: dict[str, Any] = {"conversation_id": conversation_id, "limit": limit}
    if before_seq is not None:
        params["before_seq"] = before_seq
    return rows_to_messages(connection.execute(_PAGE[before_seq is not None], params).all())


def read_window(
    connection: Connection, conversation_id: uuid.UUID, *, through: StoredMessage, limit: int, token_budget: int
) -> list[StoredMessage]:
    """Oldest first, up to and including `through`: the latest `limit`
    messages, and older ones while the tokens from them to `through` fit
    `token_budget` (at most MAX_WINDOW_ROWS messages in all)."""
    params = {
        "conversation_id": conversation_id,
        "through_seq": through.seq,
        "page_lower": through.seq - limit + 1,
        "cap_lower": through.seq - max(limit, MAX_WINDOW_ROWS) + 1,
        "min_tokens_before": through.tokens_before + through.token_count - token_budget,
    }
    return rows_to_messages(connection.execute(_WINDOW, params).all())


def has_older(messages: list[StoredMessage]) -> bool:
    """seq is gap-free from 1, so older messages exist exactly when the
    oldest one in hand is not seq 1."""
    return bool(messages) and messages[0].seq > 1
