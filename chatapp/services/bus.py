"""The turn bus: a running turn's live events and its stop signal, shared
by every worker.

It carries only what is in flight. The database stays the truth: a follower
that finds no events (a dead worker, an expired stream) asks the database.

- `RedisTurnBus` (REDIS_URL set): one Redis Stream per turn, so a follower
  on any worker replays what was produced so far and then follows live; it
  expires 30 minutes after its last event while running and 5 minutes after
  the turn ends. A stop request is a key the running turn's worker polls.
  The worker running a turn also keeps its events in memory while it runs,
  for the follower beside it.
- `MemoryTurnBus` (no REDIS_URL: zero-config, one worker): the same contract
  in process memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Protocol

from redis.exceptions import RedisError

from chatapp.config import Settings
from chatapp.services.turn_events import FINAL, TurnEvent, decode, encode

RUNNING_TTL_SECONDS = 30 * 60
ENDED_TTL_SECONDS = 5 * 60
STOP_POLL_SECONDS = 0.2
EXPIRY_RENEW_SECONDS = 60.0
# A worker starts its pipelines to Redis at least this far apart; see RedisTurnBus.publish.
WRITE_GAP_SECONDS = 0.02


logger = logging.getLogger("chatapp.bus")

BusError = RedisError  # what a shared bus raises when it cannot be reached


class TurnBus(Protocol):
    def starting(self, turn_id: uuid.UUID) -> None:
        """This worker is about to run the turn: a follower here reads its
        events from memory, from the first one on."""
        ...

    def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None:
        """Hands a batch over without waiting: followers here see it at once,
        a shared bus writes it from a task of its own."""
        ...

    def follow(self, turn_id: uuid.UUID, *, idle_seconds: float) -> AsyncIterator[TurnEvent | None]:
        """Every event of the turn from its first, then live, ending after
        the final one; `None` after each `idle_seconds` without an event, so
        the follower can ask the database whether the turn is still alive."""
        ...

    async def request_stop(self, turn_id: uuid.UUID) -> None: ...

    async def wait_for_stop(self, turn_id: uuid.UUID) -> None: ...

    async def forget(self, turn_id: uuid.UUID) -> None:
        """Drop an earlier run's events and stop request: a retried or
        regenerated answer runs again under the same id."""
        ...

    async def close(self) -> None: ...


@dataclass
class _Channel:
    events: list[TurnEvent] = field(default_factory=list)
    running: bool = False  # made by `starting`: a turn runs here, whoever follows it
    # Each waiting follower's own future, resolved (True) by the next
    # publish: a follower that goes away cancels only its own.
    waiting: list[asyncio.Future[bool]] = field(default_factory=list)

    def wake(self) -> None:
        for waiter in self.waiting:
            if not waiter.done():
                waiter.set_result(True)
        self.waiting.clear()


class MemoryTurnBus:
    def __init__(self, *, ended_ttl_seconds: float = ENDED_TTL_SECONDS) -> None:
        self._channels: dict[uuid.UUID, _Channel] = {}
        self._stops: dict[uuid.UUID, asyncio.Event] = {}
        self._ended_ttl_seconds = ended_ttl_seconds

    def _channel(self, turn_id: uuid.UUID) -> _Channel:
        channel = self._channels.get(turn_id)
        if channel is None:
            channel = self._channels[turn_id] = _Channel()
        return channel

    def starting(self, turn_id: uuid.UUID) -> None:
        self._channel(turn_id).running = True

    def runs_here(self, turn_id: uuid.UUID) -> bool:
        return turn_id in self._channels

    def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None:
        channel = self._channel(turn_id)
        channel.events.extend(events)
        channel.wake()
        if any(isinstance(event, FINAL) for event in events):
            self._stops.pop(turn_id, None)
            asyncio.get_running_loop().call_later(self._ended_ttl_seconds, self._drop, turn_id, channel)

    def _drop(self, turn_id: uuid.UUID, channel: _Channel) -> None:
        """An ended run's events, unless a rerun under the same id has
        started a channel of its own since."""
        if self._channels.get(turn_id) is channel:
            del self._channels[turn_id]

    async def follow(self, turn_id: uuid.UUID, *, idle_seconds: float) -> AsyncIterator[TurnEvent | None]:
        """A follower hears a batch per token at a slow model's pace, so its
        idle clock is one timer, moved on only when it fires, not a timer
        (and `asyncio.wait`'s callbacks) per batch."""
        loop = asyncio.get_running_loop()
        seen = 0
        channel = self._channel(turn_id)  # a follower may arrive before the first event
        waiting_since = loop.time()
        waiter: asyncio.Future[bool] | None = None
        clock: asyncio.TimerHandle | None = None

        def idle_check() -> None:
            nonlocal clock
            due = waiting_since + idle_seconds
            if loop.time() < due:
                clock = loop.call_at(due, idle_check)
                return
            clock = None
            if waiter is not None and not waiter.done():
                waiter.set_result(False)

        try:
            while True:
                while seen < len(channel.events):
                    event = channel.events[seen]
                    seen += 1
                    yield event
                    if isinstance(event, FINAL):
                        return
                waiting_since = loop.time()
                waiter = loop.create_future()
                channel.waiting.append(waiter)
                if clock is None:
                    clock = loop.call_at(waiting_since + idle_seconds, idle_check)
                if not await waiter:
                    if waiter in channel.waiting:  # a publish since has cleared the list
                        channel.waiting.remove(waiter)
                    yield None
        finally:
            if clock is not None:
                clock.cancel()
            if waiter is not None and waiter in channel.waiting:
                channel.waiting.remove(waiter)  # left while waiting: its future goes with it
            # A follower of a turn this process never ran leaves nothing behind.
            if not channel.events and not channel.running and self._channels.get(turn_id) is channel:
                del self._channels[turn_id]

    async def request_stop(self, turn_id: uuid.UUID) -> None:
        if turn_id in self._stops:  # only turns running here can be stopped here
            self._stops[turn_id].set()

    async def wait_for_stop(self, turn_id: uuid.UUID) -> None:
        await self._stops.setdefault(turn_id, asyncio.Event()).wait()

    async def forget(self, turn_id: uuid.UUID) -> None:
        self._channels.pop(turn_id, None)
        self._stops.pop(turn_id, None)

    async def close(self) -> None:
        """Nothing held but memory."""


@dataclass
class _Batch:
    """One publish, encoded at once (an event that cannot be encoded fails
    its own turn's publish, never a pipeline of other turns' batches)."""

    turn_id: uuid.UUID
    key: str
    payloads: list[bytes]
    ended: bool
    number: int


class RedisTurnBus:
    """Redis for what another worker needs; memory for what this one has.

    A streamed batch goes out in one pipeline with every other turn's. The
    follower on the worker that runs the turn (the `/chat/stream` request
    that started it, nearly always) reads the same events from memory, so
    it adds no round trip per batch; a follower elsewhere (a reload, another
    tab) reads the Redis stream, and so does one that arrives here after the
    turn ended (the memory copy is dropped then, so a rerun on another
    worker is never answered with this one's old run). Stop requests of
    every turn running here are checked in one MGET per poll, not one
    request per turn."""

    def __init__(self, url: str, *, write_gap_seconds: float = WRITE_GAP_SECONDS) -> None:
        from redis.asyncio import Redis

        # Short timeouts: a Redis outage must cost a turn milliseconds, not hang it.
        self._redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)
        self._here = MemoryTurnBus(ended_ttl_seconds=0)
        self._stops: dict[uuid.UUID, asyncio.Future[None]] = {}
        self._stop_watch: asyncio.Task[None] | None = None
        self._expiry_set: dict[uuid.UUID, float] = {}  # when each running turn's stream expiry was last set
        self._outbox: list[_Batch] = []
        self._published = 0  # batches handed to the writer so far
        self._written_up_to = 0  # ... and written (or given up on)
        self._waiting: list[tuple[int, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._write_gap = write_gap_seconds
        self._gap: asyncio.Future[None] | None = None  # the writer waiting out the gap
        self._closing = False

    def starting(self, turn_id: uuid.UUID) -> None:
        self._here.starting(turn_id)

    @staticmethod
    def _events_key(turn_id: uuid.UUID) -> str:
        return f"chatapp:turn:{turn_id}:events"

    @staticmethod
    def _stop_key(turn_id: uuid.UUID) -> str:
        return f"chatapp:turn:{turn_id}:stop"

    def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None:
        """Into memory for the follower here at once; to Redis with the
        batches of every other turn running here, in one pipeline: while one
        pipeline is on the wire the next gathers, so at any load a worker
        makes one round trip at a time, not one per turn per batch. A round
        trip to a local Redis is far shorter than a batch's gap, so pipelines
        start at least `write_gap_seconds` apart: otherwise, with hundreds of
        turns streaming, nearly every batch went alone, and taking a pooled
        connection (redis-py polls its socket) and running a pipeline cost
        more than the batch's commands. Only a follower on another worker
        waits for the gap (the one beside the turn reads memory), and
        whoever waits for what is unwritten (a rerun's `forget`, `close`)
        ends it."""
        payloads = [encode(event) for event in events]
        if self._here.runs_here(turn_id):
            self._here.publish(turn_id, events)
        self._published += 1
        ended = any(isinstance(event, FINAL) for event in events)
        self._outbox.append(_Batch(turn_id, self._events_key(turn_id), payloads, ended, self._published))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._outbox:
                batch, self._outbox = self._outbox, []
                started = loop.time()
                try:
                    await self._write_batch(batch)
                except Exception:  # best effort: followers elsewhere fall back to the database
                    for item in batch:
                        self._expiry_set.pop(item.turn_id, None)  # set again with the next batch
                    logger.warning("turn events not written to Redis", exc_info=True)
                self._wrote(batch[-1].number)
                if (rest := started + self._write_gap - loop.time()) > 0 and not self._closing:
                    await self._wait_out_gap(loop, rest)  # what is published meanwhile goes in the next pipeline
        finally:
            self._wrote(self._published)  # nobody waits on a writer that is gone

    async def _wait_out_gap(self, loop: asyncio.AbstractEventLoop, seconds: float) -> None:
        """The gap, unless someone waits for what is unwritten (`_written`:
        a rerun's `forget`, `close`), who ends it."""
        self._gap = gap = loop.create_future()
        timer = loop.call_later(seconds, _resolve, gap)
        try:
            await gap
        finally:
            timer.cancel()
            self._gap = None

    def _end_gap(self) -> None:
        if self._gap is not None:
            _resolve(self._gap)

    async def _write_batch(self, batch: list[_Batch]) -> None:
        now = time.monotonic()
        renewed: list[uuid.UUID] = []
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in batch:
                for payload in item.payloads:
                    pipe.xadd(item.key, {"e": payload})
                # Set on the first batch, renewed once a minute and at the end.
                if item.ended or now - self._expiry_set.get(item.turn_id, float("-inf")) >= EXPIRY_RENEW_SECONDS:
                    pipe.expire(item.key, ENDED_TTL_SECONDS if item.ended else RUNNING_TTL_SECONDS)
                    renewed.append(item.turn_id)
            await pipe.execute()
        ended = {item.turn_id for item in batch if item.ended}
        for turn_id in renewed:
            if turn_id in ended:
                self._expiry_set.pop(turn_id, None)
            else:
                self._expiry_set[turn_id] = now

    def _wrote(self, number: int) -> None:
        self._written_up_to = max(self._written_up_to, number)
        still = []
        for wanted, done in self._waiting:
            if wanted <= self._written_up_to:
                _resolve(done)
            else:
                still.append((wanted, done))
        self._waiting = still

    async def _written(self) -> None:
        """Until the batches published before this call are in Redis (or
        given up on); later ones do not hold it up."""
        self._end_gap()
        if self._written_up_to >= self._published:
            return
        done = asyncio.get_running_loop().create_future()
        self._waiting.append((self._published, done))
        await done

    async def follow(self, turn_id: uuid.UUID, *, idle_seconds: float) -> AsyncIterator[TurnEvent | None]:
        if self._here.runs_here(turn_id):
            async for event in self._here.follow(turn_id, idle_seconds=idle_seconds):
                yield event
            return
        key = self._events_key(turn_id)
        last = "0-0"
        while True:
            reply = await self._redis.xread({key: last}, block=max(1, int(idle_seconds * 1000)), count=500)
            if not reply:
                yield None
                continue
            for entry_id, fields in reply[0][1]:
                last = entry_id
                event = decode(fields[b"e"])
                yield event
                if isinstance(event, FINAL):
                    return

    async def request_stop(self, turn_id: uuid.UUID) -> None:
        await self._redis.set(self._stop_key(turn_id), b"1", ex=RUNNING_TTL_SECONDS)

    async def wait_for_stop(self, turn_id: uuid.UUID) -> None:
        """Returns only when a stop was really asked for: an unreachable
        Redis must never read as "stop" (the turn runs on, unstoppable
        until Redis is back)."""
        stopped = asyncio.get_running_loop().create_future()
        self._stops[turn_id] = stopped
        if self._stop_watch is None or self._stop_watch.done():
            self._stop_watch = asyncio.create_task(self._watch_stops())
        try:
            await stopped
        finally:
            if self._stops.get(turn_id) is stopped:
                del self._stops[turn_id]

    async def _watch_stops(self) -> None:
        """Every poll, one MGET over the stop keys of all the turns waiting here."""
        while True:
            await asyncio.sleep(STOP_POLL_SECONDS)
            waiting = list(self._stops.items())
            if not waiting:
                continue
            try:
                found = await self._redis.mget([self._stop_key(turn_id) for turn_id, _ in waiting])
            except RedisError:
                continue
            except Exception:  # never let the poller die: the turns here would be unstoppable
                logger.warning("stop poll failed", exc_info=True)
                continue
            for (_, stopped), value in zip(waiting, found):
                if value is not None:
                    _resolve(stopped)

    async def forget(self, turn_id: uuid.UUID) -> None:
        await self._here.forget(turn_id)
        await self._written()
        await self._redis.delete(self._events_key(turn_id), self._stop_key(turn_id))

    async def close(self) -> None:
        self._closing = True  # the writer takes no more gaps ...
        await self._written()  # ... and this ends the one it may be in
        if self._writer is not None and not self._writer.done():
            await self._writer
        if self._stop_watch is not None:
            self._stop_watch.cancel()
            try:
                await self._stop_watch
            except asyncio.CancelledError:
                pass
        await self._redis.aclose()


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def open_turn_bus(settings: Settings) -> TurnBus:
    """Built once per worker, inside its event loop (a Redis connection pool
    belongs to the loop that opened it): see chatapp/services/parts.py."""
    if settings.redis_url:
        return RedisTurnBus(settings.redis_url)
    return MemoryTurnBus()
