"""The one turn pipeline every surface forwards.

start (store the user message and its in-progress answer) -> run the agent
in a task of its own, publishing typed events on the turn bus -> store the
answer (complete, stopped or failed) -> done or failed. `/chat` awaits the
outcome; `/chat/stream`, the resume route and the web UI follow the events.
Retry, regenerate, stop, idempotent replays and dead-worker recovery are
decided here, never in a surface.

Nothing survives in memory between turns: the database holds every turn's
record, the bus only what is in flight, so any worker can serve, follow or
stop any turn.

It is longer than a screen or two on purpose: the turn's whole decision
tree (start, replay, retry, regenerate, edit, stop, recovery) reads in one
place, and its records live in turn_store, its events in turn_events.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from chatapp import metrics
from chatapp.agent import assistant as agent_events
from chatapp.agent.assistant import stream_assistant
from chatapp.agent.task_tools import TurnContext
from chatapp.config import Settings
from chatapp.db.types import utcnow
from chatapp.services import inflight
from chatapp.services.auth import issue_tool_token
from chatapp.services.bus import BusError, TurnBus
from chatapp.services.database import in_thread, is_unavailable
from chatapp.services.errors import (
    DRAINING_MESSAGE, AgentFailed, AgentTimeout, Draining, Interrupted, InvalidInput, NotFound, ServiceError, Unavailable, failure_for,
)
from chatapp.services.history import rebuild_history
from chatapp.services.parts import AppParts
from chatapp.services.ratelimit import RateLimiter, check_turn_rate
from chatapp.services.text import MAX_MESSAGE_CHARS, check_text
from chatapp.services.messages import StoredMessage, StoredToolCall
from chatapp.services.tokens import count_tokens, message_tokens
from chatapp.services import turn_store
from chatapp.services.turn_store import KeyUse, KnownTurn, StartedTurn
from chatapp.services.turn_events import (
    FINAL, TextDelta, ToolFinished, ToolStarted, TurnDone, TurnEvent, TurnFailed, UserMessageStored,
)

MAX_KEY_CHARS = 255
# Streamed text reaches the bus at most this often: a fast model's tokens
# travel in a few batches, not one message each.
PUBLISH_INTERVAL_SECONDS = 0.05
# A follower that hears nothing for this long asks the database whether
# the turn is still alive.
FOLLOW_IDLE_SECONDS = 2.0


@dataclass
class TurnResult:
    conversation_id: uuid.UUID
    messages: list[StoredMessage]
    has_more: bool

    def view(self) -> dict[str, Any]:
        return {
            "status": "success",
            "conversation_id": str(self.conversation_id),
            "messages": [message.view() for message in self.messages],
            "has_more": self.has_more,
        }


# ---- input -----------------------------------------------------------------

def validate_message(message: Any) -> str:
    if not isinstance(message, str):
        raise InvalidInput("message must be a string.")
    check_text(message, "message")  # NUL and lone surrogates: no database stores them
    if not message.strip():
        raise InvalidInput("message must not be empty.")
    if len(message) > MAX_MESSAGE_CHARS:
        raise InvalidInput(f"message is longer than {MAX_MESSAGE_CHARS} characters.")
    return message.strip()


def key_use(key: str | None, *, user_id: uuid.UUID, route: str, body: dict[str, Any]) -> KeyUse | None:
    """An Idempotency-Key is 1-255 printable characters, scoped to the user;
    the fingerprint of the body tells a replay from a misused key."""
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_CHARS or not key.isprintable():
        raise InvalidInput(f"Idempotency-Key must be 1-{MAX_KEY_CHARS} printable characters.")
    fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    return KeyUse(user_id, key, route, fingerprint)


def tool_token(user_id: uuid.UUID, settings: Settings, token_version: int = 0) -> str:
    """A short-lived token the MCP server authenticates, so the tools act as
    exactly this user for exactly this turn. Its only audience is the MCP
    server: the REST API refuses it. It carries the version of the token
    that started the turn: signing out everywhere revokes it as well."""
    return issue_tool_token(user_id, settings, settings.turn_timeout_seconds + 60, token_version=token_version)


def refuse_while_draining() -> None:
    if not inflight.accepting_turns():
        raise Draining(DRAINING_MESSAGE)


# ---- starting a turn ---------------------------------------------------------

async def count_turn(engine: Engine, limiter: RateLimiter | None, key: KeyUse | None, user_id: uuid.UUID) -> None:
    """The per-user turn limit counts new turns only: a replayed key is
    answered first, whatever the limit says."""
    if limiter is None:
        return
    if key is not None and await in_thread(turn_store.key_in_use, engine, key):
        return
    await check_turn_rate(limiter, user_id)


async def begin_turn(
    parts: AppParts, *, user_id: uuid.UUID, message: Any,
    conversation_id: uuid.UUID | None = None, idempotency_key: str | None = None, limiter: RateLimiter | None = None,
    token_version: int | None = None, new_conversation_id: uuid.UUID | None = None,
    user_message_id: uuid.UUID | None = None,
) -> StartedTurn | KnownTurn:
    """Validate and store a new user message with its in-progress answer,
    or find the turn an Idempotency-Key already names. Surfaces pass the
    caller's `token_version`: the turn's first statement refuses a revoked
    token (so the chat path checks revocation without a query of its own).
    A surface whose client already holds ids for the new conversation or
    message (ChatKit names its thread and item before the turn) passes them,
    so the stored rows carry the ids the client shows."""
    begun_at = time.perf_counter()
    content = validate_message(message)
    key = key_use(idempotency_key, user_id=user_id, route="chat",
                  body={"message": content, "conversation_id": conversation_id})
    refuse_while_draining()
    await count_turn(parts.engine, limiter, key, user_id)
    begun = await in_thread(
        turn_store.store_new_turn, parts.engine, user_id=user_id, conversation_id=conversation_id, content=content,
        tokens=message_tokens(content), key=key, token_budget=parts.settings.history_token_budget,
        turn_timeout_seconds=parts.settings.turn_timeout_seconds, token_version=token_version,
        new_conversation_id=new_conversation_id, user_message_id=user_message_id,
    )
    if isinstance(begun, StartedTurn):
        begun.begun_at = begun_at
    return begun


async def begin_answer(
    parts: AppParts, *, user_id: uuid.UUID, conversation_id: uuid.UUID, regenerate: bool,
    idempotency_key: str | None = None, limiter: RateLimiter | None = None, token_version: int | None = None,
) -> StartedTurn | KnownTurn:
    """Retry a failed (or missing) answer, or regenerate the last one."""
    begun_at = time.perf_counter()
    route = "regenerate" if regenerate else "retry"
    key = key_use(idempotency_key, user_id=user_id, route=route, body={"conversation_id": conversation_id})
    refuse_while_draining()
    await count_turn(parts.engine, limiter, key, user_id)
    begun = await in_thread(
        turn_store.store_answer_again, parts.engine, user_id=user_id, conversation_id=conversation_id, regenerate=regenerate,
        key=key, token_budget=parts.settings.history_token_budget, turn_timeout_seconds=parts.settings.turn_timeout_seconds,
        token_version=token_version,
    )
    if isinstance(begun, StartedTurn):
        begun.begun_at = begun_at
    return begun


async def begin_edit(
    parts: AppParts, *, user_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID,
    content: Any, idempotency_key: str | None = None, limiter: RateLimiter | None = None,
    token_version: int | None = None,
) -> StartedTurn | KnownTurn:
    """Edit and resend: the last user message gets the new text, its answer
    is discarded and written again in place, as regenerate does."""
    begun_at = time.perf_counter()
    text = validate_message(content)
    key = key_use(idempotency_key, user_id=user_id, route="edit",
                  body={"conversation_id": conversation_id, "message_id": message_id, "content": text})
    refuse_while_draining()
    await count_turn(parts.engine, limiter, key, user_id)
    begun = await in_thread(
        turn_store.store_answer_again, parts.engine, user_id=user_id, conversation_id=conversation_id, regenerate=True,
        key=key, token_budget=parts.settings.history_token_budget, turn_timeout_seconds=parts.settings.turn_timeout_seconds,
        token_version=token_version, edit=turn_store.Edit(message_id, text, message_tokens(text)),
    )
    if isinstance(begun, StartedTurn):
        begun.begun_at = begun_at
    return begun


# ---- running a turn ----------------------------------------------------------

class EventPublisher:
    """Hands a turn's events to the bus. Per token the agent loop only
    appends the text to the answer's parts; text is joined and sent once per
    publish, at most once per `PUBLISH_INTERVAL_SECONDS`, so a fast model's
    tokens travel in a few batches and no per-token object, encoding or I/O
    is added. Text slower than the interval is published in the agent
    loop's own step as it comes: no task, timer or extra wake-up of the
    event loop per token. A bus's `publish` only hands the batch over (Redis
    is written from a task of its own), so publishing never waits."""

    def __init__(self, bus: TurnBus, turn_id: uuid.UUID, parts: list[str]) -> None:
        self._bus, self._turn_id, self._parts = bus, turn_id, parts
        self._sent = 0  # parts already handed to the bus
        self._pending: list[TurnEvent] = []
        self._published = float("-inf")  # the event loop's time at the last publish
        self._due: asyncio.TimerHandle | None = None  # a publish waiting out the interval

    def text_added(self) -> None:
        self._publish_soon()

    def emit(self, event: TurnEvent) -> None:
        self._take_text()  # text produced before the event goes before it
        self._pending.append(event)
        self._publish_soon()

    def close(self) -> None:
        """Publishes what is left at once: the end is never delayed."""
        if self._due is not None:
            self._due.cancel()
        self._publish()

    def _take_text(self) -> None:
        if len(self._parts) > self._sent:
            self._pending.append(TextDelta("".join(self._parts[self._sent:])))
            self._sent = len(self._parts)

    def _publish_soon(self) -> None:
        if self._due is not None:
            return  # the publish already due takes this too
        loop = asyncio.get_running_loop()
        early = self._published + PUBLISH_INTERVAL_SECONDS - loop.time()
        if early > 0:
            self._due = loop.call_later(early, self._publish)
        else:
            self._publish()

    def _publish(self) -> None:
        self._due = None
        self._take_text()
        batch, self._pending = self._pending, []
        if batch:
            self._published = asyncio.get_running_loop().time()
            try:
                self._bus.publish(self._turn_id, batch)
            except Exception:  # the bus is best effort; the database has the turn
                pass


def turn_failure(error: BaseException, *, conversation_id: uuid.UUID, settings: Settings) -> ServiceError:
    """What a failed run means to the caller; the user message is stored
    either way, and so is the failed answer."""
    if isinstance(error, ServiceError):
        error.conversation_id = error.conversation_id or conversation_id
        return error
    if isinstance(error, TimeoutError):
        return AgentTimeout(
            f"The assistant did not answer within {settings.turn_timeout_seconds:g} seconds. Your message was saved; try again.",
            conversation_id=conversation_id,
        )
    if is_unavailable(error):
        return Unavailable("The database is unavailable. Try again shortly.", conversation_id=conversation_id)
    return AgentFailed("The assistant failed to answer. Your message was saved; try again.", conversation_id=conversation_id)


class TurnRun:
    """One run of the agent for one stored answer."""

    def __init__(self, parts: AppParts, started: StartedTurn, *, user_id: uuid.UUID) -> None:
        self.engine, self.settings, self.started, self.user_id = parts.engine, parts.settings, started, user_id
        self.bus, self.assistant = parts.bus, parts.assistant
        self.parts: list[str] = []
        self.calls: list[StoredToolCall] = []
        # For the metrics, recorded once at the end (never per token).
        self.begun_at = started.begun_at or time.perf_counter()
        self.status = "complete"
        self.outcome: TurnDone | TurnFailed | None = None
        self.text_tokens = 0

    async def consume(self, publisher: EventPublisher) -> agent_events.AgentReply:
        context = TurnContext(lambda: tool_token(self.user_id, self.settings, self.started.token_version))
        history = rebuild_history(self.started.history, token_budget=self.settings.history_token_budget)
        events = stream_assistant(self.assistant, context, history)
        try:
            async for event in events:
                if isinstance(event, agent_events.TextDelta):
                    self.parts.append(event.text)
                    publisher.text_added()
                elif isinstance(event, agent_events.ToolStarted):
                    publisher.emit(ToolStarted(event.call.call_id, event.call.tool_name, event.call.parameters))
                elif isinstance(event, agent_events.ToolFinished):
                    await self.store_call(event.call)
                    metrics.tool_called(event.call.tool_name)
                    publisher.emit(ToolFinished(event.call.call_id, event.call.tool_name, event.call.result))
                else:
                    return event
        finally:
            await events.aclose()
        raise AgentFailed("The assistant stopped without an answer.")

    async def store_call(self, record: agent_events.ToolCallRecord) -> None:
        call = StoredToolCall(uuid.uuid4(), record.call_id, record.tool_name, record.parameters, record.result, utcnow())
        await in_thread(turn_store.store_tool_call, self.engine, answer_id=self.started.answer.id,
                        position=len(self.calls), call=call)
        self.calls.append(call)

    async def run(self) -> TurnDone | TurnFailed:
        metrics.turn_started()
        try:
            self.outcome = await self.run_agent()
            return self.outcome
        finally:
            self.record()

    def record(self) -> None:
        seconds = time.perf_counter() - self.begun_at
        if isinstance(self.outcome, TurnDone):
            metrics.turn_ended(self.status, seconds, streamed_tokens=self.text_tokens)
        else:
            code = self.outcome.error.error_code if self.outcome is not None else "internal_error"
            metrics.turn_ended("failed", seconds, streamed_tokens=self.text_tokens, error_code=code)

    async def run_agent(self) -> TurnDone | TurnFailed:
        started, answer = self.started, self.started.answer
        publisher = EventPublisher(self.bus, answer.id, self.parts)
        publisher.emit(UserMessageStored(str(started.conversation_id), started.user_message.view(), str(answer.id)))
        metrics.first_event(time.perf_counter() - self.begun_at)
        consume = asyncio.create_task(self.consume(publisher))
        stop = asyncio.create_task(self.bus.wait_for_stop(answer.id))
        outcome: TurnDone | TurnFailed
        try:
            try:
                async with asyncio.timeout(self.settings.turn_timeout_seconds):
                    await asyncio.wait({consume, stop}, return_when=asyncio.FIRST_COMPLETED)
                if consume.done():
                    reply = consume.result()
                    outcome = await self.store(reply.text, "complete")
                else:
                    await cancel(consume)
                    self.status = "stopped"
                    outcome = await self.store("".join(self.parts), self.status)
            except asyncio.CancelledError:
                # Shutdown past its grace period: the answer is interrupted, not lost.
                await cancel(consume)
                failure = Interrupted(failure_for("interrupted").message, conversation_id=started.conversation_id)
                outcome = self.outcome = await asyncio.shield(self.store_failure(failure))
                publisher.emit(outcome)
                publisher.close()
                raise
            except BaseException as error:  # every failure is stored and reported in one shape
                await cancel(consume)
                outcome = await self.store_failure(turn_failure(error, conversation_id=started.conversation_id,
                                                                settings=self.settings))
        finally:
            stop.cancel()
        publisher.emit(outcome)
        publisher.close()
        return outcome

    async def store(self, text: str, status: str) -> TurnDone | TurnFailed:
        answer = self.started.answer
        answer.content = text
        answer.tool_calls = list(self.calls)
        self.text_tokens = count_tokens(text)
        answer.token_count = message_tokens(text, [(c.tool_name, c.parameters, c.result) for c in self.calls],
                                            content_tokens=self.text_tokens)
        try:
            stored = await in_thread(turn_store.finish_answer, self.engine, conversation_id=self.started.conversation_id,
                                     answer=answer, status=status)
        except Exception as error:
            return await self.store_failure(turn_failure(error, conversation_id=self.started.conversation_id,
                                                         settings=self.settings))
        if not stored:
            return TurnFailed(NotFound("The conversation was deleted during the turn.",
                                       conversation_id=self.started.conversation_id))
        page, more = turn_store.response_page(self.started.history, answer)
        return TurnDone(TurnResult(self.started.conversation_id, page, more).view())

    async def store_failure(self, error: ServiceError) -> TurnFailed:
        """The answer becomes failed with the error's code, keeping what was
        produced. If even that cannot be stored (the database is down), it
        stays in progress until a reader settles it as interrupted."""
        answer = self.started.answer
        answer.content = "".join(self.parts)
        self.text_tokens = count_tokens(answer.content)
        answer.token_count = message_tokens(answer.content, content_tokens=self.text_tokens)
        try:
            await in_thread(turn_store.finish_answer, self.engine, conversation_id=self.started.conversation_id,
                            answer=answer, status="failed", error_code=error.error_code)
        except Exception:
            pass
        return TurnFailed(error)


async def cancel(task: asyncio.Task[Any]) -> None:
    if not task.done():
        task.cancel()
    try:
        await task
    except BaseException:
        pass


async def launch(parts: AppParts, started: StartedTurn, *, user_id: uuid.UUID) -> asyncio.Task[TurnDone | TurnFailed]:
    """The run lives in its own task: a client that disconnects neither
    cancels it nor leaves a half-stored answer. Graceful shutdown waits for it.
    A rerun (retry, regenerate) first clears its answer's earlier events, so
    no follower replays the old run."""
    if started.rerun:
        try:
            await parts.bus.forget(started.answer.id)
        except BusError:
            pass  # best effort: followers fall back to the database
    parts.bus.starting(started.answer.id)
    task = asyncio.create_task(TurnRun(parts, started, user_id=user_id).run())
    inflight.track(task)
    return task


# ---- following a turn ----------------------------------------------------------

async def stored_outcome(parts: AppParts, *, user_id: uuid.UUID, answer_id: uuid.UUID) -> TurnDone | TurnFailed | None:
    """A finished turn as its final event, read from the database; None
    while it is still in progress."""
    found = await in_thread(turn_store.read_answer, parts.engine, user_id=user_id, answer_id=answer_id,
                            turn_timeout_seconds=parts.settings.turn_timeout_seconds)
    if found is None:
        return TurnFailed(NotFound("The conversation was deleted."))
    conversation_id, page = found
    answer = next((message for message in page if message.id == answer_id), None)
    if answer is None or answer.status == "in_progress":
        return None
    if answer.status == "failed":
        return TurnFailed(failure_for(answer.error_code, conversation_id))
    return TurnDone(TurnResult(conversation_id, page, turn_store.has_older(page)).view())


async def follow(parts: AppParts, *, user_id: uuid.UUID, answer_id: uuid.UUID) -> AsyncIterator[TurnEvent]:
    """Every event of a turn from its start, then live, ending with its
    `done` or `error`, from whichever worker runs it. When the bus is
    silent, the database says whether the turn ended (or its worker died)."""
    bus = parts.bus
    try:
        async for event in bus.follow(answer_id, idle_seconds=FOLLOW_IDLE_SECONDS):
            if event is None:
                outcome = await stored_outcome(parts, user_id=user_id, answer_id=answer_id)
                if outcome is not None:
                    yield outcome
                    return
                continue
            yield event
        return
    except BusError:
        pass  # the bus is gone: the database still says how the turn ends
    while (outcome := await stored_outcome(parts, user_id=user_id, answer_id=answer_id)) is None:
        await asyncio.sleep(FOLLOW_IDLE_SECONDS)
    yield outcome


async def outcome_of(parts: AppParts, *, user_id: uuid.UUID, known: KnownTurn, live: bool) -> AsyncIterator[TurnEvent]:
    """An idempotent replay: a finished turn's final event, or (still
    running) the turn followed live — `live` replays its events too."""
    outcome = await stored_outcome(parts, user_id=user_id, answer_id=known.answer_id)
    if outcome is not None:
        yield outcome
        return
    async for event in follow(parts, user_id=user_id, answer_id=known.answer_id):
        if live or isinstance(event, FINAL):
            yield event


# ---- what the surfaces call ----------------------------------------------------------

async def turn_events(parts: AppParts, begun: StartedTurn | KnownTurn, *, user_id: uuid.UUID) -> AsyncIterator[TurnEvent]:
    """The events of a begun turn (started here, or named by a replayed key)."""
    if isinstance(begun, KnownTurn):
        async for event in outcome_of(parts, user_id=user_id, known=begun, live=True):
            yield event
        return
    await launch(parts, begun, user_id=user_id)
    async for event in follow(parts, user_id=user_id, answer_id=begun.answer.id):
        yield event


async def turn_outcome(parts: AppParts, begun: StartedTurn | KnownTurn, *, user_id: uuid.UUID) -> dict[str, Any]:
    """The /chat answer: the success body, or the turn's failure raised."""
    if isinstance(begun, KnownTurn):
        final: TurnEvent | None = None
        async for event in outcome_of(parts, user_id=user_id, known=begun, live=False):
            final = event
    else:
        final = await asyncio.shield(await launch(parts, begun, user_id=user_id))
    if isinstance(final, TurnDone):
        return final.result
    assert isinstance(final, TurnFailed)
    raise final.error


async def chat(
    parts: AppParts, *, user_id: uuid.UUID, message: Any, conversation_id: uuid.UUID | None = None,
    idempotency_key: str | None = None, limiter: RateLimiter | None = None, token_version: int | None = None,
) -> dict[str, Any]:
    begun = await begin_turn(parts, user_id=user_id, message=message, conversation_id=conversation_id,
                             idempotency_key=idempotency_key, limiter=limiter, token_version=token_version)
    return await turn_outcome(parts, begun, user_id=user_id)


async def running_turn(parts: AppParts, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> uuid.UUID | None:
    running = await in_thread(turn_store.running_answers, parts.engine, user_id=user_id, conversation_id=conversation_id,
                              turn_timeout_seconds=parts.settings.turn_timeout_seconds)
    return running[0] if running else None


async def stop(parts: AppParts, *, user_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    """Ask every running turn of the conversation to stop, wherever it runs;
    each keeps what it produced, stored as `stopped`. False if none ran."""
    running = await in_thread(turn_store.running_answers, parts.engine, user_id=user_id, conversation_id=conversation_id,
                              turn_timeout_seconds=parts.settings.turn_timeout_seconds)
    bus = parts.bus
    try:
        for answer_id in running:
            await bus.request_stop(answer_id)
    except BusError as error:
        raise Unavailable("Stopping needs Redis, which is unreachable. Try again shortly.",
                          conversation_id=conversation_id) from error
    return bool(running)
