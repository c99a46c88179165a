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
def transaction(engine: Engine) -> Iterator[Connection]:
    """One short transaction; an unreachable database becomes `Unavailable`."""
    try:
        with engine.begin() as connection:
            yield connection
    except Unavailable:
        raise
    except Exception as error:
        if is_unavailable(error):
            raise Unavailable("The database is unavailable. Try again shortly.") from error
        raise


async def in_thread(function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Blocking database work runs in a worker thread so one slow query never
    stalls the event loop that serves every other turn."""
    return await anyio.to_thread.run_sync(functools.partial(function, *args, **kwargs))
