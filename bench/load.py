"""Load: locust's simulated users against `make api` with several workers,
PostgreSQL and Redis.

Seeds 200 accounts holding 10,000 conversations (4 messages each) straight
into the database, then runs locust headless (bench/locustfile.py) with
1,000 users and think time for 2 minutes, under a hard time bound. 0 errors
is required; p50/p95 per endpoint are printed and written to
bench/results/load.json.

    make load              # or: .venv/bin/python bench/load.py --quick
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.plots import machine_info  # noqa: E402
from bench.stack import JWT_SECRET, PUBLIC_URL, ROOT, database, server_cpu_seconds, served  # noqa: E402
from chatapp.config import Settings  # noqa: E402
from chatapp.db import Conversation, Message, make_engine  # noqa: E402
from chatapp.db.types import utcnow  # noqa: E402
from chatapp.db.users import User  # noqa: E402
from chatapp.services import auth  # noqa: E402
from chatapp.services.tokens import message_tokens  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "load.json"


def seed(database_url: str, accounts: int, conversations: int) -> list[dict]:
    """Accounts (sharing one password hash) and their conversations, in bulk."""
    engine = make_engine(database_url)
    settings = Settings(jwt_secret=JWT_SECRET, public_url=PUBLIC_URL)
    first = auth.register(engine, email=f"load-{uuid.uuid4().hex[:8]}@bench.dev", password="Bench-pass-1", settings=settings).user_id
    with engine.begin() as connection:
        password_hash = connection.execute(select(User.password_hash).where(User.id == first)).scalar_one()
        user_ids = [first] + [uuid.uuid4() for _ in range(accounts - 1)]
        connection.execute(insert(User), [{"id": u, "email": f"load-{u.hex[:12]}@bench.dev", "password_hash": password_hash,
                                           "last_task_id": 0, "created_at": utcnow()} for u in user_ids[1:]])
        start = utcnow() - timedelta(days=7)
        per_account = conversations // accounts
        plan = {u: [uuid.uuid4() for _ in range(per_account)] for u in user_ids}
        texts = [("user", "add task: water the plants"), ("assistant", "I've added task 1: water the plants."),
                 ("user", "what's left?"), ("assistant", "You have 1 pending task:\n- 1: water the plants")]
        tokens = [message_tokens(content) for _, content in texts]
        conversation_rows, message_rows = [], []
        for user_id, owned in plan.items():
            for n, conversation_id in enumerate(owned):
                created = start + timedelta(seconds=n)
                conversation_rows.append({"id": conversation_id, "user_id": user_id, "title": f"chat {n}",
                                          "last_seq": len(texts), "token_total": sum(tokens),
                                          "created_at": created, "updated_at": created})
                before = 0
                for seq, ((role, content), count) in enumerate(zip(texts, tokens), start=1):
                    message_rows.append({"id": uuid.uuid4(), "conversation_id": conversation_id, "seq": seq,
                                         "role": role, "content": content, "status": "complete",
                                         "created_at": created, "token_count": count, "tokens_before": before})
                    before += count
        for chunk in range(0, len(conversation_rows), 5000):
            connection.execute(insert(Conversation), conversation_rows[chunk:chunk + 5000])
        for chunk in range(0, len(message_rows), 5000):
            connection.execute(insert(Message), message_rows[chunk:chunk + 5000])
        connection.exec_driver_sql("ANALYZE")
    engine.dispose()
    return [{"user_id": str(u), "token": auth.issue_token(u, settings), "conversations": [str(c) for c in owned]}
            for u, owned in plan.items()]


def read_stats(prefix: Path) -> list[dict]:
    rows = []
    with open(f"{prefix}_stats.csv") as handle:
        for row in csv.DictReader(handle):
            rows.append({
                "endpoint": row["Name"], "requests": int(row["Request Count"]), "failures": int(row["Failure Count"]),
                "p50_ms": float(row["50%"]), "p95_ms": float(row["95%"]), "p99_ms": float(row["99%"]),
                "max_ms": round(float(row["Max Response Time"]), 1), "requests_per_s": round(float(row["Requests/s"]), 1),
            })
    return rows


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def failures(prefix: Path) -> list[dict]:
    """Failures by endpoint and kind (user and conversation ids blanked out)."""
    kinds: dict[tuple[str, str], int] = {}
    with open(f"{prefix}_failures.csv") as handle:
        for r in csv.DictReader(handle):
            key = (r["Name"], UUID.sub("[id]", r["Error"])[:300])
            kinds[key] = kinds.get(key, 0) + int(r["Occurrences"])
    return [{"endpoint": name, "error": error, "occurrences": count} for (name, error), count in kinds.items()]


def task_exceptions(prefix: Path) -> list[dict]:
    """Exceptions raised inside a simulated user's task: errors too."""
    path = Path(f"{prefix}_exceptions.csv")
    if not path.exists():
        return []
    with open(path) as handle:
        return [{"count": int(r["Count"]), "message": r["Message"][:300]} for r in csv.DictReader(handle)]


def main(quick: bool, workers: int) -> None:
    users, spawn, seconds = (100, 50, 20) if quick else (1000, 50, 120)
    accounts, conversations = (20, 1000) if quick else (200, 10000)
    with database() as stack, served(stack, workers) as api, tempfile.TemporaryDirectory() as tmp:
        seeded = seed(stack.database_url, accounts, conversations)
        users_file = Path(tmp) / "users.json"
        users_file.write_text(json.dumps(seeded))
        prefix = Path(tmp) / "locust"
        before_cpu, before_locust = server_cpu_seconds(api), resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"), "--headless",
             "-u", str(users), "-r", str(spawn), "-t", f"{seconds}s", "--stop-timeout", "30",
             "--host", api.base_url, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
            env={**__import__("os").environ, "LOAD_USERS": str(users_file)},
            capture_output=True, text=True, timeout=seconds + 120)
        wall = time.perf_counter() - wall
        after_locust = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = server_cpu_seconds(api) - before_cpu
        if not Path(f"{prefix}_stats.csv").exists():
            raise RuntimeError(f"locust wrote no stats (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
        stats, failed, exceptions = read_stats(prefix), failures(prefix), task_exceptions(prefix)
    locust_cpu = (after_locust.ru_utime - before_locust.ru_utime) + (after_locust.ru_stime - before_locust.ru_stime)
    print(completed.stdout[-4000:])
    warnings = [line for line in completed.stderr.splitlines() if "WARNING" in line or "ERROR" in line][:10]
    total = next((r for r in stats if r["endpoint"] == "Aggregated"), None)
    print("| endpoint | requests | failures | p50 ms | p95 ms | p99 ms | max ms | req/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in stats:
        print(f"| {r['endpoint']} | {r['requests']} | {r['failures']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
              f"{r['max_ms']} | {r['requests_per_s']} |")
    errors = (total["failures"] if total else 0) + sum(e["count"] for e in exceptions)
    print(f"errors: {errors}; server {server_cpu / wall:.2f} cores busy, locust {locust_cpu / wall:.2f}")
    for warning in warnings:
        print(warning)
    RESULTS.write_text(json.dumps({
        "machine": machine_info(), "quick": quick,
        "server": f"make api, {workers} workers, Redis, PostgreSQL 15, offline model",
        "locust": {"users": users, "spawn_rate": spawn, "seconds": seconds, "think_time_s": [5, 15],
                   "accounts": accounts, "conversations": conversations, "exit_code": completed.returncode,
                   "cores_busy": round(locust_cpu / wall, 2), "warnings": warnings},
        "server_cores_busy": round(server_cpu / wall, 2), "errors": errors,
        "endpoints": stats, "failures": failed, "task_exceptions": exceptions,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100 users over 1,000 conversations for 20 s")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    main(args.quick, args.workers)
