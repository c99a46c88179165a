"""POST /api/chatkit: the OpenAI ChatKit protocol, served by
`chatapp.chatkit` over the same conversations and turn pipeline as REST.

Everything this server declines is refused here, before the SDK runs and
before any stream starts, so it is a 4xx in the API's error shape: a body
the document does not allow (`chatapp.api.chatkit_schemas`: so also
attachments, feedback, dictation, actions, client tool output and
structured input, which have no store here), someone else's (or no) thread,
a retry of anything but the last message. Once a stream has started,
failures travel as ChatKit error events.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from chatkit.server import StreamingResult
from chatkit.types import ChatKitReq, ErrorEvent, ThreadsAddUserMessageReq, ThreadsCreateReq, ThreadsRetryAfterItemReq
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Engine

from chatapp.api.chatkit_schemas import ChatKitRequest
from chatapp.api.deps import PartsDep, TokenCaller
from chatapp.api.routes_chat import ERRORS, IdempotencyKey
from chatapp.chatkit.server import ChatappChatKitServer, stop_on_disconnect
from chatapp.chatkit.store import ChatKitContext, read_last_turn, read_thread
from chatapp.services import turns
from chatapp.services.database import in_thread
from chatapp.services.parts import AppParts
from chatapp.services.errors import Conflict, InvalidInput, ServiceError

logger = logging.getLogger("chatapp.chatkit")
# The web component posts JSON; a client that omits Content-Type is still read as JSON, as the SDK reads it.
router = APIRouter(prefix="/api", tags=["chatkit"], strict_content_type=False)
REQUESTS: TypeAdapter[Any] = TypeAdapter(ChatKitReq)
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


async def admit(request: Any, context: ChatKitContext, engine: Engine) -> None:
    """Refuse, as a 4xx, what the stream could only answer with an error
    (the request's shape was checked against the document already; its
    patterns, such as a message that is not blank, are checked here)."""
    if isinstance(request, (ThreadsCreateReq, ThreadsAddUserMessageReq)):
        turns.validate_message("".join(part.text for part in request.params.input.content))
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


async def guarded(
    result: StreamingResult, context: ChatKitContext, parts: AppParts,
) -> AsyncIterator[bytes]:
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
            stop_on_disconnect(parts, context)


@router.post("/chatkit", responses=RESPONSES, response_model=None)
async def chatkit(
    request: Request, _body: ChatKitRequest, caller: TokenCaller, parts: PartsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """The ChatKit protocol: one JSON request with a `type`, answered with
    JSON or server-sent events. Threads are your conversations, items their
    messages and tool calls. A disconnect mid-stream stops the turn (kept,
    stored as `stopped`). An Idempotency-Key makes a resent message the same
    turn."""
    body = await request.body()
    parsed = parse(body)
    context = ChatKitContext(user_id=caller.user_id, token_version=caller.token_version,
                             idempotency_key=idempotency_key)
    await admit(parsed, context, parts.engine)
    server: ChatappChatKitServer = request.app.state.chatkit
    result = await server.process_request(parsed, context)
    if isinstance(result, StreamingResult):
        return StreamingResponse(
            guarded(result, context, parts), media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return Response(result.json, media_type="application/json")
