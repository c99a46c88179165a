"""Engines and the migration entry point.

One engine per database URL per process: a connection pool is process
plumbing, not conversation state.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import QueuePool

from chatapp.config import PROJECT_ROOT, get_settings


def make_engine(url: str, *, pool_size: int | None = None, connect_timeout: int | None = None) -> Engine:
    settings = get_settings()
    pool_size = pool_size or settings.db_pool_size
    connect_timeout = connect_timeout or settings.db_connect_timeout_seconds
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
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
    return create_engine(
        url,
        # prepare_threshold=None: no server-side prepared statements, so the
        # pool works behind PgBouncer in transaction mode and Neon's pooler.
        connect_args={"prepare_threshold": None, "connect_timeout": connect_timeout},
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_timeout=connect_timeout,
        pool_recycle=300,
        pool_pre_ping=False,
    )


@lru_cache
def engine_for(url: str) -> Engine:
    return make_engine(url)


def get_engine() -> Engine:
    return engine_for(get_settings().sqlalchemy_url)


def upgrade_database(url: str) -> None:
    """`alembic upgrade head`: migrations are the only way the schema is made."""
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    command.upgrade(config, "head")
