"""Full-text search over messages: PostgreSQL tsvector + owner in one GIN (btree_gin), SQLite FTS5 + triggers

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 21:30:00
"""

from __future__ import annotations

from alembic import op

from chatapp.db.search import FTS_TABLE, FTS_TOKENIZER, SEARCH_INDEX, SEARCH_USER, SEARCH_USER_TRIGGER, SEARCH_VECTOR

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The index as this revision made it; 0010 tags every word with its owner.
# Frozen here rather than imported, so this revision always builds what it
# always built (0010's downgrade returns to it).
PG_VECTOR_EXPRESSION = "to_tsvector('simple'::regconfig, regexp_replace(content, '[[:punct:]]+', ' ', 'g'))"
PG_INDEX_DDL = f"CREATE INDEX {SEARCH_INDEX} ON messages USING gin ({SEARCH_USER}, {SEARCH_VECTOR})"

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
        # btree_gin lets the GIN index hold the owner beside the words (a
        # trusted extension since PostgreSQL 13: the database owner may add it).
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gin")
        op.execute(f"ALTER TABLE messages ADD COLUMN {SEARCH_USER} uuid")
        op.execute(f"""
            CREATE FUNCTION {SEARCH_USER_TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                NEW.{SEARCH_USER} := (SELECT user_id FROM conversations WHERE id = NEW.conversation_id);
                RETURN NEW;
            END $$""")
        op.execute(f"""
            CREATE TRIGGER {SEARCH_USER_TRIGGER} BEFORE INSERT ON messages
            FOR EACH ROW EXECUTE FUNCTION {SEARCH_USER_TRIGGER}()""")
        op.execute(f"""
            UPDATE messages SET {SEARCH_USER} = conversations.user_id
            FROM conversations WHERE conversations.id = messages.conversation_id""")
        # A stored generated column fills itself for existing rows (the
        # backfill) and stays in step with every write.
        op.execute(
            f"ALTER TABLE messages ADD COLUMN {SEARCH_VECTOR} tsvector "
            f"GENERATED ALWAYS AS ({PG_VECTOR_EXPRESSION}) STORED"
        )
        op.execute(PG_INDEX_DDL)
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
        op.execute(f"DROP TRIGGER IF EXISTS {SEARCH_USER_TRIGGER} ON messages")
        op.execute(f"DROP FUNCTION IF EXISTS {SEARCH_USER_TRIGGER}()")
        op.execute(f"ALTER TABLE messages DROP COLUMN IF EXISTS {SEARCH_USER}")
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")
