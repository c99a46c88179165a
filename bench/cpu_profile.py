"""Where a served turn's CPU goes: py-spy samples one `make api` worker
(PostgreSQL, offline model) while wrk drives plain turns, then MCP tool
turns, at concurrency 8. Idle threads are not sampled, so every sample is
time spent holding the GIL (py-spy --gil): Python's own CPU time, not
threads waiting on a lock or a socket. For each kind of turn it writes the collapsed
stacks (bench/results/profile_<kind>.txt, for flamegraph tools) and prints
two breakdowns: by the package of the innermost frame (self time), and the
share of samples with a frame of each package anywhere on the stack
(inclusive time). Both go to bench/results/profile.json.

    make profile           # or: .venv/bin/python bench/cpu_profile.py --quick
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.plots import machine_info  # noqa: E402
from bench.served import MESSAGES, check_turn, wrk  # noqa: E402
from bench.stack import ROOT, database, served, sign_up  # noqa: E402

RESULTS = ROOT / "bench" / "results"
FRAME = re.compile(r"\((.*?):\d+\)$")
# Inclusive-time groups: a sample counts once per group found on its stack.
# py-spy names frames "function (package/module.py:line)".
GROUPS = {
    "Agents SDK (Runner and its items)": ("(agents/",),
    "chatapp code": ("(chatapp/",),
    "SQLAlchemy": ("(sqlalchemy/", "(sqlmodel/"),
    "psycopg": ("(psycopg/",),
    "pydantic": ("(pydantic/", "(pydantic_core/"),
    "MCP SDK (client and server)": ("(mcp/",),
    "HTTP client (httpx2/httpcore)": ("(httpx", "(httpcore"),
    "ASGI routing (starlette/fastapi)": ("(starlette/", "(fastapi/"),
    "JSON encoding (json/orjson)": ("(json/",),
    "JWT": ("(jwt/",),
    "tiktoken": ("(tiktoken",),
    "Redis": ("(redis/",),
}


def package_of(path: str) -> str:
    return path.split("/", 1)[0].removesuffix(".py") if "/" in path else path.removesuffix(".py")


def summarise(collapsed: Path) -> dict:
    self_time: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        leaf = FRAME.search(frames[-1])
        self_time[package_of(leaf.group(1)) if leaf else frames[-1]] += count
        functions[frames[-1]] += count
        for group, needles in GROUPS.items():
            if any(needle in stack for needle in needles):
                inclusive[group] += count
    share = lambda n: round(100 * n / max(total, 1), 1)  # noqa: E731
    return {"samples": total,
            "self_percent_by_package": {k: share(v) for k, v in self_time.most_common(15)},
            "inclusive_percent": {k: share(v) for k, v in inclusive.most_common()},
            "top_self_functions_percent": {k: share(v) for k, v in functions.most_common(12)}}


def main(quick: bool) -> None:
    seconds = 5 if quick else 20
    report: dict = {"machine": machine_info(), "quick": quick, "concurrency": 8, "seconds": seconds,
                    "server": "make api, 1 worker, PostgreSQL 15, offline model; py-spy --gil at 100 Hz on the worker"}
    with database() as stack, tempfile.TemporaryDirectory() as tmp, served(stack, 1) as api:
        users = sign_up(api, 32)
        users_file = Path(tmp) / "users.txt"
        users_file.write_text("".join(f"{u.user_id} {u.token}\n" for u in users))
        [worker] = api.worker_pids()
        for scenario, message in MESSAGES.items():
            check_turn(api.base_url, (users[0].user_id, users[0].token), message)
            wrk(api.base_url, users_file, message, 8, 2)  # warm-up
            out = RESULTS / f"profile_{scenario}.txt"
            load = threading.Thread(target=wrk, args=(api.base_url, users_file, message, 8, seconds + 3))
            load.start()
            subprocess.run([str(Path(sys.executable).parent / "py-spy"), "record", "-p", str(worker), "-d", str(seconds),
                            "-r", "100", "-f", "raw", "-o", str(out), "--gil"],
                           check=True, capture_output=True, timeout=seconds + 60)
            load.join(timeout=seconds + 60)
            report[scenario] = summarise(out)
            print(scenario, json.dumps(report[scenario], indent=1))
    (RESULTS / "profile.json").write_text(json.dumps(report, indent=2) + "\n")
    print("wrote bench/results/profile.json")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s of samples per kind of turn")
    main(parser.parse_args().quick)
