"""POST /api/{user_id}/chat: the seeds' contract, on PostgreSQL and SQLite."""

from __future__ import annotations

import re
import uuid

import httpx
from sqlalchemy import Engine

from tests.support.api import Account, send, stored_messages

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_first_message_creates_and_stores_a_conversation(client: httpx.Client, alice: Account, engine: Engine) -> None:
    response = send(client, alice, "Add task: Buy groceries")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success" and body["has_more"] is False
    assert [m["role"] for m in body["messages"]] == ["user", "assistant"]
    assert stored_messages(engine, body["conversation_id"])[0] == (1, "user", "Add task: Buy groceries")
    assert stored_messages(engine, body["conversation_id"])[1][:2] == (2, "assistant")


def test_reply_carries_tool_calls_with_parameters_and_results(client: httpx.Client, alice: Account) -> None:
    reply = send(client, alice, "Add task: Buy groceries").json()["messages"][-1]
    assert reply["content"] == "I've added task 1: Buy groceries."
    [call] = reply["tool_calls"]
    assert call["tool_name"] == "add_task"
    assert call["parameters"] == {"title": "Buy groceries"}
    assert call["result"]["task_id"] == 1 and call["result"]["status"] == "created"
    assert ISO_Z.match(call["executed_at"]) and ISO_Z.match(reply["created_at"])


def test_follow_up_keeps_history_and_resolves_it(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "add buy milk").json()
    second = send(client, alice, "mark it done", first["conversation_id"]).json()
    assert second["conversation_id"] == first["conversation_id"]
    assert [m["seq"] for m in second["messages"]] == [1, 2, 3, 4]
    assert second["messages"][-1]["tool_calls"][0]["parameters"] == {"task_id": 1}
    assert second["messages"][-1]["content"] == "Marked task 1 as done: buy milk."


def test_tool_calls_are_stored_with_the_assistant_message(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "remind me to call mom").json()["conversation_id"]
    stored = client.get(f"/api/{alice.user_id}/conversations/{conversation_id}", headers=alice.headers).json()
    assert stored["messages"][1]["tool_calls"][0]["tool_name"] == "add_task"
    assert stored["messages"][1]["tool_calls"][0]["result"]["title"] == "call mom"


def test_title_is_set_from_the_first_message_and_updated_at_moves(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "Add task: Buy groceries").json()["conversation_id"]
    before = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"][0]
    send(client, alice, "what's left?", conversation_id)
    after = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"][0]
    assert before["title"] == after["title"] == "Add task: Buy groceries"
    assert after["updated_at"] > before["updated_at"]


def test_conversations_of_one_user_are_isolated(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "add buy milk").json()["conversation_id"]
    second = send(client, alice, "hello").json()["conversation_id"]
    assert first != second
    reply = send(client, alice, "mark it done", second).json()["messages"][-1]
    assert reply["tool_calls"] == []  # "it" means nothing in the second conversation


def test_another_users_conversation_is_not_found(client: httpx.Client, alice: Account, bob: Account, engine: Engine) -> None:
    conversation_id = send(client, alice, "add buy milk").json()["conversation_id"]
    response = send(client, bob, "mark it done", conversation_id)
    assert response.status_code == 404
    assert response.json() == {
        "status": "error", "error_code": "not_found", "error": "Conversation not found.", "conversation_id": None,
    }
    assert len(stored_messages(engine, conversation_id)) == 2


def test_unknown_conversation_is_the_same_404(client: httpx.Client, alice: Account) -> None:
    response = send(client, alice, "hi", str(uuid.uuid4()))
    assert response.status_code == 404 and response.json()["error"] == "Conversation not found."


def test_users_tasks_are_isolated(client: httpx.Client, alice: Account, bob: Account) -> None:
    send(client, alice, "Add task: Alice's secret")
    listed = send(client, bob, "what's on my list?").json()["messages"][-1]
    assert listed["tool_calls"][0]["result"]["tasks"] == []
    assert client.get(f"/api/{bob.user_id}/tasks", headers=bob.headers).json()["count"] == 0
    assert client.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).json()["count"] == 1


def test_response_holds_at_most_100_latest_messages_with_has_more(client: httpx.Client, alice: Account) -> None:
    conversation_id = None
    for index in range(51):
        body = send(client, alice, f"hello {index}", conversation_id).json()
        conversation_id = body["conversation_id"]
    assert len(body["messages"]) == 100
    assert body["has_more"] is True
    assert body["messages"][0]["seq"] == 3 and body["messages"][-1]["seq"] == 102
