"""The app's parts, built once per worker and closed at its shutdown: the
one wiring point the REST API, the web UI, ChatKit and the MCP server share.

HTTP pools, Redis connections and the model client belong to the event loop
that opened them (Granian runs one loop per worker, pytest one per test), so
`open_parts` is entered inside the running loop: in a lifespan. A test builds
its own from its own `Settings`. The engine is passed in rather than built
here because it is not bound to a loop, and whoever made it disposes of it
(the app entry point, or a test's fixture).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Engine

from chatapp.agent.assistant import Assistant
from chatapp.agent.models import open_model
from chatapp.agent.task_tools import TaskTools
from chatapp.config import Settings
from chatapp.services.bus import TurnBus, open_turn_bus
from chatapp.services.passwords import PasswordHashing
from chatapp.services.ratelimit import RateLimiter


@dataclass(frozen=True)
class AppParts:
    settings: Settings
    engine: Engine
    limiter: RateLimiter
    hashing: PasswordHashing
    bus: TurnBus
    assistant: Assistant


@asynccontextmanager
async def open_parts(settings: Settings, engine: Engine) -> AsyncIterator[AppParts]:
    """Every part this worker needs, closed in reverse order on exit."""
    async with AsyncExitStack() as stack:
        hashing = PasswordHashing(settings.password_hash_concurrency)
        stack.callback(hashing.close)
        limiter = RateLimiter(settings)
        stack.push_async_callback(limiter.close)
        bus = open_turn_bus(settings)
        stack.push_async_callback(bus.close)
        tools = TaskTools(settings.mcp_endpoint)
        stack.push_async_callback(tools.close)
        model = await stack.enter_async_context(open_model(settings))
        yield AppParts(settings, engine, limiter, hashing, bus, Assistant(tools, model))
