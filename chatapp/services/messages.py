"""Reading stored messages: one query for a page of a conversation's tail
(with tool calls), and the public shape every caller returns."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from chatapp.db import Message, ToolCall
from chatapp.db.types import iso_z


@dataclass
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


@dataclass
class StoredMessage:
    id: uuid.UUID
    seq: int
    role: str
    content: str
    status: str
    created_at: datetime
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


def read_tail(
    connection: Connection, conversation_id: uuid.UUID, *, limit: int, before_seq: int | None = None
) -> list[StoredMessage]:
    """The latest `limit` messages before `before_seq`, oldest first, with
    their tool calls, in one statement. It walks the (conversation_id, seq)
    index backwards, so the cost is the page size, never the conversation's
    length."""
    page = select(Message).where(Message.conversation_id == conversation_id)
    if before_seq is not None:
        page = page.where(Message.seq < before_seq)
    page = page.order_by(Message.seq.desc()).limit(limit).subquery()
    rows = connection.execute(
        select(
            page.c.id, page.c.seq, page.c.role, page.c.content, page.c.status, page.c.created_at,
            ToolCall.id.label("tool_call_id"), ToolCall.call_id, ToolCall.tool_name, ToolCall.parameters,
            ToolCall.result, ToolCall.executed_at,
        )
        .select_from(page.outerjoin(ToolCall, ToolCall.message_id == page.c.id))
        .order_by(page.c.seq, ToolCall.position)
    ).all()
    messages: list[StoredMessage] = []
    for row in rows:
        if not messages or messages[-1].id != row.id:
            messages.append(StoredMessage(row.id, row.seq, row.role, row.content, row.status, row.created_at))
        if row.tool_call_id is not None:
            messages[-1].tool_calls.append(
                StoredToolCall(row.tool_call_id, row.call_id, row.tool_name, row.parameters, row.result, row.executed_at)
            )
    return messages


def has_older(messages: list[StoredMessage]) -> bool:
    """seq is gap-free from 1, so older messages exist exactly when the
    oldest one in hand is not seq 1."""
    return bool(messages) and messages[0].seq > 1
