"""Migrations are the only way the schema is made, so they must build exactly
the tables the models describe."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, insert, inspect, select
from sqlmodel import SQLModel

import chatapp.db  # noqa: F401  (registers the tables)
from chatapp.config import PROJECT_ROOT
from chatapp.db import Conversation, Message, ToolCall, User, make_engine
from chatapp.db.search import include_in_comparison
from chatapp.db.types import utcnow
from chatapp.services.search import search_messages
from chatapp.services.tokens import message_tokens


def schema_differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "compare_server_default": True, "include_object": include_in_comparison,
        })
        return compare_metadata(context, SQLModel.metadata)


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    assert schema_differences(engine) == []


def test_json_columns_are_jsonb_on_postgresql(pg_database_url: str) -> None:
    engine = make_engine(pg_database_url)
    columns = {column["name"]: column["type"] for column in inspect(engine).get_columns("tool_calls")}
    engine.dispose()
    assert type(columns["parameters"]).__name__ == "JSONB" and type(columns["result"]).__name__ == "JSONB"


def test_messages_are_unique_per_conversation_and_seq(engine: Engine) -> None:
    constraints = inspect(engine).get_unique_constraints("messages")
    assert any(sorted(c["column_names"]) == ["conversation_id", "seq"] for c in constraints)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database()
    request.addfinalizer(lambda: cluster.drop_database(name))
    return cluster.url(name)


def alembic_config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    return config


def migrate(url: str, revision: str) -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def store_one_message(engine: Engine, content: str) -> uuid.UUID:
    """A user with one conversation ("Old") holding one message, written
    with the columns every revision since 0001 has; returns the user id."""
    user_id, conversation_id, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    with engine.begin() as connection:
        connection.execute(insert(User).values(id=user_id, email="old@example.com", password_hash="x", created_at=now))
        connection.execute(insert(Conversation).values(
            id=conversation_id, user_id=user_id, title="Old", last_seq=1, created_at=now, updated_at=now))
        connection.execute(insert(Message).values(
            id=uuid.uuid4(), conversation_id=conversation_id, seq=1, role="user", content=content, created_at=now))
    return user_id


def test_the_search_migration_indexes_messages_stored_before_it(empty_database_url: str) -> None:
    migrate(empty_database_url, "0005")
    engine = make_engine(empty_database_url)
    user_id = store_one_message(engine, "an archived marmalade recipe")
    migrate(empty_database_url, "head")
    found, _ = search_messages(engine, user_id=user_id, query="marmalade")
    engine.dispose()
    assert [hit.conversation_title for hit in found] == ["Old"]


LISTED = {"status": "ok", "filter": "all", "count": 1, "tasks": [{"task_id": 1, "title": "Milk", "completed": False}]}


def message_row(conversation_id: uuid.UUID, seq: int, role: str, content: str, **columns: object) -> dict[str, object]:
    """Every row with every column: an executemany insert takes its columns from the first row."""
    return {"id": uuid.uuid4(), "conversation_id": conversation_id, "seq": seq, "role": role, "content": content,
            "status": "complete", "error_code": None, "token_count": 0, "tokens_before": 0, "created_at": utcnow(),
            **columns}


def seed_at_0008(engine: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    """One conversation stored before 0002 (every count 0, as 0002 left it,
    plus answers whose 0 is the app's own: one still running, one
    interrupted) and one stored since, counted by the app."""
    user_id, old, new, now = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), utcnow()
    answer_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(insert(User).values(id=user_id, email="old@example.com", password_hash="x", created_at=now))
        connection.execute(insert(Conversation), [
            {"id": old, "user_id": user_id, "title": "Old", "last_seq": 5, "token_total": 0,
             "created_at": now, "updated_at": now},
            {"id": new, "user_id": user_id, "title": "New", "last_seq": 2, "token_total": 30,
             "created_at": now, "updated_at": now},
        ])
        connection.execute(insert(Message), [
            message_row(old, 1, "user", "add milk", id=uuid.uuid4()),
            message_row(old, 2, "assistant", "You have 1 task:\n- [ ] 1. Milk", id=answer_id),
            message_row(old, 3, "assistant", "Half an", status="failed", error_code="interrupted"),
            message_row(old, 4, "user", "what's left?"),
            message_row(old, 5, "assistant", "", status="in_progress"),
            message_row(new, 1, "user", "hi", token_count=10, tokens_before=0),
            message_row(new, 2, "assistant", "Hello", token_count=20, tokens_before=10),
        ])
        connection.execute(insert(ToolCall).values(
            id=uuid.uuid4(), message_id=answer_id, position=0, call_id="c1", tool_name="list_tasks",
            parameters={"status": "all"}, result=LISTED, executed_at=now))
    return old, new


def counts(engine: Engine, conversation_id: uuid.UUID) -> tuple[list[tuple[int, int]], int]:
    with engine.connect() as connection:
        rows = connection.execute(select(Message.token_count, Message.tokens_before)
                                  .where(Message.conversation_id == conversation_id).order_by(Message.seq)).all()
        total = connection.execute(select(Conversation.token_total).where(Conversation.id == conversation_id)).scalar_one()
    return [tuple(row) for row in rows], total


def expected_old_counts() -> tuple[list[tuple[int, int]], int]:
    """What the app writes: each complete message's text and tool calls; an
    interrupted or running answer's 0; totals summed in seq order."""
    written = [
        message_tokens("add milk"),
        message_tokens("You have 1 task:\n- [ ] 1. Milk", [("list_tasks", {"status": "all"}, LISTED)]),
        0,
        message_tokens("what's left?"),
        0,
    ]
    befores = [sum(written[:index]) for index in range(len(written))]
    return list(zip(written, befores)), sum(written)


def test_the_token_backfill_counts_messages_stored_before_counting_began(empty_database_url: str) -> None:
    migrate(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    old, _ = seed_at_0008(engine)
    migrate(empty_database_url, "head")
    assert counts(engine, old) == expected_old_counts()
    engine.dispose()


def test_the_token_backfill_leaves_conversations_the_app_counted(empty_database_url: str) -> None:
    migrate(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    _, new = seed_at_0008(engine)
    migrate(empty_database_url, "head")
    assert counts(engine, new) == ([(10, 0), (20, 10)], 30)
    engine.dispose()


def test_the_token_backfill_run_twice_changes_nothing(empty_database_url: str) -> None:
    migrate(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    old, new = seed_at_0008(engine)
    migrate(empty_database_url, "head")
    once = counts(engine, old), counts(engine, new)
    downgrade(empty_database_url, "0008")
    migrate(empty_database_url, "head")
    assert (counts(engine, old), counts(engine, new)) == once
    engine.dispose()


def test_the_owner_tag_migration_reindexes_messages_and_can_be_undone(empty_database_url: str) -> None:
    migrate(empty_database_url, "0008")
    engine = make_engine(empty_database_url)
    user_id = store_one_message(engine, "a marmalade recipe")
    migrate(empty_database_url, "head")
    downgrade(empty_database_url, "0008")
    migrate(empty_database_url, "head")
    found, _ = search_messages(engine, user_id=user_id, query="marm*")
    engine.dispose()
    assert [hit.conversation_title for hit in found] == ["Old"]
