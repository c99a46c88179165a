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
from sqlalchemy import Engine, insert, inspect
from sqlmodel import SQLModel

import chatapp.db  # noqa: F401  (registers the tables)
from chatapp.config import PROJECT_ROOT
from chatapp.db import Conversation, Message, User, make_engine
from chatapp.db.search import include_in_comparison
from chatapp.db.types import utcnow
from chatapp.services.search import search_messages


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


def migrate(url: str, revision: str) -> None:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    command.upgrade(config, revision)


def test_the_search_migration_indexes_messages_stored_before_it(empty_database_url: str) -> None:
    migrate(empty_database_url, "0005")
    engine = make_engine(empty_database_url)
    user_id, conversation_id, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    with engine.begin() as connection:
        connection.execute(insert(User).values(id=user_id, email="old@example.com", password_hash="x", created_at=now))
        connection.execute(insert(Conversation).values(
            id=conversation_id, user_id=user_id, title="Old", last_seq=1, created_at=now, updated_at=now))
        connection.execute(insert(Message).values(
            id=uuid.uuid4(), conversation_id=conversation_id, seq=1, role="user", content="an archived marmalade recipe",
            created_at=now))
    migrate(empty_database_url, "head")
    found, _ = search_messages(engine, user_id=user_id, query="marmalade")
    engine.dispose()
    assert [hit.conversation_title for hit in found] == ["Old"]
