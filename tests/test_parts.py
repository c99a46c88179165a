"""The app's parts: built from the settings they are given, inside the
running loop, and closed when the app stops."""

from __future__ import annotations

import gc
import uuid

from sqlalchemy import Engine

from chatapp.api.app import create_api, serving
from chatapp.config import Settings
from chatapp.services.bus import MemoryTurnBus, RedisTurnBus
from chatapp.services.parts import open_parts
from chatapp.services.turn_events import TextDelta


async def test_the_parts_follow_the_settings_they_are_given(engine: Engine, redis_url: str) -> None:
    settings = Settings(redis_url=redis_url, password_hash_concurrency=2, mcp_url="http://127.0.0.1:9/mcp")
    async with open_parts(settings, engine) as parts:
        assert parts.settings is settings and parts.engine is engine
        assert isinstance(parts.bus, RedisTurnBus)
        assert parts.hashing.concurrency == 2
        assert parts.assistant.tools.url == "http://127.0.0.1:9/mcp"


async def test_without_redis_the_turn_bus_is_in_memory(engine: Engine) -> None:
    async with open_parts(Settings(), engine) as parts:
        assert isinstance(parts.bus, MemoryTurnBus)


async def test_a_redis_bus_works_while_open_and_is_closed_with_the_parts(engine: Engine, redis_url: str) -> None:
    turn_id = uuid.uuid4()
    async with open_parts(Settings(redis_url=redis_url), engine) as parts:
        parts.bus.publish(turn_id, [TextDelta("hello")])
        await parts.bus.forget(turn_id)
        redis = parts.bus._redis  # type: ignore[attr-defined]
    pool = redis.connection_pool
    assert pool._available_connections and not any(c.is_connected for c in pool._available_connections)


async def test_closing_the_parts_shuts_the_password_hashing_pool(engine: Engine) -> None:
    async with open_parts(Settings(), engine) as parts:
        assert await parts.hashing.verify(await parts.hashing.hash("Correct-horse-9"), "Correct-horse-9")
    assert parts.hashing.executor._shutdown  # type: ignore[attr-defined]


async def test_closing_the_parts_leaves_the_engine_to_its_owner(engine: Engine) -> None:
    async with open_parts(Settings(), engine):
        pass
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1


async def test_while_serving_the_start_up_heap_is_out_of_the_collectors_reach(engine: Engine) -> None:
    api = create_api(engine, settings=Settings())
    async with serving(api):
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
