"""The served turn: `make api` on PostgreSQL with the offline model, driven
over HTTP by wrk (C, a Lua script for the POST with a bearer token), so the
figures are the server's and not a Python client's: wrk's own CPU is
recorded beside the server's.

Rows: 1 worker at concurrency 1 (p50 of a plain turn and an MCP tool turn),
then concurrency 8 and 32 on 1, 2 and 4 workers (2 and 4 with Redis):
turns/s, errors (connect/read/write/timeouts and non-2xx), p50/p90/p99.
Each turn starts a new conversation of one of 32 users taken in turn, so no
two concurrent turns queue on one conversation. Prints a table, writes
bench/results/served.json and bench/results/served_throughput.png.

    make served           # or: .venv/bin/python bench/served.py --quick
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.plots import machine_info, plot_served  # noqa: E402
from bench.stack import ROOT, database, server_cpu_seconds, served, sign_up  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "served.json"
SCRIPT = ROOT / "bench" / "wrk" / "chat.lua"
MESSAGES = {"plain": "hello there", "mcp_tool": "add buy milk"}
USERS = 32


def wrk(base_url: str, users_file: Path, message: str, concurrency: int, seconds: float) -> tuple[dict, float]:
    """One wrk run; returns its summary and wrk's own CPU seconds."""
    threads = 1 if concurrency == 1 else 2
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    completed = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s", "--timeout", "10s",
         "-s", str(SCRIPT), base_url, "--", str(users_file), message],
        capture_output=True, text=True, timeout=seconds + 60, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = re.search(r"^WRK_JSON (.*)$", completed.stdout, re.M)
    if not match:
        raise RuntimeError(f"wrk printed no summary:\n{completed.stdout}\n{completed.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return json.loads(match.group(1)), cpu


def check_turn(base_url: str, user: tuple[str, str], message: str) -> None:
    """One turn by hand first: the route answers 200 with a stored reply (and a tool call when expected)."""
    response = httpx.post(f"{base_url}/api/{user[0]}/chat", json={"message": message},
                          headers={"Authorization": f"Bearer {user[1]}"}, timeout=30)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", body
    assert body["messages"][-1]["role"] == "assistant" and body["messages"][-1]["content"], body
    if message == MESSAGES["mcp_tool"]:
        assert body["messages"][-1]["tool_calls"][0]["tool_name"] == "add_task", body


def measure(api, users_file: Path, scenario: str, workers: int, concurrency: int, seconds: float) -> dict:
    cpu_before, wall = server_cpu_seconds(api), time.perf_counter()
    summary, wrk_cpu = wrk(api.base_url, users_file, MESSAGES[scenario], concurrency, seconds)
    wall = time.perf_counter() - wall
    server_cpu = server_cpu_seconds(api) - cpu_before
    duration = summary["duration_us"] / 1e6
    errors = sum(summary[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts"))
    return {
        "scenario": scenario, "workers": workers, "concurrency": concurrency, "seconds": round(duration, 1),
        "turns": summary["requests"], "turns_per_s": round(summary["requests"] / duration, 1), "errors": errors,
        "p50_ms": round(summary["p50_us"] / 1000, 2), "p90_ms": round(summary["p90_us"] / 1000, 2),
        "p99_ms": round(summary["p99_us"] / 1000, 2), "max_ms": round(summary["max_us"] / 1000, 2),
        "p99_over_p50": round(summary["p99_us"] / max(summary["p50_us"], 1), 2),
        "server_cpu_ms_per_turn": round(server_cpu * 1000 / max(summary["requests"], 1), 2),
        "server_cores_busy": round(server_cpu / wall, 2), "wrk_cores_busy": round(wrk_cpu / wall, 2),
        "error_detail": {k: summary[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")},
    }


def plan(quick: bool) -> list[tuple[int, list[int]]]:
    """(workers, concurrencies) per server start."""
    if quick:
        return [(1, [1, 32]), (2, [32])]
    return [(1, [1, 8, 32]), (2, [1, 8, 32]), (4, [1, 8, 32])]


def print_table(rows: list[dict]) -> None:
    columns = ["scenario", "workers", "concurrency", "turns", "turns_per_s", "errors", "p50_ms", "p90_ms", "p99_ms",
               "p99_over_p50", "server_cpu_ms_per_turn", "server_cores_busy", "wrk_cores_busy"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join(" ---: " for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in columns) + " |")


def main(quick: bool) -> None:
    seconds = 3 if quick else 10
    rows: list[dict] = []
    with database() as stack, tempfile.TemporaryDirectory() as tmp:
        users_file = Path(tmp) / "users.txt"
        for workers, concurrencies in plan(quick):
            with served(stack, workers) as api:
                if not stack.users:
                    stack.users = sign_up(api, USERS)
                    users_file.write_text("".join(f"{u.user_id} {u.token}\n" for u in stack.users))
                for scenario, message in MESSAGES.items():
                    check_turn(api.base_url, (stack.users[0].user_id, stack.users[0].token), message)
                    wrk(api.base_url, users_file, message, 32, 2)  # warm-up: every worker, pool and connection
                    for concurrency in concurrencies:
                        rows.append(measure(api, users_file, scenario, workers, concurrency, seconds))
                        print(rows[-1], flush=True)
    rows.sort(key=lambda r: (r["concurrency"] != 1, r["scenario"], r["workers"], r["concurrency"]))
    print_table(rows)
    RESULTS.write_text(json.dumps({
        "machine": machine_info(), "quick": quick,
        "server": "make api (granian, uvloop), PostgreSQL 15 (unix socket), offline model; Redis for 2+ workers",
        "client": "wrk 4 (C) with bench/wrk/chat.lua: POST /api/{user}/chat, a new conversation per turn, 32 users",
        "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")
    for path in plot_served(json.loads(RESULTS.read_text())):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 s runs on 1 and 2 workers: a smoke check")
    main(parser.parse_args().quick)
