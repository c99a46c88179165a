"""`/metrics` under `make api` with 2 worker processes (PostgreSQL, Redis):
whichever worker a scrape reaches, it reports the turns of both, and a
killed worker's running turn stops counting as in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from tests.support.api import Account, register
from tests.support.metrics import scrape, value
from tests.support.pg_cluster import PgCluster
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.servers import ApiProcess, is_alive
from tests.support.streams import LONG, start_stream

pytestmark = pytest.mark.slow

WORKERS = 2
REDIS_DB = 2  # `redis_url` uses 0, `api_cluster` 1


@pytest.fixture(scope="module")
def two_workers(pg_cluster: PgCluster, pg_template: str, redis_server: RedisServer) -> Iterator[ApiProcess]:
    import redis

    database = pg_cluster.create_database(template=pg_template)
    redis_url = redis_server.url_for(REDIS_DB)
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    port = free_port()
    server = ApiProcess(port, {
        "DATABASE_URL": pg_cluster.url(database), "REDIS_URL": redis_url, "MCP_URL": f"http://127.0.0.1:{port}/mcp",
        "OFFLINE_STREAM_DELAY_MS": "20",  # slow enough to find a turn running
    }, workers=WORKERS)
    try:
        server.start()
        yield server
    finally:
        server.kill()
        pg_cluster.drop_database(database)


@pytest.fixture(scope="module")
def account(two_workers: ApiProcess) -> Account:
    with httpx.Client(base_url=two_workers.base_url, timeout=30) as http:
        return register(http)


def metrics_dir(server: ApiProcess) -> Path:
    """Where the workers keep their values: PROMETHEUS_MULTIPROC_DIR, as `make api` set it for them."""
    environ = (Path("/proc") / str(server.worker_pids()[0]) / "environ").read_bytes().split(b"\0")
    found = dict(item.split(b"=", 1) for item in environ if b"=" in item)
    return Path(found[b"PROMETHEUS_MULTIPROC_DIR"].decode())


def completed_by_worker(server: ApiProcess) -> dict[int, float]:
    """Each live worker's own count of complete turns, read from its own file."""
    counts = {}
    for pid in server.worker_pids():
        path = metrics_dir(server) / f"counter_{pid}.db"
        total = 0.0
        if path.exists():
            for metric in MultiProcessCollector.merge([str(path)]):
                total += sum(sample.value for sample in metric.samples
                             if sample.name == "chatapp_turns_total" and sample.labels == {"outcome": "complete"})
        counts[pid] = total
    return counts


async def turns_on_fresh_connections(base_url: str, account: Account, count: int, concurrency: int) -> list[int]:
    """A connection per turn, so the kernel hands them to both workers."""
    gate = asyncio.Semaphore(concurrency)

    async def turn() -> int:
        async with gate, httpx.AsyncClient(base_url=base_url, timeout=60) as http:
            response = await http.post(account.chat_path(), headers=account.headers, json={"message": "hello there"})
            return response.status_code

    return await asyncio.gather(*(turn() for _ in range(count)))


def scrape_fresh(server: ApiProcess) -> dict:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        return scrape(http)


def test_every_scrape_counts_the_turns_of_both_workers(two_workers: ApiProcess, account: Account) -> None:
    sent = 0
    for _round in range(5):  # bounded: until both workers have served turns
        statuses = asyncio.run(turns_on_fresh_connections(two_workers.base_url, account, 20, 8))
        assert statuses == [200] * 20
        sent += 20
        if all(count > 0 for count in completed_by_worker(two_workers).values()):
            break
    by_worker = completed_by_worker(two_workers)
    assert len(by_worker) == WORKERS and all(count > 0 for count in by_worker.values()), by_worker
    assert sum(by_worker.values()) == sent
    scrapes = [scrape_fresh(two_workers) for _ in range(6)]  # fresh connections: both workers answer some
    for samples in scrapes:
        assert value(samples, "chatapp_turns_total", outcome="complete") == sent
        assert value(samples, "chatapp_turn_seconds_count", outcome="complete") == sent
        assert value(samples, "chatapp_turn_first_event_seconds_count") == sent
        assert value(samples, "chatapp_turns_in_flight") == 0


def test_a_killed_workers_running_turn_leaves_the_in_flight_gauge(two_workers: ApiProcess, account: Account) -> None:
    with httpx.Client(base_url=two_workers.base_url, timeout=60) as http:
        live = start_stream(http, account, LONG)
        live.wait_for("text_delta")
        before = scrape_fresh(two_workers)
        assert value(before, "chatapp_turns_in_flight") == 1
        running_on = [pid for pid in two_workers.worker_pids()
                      if (metrics_dir(two_workers) / f"gauge_livesum_{pid}.db").exists()
                      and value_in_file(metrics_dir(two_workers) / f"gauge_livesum_{pid}.db") == 1]
        assert len(running_on) == 1
        os.kill(running_on[0], signal.SIGKILL)
        killed_at = time.monotonic()
        while is_alive(running_on[0]) and time.monotonic() - killed_at < 10:
            time.sleep(0.01)
        live.finish()
    after = scrape_fresh(two_workers)
    assert value(after, "chatapp_turns_in_flight") == 0
    assert not (metrics_dir(two_workers) / f"gauge_livesum_{running_on[0]}.db").exists()
    # The dead worker's counters stay: totals never go down.
    assert value(after, "chatapp_turns_total", outcome="complete") == value(before, "chatapp_turns_total", outcome="complete")


def value_in_file(path: Path) -> float:
    return sum(sample.value for metric in MultiProcessCollector.merge([str(path)]) for sample in metric.samples
               if sample.name == "chatapp_turns_in_flight")
