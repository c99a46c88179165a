"""What building a SQL statement per call would cost, for each statement
the services build once at import (no database needed).

A statement built per call costs its construction plus its compiled-SQL
cache key (SQLAlchemy keeps the key on a statement object, so a prebuilt one
computes it once); both are measured here, in microseconds per build, and
set beside what the path that runs it costs (bench/results/turn.json: chatapp's
turn p50 at concurrency 1; bench/results/search.json: the rare-word p50). A prebuilt statement stays where its build is a visible
share of the path that runs it; elsewhere the statement is written where it
is used. The figures are CPU time on a shared machine: only ratios count.

    .venv/bin/python bench/statements.py    # about ten seconds
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from chatapp.db import Message  # noqa: E402
from chatapp.services import messages, search, turn_store  # noqa: E402

TURN_RESULTS = ROOT / "bench" / "results" / "turn.json"
SEARCH_RESULTS = ROOT / "bench" / "results" / "search.json"


def builders() -> dict[str, tuple[str, Callable[[], Any]]]:
    """Each prebuilt statement, by the name it has in the code: the path
    that runs it, and how to build it again."""
    return {
        "messages._PAGE": ("turn", messages._page_statement),
        "messages._WINDOW": ("turn", messages._window_statement),
        "turn_store.ALLOCATE_SEQ_CHECKED": ("turn", lambda: turn_store.allocate_seq_statement().where(turn_store.TOKEN_CURRENT)),
        "turn_store.FINISH_ANSWER": ("turn", turn_store.finish_answer_statement),
        "turn_store.ADD_TOKENS": ("turn", turn_store.add_tokens_statement),
        "turn_store.FINISH_ANSWER_AND_COUNT": ("turn", turn_store.finish_answer_and_count_statement),
        "turn_store.INSERT_CONVERSATION_CHECKED": ("turn", turn_store.insert_conversation_statement),
        "insert(Message), written in place": ("turn", lambda: insert(Message)),
        "search.STATEMENTS": ("search", lambda: search.search_statement(search.POSTGRESQL_SEARCH)),
    }


def microseconds_per_build(build: Callable[[], Any], seconds: float = 1.0) -> float:
    build()._generate_cache_key()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        build()._generate_cache_key()
        count += 1
    return (time.perf_counter() - started) / count * 1e6


def recorded_p50_ms(path: Path, matches: Callable[[dict[str, Any]], bool]) -> float | None:
    try:
        results = json.loads(path.read_text())["results"]
    except (OSError, KeyError, ValueError):
        return None
    found = [result["p50_ms"] for result in results if matches(result)]
    return found[0] if found else None


def main() -> None:
    p50 = {
        "turn": recorded_p50_ms(TURN_RESULTS, lambda r: (r["design"], r["scenario"], r["concurrency"]) == ("chatapp", "plain", 1)),
        "search": recorded_p50_ms(SEARCH_RESULTS, lambda r: r["kind"] == "rare"),
    }
    print(f"recorded p50: turn {p50['turn']} ms, search {p50['search']} ms")
    for name, (path, build) in builders().items():
        micros = microseconds_per_build(build)
        reference = p50[path]
        share = f"{micros / (reference * 1000):6.2%} of a {path}" if reference else ""
        print(f"{name:40} {micros:8.1f} µs per build  {share}")


if __name__ == "__main__":
    main()
