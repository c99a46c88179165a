"""A conversation's turn in progress, over REST: retry, regenerate, stop,
and attaching to its live events (the resume route)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Response
from fastapi.responses import StreamingResponse

from chatapp.api.deps import UUID_PATH, ChatCaller, CurrentUser, PartsDep
from chatapp.api.routes_chat import ERRORS, STREAM_DOC, ConversationId, IdempotencyKey, conversation_uuid, event_stream
from chatapp.api.schemas import ChatResponse, EditRequest
from chatapp.services.auth import Identity
from chatapp.services import turns
from chatapp.services.parts import AppParts
from chatapp.services.text import parse_uuid

router = APIRouter(prefix="/api/{user_id}/conversations/{conversation_id}", tags=["turns"])
Accept = Annotated[str | None, Header(description="`text/event-stream` to stream the answer like /chat/stream.")]
MessageId = Annotated[str, Path(json_schema_extra=UUID_PATH)]
ANSWER_DOC: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "model": ChatResponse,
        "content": {"application/json": {}, "text/event-stream": {}},
        "description": "Like /chat; with `Accept: text/event-stream`, like /chat/stream.",
    },
}


async def answer_again(
    *, regenerate: bool, conversation_id: str, caller: Identity, parts: AppParts, accept: str | None,
    idempotency_key: str | None,
) -> dict[str, Any] | StreamingResponse:
    user_id = caller.user_id
    begun = await turns.begin_answer(
        parts, user_id=user_id, conversation_id=conversation_uuid(conversation_id), regenerate=regenerate,
        idempotency_key=idempotency_key, limiter=parts.limiter, token_version=caller.token_version,
    )
    if accept and "text/event-stream" in accept:
        return event_stream(turns.turn_events(parts, begun, user_id=user_id))
    return await turns.turn_outcome(parts, begun, user_id=user_id)


@router.post("/retry", response_model=None, responses=ANSWER_DOC)
async def retry(
    conversation_id: ConversationId, caller: ChatCaller, parts: PartsDep,
    accept: Accept = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any] | StreamingResponse:
    """Answer the last user message again after its answer failed (or was
    never written), without storing the message a second time. The failed
    answer is replaced in place (same id, same seq). 409 when the last
    message already has an answer, or one is being written."""
    return await answer_again(regenerate=False, conversation_id=conversation_id, caller=caller, parts=parts, accept=accept,
                              idempotency_key=idempotency_key)


@router.post("/regenerate", response_model=None, responses=ANSWER_DOC)
async def regenerate(
    conversation_id: ConversationId, caller: ChatCaller, parts: PartsDep,
    accept: Accept = None,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any] | StreamingResponse:
    """Replace the last answer with a new one (same id, same seq). 409 when
    there is none, or it is still being written."""
    return await answer_again(regenerate=True, conversation_id=conversation_id, caller=caller, parts=parts, accept=accept,
                              idempotency_key=idempotency_key)


@router.patch("/messages/{message_id}", response_model=None, responses=ANSWER_DOC)
async def edit_and_resend(
    conversation_id: ConversationId, message_id: MessageId, body: EditRequest, caller: ChatCaller, parts: PartsDep,
    accept: Accept = None, idempotency_key: IdempotencyKey = None,
) -> dict[str, Any] | StreamingResponse:
    """Edit the last message you sent and have it answered again: its text
    is replaced, its answer discarded and written again in place (same id,
    same seq), like regenerate. 409 for any other message, or while its
    answer is still being written; 404 for a message not in the
    conversation."""
    user_id = caller.user_id
    begun = await turns.begin_edit(
        parts, user_id=user_id, conversation_id=conversation_uuid(conversation_id),
        message_id=parse_uuid(message_id, "message_id"), content=body.content, idempotency_key=idempotency_key,
        limiter=parts.limiter, token_version=caller.token_version,
    )
    if accept and "text/event-stream" in accept:
        return event_stream(turns.turn_events(parts, begun, user_id=user_id))
    return await turns.turn_outcome(parts, begun, user_id=user_id)


@router.post("/stop", status_code=202, responses={**ERRORS, 202: {"description": "Stopping"},
                                                    204: {"description": "Nothing was running"}})
async def stop(conversation_id: ConversationId, user_id: CurrentUser, parts: PartsDep) -> Response:
    """Stop the turn in progress, from any worker, keeping what it produced
    (stored as `stopped`). 202 when a turn was asked to stop, 204 when none
    was running."""
    stopping = await turns.stop(parts, user_id=user_id, conversation_id=conversation_uuid(conversation_id))
    return Response(status_code=202 if stopping else 204)


@router.get("/stream", response_class=StreamingResponse,
            responses={**STREAM_DOC, 204: {"description": "No turn in progress"}})
async def resume(conversation_id: ConversationId, user_id: CurrentUser, parts: PartsDep) -> Response:
    """Attach to the turn in progress: the events so far, then live, ending
    with the same `done` or `error` event as the original stream. 204 when
    no turn is in progress. Works from any worker."""
    answer_id = await turns.running_turn(parts, user_id=user_id, conversation_id=conversation_uuid(conversation_id))
    if answer_id is None:
        return Response(status_code=204)
    return event_stream(turns.follow(parts, user_id=user_id, answer_id=answer_id))
