"""PostgreSQL search: every indexed word carries its owner, so a prefix search reads only the user's words

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24 00:45:00

0006 indexed (owner, words) in one btree_gin index. A prefix such as `mine*`
then expands over every user's words before the owner's posting list
narrows it: 30 ms in the index for a 100,000-message account among a
million, whatever that user's own matches. Now each lexeme starts with the
first 8 hex digits of its owner's id (see chatapp/db/search.py), so the
expansion stays inside the user's own words. The column is rebuilt (a
generated column's expression cannot be altered), which rewrites the table
once. SQLite's FTS5 index is unchanged.
"""

from __future__ import annotations

from alembic import op

from chatapp.db.search import (
    PG_FUNCTIONS_DDL, PG_FUNCTIONS_DROP, PG_INDEX_DDL, PG_VECTOR_EXPRESSION, SEARCH_INDEX, SEARCH_USER, SEARCH_VECTOR,
)

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# What 0006 built, for the downgrade (migrations keep their own copies).
OWNERLESS_VECTOR = "to_tsvector('simple'::regconfig, regexp_replace(content, '[[:punct:]]+', ' ', 'g'))"
OWNERLESS_INDEX_DDL = f"CREATE INDEX {SEARCH_INDEX} ON messages USING gin ({SEARCH_USER}, {SEARCH_VECTOR})"


def rebuild(expression: str, index_ddl: str) -> None:
    op.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
    op.execute(f"ALTER TABLE messages DROP COLUMN IF EXISTS {SEARCH_VECTOR}")
    op.execute(f"ALTER TABLE messages ADD COLUMN {SEARCH_VECTOR} tsvector GENERATED ALWAYS AS ({expression}) STORED")
    op.execute(index_ddl)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for statement in PG_FUNCTIONS_DDL:
        op.execute(statement)
    rebuild(PG_VECTOR_EXPRESSION, PG_INDEX_DDL)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    rebuild(OWNERLESS_VECTOR, OWNERLESS_INDEX_DDL)
    for statement in PG_FUNCTIONS_DROP:
        op.execute(statement)
