"""POST /api/chatkit: the OpenAI ChatKit protocol, served by
`chatapp.chatkit` over the same conversations and turn pipeline as REST.

Everything this server declines is refused here, before the SDK runs and
before any stream starts, so it is a 4xx in the API's error shape: a body
that is no ChatKit request, attachments, feedback, transcription, actions,
client tool output, someone else's (or no) thread, a retry of anything but
the last message. Once a stream has started, failures travel as ChatKit
error events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from chatkit.server import StreamingResult
from chatkit.types import (
    AttachmentsCreateReq, AttachmentsDeleteReq, ChatKitReq, ErrorEvent, InputTranscribeReq, ItemsFeedbackReq,
    ThreadsAddClientToolOutputReq, ThreadsAddStructuredInputReq, ThreadsAddUserMessageReq, ThreadsCreateReq,
    ThreadsCustomActionReq, ThreadsRetryAfterItemReq, ThreadsSyncCustomActionReq, UserMessageInput,
)
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError

from chatapp.api.deps import EngineDep, SettingsDep, TokenUser
from chatapp.api.routes_chat import ERRORS, IdempotencyKey
from chatapp.chatkit.server import ChatappChatKitServer, stop_on_disconnect
from chatapp.chatkit.store import ChatKitContext, read_last_turn, read_thread
from chatapp.services import turns
from chatapp.services.database import in_thread
from chatapp.services.errors import Conflict, InvalidInput, ServiceError

logger = logging.getLogger("chatapp.chatkit")
router = APIRouter(prefix="/api", tags=["chatkit"])
REQUESTS: TypeAdapter[Any] = TypeAdapter(ChatKitReq)
DECLINED = {
    AttachmentsCreateReq: "Attachments are not supported.",
    AttachmentsDeleteReq: "Attachments are not supported.",
    ItemsFeedbackReq: "Feedback is not stored. Switch the feedback actions off in the ChatKit options.",
    InputTranscribeReq: "Dictation is not supported.",
    ThreadsAddClientToolOutputReq: "This server calls no client tools.",
    ThreadsAddStructuredInputReq: "This server asks for no structured input.",
    ThreadsCustomActionReq: "This server defines no actions.",
    ThreadsSyncCustomActionReq: "This server defines no actions.",
}
SUPPORTED = [
    "threads.create", "threads.add_user_message", "threads.retry_after_item", "threads.get_by_id", "threads.list",
    "threads.update", "threads.delete", "items.list",
]
REQUEST_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {
            "type": "object",
            "required": ["type", "params"],
            "properties": {
                "type": {"type": "string", "enum": SUPPORTED},
                "params": {"type": "object", "description": "As the openai-chatkit SDK defines it for `type`."},
                "metadata": {"type": "object"},
            },
        }}},
    },
}
RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    200: {
        "content": {"application/json": {"schema": {"type": "object"}}, "text/event-stream": {}},
        "description": "JSON for reads and updates; server-sent ChatKit events (`data: {...}`) for "
        "threads.create, threads.add_user_message and threads.retry_after_item.",
    },
}


def parse(body: bytes) -> Any:
    try:
        return REQUESTS.validate_json(body)
    except ValidationError as error:
        problems = "; ".join(
            f"'{'.'.join(str(part) for part in issue['loc'])}': {issue['msg']}" if issue["loc"] else issue["msg"]
            for issue in error.errors()[:5]
        )
        raise InvalidInput(f"Not a ChatKit request: {problems}.") from None


def check_input(message: UserMessageInput) -> None:
    if message.attachments:
        raise InvalidInput("Attachments are not supported.")
    turns.validate_message("".join(part.text for part in message.content))


async def admit(request: Any, context: ChatKitContext, engine: Any) -> None:
    """Refuse, as a 4xx, what the stream could only answer with an error."""
    declined = DECLINED.get(type(request))
    if declined:
        raise InvalidInput(declined)
    if isinstance(request, (ThreadsCreateReq, ThreadsAddUserMessageReq)):
        check_input(request.params.input)
    if isinstance(request, (ThreadsAddUserMessageReq, ThreadsRetryAfterItemReq)):
        await in_thread(read_thread, engine, user_id=context.user_id, thread_id=request.params.thread_id)
    if isinstance(request, ThreadsRetryAfterItemReq):
        last = await in_thread(read_last_turn, engine, user_id=context.user_id, thread_id=request.params.thread_id)
        if last.user_message_id is None or request.params.item_id != str(last.user_message_id):
            raise Conflict("Only the last message of a thread can be answered again.")
        if last.answer_status == "in_progress":
            raise Conflict("The answer is still being written. Stop it first, or wait.")


def error_frame(message: str) -> bytes:
    event = ErrorEvent(code="custom", message=message, allow_retry=True)
    return b"data: " + event.model_dump_json(exclude_none=True).encode() + b"\n\n"


async def guarded(result: StreamingResult, context: ChatKitContext, engine: Any, settings: Any) -> AsyncIterator[bytes]:
    """The SDK's stream, ended by an error event rather than a broken
    response if something fails after it started; and a client that leaves
    before the end stops the turn."""
    finished = False
    try:
        async for chunk in result:
            yield chunk
        finished = True
    except ServiceError as error:
        finished = True
        yield error_frame(error.message)
    except Exception:
        finished = True
        logger.exception("ChatKit stream failed")
        yield error_frame("An error occurred when generating a response.")
    finally:
        if not finished:
            stop_on_disconnect(engine, settings, context)


@router.post("/chatkit", responses=RESPONSES, openapi_extra=REQUEST_DOC, response_model=None)
async def chatkit(
    request: Request, user_id: TokenUser, engine: EngineDep, settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The ChatKit protocol: one JSON request with a `type`, answered with
    JSON or server-sent events. Threads are your conversations, items their
    messages and tool calls. A disconnect mid-stream stops the turn (kept,
    stored as `stopped`). An Idempotency-Key makes a resent message the same
    turn."""
    body = await request.body()
    parsed = parse(body)
    context = ChatKitContext(user_id=user_id, idempotency_key=idempotency_key)
    await admit(parsed, context, engine)
    server: ChatappChatKitServer = request.app.state.chatkit
    result = await server.process(body, context)
    if isinstance(result, StreamingResult):
        return StreamingResponse(
            guarded(result, context, engine, settings), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return Response(result.json, media_type="application/json")
