"""Conversation operations for one user: list, open, rename, delete.

A conversation that does not exist and one that belongs to someone else get
the same `NotFound`, so ids cannot be probed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, update

from chatapp.db import Conversation
from chatapp.db.types import as_utc
from chatapp.services.database import transaction
from chatapp.services.text import check_text
from chatapp.services.errors import InvalidInput, NotFound
from chatapp.services.lifecycle import interrupt_cutoff, settle_in_page
from chatapp.services.messages import StoredMessage, has_older, read_tail

MAX_TITLE_LENGTH = 200
MAX_PAGE = 100
DEFAULT_TITLE = "New conversation"


CONVERSATION_COLUMNS = (
    Conversation.id, Conversation.title, Conversation.created_at, Conversation.updated_at, Conversation.last_seq,
)


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """A conversation without its messages; times are UTC."""

    id: uuid.UUID
    title: str
    created_at: datetime
    updated_at: datetime
    message_count: int


@dataclass
class MessagePage:
    conversation: StoredConversation
    messages: list[StoredMessage]
    has_more: bool


def title_from_message(message: str, limit: int = 60) -> str:
    """The first message, on one line, cut at a word boundary."""
    line = " ".join(message.split())
    if len(line) <= limit:
        return line or DEFAULT_TITLE
    cut = line[:limit].rsplit(" ", 1)[0] or line[:limit]
    return cut.rstrip(" ,.;:") + "…"


def stored_conversation(row: Any) -> StoredConversation:
    """From a row of CONVERSATION_COLUMNS (seq is gap-free, so the last one
    is the message count)."""
    return StoredConversation(
        id=row.id, title=row.title, created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at),
        message_count=row.last_seq,
    )


def page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
    return limit


def owned_conversation(connection: Connection, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> Any:
    row = connection.execute(
        select(*CONVERSATION_COLUMNS).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
    ).first()
    if row is None:
        raise NotFound("Conversation not found.", conversation_id=None)
    return row


def list_conversations(
    engine: Engine, *, user_id: uuid.UUID, limit: int = 50, offset: int = 0
) -> tuple[list[StoredConversation], bool]:
    """Most recently active first; one extra row tells whether more exist."""
    limit = page_size(limit)
    if offset < 0:
        raise InvalidInput("offset must not be negative.")
    with transaction(engine) as connection:
        rows = connection.execute(
            select(*CONVERSATION_COLUMNS)
            .where(Conversation.user_id == user_id)
            .order_by(Conversation.updated_at.desc(), Conversation.id)
            .limit(limit + 1)
            .offset(offset)
        ).all()
    return [stored_conversation(row) for row in rows[:limit]], len(rows) > limit


def open_conversation(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, limit: int = MAX_PAGE, before_seq: int | None = None,
    turn_timeout_seconds: float,
) -> MessagePage:
    """A conversation with a page of its messages, read backwards by seq:
    the latest page first, then `before_seq` = the oldest seq in hand. An
    answer whose worker died is settled as interrupted on the way."""
    limit = page_size(limit)
    with transaction(engine) as connection:
        conversation = owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        messages = read_tail(connection, conversation_id, limit=limit, before_seq=before_seq)
        settle_in_page(connection, conversation_id, messages, interrupt_cutoff(turn_timeout_seconds))
    return MessagePage(stored_conversation(conversation), messages, has_older(messages))


def rename_conversation(
    engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID, title: str
) -> StoredConversation:
    cleaned = " ".join(check_text(title, "title").split())
    if not cleaned:
        raise InvalidInput("A title cannot be empty.")
    if len(cleaned) > MAX_TITLE_LENGTH:
        raise InvalidInput(f"A title is at most {MAX_TITLE_LENGTH} characters.")
    with transaction(engine) as connection:
        row = connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.user_id == user_id)
            .values(title=cleaned)
            .returning(*CONVERSATION_COLUMNS)
        ).first()
    if row is None:
        raise NotFound("Conversation not found.")
    return stored_conversation(row)


def delete_conversation(engine: Engine, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """Messages and tool calls go with it (ON DELETE CASCADE)."""
    with transaction(engine) as connection:
        deleted = connection.execute(
            delete(Conversation).where(Conversation.id == conversation_id, Conversation.user_id == user_id)
        ).rowcount
    if not deleted:
        raise NotFound("Conversation not found.")
