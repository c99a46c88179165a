"""The full-text index over messages, which lives outside the SQLModel tables.

PostgreSQL: a stored generated `tsvector` column (`simple` configuration, no
stemming) and the owner of the message's conversation (`search_user_id`, set
by a trigger on insert: conversations never change hands), in one GIN index
(btree_gin) — so a search reads only the searching user's matches, not
everyone's. SQLite: an external-content FTS5 table
(`unicode61`, no stemming) that triggers keep in step with `messages`.
Both are made by migration 0006 only; the model never names them, so they
are left out of schema comparisons here.

Both sides split words the same way: runs of letters and digits. The
PostgreSQL parser alone would keep `oat-milk`, `bob@example.com` and URLs as
whole tokens, which FTS5 splits, so ASCII punctuation becomes a space before
it parses.
"""

from __future__ import annotations

from typing import Any

SEARCH_VECTOR = "search_vector"
SEARCH_USER = "search_user_id"
SEARCH_USER_TRIGGER = "messages_search_user"
SEARCH_INDEX = "ix_messages_search_vector"
FTS_TABLE = "messages_fts"

PG_INDEX_DDL = f"CREATE INDEX {SEARCH_INDEX} ON messages USING gin ({SEARCH_USER}, {SEARCH_VECTOR})"
PG_VECTOR_EXPRESSION = "to_tsvector('simple'::regconfig, regexp_replace(content, '[[:punct:]]+', ' ', 'g'))"
# remove_diacritics 0: PostgreSQL's `simple` keeps accents (é is not e), so
# FTS5 keeps them too and a word matches the same messages on both.
FTS_TOKENIZER = "unicode61 remove_diacritics 0"


def outside_the_models(name: str | None, type_: str) -> bool:
    """Objects of the search index, which the models do not describe."""
    if not name:
        return False
    if type_ == "table":
        return name == FTS_TABLE or name.startswith(FTS_TABLE + "_")
    if type_ == "column":
        return name in (SEARCH_VECTOR, SEARCH_USER)
    if type_ == "index":
        return name == SEARCH_INDEX
    return False


def include_in_comparison(_object: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
    """alembic `include_object`: leave the search index to its migration."""
    return not (reflected and outside_the_models(name, type_))
