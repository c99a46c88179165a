"""Conversations, their messages and the tool calls of assistant messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Text, UniqueConstraint, false, text
from sqlmodel import Column, Field, SQLModel

from chatapp.db.types import JSONValue, UTCDateTime, utcnow


class Conversation(SQLModel, table=True):
    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_user_id_updated_at", "user_id", "updated_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(sa_column=Column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False))
    title: str = Field(default="New conversation", max_length=200, nullable=False)
    # Highest seq handed out. Bumping it with UPDATE ... RETURNING takes the
    # row lock that makes seq allocation atomic and gap-free per conversation.
    last_seq: int = Field(default=0, nullable=False)
    # Tokens of all its messages so far, bumped in the same UPDATE as last_seq.
    token_total: int = Field(default=0, sa_column_kwargs={"server_default": "0"}, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class Message(SQLModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_id_seq"),
        Index("ix_messages_conversation_id_tokens_before", "conversation_id", "tokens_before"),
        # Finds a conversation's running turns without walking its history.
        Index(
            "ix_messages_in_progress", "conversation_id",
            postgresql_where=text("status = 'in_progress'"), sqlite_where=text("status = 'in_progress'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    conversation_id: uuid.UUID = Field(
        sa_column=Column(ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False)
    )
    seq: int = Field(nullable=False)
    role: str = Field(max_length=16, nullable=False)
    content: str = Field(sa_column=Column(Text, nullable=False))
    # An answer's lifecycle: in_progress -> complete | stopped | failed.
    # User messages are always complete.
    status: str = Field(default="complete", max_length=16, nullable=False)
    # Why a failed answer failed (agent_error, timeout, interrupted, ...).
    error_code: str | None = Field(default=None, max_length=32, nullable=True)
    # The user message an answer answers, so interleaved turns stay readable.
    reply_to: uuid.UUID | None = Field(default=None, nullable=True)
    # When the current attempt at an answer started: a turn still in
    # progress long after this died with its worker.
    started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    # Tokens this message (with its tool calls) costs in the model's input,
    # counted once at write time so the history window is chosen in SQL.
    token_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"}, nullable=False)
    # Tokens of every earlier message in the conversation: grows with seq, so
    # "the newest messages within N tokens" is an index range, not a scan.
    tokens_before: int = Field(default=0, sa_column_kwargs={"server_default": "0"}, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


class ToolCall(SQLModel, table=True):
    __tablename__ = "tool_calls"
    __table_args__ = (
        Index("ix_tool_calls_message_id_position", "message_id", "position"),
        # The audit trail, newest first: all of a user's calls, or one task's.
        Index("ix_tool_calls_user_id_executed_at", "user_id", "executed_at", "id"),
        Index("ix_tool_calls_user_id_task_id_executed_at", "user_id", "task_id", "executed_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    message_id: uuid.UUID = Field(sa_column=Column(ForeignKey("messages.id", ondelete="CASCADE"), nullable=False))
    position: int = Field(nullable=False)
    call_id: str = Field(max_length=128, nullable=False)
    tool_name: str = Field(max_length=64, nullable=False)
    parameters: dict[str, Any] = Field(sa_column=Column(JSONValue, nullable=False))
    result: Any = Field(default=None, sa_column=Column(JSONValue, nullable=True))
    executed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    # Came in with an imported conversation: the recorded result of a call
    # made elsewhere (or earlier), not something this app's tools did.
    imported: bool = Field(default=False, sa_column_kwargs={"server_default": false()}, nullable=False)
    # Filled by the database on insert (migration 0008's trigger), whoever
    # writes the row: the owner of its conversation, and the task the call
    # acted on (the result's task_id, else the arguments'; null for none).
    user_id: uuid.UUID | None = Field(default=None, nullable=True)
    task_id: int | None = Field(default=None, nullable=True)
