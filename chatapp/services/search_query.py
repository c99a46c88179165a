"""What a search box query means, whatever is typed into it.

A query is words, `"quoted phrases"` and `prefix*` words, all of which must
match (like FTS5's and Google's implicit AND). Nothing else is syntax: AND,
OR, NOT, `-`, `:`, `^`, brackets and stray quotes are words or separators,
and an unbalanced quote makes the rest a plain search. Words are what both
indexes see: runs of letters and digits, case-folded. The database query is
built from the parsed words alone, quoted, so no input reaches either
engine's own query syntax — which is how no query can be a 5xx.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WORD = re.compile(r"[^\W_]+")
PHRASE = re.compile(r'"([^"]*)"')
# A prefix needs this many characters: shorter ones match too many words to
# be useful or fast, so `ab*` searches for the word `ab`.
MIN_PREFIX = 3
# Bounds the work one query can ask of the index.
MAX_CLAUSES = 16
MAX_QUERY_CHARS = 500


@dataclass(frozen=True)
class Clause:
    """One thing a message must contain: a word, a prefix, or a phrase of
    consecutive words."""

    words: tuple[str, ...]
    prefix: bool = False

    def matches(self, tokens: list[str], at: int) -> bool:
        """Whether the message's words from position `at` satisfy it."""
        if at + len(self.words) > len(tokens):
            return False
        last = len(self.words) - 1
        for offset, word in enumerate(self.words):
            token = tokens[at + offset]
            if self.prefix and offset == last:
                if not token.startswith(word):
                    return False
            elif token != word:
                return False
        return True


def words_of(text: str) -> list[str]:
    return [word.lower() for word in WORD.findall(text)]


def parse_query(query: str) -> list[Clause]:
    """The clauses of a query, at most MAX_CLAUSES, duplicates dropped."""
    clauses: list[Clause] = []
    for phrase in PHRASE.findall(query):
        words = words_of(phrase)
        if words:
            clauses.append(Clause(tuple(words)))
    rest = PHRASE.sub(" ", query).replace('"', " ")
    for match in re.finditer(r"[^\W_]+(\*?)", rest):
        word = match.group(0).rstrip("*").lower()
        clauses.append(Clause((word,), prefix=bool(match.group(1)) and len(word) >= MIN_PREFIX))
    unique = list(dict.fromkeys(clauses))
    return unique[:MAX_CLAUSES]


def tsquery_text(clauses: list[Clause]) -> str:
    """PostgreSQL `to_tsquery` text: quoted lexemes, `<->` within a phrase,
    `:*` for a prefix, `&` between clauses. The words hold only letters and
    digits, so the quoting cannot be escaped from."""

    def lexeme(word: str, prefix: bool) -> str:
        return f"'{word}'" + (":*" if prefix else "")

    parts = []
    for clause in clauses:
        last = len(clause.words) - 1
        terms = [lexeme(word, clause.prefix and i == last) for i, word in enumerate(clause.words)]
        parts.append(terms[0] if len(terms) == 1 else "(" + " <-> ".join(terms) + ")")
    return " & ".join(parts)


def fts5_query_text(clauses: list[Clause]) -> str:
    """SQLite FTS5 MATCH text: each clause a quoted phrase (a bare AND, OR,
    NOT or NEAR is then just a word), `*` after a prefix; phrases side by
    side must all match."""
    return " ".join(
        '"' + " ".join(clause.words) + '"' + ("*" if clause.prefix else "") for clause in clauses
    )
