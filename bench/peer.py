"""The nearest peer design, for `bench/turn.py` to run beside chatapp's turn.

An Agents SDK turn whose history lives in the SDK's own `SQLAlchemySession`
(agents.extensions.memory.sqlalchemy_session) on the same PostgreSQL, with
the same offline model and the same MCP task server reached over HTTP on one
reused client session per user (`MCPServerStreamableHttp`), as the SDK's
documentation shows it. Run with and without `SessionSettings(limit=50)`.

Round trips are counted on the wire's terms: psycopg sends `BEGIN` as a
command of its own before a transaction's first statement and `COMMIT` /
`ROLLBACK` only when a transaction is open, so a round trip is a statement,
or the BEGIN before the first statement of a transaction, or the end of a
transaction that ran one; a statement on an autocommit connection is one
round trip. The same counter runs on chatapp's engine.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import AsyncExitStack
from typing import Any

from agents import Agent, RunConfig, Runner
from agents.extensions.memory.sqlalchemy_session import SQLAlchemySession
from agents.mcp import MCPServerStreamableHttp
from agents.memory import SessionSettings
from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from chatapp.agent.assistant import INSTRUCTIONS
from chatapp.agent.models import select_model
from chatapp.config import Settings
from chatapp.services.turns import tool_token

PEER_LIMIT = 50


class WireCounter:
    """Statements and database round trips on one (sync) engine."""

    def __init__(self, engine: Engine) -> None:
        self.statements = 0
        self.round_trips = 0
        event.listen(engine, "before_cursor_execute", self.on_execute)
        event.listen(engine, "commit", self.on_end)
        event.listen(engine, "rollback", self.on_end)
        event.listen(engine.pool, "reset", self.on_reset)

    def on_execute(self, connection: Any, *_args: object) -> None:
        self.statements += 1
        self.round_trips += 1
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # no BEGIN, no COMMIT
        if not connection.info.get("in_tx"):
            connection.info["in_tx"] = True
            self.round_trips += 1  # psycopg's BEGIN

    def _end(self, info: dict) -> None:
        if info.pop("in_tx", False):
            self.round_trips += 1  # COMMIT or ROLLBACK

    def on_end(self, connection: Any) -> None:
        self._end(connection.info)

    def on_reset(self, _dbapi: Any, record: Any, _reset_state: Any) -> None:
        self._end(record.info)

    def snapshot(self) -> tuple[int, int]:
        return self.statements, self.round_trips


def async_engine(url: str, pool_size: int = 20) -> AsyncEngine:
    """psycopg 3 in async mode, without server-side prepared statements, like chatapp's engine."""
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size,
                               connect_args={"prepare_threshold": None})


async def create_tables(engine: AsyncEngine) -> None:
    await SQLAlchemySession("setup", engine=engine, create_tables=True).get_items(limit=1)


async def seed(engine: AsyncEngine, items: int) -> str:
    """A session holding `items` stored items: user/assistant message pairs,
    in the SDK's own serialised form, inserted in bulk."""
    session_id = uuid.uuid4().hex
    rows = []
    for n in range(1, items + 1):
        if n % 2:
            item: dict[str, Any] = {"role": "user", "content": f"add task number {n}"}
        else:
            item = {"id": f"msg_{n}", "type": "message", "role": "assistant", "status": "completed",
                    "content": [{"type": "output_text", "text": f"I've added task {n}: task number {n}.", "annotations": []}]}
        rows.append({"session_id": session_id, "message_data": json.dumps(item)})
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO agent_sessions (session_id) VALUES (:s)"), {"s": session_id})
        for chunk in range(0, len(rows), 5000):
            await connection.execute(
                text("INSERT INTO agent_messages (session_id, message_data) VALUES (:session_id, :message_data)"),
                rows[chunk:chunk + 5000])
    return session_id


class PeerUser:
    """One user of the peer design: an agent with the MCP task server on a
    client session opened once and reused for every turn."""

    def __init__(self, settings: Settings, user_id: uuid.UUID, *, tools: bool) -> None:
        self.settings = settings
        self.user_id = user_id
        self.tools = tools
        self.stack = AsyncExitStack()
        self.agent: Agent | None = None

    async def __aenter__(self) -> "PeerUser":
        servers = []
        if self.tools:
            server = MCPServerStreamableHttp(
                params={"url": self.settings.mcp_endpoint,
                        "headers": {"Authorization": f"Bearer {tool_token(self.user_id, self.settings)}"}},
                cache_tools_list=True, client_session_timeout_seconds=30)
            await self.stack.enter_async_context(server)
            servers.append(server)
        self.agent = Agent(name="Task assistant", instructions=INSTRUCTIONS, model=select_model(self.settings),
                           mcp_servers=servers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stack.aclose()

    async def turn(self, engine: AsyncEngine, session_id: str, message: str, limit: int | None) -> str:
        session = SQLAlchemySession(session_id, engine=engine,
                                    session_settings=SessionSettings(limit=limit) if limit else None)
        assert self.agent is not None
        result = await Runner.run(self.agent, message, session=session,
                                  run_config=RunConfig(tracing_disabled=True, workflow_name="peer turn"))
        return str(result.final_output)


async def timed_turns(user: PeerUser, engine: AsyncEngine, sessions: list[str], message: str, limit: int | None,
                      *, turns: int, budget_s: float) -> list[float]:
    """Up to `turns` turns, stopping early once `budget_s` is spent (the
    unlimited peer at 10,000 items takes about a second a turn)."""
    latencies: list[float] = []
    deadline = time.monotonic() + budget_s
    for n in range(turns):
        if time.monotonic() > deadline and len(latencies) >= 3:
            break
        started = time.perf_counter()
        await user.turn(engine, sessions[n % len(sessions)], message, limit)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies
