"""POST /api/{user_id}/chat/stream: the same turn as /chat, as server-sent
events, persisted identically, and finished even when the client leaves."""

from __future__ import annotations

import json
import time

import httpx
from sqlalchemy import Engine

from tests.support.api import Account, LiveApi, send


def stream(client: httpx.Client, account: Account, message: str, conversation_id: str | None = None) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    with client.stream(
        "POST", f"{account.chat_path()}/stream", headers=account.headers,
        json={"message": message, "conversation_id": conversation_id},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        name = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line.removeprefix("event: ")
            elif line.startswith("data: "):
                events.append((name or "", json.loads(line.removeprefix("data: "))))
    return events


def test_stream_starts_with_the_stored_user_message_and_ends_with_done(client: httpx.Client, alice: Account) -> None:
    events = stream(client, alice, "hello")
    assert events[0][0] == "user_message"
    assert events[0][1]["message"]["seq"] == 1 and events[0][1]["message"]["content"] == "hello"
    assert events[-1][0] == "done" and events[-1][1]["status"] == "success"


def test_text_deltas_add_up_to_the_stored_reply(client: httpx.Client, alice: Account) -> None:
    events = stream(client, alice, "what is this app?")
    deltas = [data["delta"] for name, data in events if name == "text_delta"]
    assert deltas  # a fast model's deltas may travel as one batch
    final = events[-1][1]["messages"][-1]
    assert "".join(deltas) == final["content"]


def test_tool_calls_stream_as_they_start_and_finish(client: httpx.Client, alice: Account) -> None:
    events = stream(client, alice, "Add task: Buy groceries")
    names = [name for name, _ in events]
    assert names.index("tool_call") < names.index("tool_result") < names.index("text_delta")
    call = dict(events)["tool_call"]
    result = dict(events)["tool_result"]
    assert call["tool_name"] == "add_task" and call["parameters"] == {"title": "Buy groceries"}
    assert result["call_id"] == call["call_id"] and result["result"]["task_id"] == 1


def test_done_event_is_exactly_what_chat_and_the_conversation_return(client: httpx.Client, alice: Account) -> None:
    done = stream(client, alice, "Add task: Buy groceries")[-1][1]
    stored = client.get(f"/api/{alice.user_id}/conversations/{done['conversation_id']}", headers=alice.headers).json()
    assert done["messages"] == stored["messages"]
    plain = send(client, alice, "Add task: Buy groceries").json()
    assert set(plain) == set(done)
    assert [set(m) for m in plain["messages"]] == [set(m) for m in done["messages"]]


def test_streamed_turns_continue_a_conversation_like_chat(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "add buy milk").json()["conversation_id"]
    done = stream(client, alice, "mark it done", conversation_id)[-1][1]
    assert [m["seq"] for m in done["messages"]] == [1, 2, 3, 4]
    assert done["messages"][-1]["content"] == "Marked task 1 as done: buy milk."


def test_bad_input_is_a_plain_json_error_before_any_event(client: httpx.Client, alice: Account) -> None:
    response = client.post(f"{alice.chat_path()}/stream", headers=alice.headers, json={"message": "  "})
    assert response.status_code == 400
    assert response.json()["error_code"] == "invalid_request"
    unauthorised = client.post(f"{alice.chat_path()}/stream", json={"message": "hi"})
    assert unauthorised.status_code == 401


def test_turn_is_stored_when_the_client_disconnects_mid_stream(client: httpx.Client, alice: Account, live_api: LiveApi) -> None:
    with client.stream(
        "POST", f"{alice.chat_path()}/stream", headers=alice.headers, json={"message": "Add task: Buy groceries"}
    ) as response:
        first = next(response.iter_lines())
        assert first == "event: user_message"
    # Disconnected after the first event; the reply must still land, whole.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        listed = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"]
        page = client.get(f"/api/{alice.user_id}/conversations/{listed[0]['id']}", headers=alice.headers).json()
        if len(page["messages"]) == 2 and page["messages"][-1]["status"] == "complete":
            break
        time.sleep(0.1)
    reply = page["messages"][-1]
    assert reply["role"] == "assistant" and reply["content"] == "I've added task 1: Buy groceries."
    assert reply["tool_calls"][0]["result"]["task_id"] == 1


def test_provider_failure_mid_stream_is_an_error_event(engine: Engine) -> None:
    import socket

    from tests.support.api import register, serve

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for api in serve(engine, openai_base_url=f"http://127.0.0.1:{closed}/v1"):
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            account = register(http)
            events = stream(http, account, "hello")
    assert [name for name, _ in events] == ["user_message", "error"]
    assert events[0][1]["answer_id"]
    error = events[-1][1]
    assert error["status"] == "error" and error["error_code"] == "agent_error"
    assert error["conversation_id"] == events[0][1]["conversation_id"]

