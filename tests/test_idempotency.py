"""Idempotency-Key: a retried request answers the turn it names, never a
second one — on SQLite and PostgreSQL, with the in-process bus and Redis."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlalchemy import Engine, text

from tests.support.api import Account, assert_error, register
from tests.support.streams import LONG, start_stream, turn_path


def keyed(http: httpx.Client, account: Account, message: str, key: str, conversation_id: str | None = None) -> httpx.Response:
    return http.post(account.chat_path(), headers={**account.headers, "Idempotency-Key": key},
                     json={"message": message, "conversation_id": conversation_id})


def message_count(engine: Engine, user_id: str) -> int:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT count(*) FROM messages JOIN conversations c ON c.id = messages.conversation_id WHERE c.user_id = :u"),
            {"u": uuid.UUID(user_id).hex if engine.dialect.name == "sqlite" else uuid.UUID(user_id)},
        ).scalar_one()


def ids(body: dict) -> list[str]:
    return [message["id"] for message in body["messages"]]


def test_same_key_and_body_after_the_turn_answers_the_same_turn(http: httpx.Client, carol: Account, engine: Engine) -> None:
    first = keyed(http, carol, "add buy milk", "key-1")
    again = keyed(http, carol, "add buy milk", "key-1")
    assert first.status_code == again.status_code == 200
    assert ids(again.json()) == ids(first.json()) and again.json()["conversation_id"] == first.json()["conversation_id"]
    assert message_count(engine, carol.user_id) == 2
    tasks = http.get(f"/api/{carol.user_id}/tasks", headers=carol.headers).json()
    assert tasks["count"] == 1  # the tool ran once


def test_same_key_with_another_body_is_422(http: httpx.Client, carol: Account) -> None:
    assert keyed(http, carol, "add buy milk", "key-2").status_code == 200
    assert_error(keyed(http, carol, "add buy bread", "key-2"), 422, "idempotency_mismatch")


def test_keys_are_scoped_to_the_user(http: httpx.Client, carol: Account) -> None:
    dave = register(http)
    first = keyed(http, carol, "hello", "shared-key").json()
    other = keyed(http, dave, "hello", "shared-key").json()
    assert other["conversation_id"] != first["conversation_id"]


def test_key_longer_than_255_characters_is_400(http: httpx.Client, carol: Account) -> None:
    assert_error(keyed(http, carol, "hello", "k" * 256), 400, "invalid_request")


def test_concurrent_requests_with_one_key_make_one_turn(http: httpx.Client, carol: Account, engine: Engine) -> None:
    with ThreadPoolExecutor(10) as pool:
        responses = list(pool.map(lambda _: keyed(http, carol, "add buy milk", "key-storm"), range(10)))
    assert {response.status_code for response in responses} == {200}
    assert len({tuple(ids(response.json())) for response in responses}) == 1
    assert message_count(engine, carol.user_id) == 2


def test_key_replayed_while_streaming_attaches_to_the_live_stream(http: httpx.Client, carol: Account) -> None:
    first = start_stream(http, carol, LONG, key="key-live")
    first.wait_for("text_delta")
    second = start_stream(http, carol, LONG, key="key-live")
    original, replay = first.finish(), second.finish()
    assert replay[0] == original[0] and replay[-1] == original[-1]
    assert second.text() == first.text()


def test_key_replayed_on_stream_after_the_turn_is_just_its_done_event(http: httpx.Client, carol: Account) -> None:
    original = start_stream(http, carol, "hello", key="key-done").finish()
    replay = start_stream(http, carol, "hello", key="key-done").finish()
    assert replay == [original[-1]]


def test_failed_turn_replays_as_failed(engine: Engine) -> None:
    import socket

    from tests.support.api import serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for broken in serve(engine, openai_base_url=f"http://127.0.0.1:{closed}/v1"):
        with httpx.Client(base_url=broken.base_url, timeout=30) as client:
            account = register(client)
            first = assert_error(keyed(client, account, "hello", "key-failed"), 500, "agent_error")
            again = assert_error(keyed(client, account, "hello", "key-failed"), 500, "agent_error")
    assert again["conversation_id"] == first["conversation_id"]
    assert message_count(engine, account.user_id) == 2


def test_retry_with_a_key_runs_once(http: httpx.Client, carol: Account) -> None:
    conversation_id = http.post(carol.chat_path(), headers=carol.headers, json={"message": "add buy milk"}).json()["conversation_id"]
    path = turn_path(carol, conversation_id, "regenerate")
    headers = {**carol.headers, "Idempotency-Key": "key-regen"}
    first, again = http.post(path, headers=headers), http.post(path, headers=headers)
    assert first.status_code == again.status_code == 200
    assert first.json()["messages"][-1]["content"] == again.json()["messages"][-1]["content"] == "I've added task 2: buy milk."
