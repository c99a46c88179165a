"""When an answer still "in progress" is really dead.

A worker that dies (SIGKILL, out of memory, a lost host) cannot store its
answer as failed. Whoever next reads or writes the conversation does: an
answer in progress longer than the turn timeout plus a margin has no live
worker behind it, because a live worker stores every answer by its timeout.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, or_, update

from chatapp.db import Message
from chatapp.db.types import as_utc, utcnow
from chatapp.services.messages import StoredMessage

INTERRUPT_MARGIN_SECONDS = 30.0
SETTLE_INTERRUPTED = (
    update(Message)
    .where(Message.conversation_id == bindparam("b_conversation_id"), Message.status == "in_progress",
           or_(Message.started_at < bindparam("b_cutoff"), Message.started_at.is_(None)))
    .values(status="failed", error_code="interrupted")
)


def interrupt_cutoff(turn_timeout_seconds: float) -> datetime:
    return utcnow() - timedelta(seconds=turn_timeout_seconds + INTERRUPT_MARGIN_SECONDS)


def is_dead(message: StoredMessage, cutoff: datetime) -> bool:
    return message.status == "in_progress" and (message.started_at is None or as_utc(message.started_at) < cutoff)


def settle_interrupted(connection: Connection, conversation_id: uuid.UUID, cutoff: datetime) -> int:
    """Answers whose worker died become failed/interrupted: whoever next
    reads or writes the conversation does it, so no janitor is needed."""
    return connection.execute(SETTLE_INTERRUPTED, {"b_conversation_id": conversation_id, "b_cutoff": cutoff}).rowcount


def settle_in_page(connection: Connection, conversation_id: uuid.UUID, messages: list[StoredMessage], cutoff: datetime) -> None:
    """Settle only when a page shows a dead answer: reads stay one statement."""
    dead = [message for message in messages if is_dead(message, cutoff)]
    if dead and settle_interrupted(connection, conversation_id, cutoff):
        for message in dead:
            message.status, message.error_code = "failed", "interrupted"
