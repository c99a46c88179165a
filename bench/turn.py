"""Turn latency through the service layer, offline model, PostgreSQL.

Measures p50/p95/p99 of `chat_turn` for a plain turn and a turn with one MCP
tool call, at concurrency 1 and 16, plus SQL statements per turn and
throughput; then turns against conversations holding 10, 1,000 and 10,000
messages, interleaved turn by turn, and the p50 ratio 10,000 : 10. Prints a
table and writes bench/results/turn.json. Everything runs on this machine:
its own PostgreSQL cluster, and the API (with the MCP server) on 127.0.0.1.

    make bench            # or: .venv/bin/python bench/turn.py --quick
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(name, None)
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.setdefault("JWT_SECRET", "bench-secret-long-enough-for-hs256-signing")

from sqlalchemy import Engine, event, insert  # noqa: E402

from chatapp.api.app import create_api  # noqa: E402
from chatapp.config import Settings  # noqa: E402
from chatapp.db import Conversation, Message, ToolCall, make_engine, upgrade_database  # noqa: E402
from chatapp.db.types import utcnow  # noqa: E402
from chatapp.services import auth  # noqa: E402
from chatapp.services import turns  # noqa: E402
from chatapp.services.tokens import message_tokens  # noqa: E402
from tests.pg_cluster import free_port, remove_cluster, start_cluster  # noqa: E402
from tests.servers import ThreadServer  # noqa: E402

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


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self.on_execute)

    def on_execute(self, *_args: object) -> None:
        self.count += 1


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


async def chat_turn(engine: Engine, *, user_id: uuid.UUID, message: str, conversation_id: uuid.UUID | None,
                    settings: Settings) -> dict:
    return await turns.chat(engine, settings, user_id=user_id, message=message, conversation_id=conversation_id)


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def run_scenario(engine: Engine, settings: Settings, counter: StatementCounter, scenario: Scenario) -> dict:
    users = [auth.register(engine, email=f"b{uuid.uuid4().hex[:12]}@bench.dev", password="Bench-pass-1").user_id
             for _ in range(scenario.concurrency)]
    # One conversation per worker, so concurrent turns do not queue on one row
    # lock. Short histories get a fresh conversation per turn, so every turn
    # really sees `history` messages; long ones barely grow (2 per turn).
    per_worker = scenario.turns // scenario.concurrency
    fresh = scenario.history <= 100
    conversations = [
        [seed_conversation(engine, user, scenario.history) for _ in range(per_worker + 1 if fresh else 1)]
        for user in users
    ]
    with engine.connect() as connection:
        # Fresh planner statistics, as autovacuum would keep after a bulk load.
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    latencies: list[float] = []

    async def worker(user_id: uuid.UUID, owned: list[uuid.UUID]) -> None:
        for turn in range(per_worker):
            conversation_id = owned[1 + turn] if fresh else owned[0]
            started = time.perf_counter()
            await chat_turn(engine, user_id=user_id, message=scenario.message, conversation_id=conversation_id, settings=settings)
            latencies.append((time.perf_counter() - started) * 1000)

    # Warm-up: the first turn pays for imports, the tool catalogue and pool connections.
    await asyncio.gather(*(chat_turn(engine, user_id=u, message=scenario.message, conversation_id=c[0], settings=settings)
                           for u, c in zip(users, conversations)))
    statements_before = counter.count
    wall = time.perf_counter()
    await asyncio.gather(*(worker(u, c) for u, c in zip(users, conversations)))
    wall = time.perf_counter() - wall
    turns = per_worker * scenario.concurrency
    return {
        "scenario": scenario.name, "message": scenario.message, "history_messages": scenario.history,
        "concurrency": scenario.concurrency, "turns": turns,
        "p50_ms": round(statistics.median(latencies), 2), "p95_ms": round(percentile(latencies, 95), 2),
        "p99_ms": round(percentile(latencies, 99), 2), "turns_per_s": round(turns / wall, 1),
        "sql_statements_per_turn": round((counter.count - statements_before) / turns, 2),
    }


def scenarios(quick: bool) -> list[Scenario]:
    n = 40 if quick else 200
    return [
        Scenario("plain", PLAIN, 10, 1, n),
        Scenario("mcp_tool", TOOL, 10, 1, n),
        Scenario("plain", PLAIN, 10, 16, n * 2),
        Scenario("mcp_tool", TOOL, 10, 16, n * 2),
    ]


async def history_scaling(engine: Engine, settings: Settings, counter: StatementCounter, message: str, name: str,
                          turns: int) -> list[dict]:
    """Turn latency against 10, 1,000 and 10,000 stored messages, the sizes
    interleaved turn by turn so machine noise hits them alike."""
    sizes = (10, 1000, 10000)
    user = auth.register(engine, email=f"h{uuid.uuid4().hex[:12]}@bench.dev", password="Bench-pass-1").user_id
    short = [seed_conversation(engine, user, 10) for _ in range(turns + 1)]  # a fresh 10-message one each turn
    long = {size: seed_conversation(engine, user, size) for size in sizes[1:]}
    with engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    latencies: dict[int, list[float]] = {size: [] for size in sizes}
    statements: dict[int, int] = {size: 0 for size in sizes}
    for size in sizes:  # warm-up
        await chat_turn(engine, user_id=user, message=message, conversation_id=long.get(size, short[-1]), settings=settings)
    for turn in range(turns):
        for size in sizes:
            conversation_id = short[turn] if size == 10 else long[size]
            before, started = counter.count, time.perf_counter()
            await chat_turn(engine, user_id=user, message=message, conversation_id=conversation_id, settings=settings)
            latencies[size].append((time.perf_counter() - started) * 1000)
            statements[size] += counter.count - before
    return [
        {"scenario": name, "message": message, "history_messages": size, "concurrency": 1, "turns": turns,
         "p50_ms": round(statistics.median(samples), 2), "p95_ms": round(percentile(samples, 95), 2),
         "p99_ms": round(percentile(samples, 99), 2), "turns_per_s": round(1000 / statistics.mean(samples), 1),
         "sql_statements_per_turn": round(statements[size] / turns, 2)}
        for size, samples in latencies.items()
    ]


def print_table(rows: list[dict]) -> None:
    header = f"{'scenario':<9} {'history':>7} {'conc':>4} {'turns':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'turns/s':>8} {'SQL/turn':>8}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['scenario']:<9} {row['history_messages']:>7} {row['concurrency']:>4} {row['turns']:>5} "
              f"{row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['p99_ms']:>8.2f} {row['turns_per_s']:>8.1f} "
              f"{row['sql_statements_per_turn']:>8.2f}")


def ratio(rows: list[dict], scenario: str, big: int, small: int) -> float:
    pick = {(r["scenario"], r["history_messages"], r["concurrency"]): r["p50_ms"] for r in rows}
    return round(pick[(scenario, big, 1)] / pick[(scenario, small, 1)], 2)


async def main(quick: bool) -> None:
    cluster = start_cluster()
    try:
        url = cluster.url(cluster.create_database())
        upgrade_database(url)
        engine = make_engine(url, pool_size=20)
        counter = StatementCounter(engine)
        port = free_port()
        settings = Settings(mcp_url=f"http://127.0.0.1:{port}/mcp")
        with ThreadServer(create_api(engine, settings=settings), port):
            rows = [await run_scenario(engine, settings, counter, s) for s in scenarios(quick)]
            for message, name in ((PLAIN, "plain"), (TOOL, "mcp_tool")):
                rows += await history_scaling(engine, settings, counter, message, name, 40 if quick else 150)
        engine.dispose()
    finally:
        remove_cluster(cluster)
    print_table(rows)
    history_rows = rows[len(scenarios(quick)):]
    ratios = {f"{s}_10000_vs_10": ratio(history_rows, s, 10000, 10) for s in ("plain", "mcp_tool")}
    for name, value in ratios.items():
        print(f"p50 ratio {name}: {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "database": "postgresql 15 (local unix socket)", "model": "offline", "quick": quick,
        "results": rows, "ratios": ratios,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer turns per scenario")
    asyncio.run(main(parser.parse_args().quick))
