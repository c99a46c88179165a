"""Durable turns across worker processes: `make api` with PostgreSQL and a
real Redis. Idempotency keys, stop, resume and a SIGKILLed worker, where the
process that runs a turn is not the one the client talks to next."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import create_engine, text

from chatapp.config import Settings
from tests.support.api import Account, ApiCluster, assert_error, register
from tests.support.pg_cluster import PgCluster
from tests.support.ports import free_port
from tests.support.redis_server import RedisServer
from tests.support.servers import ApiProcess
from tests.support.streams import LONG, Stream, turn_path

pytestmark = pytest.mark.slow

TURN_TIMEOUT = 5  # so a dead worker's turn is declared interrupted 35 s after it started


def rows(database_url: str, sql: str, **params: object) -> list[tuple]:
    engine = create_engine(Settings(database_url=database_url).sqlalchemy_url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params).all()]
    finally:
        engine.dispose()


def conversation_rows(database_url: str, conversation_id: str) -> list[tuple]:
    return rows(database_url, "SELECT seq, role, status, error_code, id, reply_to FROM messages "
                              "WHERE conversation_id = :c ORDER BY seq", c=uuid.UUID(conversation_id))


# ---- 4 workers behind one port ---------------------------------------------------

def test_50_concurrent_requests_with_one_key_across_4_workers_make_one_turn(api_cluster: ApiCluster) -> None:
    with httpx.Client(base_url=api_cluster.server.base_url, timeout=60) as http:
        account = register(http)

    async def storm() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=50)  # 50 connections: the kernel spreads them over the workers
        async with httpx.AsyncClient(base_url=api_cluster.server.base_url, timeout=60, limits=limits) as client:
            headers = {**account.headers, "Idempotency-Key": "one-key-50-requests"}
            return await asyncio.gather(*(
                client.post(account.chat_path(), headers=headers, json={"message": "add buy milk"}) for _ in range(50)
            ))

    responses = asyncio.run(storm())
    assert [response.status_code for response in responses] == [200] * 50
    bodies = [response.json() for response in responses]
    assert len({(body["conversation_id"], *(m["id"] for m in body["messages"])) for body in bodies}) == 1
    stored = conversation_rows(api_cluster.database_url, bodies[0]["conversation_id"])
    assert [(seq, role, status) for seq, role, status, *_ in stored] == [(1, "user", "complete"), (2, "assistant", "complete")]
    with httpx.Client(base_url=api_cluster.server.base_url, timeout=60) as http:
        other = http.post(account.chat_path(), headers={**account.headers, "Idempotency-Key": "one-key-50-requests"},
                          json={"message": "add buy bread"})
        assert_error(other, 422, "idempotency_mismatch")
        assert http.get(f"/api/{account.user_id}/tasks", headers=account.headers).json()["count"] == 1


def test_100_concurrent_turns_on_one_conversation_across_4_workers(api_cluster: ApiCluster) -> None:
    with httpx.Client(base_url=api_cluster.server.base_url, timeout=60) as http:
        account = register(http)
        conversation_id = http.post(account.chat_path(), headers=account.headers, json={"message": "hello"}).json()["conversation_id"]

    async def storm() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=api_cluster.server.base_url, timeout=120,
                                     limits=httpx.Limits(max_connections=100)) as client:
            return await asyncio.gather(*(
                client.post(account.chat_path(), headers=account.headers,
                            json={"message": f"add task {index}", "conversation_id": conversation_id})
                for index in range(99)
            ))

    responses = asyncio.run(storm())
    assert [response.status_code for response in responses] == [200] * 99
    stored = conversation_rows(api_cluster.database_url, conversation_id)
    assert [seq for seq, *_ in stored] == list(range(1, 201))
    users = {row[4] for row in stored if row[1] == "user"}
    answers = [row for row in stored if row[1] == "assistant"]
    assert len(users) == 100 and len(answers) == 100
    assert {row[5] for row in answers} == users  # each user message answered exactly once
    assert {row[2] for row in answers} == {"complete"}


# ---- two single-worker processes sharing the database and Redis --------------------

@dataclass
class TwoWorkers:
    first: ApiProcess
    second: ApiProcess
    database_url: str


@pytest.fixture(scope="module")
def two_workers(pg_cluster: PgCluster, pg_template: str, redis_server: RedisServer) -> Iterator[TwoWorkers]:
    """Two `make api` processes on one PostgreSQL database and one Redis:
    what one runs, the other must see, stop and resume."""
    import redis

    database = pg_cluster.create_database(template=pg_template)
    database_url = pg_cluster.url(database)
    redis_url = redis_server.url_for(2)
    with redis.Redis.from_url(redis_url) as client:
        client.flushdb()
    servers = []
    ports = [free_port(), free_port()]
    for port in ports:
        servers.append(ApiProcess(port, {
            "DATABASE_URL": database_url, "REDIS_URL": redis_url, "MCP_URL": f"http://127.0.0.1:{port}/mcp",
            # one deployment behind one public address: a token is good on every worker
            "PUBLIC_URL": f"http://127.0.0.1:{ports[0]}",
            "OFFLINE_STREAM_DELAY_MS": "40", "TURN_TIMEOUT_SECONDS": str(TURN_TIMEOUT),
        }))
    try:
        for server in servers:
            server.start()
        yield TwoWorkers(servers[0], servers[1], database_url)
    finally:
        for server in servers:
            server.kill()
        pg_cluster.drop_database(database)


def signed_up(two_workers: TwoWorkers) -> Account:
    with httpx.Client(base_url=two_workers.first.base_url, timeout=30) as http:
        return register(http)


def stream_on(server: ApiProcess, http: httpx.Client, account: Account, message: str) -> Stream:
    return Stream(http, "POST", f"{server.base_url}{account.chat_path()}/stream", account.headers, {"message": message})


def test_stop_on_one_worker_stops_a_turn_running_on_another(two_workers: TwoWorkers) -> None:
    account = signed_up(two_workers)
    with httpx.Client(timeout=60) as http:
        live = stream_on(two_workers.first, http, account, LONG)
        live.wait_for("text_delta")
        conversation_id = live.events[0][1]["conversation_id"]
        asked = time.monotonic()
        stop = http.post(two_workers.second.base_url + turn_path(account, conversation_id, "stop"), headers=account.headers)
        assert stop.status_code == 202
        events = live.finish()
        stopped_after = time.monotonic() - asked
    answer = events[-1][1]["messages"][-1]
    assert events[-1][0] == "done" and answer["status"] == "stopped" and answer["content"] == live.text()
    assert stopped_after < TURN_TIMEOUT  # stopped, not timed out (the bound is 1 s; see bench for the figure)


def test_resume_on_another_worker_replays_and_follows_to_the_same_done(two_workers: TwoWorkers) -> None:
    account = signed_up(two_workers)
    with httpx.Client(timeout=60) as http:
        live = stream_on(two_workers.first, http, account, LONG)
        live.wait_for("text_delta", 2)
        conversation_id = live.events[0][1]["conversation_id"]
        resumed = Stream(http, "GET", two_workers.second.base_url + turn_path(account, conversation_id, "stream"),
                         account.headers)
        original, again = live.finish(), resumed.finish()
    assert resumed.status == 200
    assert again[0] == original[0] and again[-1] == original[-1]
    assert resumed.text() == live.text() == original[-1][1]["messages"][-1]["content"]


def test_sigkill_of_the_worker_running_a_turn_leaves_it_interrupted_and_retry_answers_it(two_workers: TwoWorkers) -> None:
    account = signed_up(two_workers)
    with httpx.Client(timeout=60) as http:
        live = stream_on(two_workers.first, http, account, LONG)
        live.wait_for("text_delta")
        conversation_id = live.events[0][1]["conversation_id"]
        killed_at = time.monotonic()
        two_workers.first.kill()
        page_path = two_workers.second.base_url + f"/api/{account.user_id}/conversations/{conversation_id}"
        bound = TURN_TIMEOUT + 30 + 10  # the contract's bound, plus slack for a shared machine
        while True:
            answer = http.get(page_path, headers=account.headers).json()["messages"][-1]
            if answer["status"] != "in_progress":
                break
            assert answer["content"] == ""  # never partial text, never marked complete
            assert time.monotonic() - killed_at < bound, "the dead turn was never settled"
            time.sleep(1)
        assert (answer["status"], answer["error_code"]) == ("failed", "interrupted")
        two_workers.first.start()  # the worker comes back; the conversation goes on
        retried = http.post(two_workers.first.base_url + turn_path(account, conversation_id, "retry"), headers=account.headers)
        assert retried.status_code == 200, retried.text
    stored = conversation_rows(two_workers.database_url, conversation_id)
    assert [(seq, role, status) for seq, role, status, *_ in stored] == [(1, "user", "complete"), (2, "assistant", "complete")]
