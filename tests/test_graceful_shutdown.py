"""Graceful shutdown: on SIGTERM a worker takes no new turns and lets the
ones in flight finish (up to SHUTDOWN_GRACE_SECONDS), so a deploy
interrupts nothing."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from chatapp.db import make_engine
from chatapp.services import inflight
from tests.support.api import Account, register, send
from tests.support.ports import free_port
from tests.support.servers import ApiProcess
from tests.support.fake_openai import FakeOpenAI, hang


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
    """The events of a streamed turn, up to its end or until the server cuts it."""
    events: list[tuple[str, dict]] = []
    name = ""
    with http.stream("POST", f"{account.chat_path()}/stream", headers=account.headers, json={"message": message}) as response:
        assert response.status_code == 200
        try:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    name = line.removeprefix("event: ")
                elif line.startswith("data: "):
                    events.append((name, json.loads(line.removeprefix("data: "))))
                    on_event(events)  # type: ignore[operator]
        except httpx.RemoteProtocolError:
            pass
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


@pytest.mark.slow
def test_sigterm_lets_a_plain_chat_request_in_flight_get_its_answer(
    pg_database_url: str, fake_openai: FakeOpenAI
) -> None:
    """`/chat` answers only when the turn is over. Its model call is held
    for 3 s (then fails, so the answer is a 500 `agent_error`): what counts is
    that the worker answers it rather than exiting under it."""
    fake_openai.script(hang(3))
    port = free_port()
    server = ApiProcess(port, {"DATABASE_URL": pg_database_url, "OPENAI_BASE_URL": fake_openai.base_url})
    server.start()
    outcome: list[httpx.Response | Exception] = []
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            account = register(http)

            def chat() -> None:
                try:
                    outcome.append(send(http, account, "Add task: Buy groceries"))
                except httpx.HTTPError as error:
                    outcome.append(error)

            turn = threading.Thread(target=chat)
            turn.start()
            fake_openai.wait_for_requests(1)
            server.terminate()
            turn.join(timeout=30)
        assert server.wait(timeout=60) == 0
    finally:
        server.kill()
    assert len(outcome) == 1 and isinstance(outcome[0], httpx.Response), outcome
    assert outcome[0].status_code == 500 and outcome[0].json()["error_code"] == "agent_error"


@pytest.mark.slow
def test_a_turn_still_running_at_the_grace_deadline_is_cut_off_and_the_worker_exits(pg_database_url: str) -> None:
    """The grace counts from SIGTERM. A reply paced to take over 10 s, a 1 s
    grace: the turn is cancelled at the deadline and the worker exits on its
    own, before Granian's kill timeout (grace + 10 s) would SIGKILL it."""
    port = free_port()
    server = ApiProcess(port, {"DATABASE_URL": pg_database_url, "OFFLINE_STREAM_DELAY_MS": "400",
                               "SHUTDOWN_GRACE_SECONDS": "1"})
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=60) as http:
            account = register(http)

            def on_event(events: list[tuple[str, dict]]) -> None:
                if [name for name, _ in events].count("text_delta") == 1:
                    server.terminate()

            events = stream_events(http, account, "hello there, how are you today?", on_event)
        assert "done" not in [name for name, _ in events]
        assert server.wait(timeout=60) == 0
    finally:
        server.kill()
    assert b"refused to gracefully stop" not in server.log.read_bytes()[server.log_offset:]
    engine = make_engine(pg_database_url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT role, status, error_code FROM messages ORDER BY seq")).all()
    engine.dispose()
    # Cut at the deadline, the answer is stored as interrupted, not left in progress.
    assert [tuple(row) for row in rows] == [("user", "complete", None), ("assistant", "failed", "interrupted")]
