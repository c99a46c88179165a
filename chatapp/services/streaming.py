"""The chat turn as a stream of events, for `/chat/stream` and the web UI.

It persists exactly what `chat_turn` persists. The run itself happens in a
task of its own, so a client that disconnects mid-stream does not cancel it:
the reply is still stored and a reload shows a consistent thread.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from chatapp.agent.assistant import AgentReply, TextDelta, ToolFinished, ToolStarted, stream_assistant
from chatapp.agent.task_tools import TurnContext
from chatapp.config import Settings, get_settings
from chatapp.services.chat import (
    StartedTurn, TurnResult, discard_last_reply, persist_assistant_message, read_unanswered, response_page,
    start_turn, tool_token, turn_failure,
)
from chatapp.services import inflight
from chatapp.services.database import in_thread
from chatapp.services.errors import ServiceError
from chatapp.services.history import rebuild_history

StopCheck = Callable[[], Awaitable[bool]]


@dataclass
class TurnEvent:
    """One server-sent event: `name` is the SSE event, `data` its JSON."""

    name: str
    data: dict[str, Any]


def error_event(error: ServiceError) -> TurnEvent:
    return TurnEvent(
        "error",
        {
            "status": "error",
            "error_code": error.error_code,
            "error": error.message,
            "conversation_id": str(error.conversation_id) if error.conversation_id else None,
        },
    )


async def run_streamed_turn(
    engine: Engine,
    started: StartedTurn,
    *,
    user_id: uuid.UUID,
    settings: Settings,
    emit: Callable[[TurnEvent], None],
    should_stop: StopCheck | None = None,
) -> TurnResult | None:
    """Run the agent, emitting events, and store the reply. Stopping keeps
    what was produced so far, stored with status `stopped`."""
    context = TurnContext(tool_token=tool_token(user_id, settings))
    history = rebuild_history(started.history, token_budget=settings.history_token_budget)
    partial: list[str] = []
    finished_calls = []
    reply: AgentReply | None = None
    status = "complete"
    try:
        async with asyncio.timeout(settings.turn_timeout_seconds):
            events = stream_assistant(settings, context, history)
            try:
                async for event in events:
                    if isinstance(event, TextDelta):
                        partial.append(event.text)
                        emit(TurnEvent("text_delta", {"delta": event.text}))
                    elif isinstance(event, ToolStarted):
                        emit(TurnEvent("tool_call", {"call_id": event.call.call_id, "tool_name": event.call.tool_name,
                                                     "parameters": event.call.parameters}))
                    elif isinstance(event, ToolFinished):
                        finished_calls.append(event.call)
                        emit(TurnEvent("tool_result", {"call_id": event.call.call_id, "tool_name": event.call.tool_name,
                                                       "result": event.call.result}))
                    else:
                        reply = event
                    if should_stop is not None and reply is None and await should_stop():
                        status = "stopped"
                        break
            finally:
                await events.aclose()
        if status == "stopped":
            reply = AgentReply(text="".join(partial), tool_calls=finished_calls)
        assert reply is not None
        stored = await in_thread(
            persist_assistant_message, engine, user_id=user_id, conversation_id=started.conversation_id,
            reply=reply, status=status,
        )
    except Exception as error:  # every failure becomes an error event in the documented shape
        emit(error_event(turn_failure(error, conversation_id=started.conversation_id, settings=settings)))
        return None
    page, more = response_page(started.history, stored)
    result = TurnResult(started.conversation_id, page, more)
    emit(TurnEvent("done", result.view()))
    return result


async def stream_started_turn(
    engine: Engine, started: StartedTurn, *, user_id: uuid.UUID, settings: Settings, should_stop: StopCheck | None = None
) -> AsyncIterator[TurnEvent]:
    """Events of a turn whose user message is already stored. The run goes
    on in its own task even if the consumer stops listening."""
    yield TurnEvent(
        "user_message",
        {"conversation_id": str(started.conversation_id), "message": started.user_message.view()},
    )
    queue: asyncio.Queue[TurnEvent | None] = asyncio.Queue()

    async def run() -> None:
        try:
            await run_streamed_turn(
                engine, started, user_id=user_id, settings=settings, emit=queue.put_nowait, should_stop=should_stop
            )
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(run())
    inflight.track(task)
    while (event := await queue.get()) is not None:
        yield event


async def stream_turn(
    engine: Engine,
    *,
    user_id: uuid.UUID,
    message: Any,
    conversation_id: uuid.UUID | None = None,
    settings: Settings | None = None,
    should_stop: StopCheck | None = None,
) -> AsyncIterator[TurnEvent]:
    """Validate and store the user message (raising before any event on bad
    input), then stream the rest of the turn."""
    settings = settings or get_settings()
    started = await start_turn(engine, user_id=user_id, message=message, conversation_id=conversation_id, settings=settings)
    return stream_started_turn(engine, started, user_id=user_id, settings=settings, should_stop=should_stop)


async def stream_answer(
    engine: Engine,
    *,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    settings: Settings | None = None,
    should_stop: StopCheck | None = None,
    regenerate: bool = False,
) -> AsyncIterator[TurnEvent]:
    """Answer the stored last user message again, streamed: Retry after a
    failed turn, or (with `regenerate`) after discarding the last reply."""
    settings = settings or get_settings()
    if regenerate:
        await in_thread(discard_last_reply, engine, user_id=user_id, conversation_id=conversation_id)
    started = await in_thread(
        read_unanswered, engine, user_id=user_id, conversation_id=conversation_id,
        token_budget=settings.history_token_budget,
    )
    return stream_started_turn(engine, started, user_id=user_id, settings=settings, should_stop=should_stop)
