"""The ChatKit protocol over chatapp's one turn pipeline.

`respond` begins the turn with `turns.begin_turn` (a retry with
`begin_answer`) and translates the pipeline's typed events into ChatKit's:
the answer's text as one assistant message, each MCP tool call as a task
item (work the server did, not a client tool call that would need the
browser). The SDK's own `stream_agent_response` helper is not used: it
drives an Agents SDK run, and here the run belongs to the pipeline, which
stores it, publishes it on the turn bus and keeps running if the client
goes away.

ChatKit cancels by disconnecting. On this endpoint that is Stop: the turn
keeps what it produced, stored as `stopped` (see `stop_on_disconnect`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.types import (
    AssistantMessageContent, AssistantMessageContentPartAdded, ChatKitReq, AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta, TaskItem, ThreadItem, ThreadItemAddedEvent, ThreadItemDoneEvent,
    ThreadItemUpdatedEvent, ThreadMetadata, ThreadStreamEvent, UserMessageItem, is_streaming_req,
)

from chatapp.chatkit.store import (
    ChatappStore, ChatKitContext, LastTurn, assistant_item, read_last_turn, tool_item_id, tool_task,
)
from chatapp.db.types import utcnow
from chatapp.services import inflight, turns
from chatapp.services.conversations import title_from_message
from chatapp.services.database import in_thread
from chatapp.services.errors import ServiceError
from chatapp.services.parts import AppParts
from chatapp.services.turn_events import TextDelta, ToolFinished, ToolStarted, TurnDone, TurnFailed, UserMessageStored
from chatapp.services.turn_store import KnownTurn, StartedTurn



def message_text(item: UserMessageItem) -> str:
    """ChatKit sends text and tags; the pipeline stores text. A tag counts
    as the text it shows."""
    return "".join(part.text for part in item.content)


def stream_error(error: ServiceError) -> CustomStreamError:
    """A failure a second try cannot help with hides the client's retry."""
    return CustomStreamError(error.message, allow_retry=error.retryable)


class ChatappChatKitServer(ChatKitServer[ChatKitContext]):
    def __init__(self, parts: AppParts) -> None:
        super().__init__(ChatappStore(parts.engine, turn_timeout_seconds=parts.settings.turn_timeout_seconds))
        self.parts, self.engine = parts, parts.engine

    async def process_request(self, request: ChatKitReq, context: ChatKitContext) -> StreamingResult | NonStreamingResult:
        """`process` for a request already parsed. The SDK's `process` (1.6.5)
        builds a TypeAdapter for the request union on every call, about 90 ms
        of CPU here; the route parses once with one adapter built at import."""
        if is_streaming_req(request):
            return StreamingResult(self._process_streaming(request, context))
        return NonStreamingResult(await self._process_non_streaming(request, context))

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: ChatKitContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        try:
            begun = await self.begin(thread, input_user_message, context)
        except ServiceError as error:
            raise stream_error(error) from error
        context.conversation_id = begun.conversation_id
        context.answer_id = begun.answer.id if isinstance(begun, StartedTurn) else begun.answer_id
        if thread.id in context.new_thread_ids and input_user_message is not None and isinstance(begun, StartedTurn):
            # The pipeline titled the conversation from the message; the SDK
            # sends the client the renamed thread after the next event.
            thread.title = title_from_message(message_text(input_user_message))
        async for event in self.translate(thread.id, begun, context):
            yield event

    async def begin(
        self, thread: ThreadMetadata, message: UserMessageItem | None, context: ChatKitContext,
    ) -> StartedTurn | KnownTurn:
        """A new message starts a turn; a retry (the SDK passes the stored
        last user message) answers it again in place: retry when its answer
        failed or is missing, regenerate otherwise."""
        if message is not None and message.id in context.new_message_ids:
            is_new = thread.id in context.new_thread_ids
            return await turns.begin_turn(
                self.parts, user_id=context.user_id, message=message_text(message),
                conversation_id=None if is_new else uuid.UUID(thread.id),
                new_conversation_id=uuid.UUID(thread.id) if is_new else None, user_message_id=uuid.UUID(message.id),
                idempotency_key=context.idempotency_key, limiter=self.parts.limiter, token_version=context.token_version,
            )
        last = await self.last_turn(thread.id, context)
        return await turns.begin_answer(
            self.parts, user_id=context.user_id, conversation_id=uuid.UUID(thread.id),
            regenerate=last.answer_status not in (None, "failed"), idempotency_key=context.idempotency_key,
            limiter=self.parts.limiter, token_version=context.token_version,
        )

    async def last_turn(self, thread_id: str, context: ChatKitContext) -> LastTurn:
        return await in_thread(read_last_turn, self.engine, user_id=context.user_id, thread_id=thread_id)

    async def translate(
        self, thread_id: str, begun: StartedTurn | KnownTurn, context: ChatKitContext,
    ) -> AsyncIterator[ThreadStreamEvent]:
        answer_id = str(context.answer_id)
        text: list[str] = []
        text_started = False
        positions: dict[str, int] = {}
        async for event in turns.turn_events(self.parts, begun, user_id=context.user_id):
            if isinstance(event, UserMessageStored):
                continue  # the SDK has shown the user message already, under the id it is stored with
            if isinstance(event, ToolStarted):
                position = positions.setdefault(event.call_id, len(positions))
                yield ThreadItemAddedEvent(item=self.task_item(thread_id, answer_id, position, event, done=False))
            elif isinstance(event, ToolFinished):
                position = positions.setdefault(event.call_id, len(positions))
                yield ThreadItemDoneEvent(item=self.task_item(thread_id, answer_id, position, event, done=True))
            elif isinstance(event, TextDelta):
                if not text_started:
                    text_started = True
                    yield ThreadItemAddedEvent(item=assistant_item(thread_id, answer_id, "", utcnow()).model_copy(
                        update={"content": []}))
                    yield ThreadItemUpdatedEvent(item_id=answer_id, update=AssistantMessageContentPartAdded(
                        content_index=0, content=AssistantMessageContent(text="")))
                text.append(event.delta)
                yield ThreadItemUpdatedEvent(item_id=answer_id, update=AssistantMessageContentPartTextDelta(
                    content_index=0, delta=event.delta))
            elif isinstance(event, TurnDone):
                stored = next(m for m in event.result["messages"] if m["id"] == answer_id)
                async for final in self.finish_text(thread_id, answer_id, stored["content"], text_started):
                    yield final
                return
            elif isinstance(event, TurnFailed):
                async for final in self.finish_text(thread_id, answer_id, "".join(text), text_started):
                    yield final
                raise stream_error(event.error)

    @staticmethod
    def task_item(thread_id: str, answer_id: str, position: int, event: ToolStarted | ToolFinished, *, done: bool) -> TaskItem:
        parameters = event.parameters if isinstance(event, ToolStarted) else {}
        result = event.result if isinstance(event, ToolFinished) else None
        return TaskItem(id=tool_item_id(answer_id, position), thread_id=thread_id, created_at=utcnow(),
                        task=tool_task(event.tool_name, parameters, result, done=done))

    @staticmethod
    async def finish_text(thread_id: str, answer_id: str, text: str, started: bool) -> AsyncIterator[ThreadStreamEvent]:
        """The answer's text item ends with exactly what is stored (an
        answer without text shows none, as a reload shows it)."""
        if not text and not started:
            return
        content = AssistantMessageContent(text=text)
        if started:
            yield ThreadItemUpdatedEvent(item_id=answer_id, update=AssistantMessageContentPartDone(
                content_index=0, content=content))
        yield ThreadItemDoneEvent(item=assistant_item(thread_id, answer_id, text, utcnow()))

    async def handle_stream_cancelled(self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: ChatKitContext) -> None:
        """The SDK would store the unfinished items itself; here the turn
        stores them, as `stopped` (see `stop_on_disconnect`)."""


def stop_on_disconnect(parts: AppParts, context: ChatKitContext) -> None:
    """The client went away mid-stream: ask the turn to stop, from a task of
    its own (the request's task is being cancelled and can await nothing).
    The stop reaches the turn on whichever worker runs it."""
    if context.conversation_id is None:
        return

    async def stop() -> None:
        try:
            await turns.stop(parts, user_id=context.user_id, conversation_id=context.conversation_id)
        except ServiceError:
            pass  # deleted meanwhile, or Redis down: the turn finishes and is stored as complete

    inflight.track(asyncio.get_running_loop().create_task(stop()))
