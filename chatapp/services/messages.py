"""Reading stored messages: one query for a conversation's tail (with tool
calls), and the public shape every caller returns."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Select, Subquery, bindparam, case, func, select

from chatapp.db import Message, ToolCall
from chatapp.db.types import iso_z
from chatapp.services.text import MAX_INT32

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
# Labelled apart from the message's own columns, so each is read by name.
TOOL_CALL_COLUMNS = (
    ToolCall.id.label("tool_call_id"), ToolCall.call_id, ToolCall.tool_name, ToolCall.parameters,
    ToolCall.result, ToolCall.executed_at, ToolCall.imported,
)


def with_tool_calls(page: Subquery) -> Select[Any]:
    """The messages of `page` (MESSAGE_COLUMNS) each with its tool calls, a
    row per call (one row of NULL calls for a message without), in seq order:
    what `rows_to_messages` reads."""
    return (
        select(*page.c, *TOOL_CALL_COLUMNS)
        .select_from(page.outerjoin(ToolCall, ToolCall.message_id == page.c.id))
        .order_by(page.c.seq, ToolCall.position)
    )


def _page_statement() -> Select[Any]:
    """The newest `limit` messages up to `newest_seq`, as one seq range on
    the (conversation_id, seq) index, so the cost is the rows read, never the
    conversation's length."""
    page = (
        select(*MESSAGE_COLUMNS)
        .where(Message.conversation_id == bindparam("conversation_id"), Message.seq <= bindparam("newest_seq"))
        .order_by(Message.seq.desc())
        .limit(bindparam("limit"))
        .subquery()
    )
    return with_tool_calls(page)


def _window_statement() -> Select[Any]:
    """Messages through `through_seq`: the newest `limit` (down to
    `page_lower`), plus older ones back to the first whose `tokens_before`
    reaches `min_tokens_before` (one probe of the (conversation_id,
    tokens_before) index), never below `cap_lower`."""
    in_conversation = Message.conversation_id == bindparam("conversation_id")
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
    return with_tool_calls(page)


# Built once: each build costs about 2% of a turn (bench/statements.py).
_PAGE = _page_statement()
_WINDOW = _window_statement()


# The result columns each record is read from, by name, in its fields' order.
MESSAGE_FIELDS = tuple(column.key for column in MESSAGE_COLUMNS)
TOOL_CALL_FIELDS = tuple(column.key for column in TOOL_CALL_COLUMNS)
assert MESSAGE_FIELDS == tuple(f.name for f in fields(StoredMessage))[:len(MESSAGE_FIELDS)]
assert TOOL_CALL_FIELDS[1:] == tuple(f.name for f in fields(StoredToolCall))[1:]  # [0] is tool_call_id


def picker(row_fields: Sequence[str], names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The named columns of a row, in `names` order: looked up by name once
    per result, then read at C speed (a Row's attribute access costs about
    7x a slice, 2 ms on a 400-message window)."""
    return itemgetter(*(row_fields.index(name) for name in names))


def stored_message(row: Any) -> StoredMessage:
    """From a row holding MESSAGE_COLUMNS (tool calls are added apart)."""
    return StoredMessage(*picker(row._fields, MESSAGE_FIELDS)(row))


def rows_to_messages(rows: Sequence[Any]) -> list[StoredMessage]:
    """Messages with their tool calls, from the rows of `with_tool_calls`."""
    if not rows:
        return []
    names = rows[0]._fields
    message_of, tool_call_of = picker(names, MESSAGE_FIELDS), picker(names, TOOL_CALL_FIELDS)
    id_at, tool_call_at = names.index("id"), names.index("tool_call_id")
    messages: list[StoredMessage] = []
    for row in rows:
        if not messages or messages[-1].id != row[id_at]:
            messages.append(StoredMessage(*message_of(row)))
        if row[tool_call_at] is not None:
            messages[-1].tool_calls.append(StoredToolCall(*tool_call_of(row)))
    return messages


def read_tail(
    connection: Connection, conversation_id: uuid.UUID, *, limit: int, before_seq: int | None = None
) -> list[StoredMessage]:
    """A page: the latest `limit` messages before `before_seq`, oldest first."""
    params = {
        "conversation_id": conversation_id, "limit": limit,
        "newest_seq": MAX_INT32 if before_seq is None else before_seq - 1,
    }
    return rows_to_messages(connection.execute(_PAGE, params).all())


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
