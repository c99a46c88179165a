"""Search latency on PostgreSQL: one user with 100,000 messages among
1,000,000 in the database (100 users; the other 99 share the rest).

Messages are 4-30 pseudo-words drawn from a 20,000-word vocabulary with a
Zipf distribution (word k has probability ~1/k), so there are rare words,
common words and everything between, generated inside PostgreSQL
(generate_series) in a minute or two. The queries go through the service
(`search.search_messages`, limit 20, the real path the API awaits, snippets
included), one user, on a warm cache (each query set runs once unmeasured
first):

- rare: single words in under 1% of the user's messages (checked);
- phrase: two or three consecutive words copied from a random message of
  the user's, quoted, not all of them among the 100 most common words;
- phrase_any: the same without that condition (measured and reported, no
  bar: two very common words side by side make the index check positions
  in most messages);
- prefix_of_rare: the first 3, 4 or 5 characters of a rare word, with `*`;
- prefix_any: the first 3, 4 or 5 characters of a word from a random
  message, with `*` (measured and reported, no bar: most such prefixes
  start common words too);
- common: the 10 most frequent words (measured and reported, no bar).

Prints a table and writes bench/results/search.json. Bounded: at most
`--seconds` for the measuring (shared equally by the kinds), each kind
capped at `--queries`.

    .venv/bin/python bench/search.py            # 1,000,000 messages
    .venv/bin/python bench/search.py --quick    # 100,000 messages
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, text  # noqa: E402

from chatapp.db import make_engine, upgrade_database  # noqa: E402
from chatapp.db.search import OWNED_TSQUERY, PG_INDEX_DDL, SEARCH_INDEX, SEARCH_USER, SEARCH_VECTOR  # noqa: E402
from chatapp.services.search import search_messages  # noqa: E402
from tests.support.pg_cluster import remove_cluster, start_cluster  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "search.json"
VOCABULARY = 20_000
USERS = 100
MESSAGES_PER_CONVERSATION = 100
SYLLABLES = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "fu",
             "ga", "hi", "ju", "ke", "ba", "zo", "vi", "ye", "wa", "xe"]
BAR_MS = 50.0
# Measured and reported, no bar: words in most messages, and prefixes of
# any word (in this vocabulary a 3-letter prefix of a common word is common).
UNBARRED = {"common", "prefix_any", "phrase_any"}


def word(k: int) -> str:
    """The k-th word: k's digits in base 20, one syllable each."""
    syllables = []
    while True:
        k, digit = divmod(k, len(SYLLABLES))
        syllables.append(SYLLABLES[digit])
        if k == 0:
            return "".join(reversed(syllables))


def target_user(index: int = 0) -> uuid.UUID:
    return uuid.UUID(bytes=__import__("hashlib").md5(f"user{index}".encode()).digest())


def generate(engine: Engine, total: int, target: int) -> float:
    """Users, conversations and messages, all in SQL. The GIN index is
    dropped during the load and rebuilt after, as a bulk load would."""
    started = time.perf_counter()
    conversations = total // MESSAGES_PER_CONVERSATION
    target_conversations = target // MESSAGES_PER_CONVERSATION
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        connection.execute(text("""
            INSERT INTO users (id, email, password_hash, last_task_id, created_at)
            SELECT md5('user' || u)::uuid, 'bench' || u || '@example.com', 'x', 0, now()
            FROM generate_series(0, :users - 1) AS u"""), {"users": USERS})
        # The first `target_conversations` belong to user 0, the rest round-robin to the others.
        connection.execute(text("""
            INSERT INTO conversations (id, user_id, title, last_seq, token_total, created_at, updated_at)
            SELECT md5('conversation' || c)::uuid,
                   md5('user' || CASE WHEN c < :mine THEN 0 ELSE 1 + (c - :mine) % (:users - 1) END)::uuid,
                   'Conversation ' || c, :per, 0, now() - interval '400 days', now() - (c || ' minutes')::interval
            FROM generate_series(0, :conversations - 1) AS c"""),
            {"mine": target_conversations, "users": USERS, "per": MESSAGES_PER_CONVERSATION,
             "conversations": conversations})
        connection.execute(text(f"DROP INDEX {SEARCH_INDEX}"))
        # Zipf: exp(random() * ln N) is log-uniform, so P(word k) ~ 1/k; the
        # word is k's base-20 digits as syllables, as `word` spells it.
        connection.execute(text("""
            INSERT INTO messages (id, conversation_id, seq, role, content, status, token_count, tokens_before, created_at)
            SELECT gen_random_uuid(), md5('conversation' || (i / :per))::uuid, i % :per + 1,
                   CASE WHEN i % 2 = 0 THEN 'user' ELSE 'assistant' END,
                   (SELECT string_agg(CASE
                        WHEN k < 20 THEN s[k + 1]
                        WHEN k < 400 THEN s[k / 20 + 1] || s[k % 20 + 1]
                        WHEN k < 8000 THEN s[k / 400 + 1] || s[k / 20 % 20 + 1] || s[k % 20 + 1]
                        ELSE s[k / 8000 + 1] || s[k / 400 % 20 + 1] || s[k / 20 % 20 + 1] || s[k % 20 + 1] END, ' ')
                    FROM (SELECT least(:vocabulary, floor(exp(random() * ln(:vocabulary)))::int) AS k
                          FROM generate_series(1, 4 + (random() * 26)::int + 0 * i)) AS picks),
                   'complete', 0, 0, now() - ((i % 400000) || ' minutes')::interval
            FROM generate_series(0, :total - 1) AS i, (SELECT CAST(:syllables AS text[]) AS s) AS syllables"""),
            {"per": MESSAGES_PER_CONVERSATION, "vocabulary": VOCABULARY, "total": total, "syllables": SYLLABLES})
        connection.execute(text(PG_INDEX_DDL))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    return time.perf_counter() - started


def user_sample(engine: Engine, user_id: uuid.UUID, count: int, rng: random.Random) -> list[str]:
    with engine.connect() as connection:
        rows = connection.execute(text("""
            SELECT m.content FROM messages AS m JOIN conversations AS c ON c.id = m.conversation_id
            WHERE c.user_id = :user_id AND m.seq = :seq ORDER BY m.id LIMIT :count"""),
            {"user_id": user_id, "seq": rng.randint(1, MESSAGES_PER_CONVERSATION), "count": count}).scalars().all()
    return list(rows)


def matches(engine: Engine, user_id: uuid.UUID, tsquery: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"""
            SELECT count(*) FROM messages AS m
            WHERE m.{SEARCH_USER} = :user_id
              AND m.{SEARCH_VECTOR} @@ {OWNED_TSQUERY}(CAST(:user_id AS uuid), to_tsquery('simple', :q))"""),
            {"user_id": user_id, "q": tsquery}).scalar_one()


def query_sets(engine: Engine, user_id: uuid.UUID, target: int, size: int, rng: random.Random) -> dict[str, list[str]]:
    sample = [content.split() for content in user_sample(engine, user_id, size * 4, rng)]
    rare: list[str] = []
    for k in rng.sample(range(150, VOCABULARY + 1), size * 4):
        if len(rare) == size:
            break
        if 0 < matches(engine, user_id, f"'{word(k)}'") < target / 100:
            rare.append(word(k))
    top_100 = {word(k) for k in range(1, 101)}
    phrases, any_phrases = [], []
    for words in sample[:2 * size]:
        length = rng.choice((2, 3))
        start = rng.randrange(0, len(words) - length + 1)
        phrase = words[start:start + length]
        if len(any_phrases) < size:
            any_phrases.append('"' + " ".join(phrase) + '"')
        if len(phrases) < size and not top_100.issuperset(phrase):
            phrases.append('"' + " ".join(phrase) + '"')
    lengths = [3, 4, 5] * size
    rare_prefixes = [f"{term[:n]}*" for term, n in zip(rare, lengths) if len(term) > n]
    any_prefixes = [f"{rng.choice(words)[:n]}*" for words, n in zip(sample[2 * size:3 * size], lengths)]
    common = [word(k) for k in range(1, 11)]
    return {"rare": rare, "phrase": phrases, "prefix_of_rare": rare_prefixes, "phrase_any": any_phrases,
            "prefix_any": any_prefixes[:size], "common": common}


def execution_ms(engine: Engine, user_id: uuid.UUID, tsquery: str) -> float:
    """The search statement's own execution time in PostgreSQL (EXPLAIN
    ANALYZE), apart from round trips and Python: on a shared machine the
    difference is mostly waiting for a CPU."""
    from chatapp.services.search import POSTGRESQL_SEARCH

    with engine.connect() as connection:
        plan = connection.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + POSTGRESQL_SEARCH),
                                  {"user_id": user_id, "query": tsquery, "limit": 21, "offset": 0}).scalar_one()
    return float(plan[0]["Execution Time"])


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def measure(engine: Engine, user_id: uuid.UUID, name: str, queries: list[str], seconds: float) -> dict:
    """Each query twice in a row, the second (warm) one timed, until the
    kind's time is up (at least one query is always measured)."""
    from chatapp.services.search_query import parse_query, tsquery_text

    timings, hit_counts, executions = [], [], []
    deadline = time.monotonic() + seconds
    for query in queries:
        if timings and time.monotonic() > deadline:
            break
        search_messages(engine, user_id=user_id, query=query, limit=20)
        started = time.perf_counter()
        search_messages(engine, user_id=user_id, query=query, limit=20)
        timings.append((time.perf_counter() - started) * 1000)
        hit_counts.append(matches(engine, user_id, tsquery_text(parse_query(query))))
        executions.append(execution_ms(engine, user_id, tsquery_text(parse_query(query))))
    return {
        "kind": name, "queries": len(timings), "examples": queries[:3],
        "p50_ms": round(statistics.median(timings), 2), "p95_ms": round(percentile(timings, 95), 2),
        "max_ms": round(max(timings), 2),
        "db_execution_p50_ms": round(statistics.median(executions), 2),
        "db_execution_p95_ms": round(percentile(executions, 95), 2),
        "matches_median": int(statistics.median(hit_counts)), "matches_max": max(hit_counts),
        "bar_ms": None if name in UNBARRED else BAR_MS,
    }


def print_table(rows: list[dict], target: int) -> None:
    header = (f"{'queries':<14} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'db p50':>7} {'db p95':>7} "
              f"{'matches (median)':>17} {'matches (max)':>14} {'% of user':>9}  bar")
    print(header)
    print("-" * len(header))
    for row in rows:
        bar = "-" if row["bar_ms"] is None else ("ok" if row["p95_ms"] < row["bar_ms"] else "MISSED") + f" (<{row['bar_ms']:.0f})"
        print(f"{row['kind']:<14} {row['queries']:>4} {row['p50_ms']:>8.2f} {row['p95_ms']:>8.2f} {row['max_ms']:>8.2f} "
              f"{row['db_execution_p50_ms']:>7.2f} {row['db_execution_p95_ms']:>7.2f} "
              f"{row['matches_median']:>17,} {row['matches_max']:>14,} {100 * row['matches_max'] / target:>8.2f}%  {bar}")


def main(quick: bool, size: int, seconds: float) -> None:
    total, target = (100_000, 10_000) if quick else (1_000_000, 100_000)
    rng = random.Random(12)
    cluster = start_cluster()
    try:
        url = cluster.url(cluster.create_database())
        upgrade_database(url)
        engine = make_engine(url)
        load_seconds = generate(engine, total, target)
        print(f"generated {total:,} messages ({target:,} for the searching user) in {load_seconds:.1f} s")
        user_id = target_user()
        sets = query_sets(engine, user_id, target, size, rng)
        rows = [measure(engine, user_id, name, queries, seconds / len(sets)) for name, queries in sets.items()]
        with engine.connect() as connection:
            sizes = connection.execute(text(f"""
                SELECT pg_total_relation_size('messages'), pg_relation_size('{SEARCH_INDEX}')""")).one()
        engine.dispose()
    finally:
        remove_cluster(cluster)
    print_table(rows, target)
    print(f"messages table with indexes: {sizes[0] / 2**20:.0f} MiB; GIN index: {sizes[1] / 2**20:.0f} MiB")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "database": "postgresql 15 (local unix socket, default shared_buffers)", "quick": quick,
        "load_average_at_end": [round(x, 1) for x in os.getloadavg()],
        "messages_total": total, "messages_of_user": target, "users": USERS, "load_seconds": round(load_seconds, 1),
        "messages_bytes": sizes[0], "gin_index_bytes": sizes[1], "limit": 20, "results": rows,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="100,000 messages, 10,000 of them the user's")
    parser.add_argument("--queries", type=int, default=100, help="queries per kind (common: the 10 most frequent words)")
    parser.add_argument("--seconds", type=float, default=300, help="stop measuring after this long")
    args = parser.parse_args()
    main(args.quick, args.queries, args.seconds)
