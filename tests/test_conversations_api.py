"""Conversation and task endpoints around the chat turn, health, and the
OpenAPI document."""

from __future__ import annotations

import uuid

import httpx

from tests.support.api import Account, send


def start(client: httpx.Client, account: Account, message: str = "hello") -> str:
    return send(client, account, message).json()["conversation_id"]


def test_conversations_are_listed_most_recent_first(client: httpx.Client, alice: Account) -> None:
    older, newer = start(client, alice, "first"), start(client, alice, "second")
    send(client, alice, "again", older)
    listed = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()
    assert [c["id"] for c in listed["conversations"]] == [older, newer]
    assert listed["conversations"][0]["title"] == "first" and listed["has_more"] is False


def test_conversation_list_is_paginated(client: httpx.Client, alice: Account) -> None:
    ids = [start(client, alice, f"chat {n}") for n in range(3)]
    first = client.get(f"/api/{alice.user_id}/conversations?limit=2", headers=alice.headers).json()
    second = client.get(f"/api/{alice.user_id}/conversations?limit=2&offset=2", headers=alice.headers).json()
    assert first["has_more"] is True and second["has_more"] is False
    assert [c["id"] for c in first["conversations"] + second["conversations"]] == ids[::-1]


def test_conversation_messages_page_backwards_by_seq(client: httpx.Client, alice: Account) -> None:
    conversation_id = start(client, alice, "one")
    for text in ("two", "three"):
        send(client, alice, text, conversation_id)
    path = f"/api/{alice.user_id}/conversations/{conversation_id}"
    latest = client.get(f"{path}?limit=4", headers=alice.headers).json()
    assert [m["seq"] for m in latest["messages"]] == [3, 4, 5, 6] and latest["has_more"] is True
    older = client.get(f"{path}?limit=4&before_seq=3", headers=alice.headers).json()
    assert [m["seq"] for m in older["messages"]] == [1, 2] and older["has_more"] is False
    assert older["messages"][0]["content"] == "one"


def test_rename_changes_the_title(client: httpx.Client, alice: Account) -> None:
    conversation_id = start(client, alice)
    path = f"/api/{alice.user_id}/conversations/{conversation_id}"
    renamed = client.patch(path, headers=alice.headers, json={"title": "  Groceries   plan "})
    assert renamed.status_code == 200 and renamed.json()["title"] == "Groceries plan"
    assert client.get(path, headers=alice.headers).json()["conversation"]["title"] == "Groceries plan"


def test_rename_to_blank_is_400(client: httpx.Client, alice: Account) -> None:
    conversation_id = start(client, alice)
    response = client.patch(f"/api/{alice.user_id}/conversations/{conversation_id}", headers=alice.headers, json={"title": " "})
    assert response.status_code == 400 and response.json()["error_code"] == "invalid_request"


def test_delete_removes_the_conversation_and_its_messages(client: httpx.Client, alice: Account, engine) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    conversation_id = start(client, alice, "Add task: Buy groceries")
    path = f"/api/{alice.user_id}/conversations/{conversation_id}"
    assert client.delete(path, headers=alice.headers).status_code == 204
    assert client.get(path, headers=alice.headers).status_code == 404
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM messages")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM tool_calls")).scalar_one() == 0
        assert connection.execute(text("SELECT count(*) FROM tasks")).scalar_one() == 1  # tasks outlive chats


def test_other_users_cannot_read_rename_or_delete_a_conversation(client: httpx.Client, alice: Account, bob: Account) -> None:
    conversation_id = start(client, alice, "private")
    path = f"/api/{bob.user_id}/conversations/{conversation_id}"
    assert client.get(path, headers=bob.headers).status_code == 404
    assert client.patch(path, headers=bob.headers, json={"title": "mine"}).status_code == 404
    assert client.delete(path, headers=bob.headers).status_code == 404
    assert client.get(f"/api/{alice.user_id}/conversations/{conversation_id}", headers=bob.headers).status_code == 403
    assert client.get(f"/api/{alice.user_id}/conversations/{conversation_id}", headers=alice.headers).status_code == 200


def test_malformed_conversation_id_in_the_path_is_400(client: httpx.Client, alice: Account) -> None:
    response = client.get(f"/api/{alice.user_id}/conversations/nope", headers=alice.headers)
    assert response.status_code == 400 and response.json()["error_code"] == "invalid_request"


def test_listing_requires_a_token(client: httpx.Client, alice: Account) -> None:
    response = client.get(f"/api/{alice.user_id}/conversations")
    assert response.status_code == 401 and response.json()["error_code"] == "invalid_auth"


def test_tasks_endpoint_filters_by_status(client: httpx.Client, alice: Account) -> None:
    conversation_id = start(client, alice, "add buy milk")
    send(client, alice, "add call mom", conversation_id)
    send(client, alice, "complete task 1", conversation_id)
    path = f"/api/{alice.user_id}/tasks"
    assert [t["task_id"] for t in client.get(f"{path}?status=pending", headers=alice.headers).json()["tasks"]] == [2]
    assert [t["task_id"] for t in client.get(f"{path}?status=completed", headers=alice.headers).json()["tasks"]] == [1]
    assert client.get(f"{path}?status=bogus", headers=alice.headers).status_code == 400


def test_tasks_endpoint_body_is_the_rest_shape(client: httpx.Client, alice: Account) -> None:
    start(client, alice, "add buy milk")
    body = client.get(f"/api/{alice.user_id}/tasks?status=pending", headers=alice.headers).json()
    assert list(body) == ["status", "filter", "count", "tasks"]
    assert (body["status"], body["filter"], body["count"]) == ("ok", "pending", 1)
    assert list(body["tasks"][0]) == ["task_id", "title", "description", "completed"]
    assert (body["tasks"][0]["task_id"], body["tasks"][0]["completed"]) == (1, False)


def test_health_reports_the_database(client: httpx.Client) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200 and response.json() == {"status": "ok", "database": "ok"}


def test_openapi_documents_every_route(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/auth/register", "/api/auth/login", "/api/{user_id}/chat", "/api/{user_id}/conversations",
        "/api/{user_id}/conversations/{conversation_id}", "/api/{user_id}/tasks", "/api/health",
    ):
        assert path in paths
    assert client.get("/docs").status_code == 200


def test_unknown_route_answers_in_the_error_shape(client: httpx.Client) -> None:
    response = client.get(f"/api/{uuid.uuid4()}/nothing-here")
    assert response.status_code == 404 and response.json()["status"] == "error"
