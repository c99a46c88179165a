"""The chat turn and the conversations it lives in."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from collections.abc import AsyncIterator

from fastapi import APIRouter, Header, Path, Query, Response
from fastapi.responses import StreamingResponse

from chatapp.api.deps import UUID_PATH, ChatCaller, CurrentUser, EngineDep, PartsDep, SettingsDep
from chatapp.api.schemas import (
    ChatRequest, ChatResponse, ConversationDetail, ConversationList, ConversationOut, ErrorResponse, RenameRequest,
)
from chatapp.services import conversations, turns
from chatapp.services.database import in_thread
from chatapp.services.text import MAX_INT32, parse_uuid
from chatapp.services.turn_events import TurnEvent, server_sent_event

router = APIRouter(prefix="/api/{user_id}", tags=["chat"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 409, 413, 422, 429, 500, 503)
}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key", min_length=1, max_length=255,
        description="Client-chosen, 1-255 characters, scoped to you, kept 24 h. The same key with the same body "
        "answers the same turn (waiting for it if it is still running); with another body, 422 idempotency_mismatch.",
    ),
]


def conversation_uuid(value: str) -> uuid.UUID:
    return parse_uuid(value, "conversation_id")


ConversationId = Annotated[str, Path(json_schema_extra=UUID_PATH)]


@router.post("/chat", response_model=ChatResponse, responses=ERRORS)
async def chat(
    body: ChatRequest, caller: ChatCaller, parts: PartsDep,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Send a message; the assistant answers (calling task tools as needed).
    Omit `conversation_id` to start a new conversation. A failed turn answers
    in the error shape; its user message and failed answer stay stored."""
    return await turns.chat(
        parts, user_id=caller.user_id, message=body.message, conversation_id=body.conversation_id,
        idempotency_key=idempotency_key, limiter=parts.limiter, token_version=caller.token_version,
    )


async def server_sent_events(events: AsyncIterator[TurnEvent]) -> AsyncIterator[bytes]:
    async for event in events:
        yield server_sent_event(event)


def event_stream(events: AsyncIterator[TurnEvent]) -> StreamingResponse:
    return StreamingResponse(
        server_sent_events(events), media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


STREAM_DOC = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "Server-sent events: `user_message` {conversation_id, message, answer_id}, `text_delta` {delta}, "
        "`tool_call` {call_id, tool_name, parameters}, `tool_result` {call_id, tool_name, result}, then "
        "`done` (exactly the /chat success body) or `error` (the error shape).",
    },
    **ERRORS,
}


@router.post("/chat/stream", responses=STREAM_DOC, response_class=StreamingResponse)
async def chat_stream(
    body: ChatRequest, caller: ChatCaller, parts: PartsDep,
    idempotency_key: IdempotencyKey = None,
) -> StreamingResponse:
    """The same turn as `/chat`, answered as it happens. Bad input and auth
    failures answer before the stream, as plain JSON errors. A replayed
    Idempotency-Key attaches to the same turn: live if it is running, its
    `done`/`error` event if it has finished."""
    begun = await turns.begin_turn(
        parts, user_id=caller.user_id, message=body.message, conversation_id=body.conversation_id,
        idempotency_key=idempotency_key, limiter=parts.limiter, token_version=caller.token_version,
    )
    return event_stream(turns.turn_events(parts, begun, user_id=caller.user_id))


@router.get("/conversations", response_model=ConversationList, responses=ERRORS)
async def list_conversations(
    user_id: CurrentUser,
    engine: EngineDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT32)] = 0,
) -> ConversationList:
    """The user's conversations, most recently active first."""
    items, more = await in_thread(conversations.list_conversations, engine, user_id=user_id, limit=limit, offset=offset)
    return ConversationList(conversations=[ConversationOut.of(item) for item in items], has_more=more)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail, responses=ERRORS)
async def open_conversation(
    conversation_id: ConversationId,
    user_id: CurrentUser,
    engine: EngineDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
    before_seq: Annotated[int | None, Query(ge=1, le=MAX_INT32)] = None,
) -> dict[str, Any]:
    """A conversation and its latest messages; pass `before_seq` (the oldest
    seq you have) for the page before it."""
    page = await in_thread(
        conversations.open_conversation, engine, user_id=user_id,
        conversation_id=conversation_uuid(conversation_id), limit=limit, before_seq=before_seq,
        turn_timeout_seconds=settings.turn_timeout_seconds,
    )
    return {
        "conversation": ConversationOut.of(page.conversation), "messages": [m.view() for m in page.messages],
        "has_more": page.has_more,
    }


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut, responses=ERRORS)
async def rename_conversation(
    conversation_id: ConversationId, body: RenameRequest, user_id: CurrentUser, engine: EngineDep
) -> ConversationOut:
    """Rename a conversation."""
    return ConversationOut.of(await in_thread(
        conversations.rename_conversation, engine, user_id=user_id,
        conversation_id=conversation_uuid(conversation_id), title=body.title,
    ))


@router.delete("/conversations/{conversation_id}", status_code=204, responses=ERRORS)
async def delete_conversation(conversation_id: ConversationId, user_id: CurrentUser, engine: EngineDep) -> Response:
    """Delete a conversation with its messages and tool calls."""
    await in_thread(
        conversations.delete_conversation, engine, user_id=user_id, conversation_id=conversation_uuid(conversation_id)
    )
    return Response(status_code=204)
