"""CPU per streamed token: what the turn pipeline adds on top of the agent.

Each streamed model token costs CPU in the Agents SDK (parsing the stream
event, building run items); that, not the pools, bounds how many real-model
turns a worker holds. The turn pipeline (store, publish on the turn bus,
follow) must not add work per token. This measures it as a slope: the offline
model lists the user's tasks, once with 2 tasks and once with 60, so the reply
grows by ~58 lines (hundreds of deltas) while the per-turn work (SQL, the one
`list_tasks` MCP call) stays the same. CPU seconds (`time.process_time`, the
whole process) per turn at each length, for

  agent      the Agents SDK run alone (`stream_assistant`), consumed in a loop
  chat       `/chat`'s pipeline (`turns.chat`), in-process bus
  stream     `/chat/stream`'s pipeline (begin + follow the bus), in-process bus
  stream+redis   the same, on a real Redis (the multi-worker bus)

and the slope per delta. The pipeline's extra cost per delta is its slope
minus the agent's. Prints a table, writes bench/results/stream_cost.json.

    .venv/bin/python bench/stream_cost.py [--turns 40]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL"):
    os.environ.pop(name, None)
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.setdefault("JWT_SECRET", "bench-secret-long-enough-for-hs256-signing")

from sqlalchemy import Engine  # noqa: E402

from chatapp.agent.assistant import TextDelta as AgentDelta, stream_assistant  # noqa: E402
from chatapp.agent.offline import OfflineModel  # noqa: E402
from chatapp.agent.task_tools import TurnContext  # noqa: E402
from chatapp.api.app import create_api  # noqa: E402
from chatapp.services.parts import AppParts, open_parts  # noqa: E402
from chatapp.config import Settings  # noqa: E402
from chatapp.db import make_engine, upgrade_database  # noqa: E402
from chatapp.services import auth, tasks, turns  # noqa: E402
from chatapp.services.turn_events import TextDelta  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.redis_server import start_redis  # noqa: E402
from tests.support.servers import ThreadServer  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "stream_cost.json"
PROMPT = "show my tasks"
SHORT, LONG = 2, 60


def user_with_tasks(engine: Engine, count: int) -> uuid.UUID:
    user_id = auth.register(engine, email=f"s{uuid.uuid4().hex[:12]}@bench.dev", password="Bench-pass-1",
                            settings=Settings()).user_id
    for index in range(count):
        tasks.add_task(engine, user_id=user_id, title=f"Task number {index} with a few more words in its title")
    return user_id


async def agent_only(parts: AppParts, user_id: uuid.UUID) -> int:
    context = TurnContext(lambda: turns.tool_token(user_id, parts.settings))
    deltas = 0
    async for event in stream_assistant(parts.assistant, context, [{"role": "user", "content": PROMPT}]):
        deltas += isinstance(event, AgentDelta)
    return deltas


async def chat(parts: AppParts, user_id: uuid.UUID) -> int:
    body = await turns.chat(parts, user_id=user_id, message=PROMPT)
    return len(body["messages"][-1]["content"].split())


async def stream(parts: AppParts, user_id: uuid.UUID) -> int:
    begun = await turns.begin_turn(parts, user_id=user_id, message=PROMPT)
    deltas = 0
    async for event in turns.turn_events(parts, begun, user_id=user_id):
        deltas += isinstance(event, TextDelta)
    return deltas


Run = Callable[[AppParts, uuid.UUID], Awaitable[int]]


async def cpu_per_turn(run: Run, parts: AppParts, user_id: uuid.UUID, turns_count: int) -> float:
    await run(parts, user_id)  # warm: agent built, MCP tools listed, pools open
    started = time.process_time()
    for _ in range(turns_count):
        await run(parts, user_id)
    return (time.process_time() - started) / turns_count * 1000


@asynccontextmanager
async def word_by_word_parts(settings: Settings, engine: Engine) -> AsyncIterator[AppParts]:
    """The app's parts with the offline model streaming a delta per word:
    unpaced, it sends a reply as one delta, and the slope needs many."""
    async with open_parts(settings, engine) as parts:
        parts.assistant.model = OfflineModel(word_by_word=True)
        yield parts


async def model_deltas(parts: AppParts, user_id: uuid.UUID) -> int:
    return await agent_only(parts, user_id)


async def main(turns_count: int) -> None:
    redis = start_redis()
    workdir = Path(tempfile.mkdtemp(prefix="stream-cost-"))
    try:
        url = f"sqlite:///{workdir / 'bench.db'}"
        upgrade_database(url)
        engine = make_engine(url)
        port = free_port()
        memory = Settings(mcp_url=f"http://127.0.0.1:{port}/mcp")
        with_redis = Settings(mcp_url=f"http://127.0.0.1:{port}/mcp", redis_url=redis.url)
        users = {length: user_with_tasks(engine, length) for length in (SHORT, LONG)}
        variants: list[tuple[str, Run, Settings]] = [
            ("agent", agent_only, memory), ("chat", chat, memory), ("stream", stream, memory),
            ("stream+redis", stream, with_redis),
        ]
        rows = []
        with ThreadServer(create_api(engine, settings=memory), port):
            async with word_by_word_parts(memory, engine) as parts:
                deltas = {length: await model_deltas(parts, user) for length, user in users.items()}
            for name, run, settings in variants:
                samples = {length: [] for length in users}
                async with word_by_word_parts(settings, engine) as parts:
                    for _ in range(3):  # interleave lengths so machine noise hits both alike
                        for length, user in users.items():
                            samples[length].append(await cpu_per_turn(run, parts, user, turns_count))
                short, long = (statistics.median(samples[length]) for length in (SHORT, LONG))
                rows.append({
                    "variant": name, "cpu_ms_per_turn_short": round(short, 2), "cpu_ms_per_turn_long": round(long, 2),
                    "model_deltas_short": deltas[SHORT], "model_deltas_long": deltas[LONG],
                    "cpu_us_per_delta": round((long - short) / (deltas[LONG] - deltas[SHORT]) * 1000, 1),
                })
        engine.dispose()
    finally:
        redis.stop()
    agent_slope = rows[0]["cpu_us_per_delta"]
    for row in rows:
        row["added_us_per_delta"] = round(row["cpu_us_per_delta"] - agent_slope, 1)
    header = f"{'variant':<13} {'deltas':>10} {'CPU ms/turn':>17} {'µs/delta':>9} {'added µs/delta':>15}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['variant']:<13} {row['model_deltas_short']:>4}/{row['model_deltas_long']:<5} "
              f"{row['cpu_ms_per_turn_short']:>8.2f}/{row['cpu_ms_per_turn_long']:<8.2f} "
              f"{row['cpu_us_per_delta']:>9.1f} {row['added_us_per_delta']:>15.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "model": "offline", "turns_per_sample": turns_count, "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=40, help="turns per sample")
    asyncio.run(main(parser.parse_args().turns))
