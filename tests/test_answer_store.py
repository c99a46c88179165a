"""Storing a turn (chatapp/services/turn_store.py): a new conversation's
first turn, the final answer and its tool calls, each in as few round trips
as keeps it atomic, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, delete, insert, select, text

from bench.peer import WireCounter
from chatapp.db import Conversation, Message, ToolCall, User
from chatapp.db.engine import make_engine
from chatapp.db.types import utcnow
from chatapp.services import auth, turn_store
from chatapp.services.database import one_statement, transaction
from chatapp.services.errors import InvalidAuth, NotFound
from chatapp.services.messages import StoredToolCall
from chatapp.services.turn_store import StartedTurn
from tests.support.api import stored_user


def start_turn(engine: Engine) -> StartedTurn:
    started = turn_store.store_new_turn(engine, user_id=stored_user(engine), conversation_id=None, content="hello", tokens=3,
                                        key=None, token_budget=4000, turn_timeout_seconds=300)
    assert isinstance(started, StartedTurn)
    return started


def finish(engine: Engine, started: StartedTurn, content: str = "Hi there.", tokens: int = 5) -> bool:
    started.answer.content, started.answer.token_count = content, tokens
    return turn_store.finish_answer(engine, conversation_id=started.conversation_id, answer=started.answer,
                                    status="complete")


def token_total(engine: Engine, conversation_id: uuid.UUID) -> int:
    with engine.connect() as connection:
        return connection.execute(select(Conversation.token_total).where(Conversation.id == conversation_id)).scalar_one()


def test_finishing_an_answer_stores_it_and_adds_its_tokens_to_the_total(engine: Engine) -> None:
    started = start_turn(engine)
    assert finish(engine, started)
    with engine.connect() as connection:
        row = connection.execute(select(Message.content, Message.status, Message.token_count)
                                 .where(Message.id == started.answer.id)).one()
    assert tuple(row) == ("Hi there.", "complete", 5)
    assert token_total(engine, started.conversation_id) == 3 + 5
    assert started.answer.status == "complete"


def test_an_answer_already_finished_is_not_finished_again_nor_counted_twice(engine: Engine) -> None:
    started = start_turn(engine)
    assert finish(engine, started)
    assert not finish(engine, started, content="Something else.", tokens=40)
    with engine.connect() as connection:
        content = connection.execute(select(Message.content).where(Message.id == started.answer.id)).scalar_one()
    assert content == "Hi there." and token_total(engine, started.conversation_id) == 3 + 5


def test_an_answer_whose_conversation_was_deleted_finishes_as_false(engine: Engine) -> None:
    started = start_turn(engine)
    with transaction(engine) as connection:
        connection.execute(delete(Conversation).where(Conversation.id == started.conversation_id))
    assert not finish(engine, started)


def test_a_tool_call_of_a_deleted_answer_is_not_found(engine: Engine) -> None:
    started = start_turn(engine)
    with transaction(engine) as connection:
        connection.execute(delete(Conversation).where(Conversation.id == started.conversation_id))
    call = StoredToolCall(uuid.uuid4(), "call_1", "add_task", {"title": "Milk"}, {"task_id": 1}, utcnow())
    with pytest.raises(NotFound):
        turn_store.store_tool_call(engine, answer_id=started.answer.id, position=0, call=call)


@pytest.fixture
def one_connection_engine(pg_database_url: str) -> Iterator[Engine]:
    """PostgreSQL with a pool of one connection, so every use is the same one."""
    engine = make_engine(pg_database_url, pool_size=1)
    yield engine
    engine.dispose()


def test_a_lone_statement_on_postgresql_runs_in_autocommit(one_connection_engine: Engine) -> None:
    with one_statement(one_connection_engine) as connection:
        assert connection.connection.driver_connection.autocommit is True  # type: ignore[union-attr]
        connection.execute(text("SELECT 1"))


def test_the_connection_a_lone_statement_used_is_transactional_again(one_connection_engine: Engine) -> None:
    with one_statement(one_connection_engine) as connection:
        connection.execute(text("SELECT 1"))
    user_id = uuid.uuid4()
    with pytest.raises(RuntimeError), transaction(one_connection_engine) as connection:
        assert connection.connection.driver_connection.autocommit is False  # type: ignore[union-attr]
        connection.execute(insert(User).values(id=user_id, email="undone@example.com", password_hash="x",
                                               last_task_id=0, token_version=0, created_at=utcnow()))
        raise RuntimeError("roll the transaction back")
    with one_connection_engine.connect() as connection:
        assert connection.execute(select(User.id).where(User.id == user_id)).first() is None


def test_a_stored_tool_call_is_kept_with_its_answer(engine: Engine) -> None:
    started = start_turn(engine)
    call = StoredToolCall(uuid.uuid4(), "call_1", "add_task", {"title": "Milk"}, {"task_id": 1}, utcnow())
    turn_store.store_tool_call(engine, answer_id=started.answer.id, position=0, call=call)
    with engine.connect() as connection:
        stored = connection.execute(select(ToolCall.call_id, ToolCall.tool_name, ToolCall.parameters)
                                    .where(ToolCall.message_id == started.answer.id)).all()
    assert [tuple(row) for row in stored] == [("call_1", "add_task", {"title": "Milk"})]


def start_first_turn(engine: Engine, user_id: uuid.UUID, token_version: int = 0) -> StartedTurn:
    started = turn_store.store_new_turn(engine, user_id=user_id, conversation_id=None, content="Add task: Buy milk",
                                        tokens=4, key=None, token_budget=4000, turn_timeout_seconds=300,
                                        token_version=token_version)
    assert isinstance(started, StartedTurn)
    return started


def test_a_new_conversations_first_turn_stores_the_conversation_the_message_and_its_answer(engine: Engine) -> None:
    user_id = stored_user(engine)
    started = start_first_turn(engine, user_id)
    with engine.connect() as connection:
        conversation = connection.execute(select(Conversation.user_id, Conversation.title, Conversation.last_seq,
                                                 Conversation.token_total)
                                          .where(Conversation.id == started.conversation_id)).one()
        messages = connection.execute(select(Message.id, Message.seq, Message.role, Message.status, Message.reply_to)
                                      .where(Message.conversation_id == started.conversation_id)
                                      .order_by(Message.seq)).all()
    assert tuple(conversation) == (user_id, "Add task: Buy milk", 2, 4)
    assert [tuple(row) for row in messages] == [
        (started.user_message.id, 1, "user", "complete", None),
        (started.answer.id, 2, "assistant", "in_progress", started.user_message.id),
    ]
    assert started.history == [started.user_message]


def test_a_first_turn_on_a_revoked_token_stores_nothing(engine: Engine) -> None:
    user_id = stored_user(engine)
    with pytest.raises(InvalidAuth, match=auth.TOKEN_REVOKED):
        start_first_turn(engine, user_id, token_version=1)
    with engine.connect() as connection:
        assert connection.execute(select(Conversation.id).where(Conversation.user_id == user_id)).first() is None


def test_a_first_turn_for_a_deleted_user_is_refused_and_stores_nothing(engine: Engine) -> None:
    user_id = stored_user(engine)
    with transaction(engine) as connection:
        connection.execute(delete(User).where(User.id == user_id))
    with pytest.raises(InvalidAuth, match="Unknown user"):
        start_first_turn(engine, user_id)
    with engine.connect() as connection:
        assert connection.execute(select(Conversation.id).where(Conversation.user_id == user_id)).first() is None


def test_a_new_conversations_first_turn_on_postgresql_is_one_round_trip(one_connection_engine: Engine) -> None:
    user_id = stored_user(one_connection_engine)
    counter = WireCounter(one_connection_engine)
    start_first_turn(one_connection_engine, user_id)
    assert counter.snapshot() == (1, 1)


def test_a_first_turn_stored_in_one_statement_is_tagged_with_its_owner_for_search(pg_database_url: str) -> None:
    """The search trigger finds the message's conversation by reading it:
    inserted by the same statement, it must still be seen."""
    engine = make_engine(pg_database_url)
    try:
        user_id = stored_user(engine)
        started = start_first_turn(engine, user_id)
        with engine.connect() as connection:
            owners = connection.execute(text("SELECT search_user_id FROM messages WHERE conversation_id = :id"),
                                        {"id": started.conversation_id}).scalars().all()
        assert owners == [user_id, user_id]
    finally:
        engine.dispose()
