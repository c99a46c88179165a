"""Shared fixtures: a real PostgreSQL cluster (started here, never mocked)
and SQLite, a freshly migrated database per test, and the API served over
real HTTP so the agent reaches the MCP tools the way it does in production.
The helpers these fixtures use, and tests import, live in tests/support/."""

from __future__ import annotations

from tests.support.environment import use_test_environment

use_test_environment()  # before the app is imported

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from chatapp.db import make_engine, upgrade_database
from tests.support.api import Account, ApiCluster, LiveApi, fresh_database_url, register, serve
from tests.support.pg_cluster import PgCluster, remove_cluster, start_cluster
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer, start_redis
from tests.support.servers import ApiProcess
from tests.support.streams import serve_paced

# Fixtures that live beside their helpers: `fake_openai`, and Chromium's
# `browser`, `context` and `page`.
pytest_plugins = ["tests.support.fake_openai", "tests.support.browser"]


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


@pytest.fixture
def live_api(engine: Engine) -> Iterator[LiveApi]:
    yield from serve(engine)


@pytest.fixture
def client(live_api: LiveApi) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_api.base_url, timeout=60) as http:
        yield http


@pytest.fixture(params=["memory", "redis"])
def paced_api(request: pytest.FixtureRequest, engine: Engine) -> Iterator[LiveApi]:
    """The API with an offline model slow enough to act mid-reply, on each turn bus."""
    yield from serve_paced(request, engine)


@pytest.fixture
def http(paced_api: LiveApi) -> Iterator[httpx.Client]:
    """A client of `paced_api`, for tests that act while a reply streams."""
    with httpx.Client(base_url=paced_api.base_url, timeout=60) as client:
        yield client


@pytest.fixture
def carol(http: httpx.Client) -> Account:
    return register(http)


@pytest.fixture
def hanging_provider() -> Iterator[int]:
    """A model provider's port that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for connection in held:
        connection.close()
    listener.close()


@pytest.fixture
def alice(client: httpx.Client) -> Account:
    return register(client, "alice@example.com")


@pytest.fixture
def bob(client: httpx.Client) -> Account:
    return register(client, "bob@example.com")


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
