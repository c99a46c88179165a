"""The tool-call audit trail: what the assistant did, for one user, newest
first, read by keyset pages.

Every stored tool call knows its user and the task it acted on (columns the
database fills on insert, migration 0008), so a page is one range of the
(user_id, executed_at, id) or (user_id, task_id, executed_at, id) index,
whatever the user's history holds. The cursor is the last call's exact
(executed_at, id): pages neither skip nor repeat a call when new ones arrive.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Engine, select, tuple_

from chatapp.db import Message, ToolCall
from chatapp.db.types import as_utc
from chatapp.services.conversations import owned_conversation
from chatapp.services.database import transaction
from chatapp.services.errors import InvalidInput
from chatapp.services.text import MAX_INT32, check_text

MAX_PAGE = 100
DEFAULT_PAGE = 50
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Microseconds since the epoch, a dot, the call's id as 32 hex digits.
# Imported calls may carry any time from year 1 to 9999, so the count may be
# negative and up to 18 digits; one beyond the calendar is its end.
CURSOR_PATTERN = r"^-?[0-9]{1,18}\.[0-9a-f]{32}$"
_CURSOR = re.compile(CURSOR_PATTERN)


# `since` / `until`: a date, or a date and time (seconds and up to six
# fraction digits optional) with an optional Z or ±hh:mm; no zone means UTC.
INSTANT_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(?:[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_INSTANT = re.compile(INSTANT_PATTERN)


@dataclass(frozen=True)
class Cursor:
    executed_at: datetime
    id: uuid.UUID

    def encode(self) -> str:
        micros = (as_utc(self.executed_at) - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.id.hex}"


def parse_cursor(value: str) -> Cursor:
    if not _CURSOR.match(value):
        raise InvalidInput("before must be a next_before value from an earlier page.")
    micros, hex_id = value.split(".")
    try:
        instant = EPOCH + timedelta(microseconds=int(micros))
    except OverflowError:  # beyond the calendar: as early or late as a time can be, like since/until
        instant = (datetime.min if micros.startswith("-") else datetime.max).replace(tzinfo=timezone.utc)
    return Cursor(instant, uuid.UUID(hex=hex_id))


def parse_instant(value: str, name: str) -> datetime:
    """ISO 8601 as INSTANT_PATTERN spells it, and a real date and time."""
    if not _INSTANT.match(value):
        raise InvalidInput(f"{name} must be an ISO 8601 date or date and time, e.g. 2026-11-23T09:30:00Z.")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise InvalidInput(f"{name} is not a valid date and time: {str(error).rstrip('.')}.") from None
    return utc_instant(parsed, name)


def utc_instant(value: datetime, name: str) -> datetime:
    """A time without a zone is UTC. One whose UTC instant falls outside
    the years 1-9999 (year 1 at +01:00) is as early or late as a time can be."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    try:
        return value.astimezone(timezone.utc)
    except OverflowError:
        return (datetime.min if value.year == 1 else datetime.max).replace(tzinfo=timezone.utc)


@dataclass(frozen=True, slots=True)
class AuditedCall:
    """One tool call in the audit trail: what ran, with what, what came of
    it (the tool's result as stored), when (UTC), and the turn that ran it."""

    id: uuid.UUID
    tool_name: str
    parameters: dict[str, Any]
    result: Any
    executed_at: datetime
    imported: bool
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    task_id: int | None


@dataclass(frozen=True, slots=True)
class AuditPage:
    calls: list[AuditedCall]
    next_before: str | None  # the cursor below the last call; None on the last page


def audited_call(row: Any) -> AuditedCall:
    return AuditedCall(
        id=row.id, tool_name=row.tool_name, parameters=row.parameters, result=row.result,
        executed_at=as_utc(row.executed_at), imported=row.imported, conversation_id=row.conversation_id,
        message_id=row.message_id, task_id=row.task_id,
    )


def list_tool_calls(
    engine: Engine,
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID | None = None,
    tool_name: str | None = None,
    task_id: int | None = None,
    any_task: bool = False,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = DEFAULT_PAGE,
    before: str | None = None,
) -> AuditPage:
    """The user's tool calls, newest first, at most `limit`; `next_before`
    continues below the last one (None when there is nothing older).
    `since` is inclusive, `until` exclusive (nothing lies in an empty window). `task_id`: the calls that
    created, changed, completed or deleted that task (or tried to);
    `any_task`: only calls that acted on some task (no listings).
    Someone else's conversation is not found, like everywhere else."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.")
    if task_id is not None and not 1 <= task_id <= MAX_INT32:
        raise InvalidInput(f"task_id must be between 1 and {MAX_INT32}.")
    if tool_name is not None:
        check_text(tool_name, "tool_name")
    since = utc_instant(since, "since") if since is not None else None
    until = utc_instant(until, "until") if until is not None else None
    cursor = parse_cursor(before) if before is not None else None

    query = (
        select(ToolCall.id, ToolCall.tool_name, ToolCall.parameters, ToolCall.result, ToolCall.executed_at,
               ToolCall.imported, ToolCall.message_id, ToolCall.task_id, Message.conversation_id)
        .join(Message, Message.id == ToolCall.message_id)
        .where(ToolCall.user_id == user_id)
    )
    if task_id is not None:
        query = query.where(ToolCall.task_id == task_id)
    elif any_task:
        query = query.where(ToolCall.task_id.is_not(None))
    if conversation_id is not None:
        query = query.where(Message.conversation_id == conversation_id)
    if tool_name is not None:
        query = query.where(ToolCall.tool_name == tool_name)
    if since is not None:
        query = query.where(ToolCall.executed_at >= since)
    if until is not None:
        query = query.where(ToolCall.executed_at < until)
    if cursor is not None:
        query = query.where(tuple_(ToolCall.executed_at, ToolCall.id) < tuple_(cursor.executed_at, cursor.id))
    query = query.order_by(ToolCall.executed_at.desc(), ToolCall.id.desc()).limit(limit + 1)

    with transaction(engine) as connection:
        if conversation_id is not None:
            owned_conversation(connection, user_id=user_id, conversation_id=conversation_id)
        rows = connection.execute(query).all()
    page = rows[:limit]
    more = len(rows) > limit
    return AuditPage(
        calls=[audited_call(row) for row in page],
        next_before=Cursor(page[-1].executed_at, page[-1].id).encode() if more else None,
    )
