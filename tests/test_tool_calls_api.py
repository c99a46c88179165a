"""The tool-call audit trail, GET /api/{user_id}/tool-calls: a user's tool
calls newest first, filtered and paged by a cursor, on SQLite and
PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.api import Account, send


class Chat:
    """One conversation, said into through /chat (the offline model calls the real MCP tools)."""

    def __init__(self, client: httpx.Client, account: Account) -> None:
        self.client, self.account, self.id = client, account, None

    def say(self, message: str) -> dict[str, Any]:
        body = send(self.client, self.account, message, self.id).json()
        assert body["status"] == "success", body
        self.id = body["conversation_id"]
        return body["messages"][-1]


def audit(client: httpx.Client, account: Account, **params: Any) -> httpx.Response:
    return client.get(f"/api/{account.user_id}/tool-calls", headers=account.headers, params=params)


def calls(client: httpx.Client, account: Account, **params: Any) -> list[dict[str, Any]]:
    response = audit(client, account, **params)
    assert response.status_code == 200, response.text
    return response.json()["tool_calls"]


def test_calls_are_listed_newest_first_with_their_turn(client: httpx.Client, alice: Account) -> None:
    chat = Chat(client, alice)
    first = chat.say("Add task: Buy groceries")
    second = chat.say("mark task 1 as done")
    listed = calls(client, alice)
    assert [call["tool_name"] for call in listed] == ["complete_task", "add_task"]
    newest, oldest = listed
    assert oldest["parameters"] == {"title": "Buy groceries"}
    assert oldest["result"]["task_id"] == 1 and oldest["result"]["status"] == "created"
    assert oldest["message_id"] == first["id"] and newest["message_id"] == second["id"]
    assert oldest["conversation_id"] == chat.id == newest["conversation_id"]
    assert oldest["executed_at"] == first["tool_calls"][0]["executed_at"] and oldest["id"] == first["tool_calls"][0]["id"]


def test_pages_follow_next_before_without_gaps_or_repeats(client: httpx.Client, alice: Account) -> None:
    chat = Chat(client, alice)
    for n in range(5):
        chat.say(f"Add task: errand {n}")
    everything = calls(client, alice)
    seen: list[str] = []
    page = audit(client, alice, limit=2).json()
    pages = 1
    while page["next_before"] is not None and pages < 10:
        seen += [call["id"] for call in page["tool_calls"]]
        page = audit(client, alice, limit=2, before=page["next_before"]).json()
        pages += 1
    seen += [call["id"] for call in page["tool_calls"]]
    assert pages == 3 and seen == [call["id"] for call in everything] and len(seen) == 5


def test_a_page_that_ends_the_trail_has_no_next_before(client: httpx.Client, alice: Account) -> None:
    Chat(client, alice).say("Add task: Buy groceries")
    page = audit(client, alice, limit=1).json()
    assert len(page["tool_calls"]) == 1 and page["next_before"] is None


def test_task_id_gives_the_calls_that_created_renamed_completed_and_deleted_it(client: httpx.Client, alice: Account) -> None:
    chat = Chat(client, alice)
    chat.say("Add task: Buy groceries")
    chat.say("Add task: Call mom")
    chat.say("Rename task 1 to Buy oat milk")
    chat.say("what's on my list?")
    chat.say("mark task 2 as done")
    chat.say("mark task 1 as done")
    chat.say("delete task 1")
    history = calls(client, alice, task_id=1)
    assert [(call["tool_name"], call["result"]["status"]) for call in history] == [
        ("delete_task", "deleted"), ("complete_task", "completed"), ("update_task", "updated"), ("add_task", "created"),
    ]
    assert {call["task_id"] for call in history} == {1}
    assert [call["tool_name"] for call in calls(client, alice, task_id=2)] == ["complete_task", "add_task"]


def test_a_listing_belongs_to_no_task(client: httpx.Client, alice: Account) -> None:
    chat = Chat(client, alice)
    chat.say("Add task: Buy groceries")
    chat.say("what's on my list?")
    listing = calls(client, alice, tool_name="list_tasks")
    assert len(listing) == 1 and listing[0]["task_id"] is None


def test_conversation_id_keeps_that_conversations_calls(client: httpx.Client, alice: Account) -> None:
    one, two = Chat(client, alice), Chat(client, alice)
    one.say("Add task: Buy groceries")
    two.say("Add task: Call mom")
    listed = calls(client, alice, conversation_id=two.id)
    assert [call["parameters"]["title"] for call in listed] == ["Call mom"]


def test_tool_name_keeps_that_tools_calls(client: httpx.Client, alice: Account) -> None:
    chat = Chat(client, alice)
    chat.say("Add task: Buy groceries")
    chat.say("mark task 1 as done")
    assert [call["tool_name"] for call in calls(client, alice, tool_name="complete_task")] == ["complete_task"]
    assert calls(client, alice, tool_name="no_such_tool") == []


def test_since_is_inclusive_and_until_exclusive(client: httpx.Client, alice: Account) -> None:
    chat = Chat(client, alice)
    for n in range(3):
        chat.say(f"Add task: errand {n}")
    newest, middle, oldest = calls(client, alice)
    assert [c["id"] for c in calls(client, alice, since=middle["executed_at"])] == [newest["id"], middle["id"]]
    assert [c["id"] for c in calls(client, alice, until=middle["executed_at"])] == [oldest["id"]]
    window = calls(client, alice, since=oldest["executed_at"], until=newest["executed_at"])
    assert [c["id"] for c in window] == [middle["id"], oldest["id"]]


def test_a_time_without_a_zone_is_utc(client: httpx.Client, alice: Account) -> None:
    Chat(client, alice).say("Add task: Buy groceries")
    (call,) = calls(client, alice)
    naive = call["executed_at"].removesuffix("Z")
    assert [c["id"] for c in calls(client, alice, since=naive)] == [call["id"]]
    assert calls(client, alice, until=naive) == []


def test_a_date_alone_is_midnight_utc(client: httpx.Client, alice: Account) -> None:
    Chat(client, alice).say("Add task: Buy groceries")
    (call,) = calls(client, alice)
    day = call["executed_at"][:10]
    assert [c["id"] for c in calls(client, alice, since=day)] == [call["id"]]
    assert calls(client, alice, until=day) == []


def test_an_empty_window_holds_nothing(client: httpx.Client, alice: Account) -> None:
    Chat(client, alice).say("Add task: Buy groceries")
    (call,) = calls(client, alice)
    assert calls(client, alice, since=call["executed_at"], until=call["executed_at"]) == []
    assert calls(client, alice, since="2999-01-01T00:00:00Z", until="2000-01-01T00:00:00Z") == []


def test_times_beyond_the_calendar_in_utc_are_its_ends(client: httpx.Client, alice: Account) -> None:
    Chat(client, alice).say("Add task: Buy groceries")
    assert len(calls(client, alice, since="0001-01-01T00:00:00+01:00")) == 1
    assert len(calls(client, alice, until="9999-12-31T23:59:59-01:00")) == 1


def test_users_see_only_their_own_calls(client: httpx.Client, alice: Account, bob: Account) -> None:
    Chat(client, alice).say("Add task: Alice's secret")
    Chat(client, bob).say("Add task: Bob's errand")
    assert [c["parameters"]["title"] for c in calls(client, bob)] == ["Bob's errand"]
    assert [c["parameters"]["title"] for c in calls(client, bob, task_id=1)] == ["Bob's errand"]
    assert [c["parameters"]["title"] for c in calls(client, alice, task_id=1)] == ["Alice's secret"]


def test_another_users_conversation_is_not_found(client: httpx.Client, alice: Account, bob: Account) -> None:
    alices = Chat(client, alice)
    alices.say("Add task: Alice's secret")
    response = audit(client, bob, conversation_id=alices.id)
    assert response.status_code == 404 and response.json()["error_code"] == "not_found"


def test_another_users_trail_is_forbidden(client: httpx.Client, alice: Account, bob: Account) -> None:
    response = client.get(f"/api/{alice.user_id}/tool-calls", headers=bob.headers)
    assert response.status_code == 403 and response.json()["error_code"] == "forbidden"


def test_without_a_token_the_trail_is_401(client: httpx.Client, alice: Account) -> None:
    response = client.get(f"/api/{alice.user_id}/tool-calls")
    assert response.status_code == 401 and response.json()["error_code"] == "invalid_auth"


def test_a_deleted_conversations_calls_leave_the_trail(client: httpx.Client, alice: Account) -> None:
    chat = Chat(client, alice)
    chat.say("Add task: Buy groceries")
    client.delete(f"/api/{alice.user_id}/conversations/{chat.id}", headers=alice.headers)
    assert calls(client, alice) == []


def test_a_cursor_beyond_the_calendar_is_its_end(client: httpx.Client, alice: Account) -> None:
    send(client, alice, "Add task: Buy milk")
    later = audit(client, alice, before=f"999999999999999999.{uuid.uuid4().hex}")
    earlier = audit(client, alice, before=f"-999999999999999999.{uuid.uuid4().hex}")
    assert [len(page.json()["tool_calls"]) for page in (later, earlier)] == [1, 0]


def test_bad_filters_are_400_in_the_error_shape(client: httpx.Client, alice: Account) -> None:
    bad = [
        {"before": "not-a-cursor"}, {"before": f"{'1' * 19}.{uuid.uuid4().hex}"}, {"before": f"1.{uuid.uuid4().hex.upper()}"}, {"limit": 0}, {"limit": 101},
        {"task_id": 0}, {"task_id": 2**31}, {"conversation_id": "123"}, {"since": "yesterday"}, {"since": "0"}, {"until": "2026-13-01"},
        {"since": "2024-01-01T12:99:00Z"},
        {"tool_name": "add\x00task"}, {"tool_name": ""},
    ]
    for params in bad:
        response = audit(client, alice, **params)
        body = response.json()
        assert response.status_code == 400 and body["status"] == "error" and body["error_code"] == "invalid_request", (params, body)


def test_an_unknown_conversation_is_404(client: httpx.Client, alice: Account) -> None:
    response = audit(client, alice, conversation_id=str(uuid.uuid4()))
    assert response.status_code == 404 and response.json()["error_code"] == "not_found"


def test_the_route_is_in_the_openapi_document(client: httpx.Client) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/{user_id}/tool-calls"]["get"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    assert {"conversation_id", "tool_name", "task_id", "since", "until", "limit", "before"} <= names
