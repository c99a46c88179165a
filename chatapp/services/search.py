"""Search across one user's conversations, on the database's own full-text
index (see chatapp/db/search.py): the index finds the matching messages, the
user's conversations filter them, relevance then recency orders them, and
only the page returned is read in full and cut into snippets."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Integer, String, Uuid, bindparam, text
from sqlalchemy.types import DateTime

from chatapp.db.search import FTS_TABLE, OWNED_TSQUERY, SEARCH_USER, SEARCH_VECTOR
from chatapp.db.types import as_utc
from chatapp.services.database import transaction
from chatapp.services.errors import InvalidInput
from chatapp.services.search_query import (
    MAX_QUERY_CHARS, WORD, Clause, fts5_query_text, parse_query, tsquery_text, words_of,
)
from chatapp.services.text import MAX_INT32, check_text

MAX_HITS = 50
SNIPPET_WORDS = 24
WORDS_BEFORE_MATCH = 6

HIT_COLUMNS = """m.id AS message_id, m.conversation_id, c.title, m.role, m.seq, m.created_at, m.content"""
# ts_rank and bm25 put the most relevant first; ties go to the newest.
# On PostgreSQL the query's words carry the owner's tag as the index's do
# (chatapp/db/search.py), so only the user's own matches are read; the page
# is chosen from the messages alone, and only its rows are joined to their
# conversations for the titles.
OWNED_QUERY = f"{OWNED_TSQUERY}(CAST(:user_id AS uuid), to_tsquery('simple', :query))"
POSTGRESQL_SEARCH = f"""
SELECT {HIT_COLUMNS}
FROM (
    SELECT id, ts_rank({SEARCH_VECTOR}, {OWNED_QUERY}) AS rank, created_at
    FROM messages
    WHERE {SEARCH_USER} = :user_id AND {SEARCH_VECTOR} @@ {OWNED_QUERY}
    ORDER BY rank DESC, created_at DESC, id
    LIMIT :limit OFFSET :offset
) AS page
JOIN messages AS m ON m.id = page.id JOIN conversations AS c ON c.id = m.conversation_id
ORDER BY page.rank DESC, page.created_at DESC, page.id
"""
SQLITE_SEARCH = f"""
SELECT {HIT_COLUMNS}
FROM {FTS_TABLE} JOIN messages AS m ON m.rowid = {FTS_TABLE}.rowid
JOIN conversations AS c ON c.id = m.conversation_id
WHERE {FTS_TABLE} MATCH :query AND c.user_id = :user_id
ORDER BY bm25({FTS_TABLE}), m.created_at DESC, m.id
LIMIT :limit OFFSET :offset
"""


def search_statement(sql: str) -> Any:
    return (
        text(sql)
        .bindparams(
            bindparam("user_id", type_=Uuid()), bindparam("query", type_=String()),
            bindparam("limit", type_=Integer()), bindparam("offset", type_=Integer()),
        )
        .columns(
            message_id=Uuid(), conversation_id=Uuid(), title=String(), role=String(), seq=Integer(),
            created_at=DateTime(timezone=True), content=String(),
        )
    )


# Built once: a build costs about 3% of a search (bench/statements.py).
STATEMENTS = {"postgresql": search_statement(POSTGRESQL_SEARCH), "sqlite": search_statement(SQLITE_SEARCH)}


@dataclass(frozen=True)
class SnippetPart:
    text: str
    match: bool


@dataclass(frozen=True, slots=True)
class MessageHit:
    """One matching message: where it is (conversation, seq), who wrote it,
    when (UTC), and a snippet around its first match."""

    conversation_id: uuid.UUID
    conversation_title: str
    message_id: uuid.UUID
    role: str
    seq: int
    created_at: datetime
    snippet: list[SnippetPart]


def marked_words(tokens: list[str], clauses: list[Clause]) -> list[bool]:
    marked = [False] * len(tokens)
    for at in range(len(tokens)):
        for clause in clauses:
            if clause.matches(tokens, at):
                for offset in range(len(clause.words)):
                    marked[at + offset] = True
    return marked


def snippet(content: str, clauses: list[Clause]) -> list[SnippetPart]:
    """About SNIPPET_WORDS words of the message on one line, starting a few
    words before its first match, with the matching words marked. Parts, not
    markup: nothing to escape, no offsets in anyone's string units."""
    spans = [match.span() for match in WORD.finditer(content)]
    if not spans:
        return [SnippetPart(" ".join(content.split())[:200], False)] if content.strip() else []
    marked = marked_words(words_of(content), clauses)
    first = next((i for i, is_marked in enumerate(marked) if is_marked), 0)
    start = max(0, first - WORDS_BEFORE_MATCH)
    end = min(len(spans), start + SNIPPET_WORDS)
    parts: list[SnippetPart] = []

    def add(piece: str, match: bool) -> None:
        piece = re.sub(r"\s+", " ", piece)
        if not piece:
            return
        if parts and parts[-1].match == match:
            parts[-1] = SnippetPart(parts[-1].text + piece, match)
        else:
            parts.append(SnippetPart(piece, match))

    add("…" if start > 0 else content[:spans[0][0]].lstrip(), False)
    for i in range(start, end):
        add(content[spans[i][0]:spans[i][1]], marked[i])
        gap_end = spans[i + 1][0] if i + 1 < len(spans) else len(content)
        gap = content[spans[i][1]:gap_end] if i + 1 < end else content[spans[i][1]:gap_end].rstrip()
        inside_match = marked[i] and i + 1 < end and marked[i + 1]
        add(gap, inside_match)
    if end < len(spans):
        add("…", False)
    return parts


def message_hit(row: Any, clauses: list[Clause]) -> MessageHit:
    return MessageHit(
        conversation_id=row.conversation_id, conversation_title=row.title, message_id=row.message_id, role=row.role,
        seq=row.seq, created_at=as_utc(row.created_at), snippet=snippet(row.content, clauses),
    )


def search_messages(
    engine: Engine, *, user_id: uuid.UUID, query: str, limit: int = 20, offset: int = 0
) -> tuple[list[MessageHit], bool]:
    """The user's messages (theirs and the assistant's) matching `query`,
    most relevant first, then newest; one extra row tells whether more
    exist. A query with no words in it matches nothing."""
    check_text(query, "q")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidInput(f"q is at most {MAX_QUERY_CHARS} characters.")
    if not query.strip():
        raise InvalidInput("q must not be blank.")
    if not 1 <= limit <= MAX_HITS:
        raise InvalidInput(f"limit must be between 1 and {MAX_HITS}.")
    if not 0 <= offset <= MAX_INT32:
        raise InvalidInput(f"offset must be between 0 and {MAX_INT32}.")
    clauses = parse_query(query)
    if not clauses:
        return [], False
    dialect = engine.dialect.name
    engine_query = tsquery_text(clauses) if dialect == "postgresql" else fts5_query_text(clauses)
    with transaction(engine) as connection:
        rows = connection.execute(
            STATEMENTS[dialect],
            {"user_id": user_id, "query": engine_query, "limit": limit + 1, "offset": offset},
        ).all()
    return [message_hit(row, clauses) for row in rows[:limit]], len(rows) > limit
