"""The turn bus: a running turn's live events and its stop signal, shared
by every worker.

It carries only what is in flight. The database stays the truth: a follower
that finds no events (a dead worker, an expired stream) asks the database.

- `RedisTurnBus` (REDIS_URL set): one Redis Stream per turn, so a follower
  on any worker replays what was produced so far and then follows live; it
  expires 30 minutes after its last event while running and 5 minutes after
  the turn ends. A stop request is a key the running turn polls.
- `MemoryTurnBus` (no REDIS_URL: zero-config, one worker): the same contract
  in process memory.
"""

from __future__ import annotations

import asyncio
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


BusError = RedisError  # what a shared bus raises when it cannot be reached


class TurnBus(Protocol):
    async def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None: ...

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
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class MemoryTurnBus:
    def __init__(self) -> None:
        self._channels: dict[uuid.UUID, _Channel] = {}
        self._stops: dict[uuid.UUID, asyncio.Event] = {}

    def _channel(self, turn_id: uuid.UUID) -> _Channel:
        return self._channels.setdefault(turn_id, _Channel())

    async def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None:
        channel = self._channel(turn_id)
        channel.events.extend(events)
        channel.changed.set()
        channel.changed = asyncio.Event()
        if any(isinstance(event, FINAL) for event in events):
            self._stops.pop(turn_id, None)
            asyncio.get_running_loop().call_later(ENDED_TTL_SECONDS, self._channels.pop, turn_id, None)

    async def follow(self, turn_id: uuid.UUID, *, idle_seconds: float) -> AsyncIterator[TurnEvent | None]:
        seen = 0
        channel = self._channel(turn_id)  # a follower may arrive before the first event
        try:
            while True:
                while seen < len(channel.events):
                    event = channel.events[seen]
                    seen += 1
                    yield event
                    if isinstance(event, FINAL):
                        return
                try:
                    await asyncio.wait_for(channel.changed.wait(), idle_seconds)
                except TimeoutError:
                    yield None
        finally:
            # A follower of a turn this process never ran leaves nothing behind.
            if not channel.events and self._channels.get(turn_id) is channel:
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


class RedisTurnBus:
    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        # Short timeouts: a Redis outage must cost a turn milliseconds, not hang it.
        self._redis = Redis.from_url(url, socket_connect_timeout=1, socket_timeout=5)

    @staticmethod
    def _events_key(turn_id: uuid.UUID) -> str:
        return f"chatapp:turn:{turn_id}:events"

    @staticmethod
    def _stop_key(turn_id: uuid.UUID) -> str:
        return f"chatapp:turn:{turn_id}:stop"

    async def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None:
        key = self._events_key(turn_id)
        ended = any(isinstance(event, FINAL) for event in events)
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(key, {"e": encode(event)})
            pipe.expire(key, ENDED_TTL_SECONDS if ended else RUNNING_TTL_SECONDS)
            await pipe.execute()

    async def follow(self, turn_id: uuid.UUID, *, idle_seconds: float) -> AsyncIterator[TurnEvent | None]:
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
        key = self._stop_key(turn_id)
        while True:
            try:
                if await self._redis.exists(key):
                    return
            except RedisError:
                pass
            await asyncio.sleep(STOP_POLL_SECONDS)

    async def forget(self, turn_id: uuid.UUID) -> None:
        await self._redis.delete(self._events_key(turn_id), self._stop_key(turn_id))

    async def close(self) -> None:
        await self._redis.aclose()


def open_turn_bus(settings: Settings) -> TurnBus:
    """Built once per worker, inside its event loop (a Redis connection pool
    belongs to the loop that opened it): see chatapp/services/parts.py."""
    if settings.redis_url:
        return RedisTurnBus(settings.redis_url)
    return MemoryTurnBus()
