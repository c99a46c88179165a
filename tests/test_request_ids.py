"""A request id on every answer and every log line, and logs as JSON lines.

In process (SQLite and PostgreSQL): the `X-Request-ID` header on answers of
every kind, a sane incoming id kept and any other replaced, and a log
record made while serving a request carrying its id. Served (`make api`):
every line the server writes while it serves is one JSON object, and the
lines of one request (its access line, the MCP tool call its turn made)
carry that request's id."""

from __future__ import annotations

import json
import logging
import re
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.api import Account, fresh_database_url, register, send, serve
from tests.support.ports import free_port
from tests.support.servers import ApiProcess

GENERATED = re.compile(r"[0-9a-f]{32}")


def request_id(response: httpx.Response) -> str:
    return response.headers["x-request-id"]


# ---- on every answer ------------------------------------------------------------------

def test_every_kind_of_answer_carries_a_generated_request_id(client: httpx.Client, alice: Account) -> None:
    answers = [
        client.get("/api/health"),
        client.get("/openapi.json"),
        client.get("/metrics"),
        client.get("/api/no-such-route"),
        client.delete("/api/auth/login"),
        client.post(alice.chat_path(), json={"message": "hi"}),
        client.post(alice.chat_path(), headers=alice.headers, json={"message": ""}),
        client.post(alice.chat_path(), headers={**alice.headers, "Content-Type": "application/json"},
                    content=b"x" * 70_000),
        client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        send(client, alice, "hello there"),
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 404, 405, 401, 400, 413, 401, 200]
    ids = [request_id(answer) for answer in answers]
    assert all(GENERATED.fullmatch(rid) for rid in ids), ids
    assert len(set(ids)) == len(ids)


def test_a_streamed_turn_carries_a_request_id(client: httpx.Client, alice: Account) -> None:
    with client.stream("POST", f"{alice.chat_path()}/stream", headers=alice.headers, json={"message": "hello"}) as response:
        assert response.status_code == 200
        assert GENERATED.fullmatch(request_id(response))
        response.read()


@pytest.mark.parametrize("incoming", ["abc", "7f1c2e0a-5b4d-4c3e-9f8a-1b2c3d4e5f60", "trace:00-4bf9/2@x+y=z_.", "a" * 128])
def test_a_sane_incoming_request_id_is_kept(client: httpx.Client, incoming: str) -> None:
    assert request_id(client.get("/api/health", headers={"X-Request-ID": incoming})) == incoming


@pytest.mark.parametrize("incoming", ["a" * 129, "two words", "semi;colon", "quote\"", "{json}", "tab\tbed"])
def test_an_unusable_incoming_request_id_is_replaced(client: httpx.Client, incoming: str) -> None:
    rid = request_id(client.get("/api/health", headers={"X-Request-ID": incoming}))
    assert GENERATED.fullmatch(rid) and rid != incoming


def test_an_incoming_request_id_is_sent_back_once(client: httpx.Client) -> None:
    response = client.get("/api/health", headers={"X-Request-ID": "only-once"})
    assert response.headers.get_list("x-request-id") == ["only-once"]


def test_a_log_record_made_for_a_request_carries_its_id(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    """A failed turn logs a warning while answering 500: that record names the request."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="chatapp.api"):
        for api in serve(engine, openai_base_url=f"http://127.0.0.1:{closed}/v1"):
            with httpx.Client(base_url=api.base_url, timeout=60) as http:
                account = register(http)
                response = http.post(account.chat_path(), headers={**account.headers, "X-Request-ID": "failing-turn-1"},
                                     json={"message": "hello"})
    assert response.status_code == 500 and request_id(response) == "failing-turn-1"
    warnings = [record for record in caplog.records if record.name == "chatapp.api" and "agent_error" in record.getMessage()]
    assert warnings and {record.request_id for record in warnings} == {"failing-turn-1"}  # type: ignore[attr-defined]


# ---- the served log -------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    url = fresh_database_url("sqlite", request, tmp_path_factory.mktemp("request-ids"))
    port = free_port()
    server = ApiProcess(port, {"DATABASE_URL": url, "MCP_URL": f"http://127.0.0.1:{port}/mcp", "LOG_FORMAT": "json"})
    server.start()
    yield server
    server.kill()


def log_lines_after(log: Path, offset: int, wanted: str, timeout: float = 10.0) -> list[str]:
    """The lines written since `offset`, once `wanted` shows up in them (the
    logging thread writes a moment after the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        with log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode()
        if wanted in text or time.monotonic() > deadline:
            return [line for line in text.splitlines() if line.strip()]
        time.sleep(0.05)


def test_the_served_log_is_json_lines_that_name_their_request(served: ApiProcess) -> None:
    offset = served.log.stat().st_size
    with httpx.Client(base_url=served.base_url, timeout=60) as http:
        account = register(http)
        turn = http.post(account.chat_path(), headers={**account.headers, "X-Request-ID": "tool-turn-1"},
                         json={"message": "Add task: Buy groceries"})
        missing = http.get("/api/no-such-route")
    assert turn.status_code == 200 and missing.status_code == 404
    lines = log_lines_after(served.log, offset, request_id(missing))
    entries = [json.loads(line) for line in lines]  # every line, or this fails
    assert all({"time", "level", "logger", "message", "request_id"} <= set(entry) for entry in entries)

    turn_lines = [entry for entry in entries if entry["request_id"] == "tool-turn-1"]
    chat = [entry for entry in turn_lines if entry.get("path") == account.chat_path()]
    assert [(entry["method"], entry["status"]) for entry in chat] == [("POST", 200)]
    # The turn's MCP requests (the tool call, and the process's one tool listing) log under the turn's id.
    mcp = [entry["status"] for entry in turn_lines if entry.get("path") == "/mcp"]
    assert mcp and set(mcp) == {200}
    missing_lines = [entry for entry in entries if entry["request_id"] == request_id(missing)]
    assert [(entry["path"], entry["status"]) for entry in missing_lines] == [("/api/no-such-route", 404)]


def test_a_logged_exception_is_one_json_line_with_its_traceback() -> None:
    from chatapp.logs import JsonFormatter

    try:
        raise RuntimeError("kaboom\nsecond line")
    except RuntimeError:
        record = logging.LogRecord("chatapp.api", logging.ERROR, __file__, 1, "failed %s", ("here",), sys.exc_info())
    record.request_id = "rid-1"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert (entry["message"], entry["level"], entry["request_id"]) == ("failed here", "ERROR", "rid-1")
    assert entry["exception"].startswith("Traceback") and "RuntimeError: kaboom" in entry["exception"]
