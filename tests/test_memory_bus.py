"""The in-memory side of the turn bus, which every follower beside a
running turn reads: its idle clock, and followers that come and go."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from chatapp.services.bus import MemoryTurnBus
from chatapp.services.errors import AgentFailed
from chatapp.services.turn_events import TextDelta, TurnEvent, TurnFailed

FINAL = TurnFailed(AgentFailed("The assistant stopped without an answer."))


def following(bus: MemoryTurnBus, turn_id: uuid.UUID, heard: list[TurnEvent | None]) -> asyncio.Task[None]:
    """A follower of the turn to its end, in a task, keeping what it hears."""

    async def follow() -> None:
        async for event in bus.follow(turn_id, idle_seconds=30):
            heard.append(event)

    return asyncio.create_task(follow())


async def test_a_quiet_turns_follower_hears_none_after_each_idle_period_then_the_events() -> None:
    bus, turn_id = MemoryTurnBus(), uuid.uuid4()
    bus.starting(turn_id)
    heard: list[TurnEvent | None] = []
    async with asyncio.timeout(20):
        async for event in bus.follow(turn_id, idle_seconds=0.05):
            heard.append(event)
            if len(heard) == 2:  # two idle periods: now the turn speaks
                bus.publish(turn_id, [TextDelta("late"), FINAL])
    assert heard == [None, None, TextDelta("late"), FINAL]


async def test_a_followers_idle_clock_costs_no_timer_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    timers = 0
    call_at = loop.call_at

    def counted(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        nonlocal timers
        timers += 1
        return call_at(when, callback, *args, **kwargs)

    bus, turn_id = MemoryTurnBus(), uuid.uuid4()
    bus.starting(turn_id)
    received: list[TurnEvent | None] = []
    follower = following(bus, turn_id, received)
    await asyncio.sleep(0)
    monkeypatch.setattr(loop, "call_at", counted)
    for index in range(50):  # a batch per token: the follower waits for each
        bus.publish(turn_id, [TextDelta(f"{index} ")])
        await asyncio.sleep(0)
    during_batches = timers  # before the final batch, which schedules the channel's own drop
    bus.publish(turn_id, [FINAL])
    await asyncio.wait_for(follower, timeout=20)
    assert len(received) == 51 and None not in received
    assert during_batches == 0  # the idle clock, set at the first wait, was never moved per batch


async def test_a_follower_that_leaves_while_waiting_does_not_disturb_another() -> None:
    bus, turn_id = MemoryTurnBus(), uuid.uuid4()
    bus.starting(turn_id)
    heard: list[TurnEvent | None] = []
    leaving, staying = following(bus, turn_id, []), following(bus, turn_id, heard)
    await asyncio.sleep(0.01)  # both wait for the first batch
    leaving.cancel()
    await asyncio.gather(leaving, return_exceptions=True)
    bus.publish(turn_id, [TextDelta("still heard"), FINAL])
    await asyncio.wait_for(staying, timeout=20)
    assert heard == [TextDelta("still heard"), FINAL]


async def test_a_follower_whose_idle_clock_and_a_publish_land_together_still_hears_the_batch() -> None:
    bus, turn_id = MemoryTurnBus(), uuid.uuid4()
    bus.starting(turn_id)
    heard: list[TurnEvent | None] = []
    follower = following(bus, turn_id, heard)
    await asyncio.sleep(0)  # the follower waits for the first batch
    [waiter] = bus._channels[turn_id].waiting
    waiter.set_result(False)  # its idle clock fires...
    bus.publish(turn_id, [TextDelta("x"), FINAL])  # ...and a batch comes before the follower runs again
    await asyncio.wait_for(follower, timeout=20)
    assert heard == [None, TextDelta("x"), FINAL]


async def test_a_batch_inside_the_idle_period_moves_the_idle_clock_on() -> None:
    bus, turn_id = MemoryTurnBus(), uuid.uuid4()
    bus.starting(turn_id)
    heard: list[TurnEvent | None] = []

    async def follow() -> None:
        async for event in bus.follow(turn_id, idle_seconds=0.2):
            heard.append(event)
            if event is None and TextDelta("a") in heard:
                bus.publish(turn_id, [FINAL])

    follower = asyncio.create_task(follow())
    await asyncio.sleep(0.1)
    bus.publish(turn_id, [TextDelta("a")])  # inside the first idle period: the clock fires, then waits on
    await asyncio.wait_for(follower, timeout=20)
    assert heard[-3:] == [TextDelta("a"), None, FINAL]


async def test_a_follower_that_leaves_while_waiting_takes_its_future_with_it() -> None:
    bus, turn_id = MemoryTurnBus(), uuid.uuid4()
    bus.starting(turn_id)
    follower = following(bus, turn_id, [])
    await asyncio.sleep(0.01)
    assert len(bus._channels[turn_id].waiting) == 1
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)
    assert bus._channels[turn_id].waiting == []
