"""Talking to the API under test as a client does: serving it, accounts,
chat requests, the one error shape, and what a turn stored."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from chatapp.api.app import create_api
from chatapp.config import Settings
from chatapp.services.auth import create_user
from tests.support.pg_cluster import PgCluster
from tests.support.ports import free_port
from tests.support.servers import ApiProcess, ThreadServer

ERROR_KEYS = {"status", "error_code", "error", "conversation_id"}


def fresh_database_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated database of its own, copied from the session's template
    (the `pg_template` and `sqlite_template` fixtures), dropped after the test."""
    if kind == "postgresql":
        cluster: PgCluster = request.getfixturevalue("pg_cluster")
        name = cluster.create_database(template=request.getfixturevalue("pg_template"))
        request.addfinalizer(lambda: cluster.drop_database(name))
        return cluster.url(name)
    path = tmp_path / f"chat-{uuid.uuid4().hex[:8]}.db"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@dataclass
class LiveApi:
    server: ThreadServer
    settings: Settings
    engine: Engine

    @property
    def base_url(self) -> str:
        return self.server.base_url


def serve(engine: Engine, **overrides: object) -> Iterator[LiveApi]:
    """The API over real HTTP in a thread, so the agent reaches the MCP tools
    the way it does in production. `overrides` are Settings fields."""
    port = free_port()
    settings = Settings(mcp_url=f"http://127.0.0.1:{port}/mcp", **overrides)  # type: ignore[arg-type]
    with ThreadServer(create_api(engine, settings=settings), port) as server:
        yield LiveApi(server, settings, engine)


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


def stored_user(engine: Engine) -> uuid.UUID:
    """A user written straight to the database, for service-level tests that
    need an owner but no password or token."""
    return create_user(engine, f"{uuid.uuid4().hex}@example.com", "not-a-hash", Settings()).user_id


def register(client: httpx.Client, email: str | None = None, password: str = "Correct-horse-9") -> Account:
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    response = client.post("/api/auth/register", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    return Account(body["user_id"], body["access_token"], email)


def send(client: httpx.Client, account: Account, message: str, conversation_id: str | None = None) -> httpx.Response:
    return client.post(
        account.chat_path(), headers=account.headers, json={"message": message, "conversation_id": conversation_id}
    )


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    """The one error shape every endpoint answers with; its body."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == ERROR_KEYS
    assert body["status"] == "error" and body["error_code"] == code and body["error"]
    return body


def stored_messages(engine: Engine, conversation_id: str) -> list[tuple[int, str, str]]:
    """(seq, role, content) of a conversation, read from the database itself."""
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT seq, role, content FROM messages WHERE conversation_id = :c ORDER BY seq"),
            {"c": uuid.UUID(conversation_id) if engine.dialect.name == "postgresql" else uuid.UUID(conversation_id).hex},
        ).all()
    return [tuple(row) for row in rows]


def without_ids_and_times(document: dict[str, Any]) -> dict[str, Any]:
    """The content of an export: what a round trip keeps. The imported mark
    is provenance, like ids and times, and is compared on its own."""
    conversation = {"title": document["conversation"]["title"], "token_total": document["conversation"]["token_total"]}
    messages = []
    for message in document["messages"]:
        calls = [{key: call[key] for key in ("tool_name", "parameters", "result")} for call in message["tool_calls"]]
        messages.append({**{key: message[key] for key in ("seq", "role", "content", "status", "error_code")},
                         "answers_seq": message["reply_to"] and next(
                             m["seq"] for m in document["messages"] if m["id"] == message["reply_to"]),
                         "tool_calls": calls})
    return {"format_version": document["format_version"], "conversation": conversation, "messages": messages}
