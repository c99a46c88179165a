"""The publisher between a running turn and its bus: text gathers for at
most the publish interval, and only when it comes faster than that."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chatapp.services import turns
from chatapp.services.bus import MemoryTurnBus
from chatapp.services.turn_events import TextDelta, TurnDone, TurnEvent
from chatapp.services.turns import PUBLISH_INTERVAL_SECONDS, EventPublisher


class RecordedBus(MemoryTurnBus):
    """The in-memory bus, keeping every batch handed to it."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[TurnEvent]] = []

    def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None:
        self.batches.append(list(events))
        super().publish(turn_id, events)


def deltas(batches: list[list[TurnEvent]]) -> list[str]:
    return [event.delta for batch in batches for event in batch if isinstance(event, TextDelta)]


async def test_text_slower_than_the_publish_interval_is_published_in_the_step_that_adds_it() -> None:
    bus, parts = RecordedBus(), []
    publisher = EventPublisher(bus, uuid.uuid4(), parts)
    for word in ["one ", "two ", "three "]:
        parts.append(word)
        publisher.text_added()
        assert bus.batches[-1] == [TextDelta(word)]  # handed over before this step ends: no task, no timer
        await asyncio.sleep(PUBLISH_INTERVAL_SECONDS * 1.5)
    publisher.close()
    assert deltas(bus.batches) == ["one ", "two ", "three "]


async def test_text_within_the_publish_interval_gathers_into_one_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "PUBLISH_INTERVAL_SECONDS", 3600.0)  # the rest is due only at close
    bus, parts = RecordedBus(), []
    publisher = EventPublisher(bus, uuid.uuid4(), parts)
    words = [f"w{index} " for index in range(20)]
    for word in words:
        parts.append(word)
        publisher.text_added()
        await asyncio.sleep(0)
    publisher.close()
    assert bus.batches == [[TextDelta("w0 ")], [TextDelta("".join(words[1:]))]]


async def test_the_end_is_published_at_close_without_waiting_out_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turns, "PUBLISH_INTERVAL_SECONDS", 3600.0)
    bus, parts = RecordedBus(), []
    publisher = EventPublisher(bus, uuid.uuid4(), parts)
    parts.append("first ")
    publisher.text_added()
    parts.append("last")
    publisher.text_added()
    publisher.emit(TurnDone({"answer": "first last"}))
    assert bus.batches == [[TextDelta("first ")]]  # the rest waits for the interval...
    publisher.close()
    assert bus.batches[1] == [TextDelta("last"), TurnDone({"answer": "first last"})]  # ...or the end


async def test_a_bus_that_fails_does_not_fail_the_turn_and_later_batches_are_still_handed_over() -> None:
    class BrokenBus(MemoryTurnBus):
        calls = 0

        def publish(self, turn_id: uuid.UUID, events: list[TurnEvent]) -> None:
            self.calls += 1
            raise ConnectionError("bus down")

    bus, parts = BrokenBus(), ["text"]
    publisher = EventPublisher(bus, uuid.uuid4(), parts)
    publisher.text_added()  # raises inside: the database has the turn, so nothing reaches the agent loop
    publisher.emit(TurnDone({}))
    publisher.close()
    assert bus.calls == 2
