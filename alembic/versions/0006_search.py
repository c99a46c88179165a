"""Full-text search over messages: PostgreSQL tsvector + GIN, SQLite FTS5 + triggers

Revision ID: 0006
Revises: 0004
Create Date: 2026-11-23 21:30:00
"""

from __future__ import annotations

from alembic import op

from chatapp.db.search import FTS_TABLE, FTS_TOKENIZER, PG_VECTOR_EXPRESSION, SEARCH_INDEX, SEARCH_VECTOR

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None

# messages has a UUID primary key, so FTS5 is keyed by its implicit rowid.
SQLITE_TRIGGERS = {
    f"{FTS_TABLE}_insert": f"""
        CREATE TRIGGER {FTS_TABLE}_insert AFTER INSERT ON messages BEGIN
            INSERT INTO {FTS_TABLE}(rowid, content) VALUES (new.rowid, new.content);
        END""",
    f"{FTS_TABLE}_delete": f"""
        CREATE TRIGGER {FTS_TABLE}_delete AFTER DELETE ON messages BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, content) VALUES ('delete', old.rowid, old.content);
        END""",
    f"{FTS_TABLE}_update": f"""
        CREATE TRIGGER {FTS_TABLE}_update AFTER UPDATE OF content ON messages BEGIN
            INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, content) VALUES ('delete', old.rowid, old.content);
            INSERT INTO {FTS_TABLE}(rowid, content) VALUES (new.rowid, new.content);
        END""",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # A stored generated column fills itself for existing rows (the
        # backfill) and stays in step with every write; GIN answers @@.
        op.execute(
            f"ALTER TABLE messages ADD COLUMN {SEARCH_VECTOR} tsvector "
            f"GENERATED ALWAYS AS ({PG_VECTOR_EXPRESSION}) STORED"
        )
        op.execute(f"CREATE INDEX {SEARCH_INDEX} ON messages USING gin ({SEARCH_VECTOR})")
        return
    op.execute(
        f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5("
        f"content, content='messages', content_rowid='rowid', tokenize='{FTS_TOKENIZER}')"
    )
    for statement in SQLITE_TRIGGERS.values():
        op.execute(statement)
    op.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('rebuild')")  # the backfill


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
        op.execute(f"ALTER TABLE messages DROP COLUMN IF EXISTS {SEARCH_VECTOR}")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
