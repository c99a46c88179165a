"""Database access helpers shared by the services: one place turns driver
failures into `Unavailable`, and runs blocking SQL off the event loop."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import anyio.to_thread
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError as PoolTimeout

from chatapp.services.errors import Unavailable

P = ParamSpec("P")
T = TypeVar("T")


def is_unavailable(error: BaseException) -> bool:
    if isinstance(error, (OperationalError, PoolTimeout)):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


@contextmanager
def unavailable_as_service_error() -> Iterator[None]:
    """An unreachable database becomes `Unavailable`; other errors pass."""
    try:
        yield
    except Unavailable:
        raise
    except Exception as error:
        if is_unavailable(error):
            raise Unavailable("The database is unavailable. Try again shortly.") from error
        raise


@contextmanager
def transaction(engine: Engine) -> Iterator[Connection]:
    """One short transaction; an unreachable database becomes `Unavailable`."""
    with unavailable_as_service_error(), engine.begin() as connection:
        yield connection


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """For work that is one statement, atomic on its own. On PostgreSQL it
    runs in autocommit: a transaction around a lone statement costs two more
    round trips (psycopg sends BEGIN and COMMIT on their own), each a wake-up
    of the database thread and of the server. SQLite has no round trips, so
    it keeps the plain transaction."""
    if engine.dialect.name != "postgresql":
        with transaction(engine) as connection:
            yield connection
        return
    with unavailable_as_service_error(), engine.connect() as connection:
        yield connection.execution_options(isolation_level="AUTOCOMMIT")


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Blocking database work runs in a worker thread so one slow query never
    stalls the event loop that serves every other turn."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))
