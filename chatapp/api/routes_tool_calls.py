"""The tool-call audit trail: what the assistant did with the user's tasks."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from chatapp.api.deps import CurrentUser, EngineDep
from chatapp.api.schemas import ErrorResponse, Text, ToolCallPage
from chatapp.services import tool_calls
from chatapp.services.database import in_thread
from chatapp.services.text import MAX_INT32, UUID_PATTERN, parse_uuid

# Any text without a NUL (which no column can hold).
NO_NUL_PATTERN = "^[^\\u0000]*$"
router = APIRouter(prefix="/api/{user_id}", tags=["tool calls"])
ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 503)}


@router.get("/tool-calls", response_model=ToolCallPage, responses=ERRORS)
async def list_tool_calls(
    user_id: CurrentUser,
    engine: EngineDep,
    conversation_id: Annotated[str | None, Query(json_schema_extra={"format": "uuid", "pattern": UUID_PATTERN})] = None,
    tool_name: Annotated[Text | None, Query(min_length=1, max_length=64, pattern=NO_NUL_PATTERN)] = None,
    task_id: Annotated[int | None, Query(ge=1, le=MAX_INT32, description="Only the calls that created, changed, completed or deleted this task.")] = None,
    since: Annotated[str | None, Query(
        max_length=40, json_schema_extra={"format": "date-time"},
        description="Executed at or after this time: RFC 3339, e.g. 2026-11-23T09:30:00Z. Also accepted: a date "
        "alone (midnight) and no zone (UTC).",
    )] = None,
    until: Annotated[str | None, Query(
        max_length=40, json_schema_extra={"format": "date-time"},
        description="Executed before this time (the same forms as `since`).",
    )] = None,
    limit: Annotated[int, Query(ge=1, le=tool_calls.MAX_PAGE)] = tool_calls.DEFAULT_PAGE,
    before: Annotated[str | None, Query(pattern=tool_calls.CURSOR_PATTERN, description="`next_before` of the previous page.")] = None,
) -> ToolCallPage:
    """The user's tool calls, newest first, with their parameters, result,
    time, conversation and message. Pass `before=<next_before>` for older ones."""
    return ToolCallPage.of(await in_thread(
        tool_calls.list_tool_calls, engine, user_id=user_id,
        conversation_id=parse_uuid(conversation_id, "conversation_id") if conversation_id is not None else None,
        tool_name=tool_name, task_id=task_id, limit=limit, before=before,
        since=tool_calls.parse_instant(since, "since") if since is not None else None,
        until=tool_calls.parse_instant(until, "until") if until is not None else None,
    ))
