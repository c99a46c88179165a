"""Every stored tool call knows its user and the task it acted on, whoever
wrote it (the database fills both on insert), and migration 0008 fills them
for the calls stored before it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, insert, select

from chatapp.config import PROJECT_ROOT
from chatapp.db import Conversation, Message, ToolCall, User, make_engine
from chatapp.db.types import utcnow
from tests.support.pg_cluster import PgCluster


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    return config


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database no migration has touched yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    cluster: PgCluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


def seed_turn(engine: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    """A user with one conversation and one assistant message; returns (user id, message id)."""
    user_id, conversation_id, message_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = utcnow()
    with engine.begin() as connection:
        connection.execute(insert(User).values(id=user_id, email=f"{user_id}@example.com", password_hash="x",
                                               last_task_id=0, created_at=now))
        connection.execute(insert(Conversation).values(id=conversation_id, user_id=user_id, title="t", last_seq=1,
                                                       created_at=now, updated_at=now))
        connection.execute(insert(Message).values(id=message_id, conversation_id=conversation_id, seq=1,
                                                  role="assistant", content="", status="complete", created_at=now))
    return user_id, message_id


CALLS: list[tuple[str, dict[str, Any], Any, int | None]] = [
    # tool, parameters, result, the task it acted on
    ("add_task", {"title": "Buy milk"}, {"task_id": 3, "status": "created", "title": "Buy milk"}, 3),
    ("complete_task", {"task_id": 3}, {"task_id": 3, "status": "completed", "title": "Buy milk"}, 3),
    ("delete_task", {"task_id": 7}, "Error executing tool delete_task: validation failed", 7),
    ("update_task", {"task_id": "4"}, {"status": "error", "error": "invalid_request"}, None),
    ("complete_task", {"task_id": 2**31}, None, None),
    ("complete_task", {"task_id": 2.5}, ["not", "an", "object"], None),
    ("list_tasks", {"status": "all"}, {"status": "ok", "tasks": [{"task_id": 1}]}, None),
]


def insert_calls(engine: Engine, message_id: uuid.UUID) -> None:
    with engine.begin() as connection:
        connection.execute(insert(ToolCall), [
            {"id": uuid.uuid4(), "message_id": message_id, "position": position, "call_id": f"c{position}",
             "tool_name": tool, "parameters": parameters, "result": result, "executed_at": utcnow()}
            for position, (tool, parameters, result, _task) in enumerate(CALLS)
        ])


def stored_columns(engine: Engine) -> list[tuple[uuid.UUID | None, int | None]]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(
            select(ToolCall.user_id, ToolCall.task_id).order_by(ToolCall.position)
        )]


def test_an_inserted_call_gets_its_user_and_task(engine: Engine) -> None:
    user_id, message_id = seed_turn(engine)
    insert_calls(engine, message_id)
    assert stored_columns(engine) == [(user_id, task) for _tool, _params, _result, task in CALLS]


def test_the_migration_fills_calls_stored_before_it(empty_database_url: str) -> None:
    config = alembic_config(empty_database_url)
    command.upgrade(config, "0007")
    engine = make_engine(empty_database_url)
    try:
        user_id, message_id = seed_turn(engine)
        insert_calls(engine, message_id)  # names only the columns 0007 has
        command.upgrade(config, "head")
        assert stored_columns(engine) == [(user_id, task) for _tool, _params, _result, task in CALLS]
    finally:
        engine.dispose()
