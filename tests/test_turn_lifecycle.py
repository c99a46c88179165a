"""A turn is a durable record: in_progress -> complete | stopped | failed,
visible over REST while it runs, retried, regenerated and stopped over REST,
resumable from any follower — on SQLite and PostgreSQL, with the in-process
bus and with Redis."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import Engine, insert, update

from chatapp.db import Message
from chatapp.db.types import utcnow
from tests.support.api import Account, LiveApi, assert_error, register, serve
from tests.support.streams import LONG, PACED_MS, Stream, start_stream, turn_path

def conversation(http: httpx.Client, account: Account, conversation_id: str) -> dict:
    response = http.get(f"/api/{account.user_id}/conversations/{conversation_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


# ---- the lifecycle, visible over REST ---------------------------------------------

def test_answer_reads_in_progress_while_the_turn_runs(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, LONG)
    live.wait_for("text_delta")
    conversation_id = live.events[0][1]["conversation_id"]
    user, answer = conversation(http, carol, conversation_id)["messages"]
    assert (answer["role"], answer["status"], answer["content"]) == ("assistant", "in_progress", "")
    assert answer["id"] == live.events[0][1]["answer_id"] and answer["reply_to"] == user["id"]
    live.finish()
    stored = conversation(http, carol, conversation_id)["messages"][-1]
    assert stored["status"] == "complete" and stored["content"] == live.text()


def test_paced_reply_streams_in_several_deltas_that_add_up(http: httpx.Client, carol: Account) -> None:
    events = start_stream(http, carol, LONG).finish()
    deltas = [data["delta"] for name, data in events if name == "text_delta"]
    assert len(deltas) > 1
    assert "".join(deltas) == events[-1][1]["messages"][-1]["content"]


def test_tool_call_is_stored_as_soon_as_it_finishes(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, "Add task: Buy groceries and then tell me what you can do")
    live.wait_for("tool_result")
    conversation_id = live.events[0][1]["conversation_id"]
    answer = conversation(http, carol, conversation_id)["messages"][-1]
    if answer["status"] == "in_progress":  # still running: the call is already stored
        assert [call["tool_name"] for call in answer["tool_calls"]] == ["add_task"]
    live.finish()
    assert conversation(http, carol, conversation_id)["messages"][-1]["tool_calls"][0]["tool_name"] == "add_task"


# ---- stop -------------------------------------------------------------------------

def test_stop_keeps_the_partial_answer_marked_stopped(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, LONG)
    live.wait_for("text_delta", 2)
    conversation_id = live.events[0][1]["conversation_id"]
    assert http.post(turn_path(carol, conversation_id, "stop"), headers=carol.headers).status_code == 202
    events = live.finish()
    done = events[-1]
    assert done[0] == "done"
    answer = done[1]["messages"][-1]
    assert answer["status"] == "stopped" and answer["content"] == live.text()
    stored = conversation(http, carol, conversation_id)["messages"][-1]
    assert stored["status"] == "stopped" and stored["content"] == answer["content"]
    assert len(stored["content"]) < 200  # the help text is far longer: it really stopped


def test_stop_with_nothing_running_is_204(http: httpx.Client, carol: Account) -> None:
    conversation_id = start_stream(http, carol, "hello").finish()[0][1]["conversation_id"]
    assert http.post(turn_path(carol, conversation_id, "stop"), headers=carol.headers).status_code == 204


def test_stop_of_someone_elses_conversation_is_404(http: httpx.Client, carol: Account) -> None:
    conversation_id = start_stream(http, carol, "hello").finish()[0][1]["conversation_id"]
    dave = register(http)
    assert_error(http.post(turn_path(dave, conversation_id, "stop").replace(carol.user_id, dave.user_id),
                           headers=dave.headers), 404, "not_found")


# ---- retry and regenerate -------------------------------------------------------------

def test_regenerate_replaces_the_last_answer_in_place(http: httpx.Client, carol: Account) -> None:
    first = http.post(carol.chat_path(), headers=carol.headers, json={"message": "add buy milk"}).json()
    conversation_id, old = first["conversation_id"], first["messages"][-1]
    response = http.post(turn_path(carol, conversation_id, "regenerate"), headers=carol.headers)
    assert response.status_code == 200, response.text
    new = response.json()["messages"][-1]
    assert (new["id"], new["seq"], new["status"]) == (old["id"], old["seq"], "complete")
    assert new["content"] == "I've added task 2: buy milk."  # the tool really ran again
    stored = conversation(http, carol, conversation_id)["messages"]
    assert [(m["seq"], m["role"]) for m in stored] == [(1, "user"), (2, "assistant")]


def test_regenerate_streams_only_the_new_run_with_accept_event_stream(http: httpx.Client, carol: Account) -> None:
    conversation_id = http.post(carol.chat_path(), headers=carol.headers, json={"message": "add buy milk"}).json()["conversation_id"]
    regenerated = Stream(http, "POST", turn_path(carol, conversation_id, "regenerate"),
                         {**carol.headers, "Accept": "text/event-stream"})
    events = regenerated.finish()
    names = [name for name, _ in events]
    assert names[0] == "user_message" and names[-1] == "done" and names.count("done") == 1
    assert events[-1][1]["messages"][-1]["seq"] == 2
    # The answer keeps its id, but nothing of the earlier run is replayed.
    assert regenerated.text() == events[-1][1]["messages"][-1]["content"] == "I've added task 2: buy milk."


def test_regenerate_while_the_answer_is_written_is_409(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, LONG)
    live.wait_for("text_delta")
    conversation_id = live.events[0][1]["conversation_id"]
    assert_error(http.post(turn_path(carol, conversation_id, "regenerate"), headers=carol.headers), 409, "conflict")
    live.finish()


def test_retry_of_a_complete_answer_is_409(http: httpx.Client, carol: Account) -> None:
    conversation_id = http.post(carol.chat_path(), headers=carol.headers, json={"message": "hello"}).json()["conversation_id"]
    assert_error(http.post(turn_path(carol, conversation_id, "retry"), headers=carol.headers), 409, "conflict")


def test_retry_replaces_a_failed_answer_in_place(engine: Engine, paced_api: LiveApi) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for broken in serve(engine, openai_base_url=f"http://127.0.0.1:{closed}/v1"):
        with httpx.Client(base_url=broken.base_url, timeout=30) as client:
            account = register(client)
            failed = client.post(account.chat_path(), headers=account.headers, json={"message": "add buy milk"})
            assert_error(failed, 500, "agent_error")
            conversation_id = failed.json()["conversation_id"]
    with httpx.Client(base_url=paced_api.base_url, timeout=30) as client:
        before = conversation(client, account, conversation_id)["messages"]
        assert [(m["status"], m["error_code"]) for m in before] == [("complete", None), ("failed", "agent_error")]
        response = client.post(turn_path(account, conversation_id, "retry"), headers=account.headers)
        assert response.status_code == 200, response.text
        after = conversation(client, account, conversation_id)["messages"]
    assert [m["id"] for m in after] == [m["id"] for m in before]  # no second user message, same answer row
    assert [(m["seq"], m["status"]) for m in after] == [(1, "complete"), (2, "complete")]
    assert after[1]["content"] == "I've added task 1: buy milk." and after[1]["error_code"] is None


def test_a_dead_workers_answer_reads_interrupted_and_retry_answers_it(http: httpx.Client, carol: Account, engine: Engine,
                                                                       paced_api: LiveApi) -> None:
    conversation_id = http.post(carol.chat_path(), headers=carol.headers, json={"message": "hello"}).json()["conversation_id"]
    # What a SIGKILLed worker leaves behind: a user message and an answer
    # in progress that nobody will finish, started long enough ago.
    started = utcnow() - timedelta(seconds=paced_api.settings.turn_timeout_seconds + 31)
    user_id, answer_id = uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        from chatapp.db import Conversation
        connection.execute(update(Conversation).where(Conversation.id == uuid.UUID(conversation_id)).values(last_seq=4))
        connection.execute(insert(Message), [
            {"id": user_id, "conversation_id": uuid.UUID(conversation_id), "seq": 3, "role": "user", "content": "add x",
             "status": "complete", "reply_to": None, "started_at": None, "created_at": started},
            {"id": answer_id, "conversation_id": uuid.UUID(conversation_id), "seq": 4, "role": "assistant", "content": "",
             "status": "in_progress", "reply_to": user_id, "started_at": started, "created_at": started},
        ])
    assert http.post(turn_path(carol, conversation_id, "stop"), headers=carol.headers).status_code == 204
    dead = conversation(http, carol, conversation_id)["messages"][-1]
    assert (dead["status"], dead["error_code"]) == ("failed", "interrupted")
    retried = http.post(turn_path(carol, conversation_id, "retry"), headers=carol.headers).json()["messages"][-1]
    assert (retried["id"], retried["seq"], retried["status"]) == (str(answer_id), 4, "complete")
    assert retried["content"] == "I've added task 1: x."


# ---- resume -------------------------------------------------------------------------------

def test_resume_replays_then_follows_to_the_same_done(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, LONG)
    live.wait_for("text_delta", 3)
    conversation_id = live.events[0][1]["conversation_id"]
    resumed = Stream(http, "GET", turn_path(carol, conversation_id, "stream"), carol.headers)
    original = live.finish()
    again = resumed.finish()
    assert resumed.status == 200
    assert again[0] == original[0]  # user_message first, as the original
    assert again[-1] == original[-1]  # the same done event
    assert resumed.text() == live.text() == again[-1][1]["messages"][-1]["content"]


def test_resume_with_nothing_running_is_204(http: httpx.Client, carol: Account) -> None:
    conversation_id = start_stream(http, carol, "hello").finish()[0][1]["conversation_id"]
    assert http.get(turn_path(carol, conversation_id, "stream"), headers=carol.headers).status_code == 204


def test_stop_from_a_resumed_follower_stops_the_turn(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, LONG)
    live.wait_for("text_delta")
    conversation_id = live.events[0][1]["conversation_id"]
    resumed = Stream(http, "GET", turn_path(carol, conversation_id, "stream"), carol.headers)
    resumed.wait_for("text_delta")
    assert http.post(turn_path(carol, conversation_id, "stop"), headers=carol.headers).status_code == 202
    assert resumed.finish()[-1][1]["messages"][-1]["status"] == "stopped"
    assert live.finish()[-1] == resumed.events[-1]


def test_stop_lands_before_the_model_has_produced_anything(engine: Engine, hanging_provider: int, request: pytest.FixtureRequest) -> None:
    for api in serve(engine, openai_base_url=f"http://127.0.0.1:{hanging_provider}/v1",
                     redis_url=request.getfixturevalue("redis_url")):
        with httpx.Client(base_url=api.base_url, timeout=60) as client:
            account = register(client)
            live = start_stream(client, account, "hello")
            live.wait_for("user_message")
            conversation_id = live.events[0][1]["conversation_id"]
            asked = time.monotonic()
            assert client.post(turn_path(account, conversation_id, "stop"), headers=account.headers).status_code == 202
            events = live.finish()
            took = time.monotonic() - asked
    answer = events[-1][1]["messages"][-1]
    assert [name for name, _ in events] == ["user_message", "done"]
    assert (answer["status"], answer["content"]) == ("stopped", "")
    assert took < api.settings.turn_timeout_seconds / 4  # stopped, long before the turn could time out


def test_a_redis_outage_neither_stops_nor_loses_a_turn(engine: Engine) -> None:
    """Redis carries only what is in flight: with it gone mid-reply the turn
    still completes and is stored, and its stream still ends with `done`
    (read from the database); stop says 503 rather than pretending."""
    from tests.support.redis_server import start_redis

    redis = start_redis()
    try:
        for api in serve(engine, redis_url=redis.url, offline_stream_delay_ms=PACED_MS):
            with httpx.Client(base_url=api.base_url, timeout=60) as client:
                account = register(client)
                live = start_stream(client, account, LONG)
                live.wait_for("text_delta")
                conversation_id = live.events[0][1]["conversation_id"]
                redis.stop()
                stop = client.post(turn_path(account, conversation_id, "stop"), headers=account.headers)
                events = live.finish()
                stored = conversation(client, account, conversation_id)["messages"][-1]
    finally:
        redis.stop()
    assert_error(stop, 503, "database_error")
    assert events[-1][0] == "done"
    assert stored["status"] == "complete"  # not stopped by the outage, not lost
    assert stored["content"] == events[-1][1]["messages"][-1]["content"]
