"""What the served benchmarks share: `make api` on its own PostgreSQL (and
Redis for several workers) on 127.0.0.1, users signed up through the API,
and the server's CPU and memory read from its process group."""

from __future__ import annotations

import os
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.pg_cluster import PgCluster, remove_cluster, start_cluster  # noqa: E402
from tests.support.ports import free_port  # noqa: E402
from tests.support.redis_server import RedisServer, start_redis  # noqa: E402
from tests.support.servers import ApiProcess  # noqa: E402

GENEROUS = "100000000/minute"
JWT_SECRET = "bench-served-secret-" + "x" * 40
PUBLIC_URL = "http://127.0.0.1"
LIMITS = {f"RATE_LIMIT_{name}": GENEROUS for name in
          ("LOGIN_PER_IP", "LOGIN_PER_EMAIL", "REGISTER_PER_IP", "REGISTER_PER_EMAIL", "CHAT_PER_USER")}
PASSWORD = "Bench-pass-1"


@dataclass
class User:
    user_id: str
    token: str


@dataclass
class Stack:
    cluster: PgCluster
    database_url: str
    redis: RedisServer | None = None
    api: ApiProcess | None = None
    users: list[User] = field(default_factory=list)


def server_processes(api: ApiProcess) -> list[psutil.Process]:
    try:
        root = psutil.Process(api.process.pid)  # type: ignore[union-attr]
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def server_cpu_seconds(api: ApiProcess) -> float:
    total = 0.0
    for process in server_processes(api):
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def server_rss(api: ApiProcess) -> int:
    total = 0
    for process in server_processes(api):
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


@contextmanager
def database() -> Iterator[Stack]:
    cluster = start_cluster()
    try:
        yield Stack(cluster=cluster, database_url=cluster.url(cluster.create_database()))
    finally:
        remove_cluster(cluster)


@contextmanager
def served(stack: Stack, workers: int, extra_env: dict[str, str] | None = None) -> Iterator[ApiProcess]:
    """`make api` with `workers` workers (Redis for more than one), every rate
    limit raised so no figure is the limiter's."""
    port = free_port()
    redis = start_redis() if workers > 1 else None
    env = {"DATABASE_URL": stack.database_url, "MCP_URL": f"http://127.0.0.1:{port}/mcp",
           "JWT_SECRET": JWT_SECRET,
           # One issuer and audience for every server a run starts, so users signed up once keep their tokens.
           "PUBLIC_URL": PUBLIC_URL, **LIMITS, **(extra_env or {})}
    if redis:
        env["REDIS_URL"] = redis.url
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "REDIS_URL"):
        if name not in env:
            os.environ.pop(name, None)
    api = ApiProcess(port, env, workers=workers)
    try:
        api.start(timeout=180)
        yield api
    finally:
        api.kill()
        if redis:
            redis.stop()


def sign_up(api: ApiProcess, count: int) -> list[User]:
    """`count` users through the API (argon2 runs for each: a few seconds)."""
    users = []
    with httpx.Client(base_url=api.base_url, timeout=60) as http:
        for _ in range(count):
            response = http.post("/api/auth/register",
                                 json={"email": f"u{uuid.uuid4().hex[:12]}@bench.dev", "password": PASSWORD})
            response.raise_for_status()
            body = response.json()
            users.append(User(body["user_id"], body["access_token"]))
    return users


def wait_quiet(seconds: float = 1.0) -> None:
    time.sleep(seconds)
