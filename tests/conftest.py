"""Shared fixtures: a real PostgreSQL cluster (started here, never mocked)
and SQLite, a freshly migrated database per test, and the API served over
real HTTP so the agent reaches the MCP tools the way it does in production."""

from __future__ import annotations

import os

# Offline, deterministic and quiet: no key, no traces, a fixed secret.
for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL", "MCP_URL"):
    os.environ.pop(name, None)
os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"
os.environ.setdefault("JWT_SECRET", "test-secret-" + "x" * 64)  # long enough for the HS512 negative test
# Every test sets the rate limits explicitly: high enough that no test (or
# `make api` it starts) measures the limiter; rate-limit tests set tight ones.
GENEROUS_LIMIT = "100000/minute"
for name in ("LOGIN_PER_IP", "LOGIN_PER_EMAIL", "REGISTER_PER_IP", "REGISTER_PER_EMAIL", "CHAT_PER_USER"):
    os.environ[f"RATE_LIMIT_{name}"] = GENEROUS_LIMIT

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from chatapp.api.app import create_api
from chatapp.config import Settings
from chatapp.db import make_engine, upgrade_database
from tests.pg_cluster import PgCluster, free_port, remove_cluster, start_cluster
from tests.redis_server import RedisServer, start_redis
from tests.servers import ApiProcess, ThreadServer

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    cluster = start_cluster()
    yield cluster
    remove_cluster(cluster)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A real Redis, flushed for each test that uses it."""
    import redis

    with redis.Redis.from_url(redis_server.url) as client:
        client.flushdb()  # database 0 only: `api_cluster` keeps its own
    return redis_server.url


@pytest.fixture(scope="session")
def pg_template(pg_cluster: PgCluster) -> str:
    """Migrated once; each test's database is a copy (CREATE DATABASE ... TEMPLATE)."""
    name = pg_cluster.create_database()
    upgrade_database(pg_cluster.url(name))
    return name


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path


def fresh_database_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "postgresql":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        name = cluster.create_database(template=request.getfixturevalue("pg_template"))
        request.addfinalizer(lambda: cluster.drop_database(name))
        return cluster.url(name)
    path = tmp_path / f"chat-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request.param, request, tmp_path)


@pytest.fixture
def pg_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url("postgresql", request, tmp_path)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@dataclass
class LiveApi:
    server: ThreadServer
    settings: Settings
    engine: Engine

    @property
    def base_url(self) -> str:
        return self.server.base_url


def serve(engine: Engine, **overrides: object) -> Iterator[LiveApi]:
    port = free_port()
    settings = Settings(mcp_url=f"http://127.0.0.1:{port}/mcp", **overrides)  # type: ignore[arg-type]
    with ThreadServer(create_api(engine, settings=settings), port) as server:
        yield LiveApi(server, settings, engine)


@pytest.fixture
def live_api(engine: Engine) -> Iterator[LiveApi]:
    yield from serve(engine)


@pytest.fixture
def client(live_api: LiveApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_api.base_url, timeout=60) as http:
        yield http


@dataclass
class Account:
    user_id: str
    token: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def chat_path(self) -> str:
        return f"/api/{self.user_id}/chat"


def register(client: httpx.Client, email: str | None = None, password: str = "Correct-horse-9") -> Account:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(body["user_id"], body["access_token"], email)


@pytest.fixture
def alice(client: httpx.Client) -> Account:
    return register(client, "alice@example.com")


@pytest.fixture
def bob(client: httpx.Client) -> Account:
    return register(client, "bob@example.com")


def send(client: httpx.Client, account: Account, message: str, conversation_id: str | None = None) -> httpx.Response:
    return client.post(
        account.chat_path(), headers=account.headers, json={"message": message, "conversation_id": conversation_id}
    )


@dataclass
class ApiCluster:
    """`make api` with several workers, as production runs it: PostgreSQL,
    Redis, one JWT secret."""

    server: ApiProcess
    database_url: str
    redis_url: str

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def api_cluster(pg_cluster: PgCluster, pg_template: str, redis_server: RedisServer) -> Iterator[ApiCluster]:
    """4 workers on a fresh database, shared by a module's tests. A Redis
    database of its own (0 is the `redis_url` fixture's), flushed first."""
    import redis

    database = pg_cluster.create_database(template=pg_template)
    database_url = pg_cluster.url(database)
    redis_url = redis_server.url_for(1)
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    port = free_port()
    server = ApiProcess(
        port, {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "MCP_URL": f"http://127.0.0.1:{port}/mcp"},
        workers=4,
    )
    try:
        server.start()
        yield ApiCluster(server, database_url, redis_url)
    finally:
        server.kill()
        pg_cluster.drop_database(database)
