"""Graceful shutdown: on SIGTERM a worker takes no new turns and lets the
ones in flight finish (up to SHUTDOWN_GRACE_SECONDS), so a deploy
interrupts nothing."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from chatapp.db import make_engine
from chatapp.services import inflight
from tests.conftest import Account, register
from tests.pg_cluster import free_port
from tests.servers import ApiProcess


@pytest.fixture
def draining() -> Iterator[None]:
    asyncio.run(inflight.drain(0))
    yield
    inflight.reset_for_tests()


def test_a_draining_worker_refuses_new_turns_with_503(client: httpx.Client, alice: Account, draining: None) -> None:
    response = client.post(alice.chat_path(), headers=alice.headers, json={"message": "hello"})
    assert response.status_code == 503
    assert response.json()["error_code"] == "unavailable" and response.json()["status"] == "error"
    assert response.headers["retry-after"] == "1"
    assert client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"] == []


def test_a_draining_worker_still_answers_reads(client: httpx.Client, alice: Account, draining: None) -> None:
    assert client.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).status_code == 200


def stream_events(http: httpx.Client, account: Account, message: str, on_event: object) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    name = ""
    with http.stream("POST", f"{account.chat_path()}/stream", headers=account.headers, json={"message": message}) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name, json.loads(line.removeprefix("data: "))))
                on_event(events)  # type: ignore[operator]
    return events


def new_turn_is_refused(base_url: str, account: Account) -> bool:
    """A draining worker either no longer accepts connections (Granian closes
    its listener at once) or answers 503; either way no turn starts."""
    try:
        response = httpx.post(f"{base_url}{account.chat_path()}", headers=account.headers,
                              json={"message": "Add task: never stored"}, timeout=10)
    except httpx.ConnectError:
        return True
    return response.status_code == 503


@pytest.mark.slow
def test_sigterm_lets_a_streamed_turn_finish_and_refuses_new_ones(pg_database_url: str) -> None:
    port = free_port()
    # 60 ms a word: the offline reply to "hello" streams for a few seconds.
    server = ApiProcess(port, {"DATABASE_URL": pg_database_url, "OFFLINE_STREAM_DELAY_MS": "60",
                               "SHUTDOWN_GRACE_SECONDS": "30"})
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            account = register(http)
            refused: list[bool] = []

            def on_event(events: list[tuple[str, dict]]) -> None:
                if [name for name, _ in events].count("text_delta") == 2 and not refused:
                    server.terminate()
                    time.sleep(0.3)  # let the worker take the signal
                    refused.append(new_turn_is_refused(server.base_url, account))

            events = stream_events(http, account, "hello there, how are you today?", on_event)
        assert refused == [True]
        names = [name for name, _ in events]
        assert names[-1] == "done" and "error" not in names
        streamed = "".join(data["delta"] for name, data in events if name == "text_delta")
        assert names.count("text_delta") > 3
        assert server.wait(timeout=60) == 0
    finally:
        server.kill()
    engine = make_engine(pg_database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT role, status, content FROM messages ORDER BY created_at, seq")).all()
    engine.dispose()
    assert [(role, status) for role, status, _ in rows] == [("user", "complete"), ("assistant", "complete")]
    assert rows[1][2] == streamed
    assert uuid.UUID(events[-1][1]["conversation_id"])
