"""Task storage (chatapp/services/tasks.py) and the identity check every
non-turn request makes: each in as few database round trips as keeps it
atomic, on SQLite and PostgreSQL. A tool call runs both, so on PostgreSQL
each is one statement in autocommit rather than a transaction's BEGIN,
statement and COMMIT."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine, select

from bench.peer import WireCounter
from chatapp.db import Task
from chatapp.db.engine import make_engine
from chatapp.services import auth, tasks
from chatapp.services.auth import Identity
from chatapp.services.errors import InvalidAuth
from tests.support.api import stored_user


def test_adding_a_task_on_postgresql_is_one_round_trip(pg_database_url: str) -> None:
    engine = make_engine(pg_database_url)
    try:
        user_id = stored_user(engine)
        counter = WireCounter(engine)
        added = tasks.add_task(engine, user_id=user_id, title="Buy milk", description="two litres")
        assert counter.snapshot() == (1, 1)
        assert (added.kind, added.task.task_id, added.task.title) == ("created", 1, "Buy milk")
    finally:
        engine.dispose()


def test_checking_an_identity_on_postgresql_is_one_round_trip(pg_database_url: str) -> None:
    engine = make_engine(pg_database_url)
    try:
        identity = Identity(stored_user(engine), 0)
        counter = WireCounter(engine)
        assert auth.current_identity(engine, identity) == identity
        assert counter.snapshot() == (1, 1)
    finally:
        engine.dispose()


def test_an_added_task_is_stored_with_its_title_description_and_times(engine: Engine) -> None:
    user_id = stored_user(engine)
    tasks.add_task(engine, user_id=user_id, title="Buy milk", description="two litres")
    with engine.connect() as connection:
        row = connection.execute(select(Task.task_id, Task.title, Task.description, Task.completed,
                                        Task.created_at, Task.updated_at).where(Task.user_id == user_id)).one()
    assert tuple(row[:4]) == (1, "Buy milk", "two litres", False)
    assert row.created_at is not None and row.created_at == row.updated_at


def test_tasks_added_at_once_are_numbered_one_to_n_without_repeats(engine: Engine) -> None:
    user_id = stored_user(engine)
    with ThreadPoolExecutor(max_workers=4) as pool:
        added = list(pool.map(lambda n: tasks.add_task(engine, user_id=user_id, title=f"Task {n}"), range(20)))
    assert sorted(change.task.task_id for change in added) == list(range(1, 21))
    assert [task.task_id for task in tasks.list_tasks(engine, user_id=user_id)] == list(range(1, 21))


def test_a_revoked_identity_is_refused_by_the_one_statement_check(engine: Engine) -> None:
    identity = Identity(stored_user(engine), 0)
    with pytest.raises(InvalidAuth):
        auth.current_identity(engine, Identity(identity.user_id, 1))
