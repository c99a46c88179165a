"""The full-text index over messages, which lives outside the SQLModel tables.

PostgreSQL: a stored generated `tsvector` column (`simple` configuration, no
stemming) whose every word is tagged with its owner, the first 8 hex digits
of the user id of the message's conversation (`search_user_id`, set by a
trigger on insert: conversations never change hands). `mine` written by user
3d517fe6-... is stored as the lexeme `3d517fe6mine`, and the query's words
are tagged the same way, so the one GIN index over the column finds only
the searching user's matches, prefixes included: `mine*` scans the index
entries from `3d517fe6mine` on, instead of every user's words starting
`mine` intersected with the user's own 100,000 message ids (which cost a
big account 30 ms per prefix search in the index alone; migration 0010).
The tag is a locality key, not the access check: the query still filters
on `search_user_id`, so two users whose ids share 8 digits each see only
their own messages. SQLite: an external-content FTS5 table
(`unicode61`, no stemming) that triggers keep in step with `messages`.
Both are made by migrations (0006, and 0010 for the owner tags); the model
never names them, so they are left out of schema comparisons here.

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

OWNED_TSVECTOR = "chatapp_owned_tsvector"
OWNED_TSQUERY = "chatapp_owned_tsquery"
PG_INDEX_DDL = f"CREATE INDEX {SEARCH_INDEX} ON messages USING gin ({SEARCH_VECTOR})"
PG_VECTOR_EXPRESSION = f"{OWNED_TSVECTOR}({SEARCH_USER}, content)"
# Both functions rewrite the text form PostgreSQL itself printed after its
# own parsing, so a word is normalised once, by the same parser and
# dictionary on both sides, and only the tag is added. In those forms a
# lexeme is quoted, with '' for a quote and a doubled backslash. A lexeme
# is at most 2046 bytes and the tag adds 8, so the longest words (2039+
# bytes, which nobody searches for) are left out rather than let the
# tagged form pass PostgreSQL's 2047-byte limit and fail the insert.
PG_FUNCTIONS_DDL = (
    rf"""
    CREATE FUNCTION {OWNED_TSVECTOR}(owner uuid, body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(string_agg(
            '''' || left(owner::text, 8) || replace(replace(lexeme, '\', '\\'), '''', '''''') || ''''
                || CASE WHEN positions = '{{}}' THEN '' ELSE ':' || array_to_string(positions, ',') END,
            ' '), '')::tsvector
        FROM unnest(to_tsvector('simple'::regconfig, regexp_replace(body, '[[:punct:]]+', ' ', 'g')))
        WHERE octet_length(lexeme) <= 2038
    $$""",
    rf"""
    CREATE FUNCTION {OWNED_TSQUERY}(owner uuid, query tsquery) RETURNS tsquery
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT regexp_replace(query::text, '''((?:[^'']|'''')*)''', '''' || left(owner::text, 8) || '\1''', 'g')::tsquery
    $$""",
)
PG_FUNCTIONS_DROP = (
    f"DROP FUNCTION IF EXISTS {OWNED_TSVECTOR}(uuid, text)",
    f"DROP FUNCTION IF EXISTS {OWNED_TSQUERY}(uuid, tsquery)",
)
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
