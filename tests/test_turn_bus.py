"""The Redis turn bus between two workers (two bus instances on one real
Redis): every event reaches a follower on the other worker in order, the
follower beside a running turn reads it from memory, one worker's stop
reaches the turn another runs, and a rerun's `forget` leaves nothing of
the earlier run behind."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from chatapp.services.bus import RedisTurnBus
from chatapp.services.errors import AgentFailed
from chatapp.services.turn_events import TextDelta, TurnEvent, TurnFailed

FINAL = TurnFailed(AgentFailed("The assistant stopped without an answer."))


@pytest.fixture
async def workers(redis_url: str) -> AsyncIterator[tuple[RedisTurnBus, RedisTurnBus]]:
    here, there = RedisTurnBus(redis_url), RedisTurnBus(redis_url)
    yield here, there
    await here.close()
    await there.close()


async def followed(bus: RedisTurnBus, turn_id: uuid.UUID) -> list[TurnEvent]:
    events: list[TurnEvent] = []
    async with asyncio.timeout(20):
        async for event in bus.follow(turn_id, idle_seconds=5):
            assert event is not None, "the bus went quiet before the final event"
            events.append(event)
    return events


def texts(events: list[TurnEvent]) -> list[str]:
    return [event.delta for event in events if isinstance(event, TextDelta)]


async def test_a_follower_on_another_worker_gets_every_turns_events_in_order(
    workers: tuple[RedisTurnBus, RedisTurnBus],
) -> None:
    here, there = workers
    turns = [uuid.uuid4() for _ in range(40)]

    async def run(turn_id: uuid.UUID) -> None:
        here.starting(turn_id)
        for index in range(10):
            here.publish(turn_id, [TextDelta(f"{index} ")])
            await asyncio.sleep(0)
        here.publish(turn_id, [FINAL])

    await asyncio.gather(*(run(turn_id) for turn_id in turns))
    for turn_id in turns:
        events = await followed(there, turn_id)
        assert texts(events) == [f"{index} " for index in range(10)] and isinstance(events[-1], TurnFailed)


async def test_the_follower_beside_a_running_turn_reads_it_from_memory() -> None:
    bus = RedisTurnBus("redis://127.0.0.1:9/0")  # nothing listens there: Redis is down
    turn_id = uuid.uuid4()
    try:
        bus.starting(turn_id)
        follower = asyncio.create_task(followed(bus, turn_id))
        bus.publish(turn_id, [TextDelta("Hello")])
        bus.publish(turn_id, [TextDelta(" there"), FINAL])
        events = await follower
    finally:
        await bus.close()
    assert texts(events) == ["Hello", " there"] and isinstance(events[-1], TurnFailed)


async def test_a_follower_that_leaves_before_the_first_event_leaves_the_turn_in_memory() -> None:
    bus = RedisTurnBus("redis://127.0.0.1:9/0")  # Redis is down: only memory can carry the events
    turn_id = uuid.uuid4()
    try:
        bus.starting(turn_id)
        early = asyncio.create_task(followed(bus, turn_id))
        await asyncio.sleep(0.05)
        early.cancel()
        await asyncio.gather(early, return_exceptions=True)
        follower = asyncio.create_task(followed(bus, turn_id))
        bus.publish(turn_id, [TextDelta("still here"), FINAL])
        assert texts(await follower) == ["still here"]
    finally:
        await bus.close()


async def test_a_rerun_on_another_worker_is_never_answered_with_the_earlier_run(
    workers: tuple[RedisTurnBus, RedisTurnBus],
) -> None:
    first, second = workers
    turn_id = uuid.uuid4()
    first.starting(turn_id)
    first.publish(turn_id, [TextDelta("old answer"), FINAL])
    await first._written()
    await second.forget(turn_id)
    second.starting(turn_id)
    second.publish(turn_id, [TextDelta("new answer"), FINAL])
    assert texts(await followed(first, turn_id)) == ["new answer"]


async def test_forget_does_not_wait_for_the_batches_other_turns_publish_after_it(
    workers: tuple[RedisTurnBus, RedisTurnBus],
) -> None:
    here, _ = workers
    busy = True

    async def keep_publishing() -> None:
        turn_id = uuid.uuid4()
        here.starting(turn_id)
        for _ in range(20_000):  # bounded; stopped as soon as forget returns
            if not busy:
                return
            here.publish(turn_id, [TextDelta("x")])
            await asyncio.sleep(0)

    publishers = [asyncio.create_task(keep_publishing()) for _ in range(20)]
    await asyncio.sleep(0.2)
    try:
        async with asyncio.timeout(5):
            await here.forget(uuid.uuid4())
    finally:
        busy = False
        await asyncio.gather(*publishers)


async def test_a_late_follower_beside_the_turn_replays_it_from_the_first_event(
    workers: tuple[RedisTurnBus, RedisTurnBus],
) -> None:
    here, _ = workers
    turn_id = uuid.uuid4()
    here.starting(turn_id)
    here.publish(turn_id, [TextDelta("a")])
    here.publish(turn_id, [TextDelta("b"), FINAL])
    assert texts(await followed(here, turn_id)) == ["a", "b"]


async def test_a_stop_asked_on_one_worker_ends_only_that_turn_on_the_other(
    workers: tuple[RedisTurnBus, RedisTurnBus],
) -> None:
    here, there = workers
    stopped, running = uuid.uuid4(), uuid.uuid4()
    waits = {turn_id: asyncio.create_task(here.wait_for_stop(turn_id)) for turn_id in (stopped, running)}
    await there.request_stop(stopped)
    async with asyncio.timeout(10):
        await waits[stopped]
    await asyncio.sleep(0.5)  # two more polls of the stop keys
    assert not waits[running].done()
    waits[running].cancel()
    await asyncio.gather(waits[running], return_exceptions=True)


async def test_forget_leaves_no_event_of_the_earlier_run(workers: tuple[RedisTurnBus, RedisTurnBus]) -> None:
    here, there = workers
    turn_id = uuid.uuid4()
    here.starting(turn_id)
    here.publish(turn_id, [TextDelta("first run"), FINAL])
    await here.forget(turn_id)
    here.starting(turn_id)
    here.publish(turn_id, [TextDelta("second run"), FINAL])
    assert texts(await followed(there, turn_id)) == ["second run"]
    assert texts(await followed(here, turn_id)) == ["second run"]


async def test_a_rerun_soon_after_the_first_run_keeps_its_events_beside_it(redis_url: str) -> None:
    bus = RedisTurnBus(redis_url)
    bus._here._ended_ttl_seconds = 0.2  # the first run's memory copy expires while the rerun runs
    turn_id = uuid.uuid4()
    try:
        bus.starting(turn_id)
        bus.publish(turn_id, [TextDelta("first run"), FINAL])
        await bus.forget(turn_id)
        bus.starting(turn_id)
        follower = asyncio.create_task(followed(bus, turn_id))
        bus.publish(turn_id, [TextDelta("second ")])
        await asyncio.sleep(0.5)
        bus.publish(turn_id, [TextDelta("run"), FINAL])
        events = await follower
    finally:
        await bus.close()
    assert texts(events) == ["second ", "run"]


@asynccontextmanager
async def counted_bus(
    redis_url: str, gap: float, monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[RedisTurnBus, list[int]]]:
    """A bus whose pipelines start `gap` seconds apart, and the number of
    batches each of its pipelines carries."""
    bus = RedisTurnBus(redis_url, write_gap_seconds=gap)
    pipelines: list[int] = []
    write_batch = bus._write_batch

    async def counted(batch: list) -> None:
        pipelines.append(len(batch))
        await write_batch(batch)

    monkeypatch.setattr(bus, "_write_batch", counted)
    try:
        yield bus, pipelines
    finally:
        await bus.close()


async def test_the_first_batch_of_an_idle_bus_is_written_at_once(
    redis_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with counted_bus(redis_url, 3600, monkeypatch) as (bus, pipelines):
        bus.publish(uuid.uuid4(), [TextDelta("a")])
        async with asyncio.timeout(20):  # far below the gap
            await bus._written()
        assert pipelines == [1]


async def test_batches_published_within_the_gap_share_the_next_pipeline(
    redis_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with counted_bus(redis_url, 3600, monkeypatch) as (bus, pipelines):
        bus.publish(uuid.uuid4(), [TextDelta("a")])
        await bus._written()
        for _ in range(3):
            bus.publish(uuid.uuid4(), [TextDelta("b")])
            await asyncio.sleep(0)  # a writer free to start would take this batch alone
        await asyncio.sleep(0.05)
        assert pipelines == [1]  # still waiting out the gap
        await bus._written()  # ... which a waiter ends
        assert pipelines == [1, 3]


async def test_a_reruns_forget_does_not_wait_out_the_gap(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async with counted_bus(redis_url, 3600, monkeypatch) as (bus, pipelines):
        turn_id = uuid.uuid4()
        bus.publish(turn_id, [TextDelta("a")])
        await bus._written()
        bus.publish(turn_id, [TextDelta("b")])
        async with asyncio.timeout(20):  # far below the gap
            await bus.forget(turn_id)
        assert pipelines == [1, 1]


async def test_closing_does_not_wait_out_the_gap_and_leaves_no_writer_behind(
    redis_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with counted_bus(redis_url, 3600, monkeypatch) as (bus, pipelines):
        bus.publish(uuid.uuid4(), [TextDelta("a")])
        await bus._written()
        bus.publish(uuid.uuid4(), [TextDelta("b")])
        async with asyncio.timeout(20):
            await bus.close()
        assert pipelines == [1, 1] and bus._writer is not None and bus._writer.done()
