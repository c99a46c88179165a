"""Migrations are the only way the schema is made, so they must build exactly
the tables the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import chatapp.db  # noqa: F401  (registers the tables)
from chatapp.db import make_engine


def schema_differences(engine: Engine) -> list:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
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
