"""The tool-call audit trail's page time, through the service layer, on
PostgreSQL: one user whose history holds many tool calls among many users'.

Seeds USERS users with one conversation each, every assistant message with
one tool call (add/complete/update/delete on a few task ids, and listings);
the measured user has MEASURED_CALLS of them. Then times
`tool_calls.list_tool_calls` pages of 50: the newest page, a page 100 pages
back (its `before` cursor), one task's history, and one tool's calls, and
prints the query plan of the first. Prints a table and writes
bench/results/tool_calls.json.

    .venv/bin/python bench/tool_calls.py            # 200,000 calls, 20,000 the user's
    .venv/bin/python bench/tool_calls.py --quick
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert, text  # noqa: E402

from chatapp.db import Conversation, Message, ToolCall, User, make_engine, upgrade_database  # noqa: E402
from chatapp.db.types import utcnow  # noqa: E402
from chatapp.services import tool_calls  # noqa: E402
from tests.support.pg_cluster import remove_cluster, start_cluster  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "tool_calls.json"
BATCH = 5_000


def call_for(n: int) -> tuple[str, dict, dict]:
    task = n % 40 + 1
    kind = n % 5
    if kind == 0:
        return "add_task", {"title": f"task {task}"}, {"task_id": task, "status": "created", "title": f"task {task}"}
    if kind == 1:
        return "complete_task", {"task_id": task}, {"task_id": task, "status": "completed", "title": f"task {task}"}
    if kind == 2:
        return "update_task", {"task_id": task, "title": "renamed"}, {"task_id": task, "status": "updated", "title": "renamed"}
    if kind == 3:
        return "delete_task", {"task_id": task}, {"task_id": task, "status": "deleted", "title": f"task {task}"}
    return "list_tasks", {"status": "all"}, {"status": "ok", "filter": "all", "count": 0, "tasks": []}


def seed(engine: Engine, *, users: int, per_user: int, measured: int) -> uuid.UUID:
    start = utcnow() - timedelta(days=30)
    measured_user = uuid.uuid4()
    user_ids = [measured_user] + [uuid.uuid4() for _ in range(users - 1)]
    with engine.begin() as connection:
        connection.execute(insert(User), [
            {"id": u, "email": f"{u}@example.com", "password_hash": "x", "last_task_id": 40, "created_at": start}
            for u in user_ids
        ])
    for index, user_id in enumerate(user_ids):
        count = measured if index == 0 else per_user
        conversation_id = uuid.uuid4()
        messages, calls = [], []
        for n in range(count):
            at = start + timedelta(seconds=n * 60 + index)
            message_id = uuid.uuid4()
            messages.append({"id": message_id, "conversation_id": conversation_id, "seq": n + 1, "role": "assistant",
                             "content": "ok", "status": "complete", "created_at": at})
            tool, parameters, result = call_for(n)
            calls.append({"id": uuid.uuid4(), "message_id": message_id, "position": 0, "call_id": f"c{n}",
                          "tool_name": tool, "parameters": parameters, "result": result, "executed_at": at})
        with engine.begin() as connection:
            connection.execute(insert(Conversation).values(
                id=conversation_id, user_id=user_id, title="bench", last_seq=count, created_at=start, updated_at=start))
            for lo in range(0, count, BATCH):
                connection.execute(insert(Message), messages[lo:lo + BATCH])
                connection.execute(insert(ToolCall), calls[lo:lo + BATCH])
    with engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    return measured_user


def timed(function, repeats: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        samples.append((time.perf_counter() - began) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    users, per_user, measured, repeats = (100, 200, 2_000, 50) if args.quick else (1_000, 180, 20_000, 200)
    cluster = start_cluster()
    try:
        url = cluster.url()
        upgrade_database(url)
        engine = make_engine(url)
        began = time.perf_counter()
        user_id = seed(engine, users=users, per_user=per_user, measured=measured)
        seeded_s = time.perf_counter() - began
        deep: str | None = None
        for _page in range(100):  # the cursor 100 pages back (or of the last page)
            following = tool_calls.list_tool_calls(engine, user_id=user_id, limit=50, before=deep).next_before
            if following is None:
                break
            deep = following
        scenarios = {
            "newest page": lambda: tool_calls.list_tool_calls(engine, user_id=user_id, limit=50),
            "page 100 (before cursor)": lambda: tool_calls.list_tool_calls(engine, user_id=user_id, limit=50, before=deep),
            "one task's history": lambda: tool_calls.list_tool_calls(engine, user_id=user_id, task_id=7, limit=50),
            "one tool's calls": lambda: tool_calls.list_tool_calls(engine, user_id=user_id, tool_name="delete_task", limit=50),
        }
        rows = []
        for name, run in scenarios.items():
            run()  # warm
            samples = sorted(timed(run, repeats))
            rows.append({"scenario": name, "p50_ms": round(statistics.median(samples), 2),
                         "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2)})
        with engine.connect() as connection:
            plan = "\n".join(row[0] for row in connection.execute(text(
                "EXPLAIN SELECT tc.id FROM tool_calls tc JOIN messages m ON m.id = tc.message_id "
                "WHERE tc.user_id = :u ORDER BY tc.executed_at DESC, tc.id DESC LIMIT 51"), {"u": user_id}))
        engine.dispose()
    finally:
        remove_cluster(cluster)
    total = measured + (users - 1) * per_user
    print(f"{total:,} tool calls, {measured:,} the user's; seeded in {seeded_s:.1f} s\n")
    print("| scenario | p50 ms | p95 ms |\n| --- | ---: | ---: |")
    for row in rows:
        print(f"| {row['scenario']} | {row['p50_ms']} | {row['p95_ms']} |")
    print("\n" + plan)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"tool_calls": total, "users_calls": measured, "rows": rows, "plan": plan}, indent=2) + "\n")


if __name__ == "__main__":
    main()
