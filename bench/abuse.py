"""Abuse runs against the served backend (`make api`, PostgreSQL): a login
flood and oversized bodies, while the server's memory (RSS summed over its
process group) and `/api/health` latency are sampled.

- `login_flood`: 100 concurrent wrong-password logins for one account, with
  the login limits raised so every argon2 hash really runs. The bar: memory
  rises by < 150 MB and /api/health answers in < 100 ms throughout.
- `body_100mb_declared`: a request declaring a 100 MB body; the bar: 413
  before the body is read, memory moves by a few MB at most.
- `body_100mb_chunked`: the same 100 MB streamed without a length.

Every rate limit is set explicitly, so no figure is a figure of the limiter.
Only 127.0.0.1 is contacted; every loop is bounded in count and time.
Prints a table and writes bench/results/abuse.json.

    make abuse            # or: .venv/bin/python bench/abuse.py
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import socket
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results" / "abuse.json"

from tests.support.pg_cluster import remove_cluster, start_cluster  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.servers import ApiProcess  # noqa: E402

FLOOD = 100
GENEROUS = "1000000/minute"
BODY = 100 * 1024 * 1024


def group_rss(pid: int) -> int:
    """RSS of the server's process and all its descendants, in bytes."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


class Sampler:
    """Samples group RSS every 50 ms and /api/health latency every 100 ms in
    background threads, until stopped (or 120 s at most)."""

    def __init__(self, server: ApiProcess) -> None:
        self.server = server
        self.rss: list[int] = []
        self.health_ms: list[float] = []
        self.health_errors = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.sample_rss), threading.Thread(target=self.sample_health)]

    def sample_rss(self) -> None:
        deadline = time.monotonic() + 120
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.rss.append(group_rss(self.server.process.pid))  # type: ignore[union-attr]
            time.sleep(0.05)

    def sample_health(self) -> None:
        deadline = time.monotonic() + 120
        with httpx.Client(base_url=self.server.base_url, timeout=10) as http:
            while not self.stop.is_set() and time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = http.get("/api/health").status_code == 200
                except httpx.HTTPError:
                    ok = False
                self.health_ms.append((time.perf_counter() - started) * 1000)
                self.health_errors += not ok
                time.sleep(0.1)

    def __enter__(self) -> "Sampler":
        for thread in self.threads:
            thread.start()
        time.sleep(0.3)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


def summary(name: str, baseline: int, sampler: Sampler, **extra: object) -> dict:
    health = sorted(sampler.health_ms) or [0.0]
    return {
        "scenario": name,
        "rss_before_mb": round(baseline / 2**20, 1),
        "rss_peak_mb": round(max(sampler.rss or [baseline]) / 2**20, 1),
        "rss_rise_mb": round((max(sampler.rss or [baseline]) - baseline) / 2**20, 1),
        "health_samples": len(sampler.health_ms),
        "health_p50_ms": round(statistics.median(health), 1),
        "health_max_ms": round(health[-1], 1),
        "health_errors": sampler.health_errors,
        **extra,
    }


async def flood_logins(base_url: str, email: str) -> tuple[dict[int, int], float]:
    statuses: dict[int, int] = {}
    limits = httpx.Limits(max_connections=FLOOD, max_keepalive_connections=FLOOD)
    async with httpx.AsyncClient(base_url=base_url, timeout=120, limits=limits) as http:
        async def one(i: int) -> None:
            response = await http.post("/api/auth/login", json={"email": email, "password": f"Wrong-horse-{i}"})
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(FLOOD))), timeout=300)
        return statuses, time.perf_counter() - started


def send_big_body(port: int, chunked: bool) -> tuple[str, float, int]:
    """Upload up to 100 MB by hand, stopping as soon as the server answers.
    Returns (status line, seconds to the answer, bytes sent)."""
    head = "Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {BODY}\r\n"
    chunk = b"x" * 65536
    frame = (b"10000\r\n" + chunk + b"\r\n") if chunked else chunk
    sent = 0
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(f"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n{head}\r\n".encode())
        sock.setblocking(False)
        answer = b""
        deadline = time.monotonic() + 60
        while sent < BODY and time.monotonic() < deadline:
            try:
                answer = sock.recv(4096)
                if answer:
                    break
            except BlockingIOError:
                pass
            try:
                sock.sendall(frame)
                sent += len(chunk)
            except BlockingIOError:
                time.sleep(0.001)
            except (BrokenPipeError, ConnectionResetError):
                break
        if not answer:
            sock.settimeout(30)
            try:
                answer = sock.recv(4096)
            except OSError:
                answer = b""
    return answer.split(b"\r\n", 1)[0].decode(errors="replace"), time.perf_counter() - started, sent


def print_table(rows: list[dict]) -> None:
    columns = ["scenario", "result", "rss_before_mb", "rss_peak_mb", "rss_rise_mb", "health_p50_ms", "health_max_ms",
               "health_errors", "seconds"]
    print("| " + " | ".join(columns) + " |")
    print("|" + "|".join(" --- " for _ in columns) + "|")
    for row in rows:
        print("| " + " | ".join(str(row.get(column, "")) for column in columns) + " |")


def main() -> None:
    cluster = start_cluster()
    server: ApiProcess | None = None
    rows: list[dict] = []
    try:
        url = cluster.url(cluster.create_database())
        port = free_port()
        server = ApiProcess(port, {
            "DATABASE_URL": url, "MCP_URL": f"http://127.0.0.1:{port}/mcp",
            "JWT_SECRET": "abuse-bench-secret-" + "x" * 40,
            **{f"RATE_LIMIT_{name}": GENEROUS for name in
               ("LOGIN_PER_IP", "LOGIN_PER_EMAIL", "REGISTER_PER_IP", "REGISTER_PER_EMAIL", "CHAT_PER_USER")},
        })
        server.start()
        email = f"flood-{uuid.uuid4().hex[:8]}@bench.dev"
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            assert http.post("/api/auth/register", json={"email": email, "password": "Correct-horse-9"}).status_code == 201
            for _ in range(3):  # warm up: the hashing pool, the connection pool
                http.post("/api/auth/login", json={"email": email, "password": "Wrong-horse-0"})
        time.sleep(1)

        baseline = group_rss(server.process.pid)  # type: ignore[union-attr]
        with Sampler(server) as sampler:
            statuses, seconds = asyncio.run(flood_logins(server.base_url, email))
        rows.append(summary("login_flood", baseline, sampler, result=" ".join(f"{k}x{v}" for k, v in sorted(statuses.items())),
                            seconds=round(seconds, 2), logins=FLOOD))

        for name, chunked in (("body_100mb_declared", False), ("body_100mb_chunked", True)):
            time.sleep(0.5)
            baseline = group_rss(server.process.pid)  # type: ignore[union-attr]
            with Sampler(server) as sampler:
                status, seconds, sent = send_big_body(server.port, chunked)
            rows.append(summary(name, baseline, sampler, result=status, seconds=round(seconds, 3),
                                body_bytes_sent=sent))
    finally:
        if server is not None:
            server.kill()
        remove_cluster(cluster)

    print_table(rows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "server": "make api (granian, 1 worker), PostgreSQL 15", "rate_limits": GENEROUS,
        "bars": {"login_flood_rss_rise_mb": 150, "health_max_ms": 100},
        "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
