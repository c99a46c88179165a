"""The tool-call audit trail: tool_calls.user_id and tool_calls.task_id

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 21:40:00

Two columns, filled by the database on every insert (a trigger), so every
writer of tool calls — the turn pipeline, an import, a benchmark's seed —
keeps them right without knowing about them:

- `user_id`: whose call it is (from its message's conversation), so "my
  tool calls, newest first" is one index range instead of a join over every
  conversation and message the user has;
- `task_id`: the task the call acted on. For add_task it is only in the
  result; for complete/delete/update it is in the result and the arguments.
  The result wins; either counts only as an integer in 1..2^31-1.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MAX_TASK_ID = 2**31 - 1

PG_TASK_ID_FUNCTION = f"""
CREATE OR REPLACE FUNCTION tool_call_task_id(parameters jsonb, result jsonb) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN jsonb_typeof(result -> 'task_id') = 'number' AND (result ->> 'task_id') ~ '^[0-9]{{1,10}}$'
             AND (result ->> 'task_id')::bigint BETWEEN 1 AND {MAX_TASK_ID}
            THEN (result ->> 'task_id')::integer
        WHEN jsonb_typeof(parameters -> 'task_id') = 'number' AND (parameters ->> 'task_id') ~ '^[0-9]{{1,10}}$'
             AND (parameters ->> 'task_id')::bigint BETWEEN 1 AND {MAX_TASK_ID}
            THEN (parameters ->> 'task_id')::integer
    END
$$
"""
PG_TRIGGER_FUNCTION = """
CREATE OR REPLACE FUNCTION tool_calls_audit_columns() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.user_id INTO NEW.user_id
    FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
    WHERE m.id = NEW.message_id;
    NEW.task_id := tool_call_task_id(NEW.parameters, NEW.result);
    RETURN NEW;
END
$$
"""
PG_TRIGGER = """
CREATE TRIGGER tool_calls_audit_columns BEFORE INSERT OR UPDATE OF message_id, parameters, result ON tool_calls
FOR EACH ROW EXECUTE FUNCTION tool_calls_audit_columns()
"""


def sqlite_task_id(parameters: str, result: str) -> str:
    """The same rule in SQLite's JSON1. CASE evaluates lazily, so invalid
    JSON (Python's NaN, say) is never handed to json_type."""

    def integer_at(column: str) -> str:
        return (
            f"CASE WHEN json_valid({column}) AND json_type({column}, '$.task_id') = 'integer' "
            f"AND json_extract({column}, '$.task_id') BETWEEN 1 AND {MAX_TASK_ID} "
            f"THEN json_extract({column}, '$.task_id') END"
        )

    return f"COALESCE({integer_at(result)}, {integer_at(parameters)})"


SQLITE_USER_OF = (
    "(SELECT c.user_id FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id "
    "WHERE m.id = {message_id})"
)


def sqlite_triggers() -> list[str]:
    refresh = (
        f"UPDATE tool_calls SET user_id = {SQLITE_USER_OF.format(message_id='NEW.message_id')}, "
        f"task_id = {sqlite_task_id('NEW.parameters', 'NEW.result')} WHERE id = NEW.id;"
    )
    # SQLite's BEFORE triggers cannot change NEW: fill the row right after.
    # Recursive triggers are off, so the UPDATE does not fire the second one.
    return [
        f"CREATE TRIGGER tool_calls_audit_columns_insert AFTER INSERT ON tool_calls BEGIN {refresh} END",
        f"CREATE TRIGGER tool_calls_audit_columns_update AFTER UPDATE OF message_id, parameters, result "
        f"ON tool_calls BEGIN {refresh} END",
    ]


def upgrade() -> None:
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("task_id", sa.Integer(), nullable=True))
    op.create_index("ix_tool_calls_user_id_executed_at", "tool_calls", ["user_id", "executed_at", "id"], unique=False)
    op.create_index(
        "ix_tool_calls_user_id_task_id_executed_at", "tool_calls", ["user_id", "task_id", "executed_at", "id"],
        unique=False,
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_TASK_ID_FUNCTION)
        op.execute(PG_TRIGGER_FUNCTION)
        op.execute(PG_TRIGGER)
        op.execute(
            """
            UPDATE tool_calls SET user_id = c.user_id, task_id = tool_call_task_id(tool_calls.parameters, tool_calls.result)
            FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
            WHERE m.id = tool_calls.message_id
            """
        )
    else:
        for statement in sqlite_triggers():
            op.execute(statement)
        op.execute(
            f"UPDATE tool_calls SET user_id = {SQLITE_USER_OF.format(message_id='tool_calls.message_id')}, "
            f"task_id = {sqlite_task_id('tool_calls.parameters', 'tool_calls.result')}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS tool_calls_audit_columns ON tool_calls")
        op.execute("DROP FUNCTION IF EXISTS tool_calls_audit_columns()")
        op.execute("DROP FUNCTION IF EXISTS tool_call_task_id(jsonb, jsonb)")
    else:
        op.execute("DROP TRIGGER IF EXISTS tool_calls_audit_columns_insert")
        op.execute("DROP TRIGGER IF EXISTS tool_calls_audit_columns_update")
    op.drop_index("ix_tool_calls_user_id_task_id_executed_at", table_name="tool_calls")
    op.drop_index("ix_tool_calls_user_id_executed_at", table_name="tool_calls")
    with op.batch_alter_table("tool_calls", schema=None) as batch_op:
        batch_op.drop_column("task_id")
        batch_op.drop_column("user_id")
