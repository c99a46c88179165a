"""The publisher between a running turn and its bus: text gathers for at
most the publish interval, and only when it comes faster than that."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatapp.services.bus import MemoryTurnBus
from chatapp.services import turns
from chatapp.services.turn_events import TextDelta, TurnDone, TurnEvent
from chatapp.services.turns import PUBLISH_INTERVAL_SECONDS, EventPublisher


@pytest.fixture
def gathers(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the publisher made for text to gather, in seconds."""
    waits: list[float] = []
    gather = EventPublisher._gather

    async def recorded(self: EventPublisher, seconds: float) -> None:
        waits.append(seconds)
        await gather(self, seconds)

    monkeypatch.setattr(EventPublisher, "_gather", recorded)
    return waits


async def published(bus: MemoryTurnBus, turn_id: uuid.UUID) -> list[TurnEvent]:
    return [event async for event in bus.follow(turn_id, idle_seconds=5) if event is not None]


async def test_text_slower_than_the_publish_interval_is_published_as_it_comes(gathers: list[float]) -> None:
    bus, turn_id, parts = MemoryTurnBus(), uuid.uuid4(), []
    publisher = EventPublisher(bus, turn_id, parts)
    for word in ["one ", "two ", "three "]:
        parts.append(word)
        publisher.text_added()
        await asyncio.sleep(PUBLISH_INTERVAL_SECONDS * 1.5)
    publisher.emit(TurnDone({}))
    await publisher.close()
    events = await published(bus, turn_id)
    assert [event.delta for event in events if isinstance(event, TextDelta)] == ["one ", "two ", "three "]
    assert gathers == []


async def test_text_faster_than_the_publish_interval_gathers_into_few_batches(gathers: list[float]) -> None:
    bus, turn_id, parts = MemoryTurnBus(), uuid.uuid4(), []
    publisher = EventPublisher(bus, turn_id, parts)
    words = [f"w{index} " for index in range(20)]
    for word in words:
        parts.append(word)
        publisher.text_added()
        await asyncio.sleep(0)
    publisher.emit(TurnDone({}))
    await publisher.close()
    deltas = [event.delta for event in await published(bus, turn_id) if isinstance(event, TextDelta)]
    assert "".join(deltas) == "".join(words) and len(deltas) <= 3
    assert gathers and all(0 < seconds <= PUBLISH_INTERVAL_SECONDS for seconds in gathers)


async def test_the_end_is_published_without_waiting_out_the_interval(
    gathers: list[float], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(turns, "PUBLISH_INTERVAL_SECONDS", 3600.0)  # waiting it out would hang the test
    bus, turn_id, parts = MemoryTurnBus(), uuid.uuid4(), []
    publisher = EventPublisher(bus, turn_id, parts)
    parts.append("first ")
    publisher.text_added()
    await asyncio.sleep(0)  # published at once: nothing was published before
    parts.append("last")
    publisher.emit(TurnDone({"answer": "first last"}))
    closing = asyncio.create_task(publisher.close())
    events = await asyncio.wait_for(published(bus, turn_id), timeout=30)
    await closing
    assert gathers  # the second piece came within the interval
    assert [type(event) for event in events] == [TextDelta, TextDelta, TurnDone]
    assert "".join(event.delta for event in events if isinstance(event, TextDelta)) == "first last"
