"""Turn latency through the service layer beside the nearest peer design,
offline model, PostgreSQL.

Measures p50/p95/p99 of a plain turn and a turn with one MCP tool call, at
concurrency 1 and 16, with SQL statements and database round trips per turn
and throughput, for three designs on the same database, model and MCP
server: chatapp's `turns.chat`, and the peer (bench/peer.py: the Agents SDK
with its own `SQLAlchemySession`) with `limit=50` and without a limit. Then
turn latency against 10 to 10,000 stored messages (items), the sizes
interleaved turn by turn. Each peer row carries its p50 ratio to chatapp's.
Prints a table, writes bench/results/turn.json and the plots (bench/plots.py).
Everything runs on this machine: its own PostgreSQL cluster, and the API
(with the MCP server) on 127.0.0.1.

    make bench            # or: .venv/bin/python bench/turn.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(name, None)
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.setdefault("JWT_SECRET", "bench-secret-long-enough-for-hs256-signing")

from sqlalchemy import Engine, insert  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from chatapp.api.app import create_api  # noqa: E402
from chatapp.services.parts import AppParts, open_parts  # noqa: E402
from chatapp.config import Settings  # noqa: E402
from chatapp.db import Conversation, Message, ToolCall, make_engine, upgrade_database  # noqa: E402
from chatapp.db.types import utcnow  # noqa: E402
from chatapp.services import auth  # noqa: E402
from chatapp.services import turns  # noqa: E402
from chatapp.services.tokens import message_tokens  # noqa: E402
from bench.peer import PEER_LIMIT, PeerUser, WireCounter, async_engine, create_tables, seed  # noqa: E402
from bench.plots import machine_info, plot_turns  # noqa: E402
from tests.support.pg_cluster import remove_cluster, start_cluster  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.servers import ThreadServer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "turn.json"
PLAIN = "hello there"  # the offline model answers with help text, no tool
TOOL = "add buy milk"  # exactly one MCP tool call (add_task)


@dataclass
class Scenario:
    name: str
    message: str
    history: int
    concurrency: int
    turns: int


def seed_conversation(engine: Engine, user_id: uuid.UUID, messages: int) -> uuid.UUID:
    """A conversation of `messages` stored messages: user/assistant pairs,
    every fifth reply with a tool call, like a real task chat."""
    conversation_id = uuid.uuid4()
    start = utcnow() - timedelta(days=30)
    rows, calls = [], []
    running = 0
    for seq in range(1, messages + 1):
        message_id = uuid.uuid4()
        user = seq % 2 == 1
        content = f"add task number {seq}" if user else f"I've added task {seq}: task number {seq}."
        call = None
        if not user and seq % 10 == 0:
            call = {"id": uuid.uuid4(), "message_id": message_id, "position": 0, "call_id": f"call_{seq}",
                    "tool_name": "add_task", "parameters": {"title": f"task number {seq}"},
                    "result": {"task_id": seq, "status": "created", "title": f"task number {seq}"},
                    "executed_at": start + timedelta(seconds=seq)}
            calls.append(call)
        tokens = message_tokens(content, [(call["tool_name"], call["parameters"], call["result"])] if call else [])
        rows.append({"id": message_id, "conversation_id": conversation_id, "seq": seq, "role": "user" if user else "assistant",
                     "content": content, "status": "complete", "created_at": start + timedelta(seconds=seq),
                     "token_count": tokens, "tokens_before": running})
        running += tokens
    with engine.begin() as connection:
        connection.execute(insert(Conversation).values(
            id=conversation_id, user_id=user_id, title="seeded", last_seq=messages, token_total=running,
            created_at=start, updated_at=start))
        for chunk in range(0, len(rows), 5000):
            connection.execute(insert(Message), rows[chunk:chunk + 5000])
        if calls:
            connection.execute(insert(ToolCall), calls)
    return conversation_id


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def analyze(engine: Engine) -> None:
    """Fresh planner statistics, as autovacuum would keep after a bulk load."""
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()


class Design:
    """One way of running a turn: chatapp's service layer or the peer."""

    def __init__(self, name: str, engine: Engine, settings: Settings, users: list[uuid.UUID]) -> None:
        self.name = name
        self.engine = engine
        self.settings = settings
        self.users = users
        self.parts: AppParts | None = None  # the benchmark's own, opened in `main`

    async def actors(self, count: int) -> list[Any]:
        return self.users[:count]

    async def release(self, actors: list[Any]) -> None:
        pass

    async def conversation(self, actor: Any, history: int) -> Any:
        return seed_conversation(self.engine, actor, history)

    async def turn(self, actor: Any, conversation: Any, message: str) -> None:
        assert self.parts is not None
        await turns.chat(self.parts, user_id=actor, message=message, conversation_id=conversation)


class PeerDesign(Design):
    def __init__(self, name: str, engine: Engine, settings: Settings, users: list[uuid.UUID], peer_engine: AsyncEngine,
                 limit: int | None) -> None:
        super().__init__(name, engine, settings, users)
        self.peer_engine = peer_engine
        self.limit = limit

    async def actors(self, count: int) -> list[Any]:
        return [await PeerUser(self.settings, user, tools=True).__aenter__() for user in self.users[:count]]

    async def release(self, actors: list[Any]) -> None:
        for actor in actors:
            await actor.__aexit__(None, None, None)

    async def conversation(self, actor: Any, history: int) -> Any:
        return await seed(self.peer_engine, history)

    async def turn(self, actor: Any, conversation: Any, message: str) -> None:
        await actor.turn(self.peer_engine, conversation, message, self.limit)


class Counters:
    """Statements and round trips summed over chatapp's engine (which the MCP
    server shares, so a peer's tool call counts the server's SQL too) and the
    peer's."""

    def __init__(self, *counters: WireCounter) -> None:
        self.counters = counters

    def snapshot(self) -> tuple[int, int]:
        return (sum(c.statements for c in self.counters), sum(c.round_trips for c in self.counters))


def row(design: Design, scenario: Scenario, latencies: list[float], wall: float | None, sql: tuple[int, int]) -> dict:
    count = len(latencies)
    return {
        "design": design.name, "scenario": scenario.name, "message": scenario.message,
        "history_messages": scenario.history, "concurrency": scenario.concurrency, "turns": count,
        "p50_ms": round(statistics.median(latencies), 2), "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "turns_per_s": round(count / wall if wall else 1000 / statistics.mean(latencies), 1),
        "sql_statements_per_turn": round(sql[0] / count, 2), "round_trips_per_turn": round(sql[1] / count, 2),
    }


async def run_scenario(design: Design, counters: Counters, scenario: Scenario) -> dict:
    actors = await design.actors(scenario.concurrency)
    # One conversation per worker, so concurrent turns do not queue on one row
    # lock. Short histories get a fresh conversation per turn, so every turn
    # really sees `history` messages; long ones barely grow (2 per turn).
    per_worker = scenario.turns // scenario.concurrency
    fresh = scenario.history <= 100
    conversations = [[await design.conversation(actor, scenario.history) for _ in range(per_worker + 1 if fresh else 1)]
                     for actor in actors]
    analyze(design.engine)
    latencies: list[float] = []

    async def worker(actor: Any, owned: list[Any]) -> None:
        for turn in range(per_worker):
            conversation = owned[1 + turn] if fresh else owned[0]
            started = time.perf_counter()
            await design.turn(actor, conversation, scenario.message)
            latencies.append((time.perf_counter() - started) * 1000)

    try:
        # Warm-up: the first turn pays for imports, the tool catalogue and pool connections.
        await asyncio.gather(*(design.turn(a, c[0], scenario.message) for a, c in zip(actors, conversations)))
        before = counters.snapshot()
        wall = time.perf_counter()
        await asyncio.gather(*(worker(a, c) for a, c in zip(actors, conversations)))
        wall = time.perf_counter() - wall
        after = counters.snapshot()
    finally:
        await design.release(actors)
    return row(design, scenario, latencies, wall, (after[0] - before[0], after[1] - before[1]))


def scenarios(quick: bool) -> list[Scenario]:
    n = 16 if quick else 80
    return [
        Scenario("plain", PLAIN, 10, 1, n),
        Scenario("mcp_tool", TOOL, 10, 1, n),
        Scenario("plain", PLAIN, 10, 16, n * 2),
        Scenario("mcp_tool", TOOL, 10, 16, n * 2),
    ]


HISTORY_SIZES = (10, 100, 1000, 10000)


async def history_scaling(design: Design, counters: Counters, message: str, name: str, turns: int,
                          budget_s: float) -> list[dict]:
    """Turn latency against 10 to 10,000 stored messages, the sizes
    interleaved turn by turn so machine noise hits them alike. At most
    `turns` rounds, and no new round once `budget_s` is spent (at least 3):
    the unlimited peer takes about a second a turn at 10,000 items."""
    [actor] = await design.actors(1)
    try:
        short = [await design.conversation(actor, 10) for _ in range(turns + 1)]  # a fresh 10-message one each turn
        long = {size: await design.conversation(actor, size) for size in HISTORY_SIZES[1:]}
        analyze(design.engine)
        latencies: dict[int, list[float]] = {size: [] for size in HISTORY_SIZES}
        sql: dict[int, list[int]] = {size: [0, 0] for size in HISTORY_SIZES}
        for size in HISTORY_SIZES:  # warm-up
            await design.turn(actor, long.get(size, short[-1]), message)
        deadline = time.monotonic() + budget_s
        for turn in range(turns):
            if turn >= 3 and time.monotonic() > deadline:
                break
            for size in HISTORY_SIZES:
                conversation = short[turn] if size == 10 else long[size]
                before, started = counters.snapshot(), time.perf_counter()
                await design.turn(actor, conversation, message)
                latencies[size].append((time.perf_counter() - started) * 1000)
                after = counters.snapshot()
                sql[size][0] += after[0] - before[0]
                sql[size][1] += after[1] - before[1]
    finally:
        await design.release([actor])
    return [row(design, Scenario(name, message, size, 1, len(samples)), samples, None, (sql[size][0], sql[size][1]))
            for size, samples in latencies.items()]


def add_ratios(rows: list[dict]) -> None:
    """Each row's p50 over chatapp's on the same scenario, history and concurrency."""
    base = {(r["scenario"], r["history_messages"], r["concurrency"], r["section"]): r["p50_ms"]
            for r in rows if r["design"] == "chatapp"}
    for r in rows:
        chatapp = base.get((r["scenario"], r["history_messages"], r["concurrency"], r["section"]))
        r["p50_vs_chatapp"] = round(r["p50_ms"] / chatapp, 2) if chatapp else None


def print_table(rows: list[dict]) -> None:
    header = (f"{'design':<13} {'scenario':<9} {'history':>7} {'conc':>4} {'turns':>5} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'turns/s':>8} {'SQL/turn':>8} {'RT/turn':>8} {'p50 x':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['design']:<13} {r['scenario']:<9} {r['history_messages']:>7} {r['concurrency']:>4} {r['turns']:>5} "
              f"{r['p50_ms']:>8.2f} {r['p95_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['turns_per_s']:>8.1f} "
              f"{r['sql_statements_per_turn']:>8.2f} {r['round_trips_per_turn']:>8.2f} {r['p50_vs_chatapp']:>6.2f}")


def history_ratio(rows: list[dict], design: str, scenario: str, big: int, small: int) -> float:
    pick = {(r["design"], r["scenario"], r["history_messages"]): r["p50_ms"] for r in rows if r["section"] == "history"}
    return round(pick[(design, scenario, big)] / pick[(design, scenario, small)], 2)


async def main(quick: bool) -> None:
    cluster = start_cluster()
    try:
        url = cluster.url(cluster.create_database())
        upgrade_database(url)
        engine = make_engine(url, pool_size=20)
        peer_engine = async_engine(url)
        await create_tables(peer_engine)
        counters = Counters(WireCounter(engine), WireCounter(peer_engine.sync_engine))
        port = free_port()
        settings = Settings(mcp_url=f"http://127.0.0.1:{port}/mcp")
        users = [auth.register(engine, email=f"b{uuid.uuid4().hex[:12]}@bench.dev", password="Bench-pass-1", settings=settings).user_id
                 for _ in range(16)]
        designs = [Design("chatapp", engine, settings, users),
                   PeerDesign(f"peer_limit{PEER_LIMIT}", engine, settings, users, peer_engine, PEER_LIMIT),
                   PeerDesign("peer_nolimit", engine, settings, users, peer_engine, None)]
        rows: list[dict] = []
        with ThreadServer(create_api(engine, settings=settings), port):
            async with open_parts(settings, engine) as parts:
                designs[0].parts = parts
                for scenario in scenarios(quick):
                    for design in designs:
                        rows.append({**await run_scenario(design, counters, scenario), "section": "turn"})
                for message, name in ((PLAIN, "plain"), (TOOL, "mcp_tool")):
                    for design in designs:
                        budget = 6.0 if quick else 30.0
                        for r in await history_scaling(design, counters, message, name, 5 if quick else 40, budget):
                            rows.append({**r, "section": "history"})
        await peer_engine.dispose()
        engine.dispose()
    finally:
        remove_cluster(cluster)
    add_ratios(rows)
    print_table(rows)
    ratios = {f"{d.name}_{s}_10000_vs_10": history_ratio(rows, d.name, s, 10000, 10)
              for d in designs for s in ("plain", "mcp_tool")}
    for name, value in ratios.items():
        print(f"p50 ratio {name}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": machine_info(),
        "database": "postgresql 15 (local unix socket)", "model": "offline", "quick": quick,
        "peer": f"Agents SDK Runner + SQLAlchemySession (psycopg async), MCPServerStreamableHttp on a reused session; "
                f"limit={PEER_LIMIT} and unlimited",
        "round_trips": "statements + psycopg's BEGIN before a transaction's first statement + its COMMIT/ROLLBACK",
        "results": rows, "history_ratios": ratios,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    for path in plot_turns(json.loads(RESULTS.read_text())):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a few turns per scenario: a smoke check in about a minute")
    asyncio.run(main(parser.parse_args().quick))
