"""Streamed turns, read in a thread so a test can act mid-reply (stop,
reload, kill a worker), and an API whose offline model streams slowly
enough for that."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from tests.support.api import Account, LiveApi, serve

PACED_MS = 30  # the offline model's pause between words: slow enough to act mid-reply
LONG = "what is this app?"  # the offline model's long help text


def serve_paced(request: pytest.FixtureRequest, engine: Engine, delay_ms: int = PACED_MS) -> Iterator[LiveApi]:
    """The API with a paced offline model, on the turn bus `request.param`
    names: "memory" (in-process) or "redis"."""
    overrides: dict[str, object] = {"offline_stream_delay_ms": delay_ms}
    if request.param == "redis":
        overrides["redis_url"] = request.getfixturevalue("redis_url")
    yield from serve(engine, **overrides)


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, dict]]:
    name = ""
    for line in lines:
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            yield name, json.loads(line.removeprefix("data: "))


class Stream:
    """A streamed request read in a thread, so the test can act mid-reply."""

    def __init__(self, http: httpx.Client, method: str, path: str, headers: dict[str, str], body: dict | None = None) -> None:
        self.events: list[tuple[str, dict]] = []
        self.status = 0
        self.broken: httpx.TransportError | None = None
        self._args = (method, path, headers, body)
        self._http = http
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        method, path, headers, body = self._args
        try:
            with self._http.stream(method, path, headers=headers, json=body) as response:
                self.status = response.status_code
                for event in parse_sse(response.iter_lines()):
                    self.events.append(event)
        except httpx.TransportError as error:  # the server went away mid-stream (a killed worker)
            self.broken = error

    def wait_for(self, name: str, count: int = 1, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while sum(1 for event, _ in self.events if event == name) < count:
            assert time.monotonic() < deadline, f"no {count}x {name} in {self.events}"
            time.sleep(0.01)

    def finish(self, timeout: float = 30.0) -> list[tuple[str, dict]]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "stream did not end"
        return self.events

    def names(self) -> list[str]:
        return [name for name, _ in self.events]

    def text(self) -> str:
        return "".join(data["delta"] for name, data in self.events if name == "text_delta")


def start_stream(http: httpx.Client, account: Account, message: str, conversation_id: str | None = None,
                 key: str | None = None) -> Stream:
    headers = {**account.headers, **({"Idempotency-Key": key} if key else {})}
    return Stream(http, "POST", f"{account.chat_path()}/stream", headers,
                  {"message": message, "conversation_id": conversation_id})


def turn_path(account: Account, conversation_id: str, action: str) -> str:
    return f"/api/{account.user_id}/conversations/{conversation_id}/{action}"
