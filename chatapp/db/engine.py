"""Engines and the migration entry point.

One engine per process, built from the app's settings by the entry point
(chatapp/chatapp.py) and handed to everything through the app's parts: a
connection pool is process plumbing, not conversation state.
"""

from __future__ import annotations

import select
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool, PoolProxiedConnection, QueuePool

from chatapp.config import PROJECT_ROOT, Settings


DEFAULTS = Settings.model_fields


def make_engine(
    url: str, *, pool_size: int = DEFAULTS["db_pool_size"].default,
    connect_timeout: int = DEFAULTS["db_connect_timeout_seconds"].default,
) -> Engine:
    if url.startswith("sqlite"):
        ensure_sqlite_directory(url)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    engine = create_engine(
        url,
        connect_args=postgres_connect_args(connect_timeout),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=connect_timeout,
        pool_recycle=300,
        # A ping costs a round trip on every checkout; `_drop_closed` costs a poll.
        pool_pre_ping=False,
    )
    event.listen(engine, "checkout", _drop_closed)
    return engine


def ensure_sqlite_directory(url: str) -> None:
    """SQLite creates the file but not the directory it goes in."""
    path = url.removeprefix("sqlite:///")
    if url.startswith("sqlite") and path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)


def postgres_connect_args(connect_timeout: int | None) -> dict[str, Any]:
    """prepare_threshold=None: no server-side prepared statements, so the
    pool works behind PgBouncer in transaction mode and Neon's pooler."""
    timeout = {} if connect_timeout is None else {"connect_timeout": connect_timeout}
    return {"prepare_threshold": None, **timeout}


def migration_engine(url: str) -> Engine:
    """The engine alembic migrates with: the app's database set-up without
    its pool (one connection, closed afterwards) and without SQLite's
    foreign-key pragma, which a batch migration must not have on: it copies
    a table and drops the original, and the drop would cascade into every
    row that refers to it. No connect timeout: a deploy's migration may wait
    for a database that is still waking up."""
    if url.startswith("sqlite"):
        ensure_sqlite_directory(url)
        return create_engine(url, poolclass=NullPool)
    return create_engine(url, poolclass=NullPool, connect_args=postgres_connect_args(None))


def closed_by_server(dbapi_connection: Any) -> bool:
    """Whether PostgreSQL has closed this idle connection, without a round
    trip: an idle connection has nothing to read, so a readable socket means
    the server sent its goodbye (a restart's "terminating connection") or
    hung up. Costs one poll(2), not a query."""
    if dbapi_connection.closed or dbapi_connection.broken:
        return True
    try:
        fd = dbapi_connection.fileno()
    except Exception:  # the libpq connection is gone
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _drop_closed(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: PoolProxiedConnection) -> None:
    """After a database restart the pool holds connections the server has
    closed; handing one out would fail the request with a stale-pool 503.
    `DisconnectionError` makes the pool discard it and connect afresh, so the
    first request after the restart succeeds."""
    if closed_by_server(dbapi_connection):
        raise DisconnectionError("connection closed by the server")


def engine_from(settings: Settings) -> Engine:
    """The engine these settings describe: their URL, pool size and connect timeout."""
    return make_engine(settings.sqlalchemy_url, pool_size=settings.db_pool_size,
                       connect_timeout=settings.db_connect_timeout_seconds)


def upgrade_database(url: str) -> None:
    """`alembic upgrade head`: migrations are the only way the schema is made."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
