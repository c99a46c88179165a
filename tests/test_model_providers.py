"""The chat turn on a real OpenAI-compatible provider path.

`openai_base_url` points the app at `tests.support.fake_openai`, a scripted
chat-completions server, so each turn goes through the real
`ChatCompletionsModel` (chatapp/agent/chat_completions.py) on the `AsyncOpenAI` client (always streamed, for
`/chat` as for `/chat/stream`), the real MCP task tools, and the real
database; only the model's answers are scripted. The fake records every request, so the tests also check what the
app sends: instructions, tools, history with earlier tool calls, the key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from chatapp.db import make_engine
from tests.support.api import (
    ERROR_KEYS, Account, LiveApi, assert_error, fresh_database_url, register, serve, stored_messages,
)
from tests.support.fake_openai import (
    FakeOpenAI,
    RecordedRequest,
    Step,
    failure,
    hang,
    malformed,
    message_text,
    reply,
    tool_call,
)

TURN_TIMEOUT = 15.0  # generous: only the hang tests wait for a limit, and they set their own
SHORT_TIMEOUT = 1.0
SUCCESS_KEYS = {"status", "conversation_id", "messages", "has_more"}
MESSAGE_KEYS = {"id", "seq", "role", "content", "status", "error_code", "reply_to", "created_at", "tool_calls"}

PROVIDER_FAILURES = [
    pytest.param(failure(401, "Incorrect API key provided."), id="401-unauthorized"),
    pytest.param(failure(429, "Rate limit reached."), id="429-rate-limited"),
    pytest.param(failure(500, "The server had an error."), id="500-server-error"),
    pytest.param(failure(503, "The engine is currently overloaded."), id="503-overloaded"),
    pytest.param(malformed("invalid_json"), id="invalid-json"),
    pytest.param(malformed("no_choices"), id="no-choices"),
]
STREAMED_FAILURES = PROVIDER_FAILURES[:5]  # a stream without choices: see test_empty_model_output_is_agent_error


# --- wiring ---------------------------------------------------------------


@dataclass
class Event:
    name: str
    data: Any


@dataclass
class Provider:
    """The API served with the fake provider, and one signed-up user."""

    api: LiveApi
    http: httpx.Client
    account: Account
    fake: FakeOpenAI

    @property
    def engine(self) -> Engine:
        return self.api.engine

    def chat(self, message: str, conversation_id: str | None = None) -> httpx.Response:
        return self.http.post(
            self.account.chat_path(), headers=self.account.headers,
            json={"message": message, "conversation_id": conversation_id},
        )

    def stream(self, message: str, conversation_id: str | None = None) -> list[Event]:
        with self.http.stream(
            "POST", f"{self.account.chat_path()}/stream", headers=self.account.headers,
            json={"message": message, "conversation_id": conversation_id},
        ) as response:
            assert response.status_code == 200, response.read()
            assert response.headers["content-type"].startswith("text/event-stream")
            return parse_events(response.iter_lines())

    def tasks(self) -> dict[str, Any]:
        response = self.http.get(f"/api/{self.account.user_id}/tasks", headers=self.account.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def conversation(self, conversation_id: str) -> dict[str, Any]:
        response = self.http.get(
            f"/api/{self.account.user_id}/conversations/{conversation_id}", headers=self.account.headers
        )
        assert response.status_code == 200, response.text
        return response.json()


def parse_events(lines: Iterator[str]) -> list[Event]:
    """Server-sent events: `event:` and `data:` lines, each event ended by a blank line."""
    events: list[Event] = []
    name, data = "", []
    for line in [*lines, ""]:
        if not line:
            if data:
                events.append(Event(name or "message", json.loads("\n".join(data))))
            name, data = "", []
        elif line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:"):
            data.append(line.removeprefix("data:").removeprefix(" "))
    return events


def named(events: list[Event], name: str) -> list[Any]:
    return [event.data for event in events if event.name == name]


@contextmanager
def connected(engine: Engine, fake: FakeOpenAI, **overrides: Any) -> Iterator[Provider]:
    settings = {"openai_base_url": fake.base_url, "turn_timeout_seconds": TURN_TIMEOUT, **overrides}
    servers = serve(engine, **settings)
    api = next(servers)
    try:
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            yield Provider(api, http, register(http), fake)
    finally:
        servers.close()


@pytest.fixture
def provider(engine: Engine, fake_openai: FakeOpenAI) -> Iterator[Provider]:
    """On SQLite and on PostgreSQL."""
    with connected(engine, fake_openai) as wired:
        yield wired


@pytest.fixture
def sqlite_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(fresh_database_url("sqlite", request, tmp_path))
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_provider(sqlite_engine: Engine, fake_openai: FakeOpenAI) -> Iterator[Provider]:
    """For behaviour that does not depend on the database."""
    with connected(sqlite_engine, fake_openai) as wired:
        yield wired


def tool_output(message: dict[str, Any]) -> Any:
    """The tool result a `role: tool` message carries, decoded."""
    return json.loads(message_text(message["content"]))


def assistant_tool_calls(request: RecordedRequest) -> list[dict[str, Any]]:
    return [call for message in request.role("assistant") for call in message.get("tool_calls") or []]


def assert_failed_turn(provider: Provider, conversation_id: str, message: str, error_code: str) -> dict[str, Any]:
    """The turn's user message and its answer, stored as failed with
    `error_code`, with no text (nothing was produced) and no tool calls;
    returns the answer as the API shows it."""
    assert stored_messages(provider.engine, conversation_id) == [(1, "user", message), (2, "assistant", "")]
    user, answer = provider.conversation(conversation_id)["messages"]
    assert (user["status"], user["error_code"], user["reply_to"]) == ("complete", None, None)
    assert (answer["status"], answer["error_code"], answer["reply_to"], answer["tool_calls"]) == (
        "failed", error_code, user["id"], []
    )
    return answer


# --- plain replies --------------------------------------------------------


def test_plain_reply_is_stored_as_the_assistant_message(provider: Provider) -> None:
    provider.fake.script(reply("Hello! Your list is empty for now."))
    response = provider.chat("hi there")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == SUCCESS_KEYS and body["status"] == "success" and body["has_more"] is False
    assert [(m["seq"], m["role"], m["content"], m["status"], m["tool_calls"]) for m in body["messages"]] == [
        (1, "user", "hi there", "complete", []), (2, "assistant", "Hello! Your list is empty for now.", "complete", []),
    ]
    user, answer = body["messages"]
    assert answer["reply_to"] == user["id"] and answer["error_code"] is None
    assert stored_messages(provider.engine, body["conversation_id"]) == [
        (1, "user", "hi there"), (2, "assistant", "Hello! Your list is empty for now."),
    ]


def test_plain_chat_is_one_streamed_request_to_the_provider(sqlite_provider: Provider) -> None:
    """/chat runs the same pipeline as /chat/stream: the model is always streamed."""
    sqlite_provider.fake.script(reply("Hi."))
    assert sqlite_provider.chat("hi").status_code == 200
    [request] = sqlite_provider.fake.requests
    assert request.stream


def test_request_has_the_instructions_the_user_message_and_the_five_mcp_tools(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(reply("Hi."))
    assert sqlite_provider.chat("hi there").status_code == 200
    [request] = sqlite_provider.fake.requests
    assert request.path.endswith("/v1/chat/completions")
    assert request.body["model"] == sqlite_provider.api.settings.chat_model
    system, user = request.messages
    assert system["role"] == "system" and "todo list" in message_text(system["content"])
    assert user == {"role": "user", "content": "hi there"}
    assert sorted(request.tool_names) == ["add_task", "complete_task", "delete_task", "list_tasks", "update_task"]
    add_task = next(tool for tool in request.body["tools"] if tool["function"]["name"] == "add_task")
    assert add_task["function"]["parameters"]["required"] == ["title"]


def test_configured_chat_model_is_the_model_requested(sqlite_engine: Engine, fake_openai: FakeOpenAI) -> None:
    with connected(sqlite_engine, fake_openai, chat_model="local-llama-3") as wired:
        fake_openai.script(reply("Hi."))
        assert wired.chat("hi").status_code == 200
    assert fake_openai.requests[0].body["model"] == "local-llama-3"


# --- tool calls through MCP -----------------------------------------------


def test_tool_call_runs_the_mcp_tool_and_the_reply_follows(provider: Provider) -> None:
    provider.fake.script(tool_call("add_task", {"title": "Buy groceries"}), reply("Added it."))
    response = provider.chat("Add task: Buy groceries")
    assert response.status_code == 200, response.text
    answer = response.json()["messages"][-1]
    assert answer["role"] == "assistant" and answer["content"] == "Added it."
    [call] = answer["tool_calls"]
    assert call["tool_name"] == "add_task" and call["parameters"] == {"title": "Buy groceries"}
    assert call["result"] == {"task_id": 1, "status": "created", "title": "Buy groceries", "description": None}
    tasks = provider.tasks()
    assert tasks["count"] == 1
    assert [(t["task_id"], t["title"], t["completed"]) for t in tasks["tasks"]] == [(1, "Buy groceries", False)]


def test_tool_result_goes_back_to_the_model_as_a_tool_message(provider: Provider) -> None:
    provider.fake.script(tool_call("add_task", {"title": "Buy groceries"}, call_id="call_abc"), reply("Added it."))
    assert provider.chat("Add task: Buy groceries").status_code == 200
    first, second = provider.fake.requests
    assert first.tool_messages() == []
    [asked] = assistant_tool_calls(second)
    assert asked["id"] == "call_abc" and asked["function"]["name"] == "add_task"
    assert json.loads(asked["function"]["arguments"]) == {"title": "Buy groceries"}
    [answered] = second.tool_messages()
    assert answered["tool_call_id"] == "call_abc"
    assert tool_output(answered) == {"task_id": 1, "status": "created", "title": "Buy groceries", "description": None}
    roles = [message["role"] for message in second.messages]
    assert roles == ["system", "user", "assistant", "tool"]


def test_next_turn_history_replays_the_earlier_tool_call_and_its_result(provider: Provider) -> None:
    provider.fake.script(
        tool_call("add_task", {"title": "Buy groceries"}, call_id="call_add"), reply("Added it."),
        reply("You have one task: Buy groceries."),
    )
    conversation_id = provider.chat("Add task: Buy groceries").json()["conversation_id"]
    response = provider.chat("what's left?", conversation_id)
    assert response.status_code == 200, response.text
    assert [m["seq"] for m in response.json()["messages"]] == [1, 2, 3, 4]
    later = provider.fake.requests[2]
    assert [message["role"] for message in later.messages] == ["system", "user", "assistant", "tool", "assistant", "user"]
    _, first_user, calling, tool, answer, second_user = later.messages
    assert first_user["content"] == "Add task: Buy groceries"
    [call] = calling["tool_calls"]
    assert call["id"] == "call_add" and call["type"] == "function" and call["function"]["name"] == "add_task"
    assert json.loads(call["function"]["arguments"]) == {"title": "Buy groceries"}
    assert tool["tool_call_id"] == "call_add"
    assert tool_output(tool) == {"task_id": 1, "status": "created", "title": "Buy groceries", "description": None}
    assert message_text(answer["content"]) == "Added it."
    assert second_user["content"] == "what's left?"


def test_tool_error_result_goes_to_the_model_and_the_turn_succeeds(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(tool_call("complete_task", {"task_id": 99}), reply("There is no task 99."))
    response = sqlite_provider.chat("mark task 99 done")
    assert response.status_code == 200, response.text
    answer = response.json()["messages"][-1]
    assert answer["content"] == "There is no task 99."
    [call] = answer["tool_calls"]
    assert call["result"]["status"] == "error" and call["result"]["error"] == "not_found"
    [told] = sqlite_provider.fake.requests[1].tool_messages()
    assert tool_output(told)["error"] == "not_found"


def test_consecutive_tool_calls_are_all_run_and_recorded_in_order(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(
        tool_call("add_task", {"title": "Buy milk"}),
        tool_call("add_task", {"title": "Call mom", "description": "Sunday"}),
        tool_call("complete_task", {"task_id": 1}),
        tool_call("list_tasks", {"status": "pending"}),
        reply("Done: one pending task left."),
    )
    response = sqlite_provider.chat("add milk and mom, then tick milk off")
    assert response.status_code == 200, response.text
    calls = response.json()["messages"][-1]["tool_calls"]
    assert [(c["tool_name"], c["parameters"]) for c in calls] == [
        ("add_task", {"title": "Buy milk"}),
        ("add_task", {"title": "Call mom", "description": "Sunday"}),
        ("complete_task", {"task_id": 1}),
        ("list_tasks", {"status": "pending"}),
    ]
    assert [c["result"]["task_id"] for c in calls[:3]] == [1, 2, 1]
    assert [t["title"] for t in calls[3]["result"]["tasks"]] == ["Call mom"]
    assert len(sqlite_provider.fake.requests[-1].tool_messages()) == 4


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param('{"title": "Buy', id="broken-json"),
        pytest.param({}, id="missing-title"),
        pytest.param({"title": ["not", "a", "string"]}, id="wrong-type"),
    ],
)
def test_tool_call_with_invalid_arguments_changes_nothing_and_the_model_hears_why(
    sqlite_provider: Provider, arguments: Any
) -> None:
    sqlite_provider.fake.script(tool_call("add_task", arguments), reply("Sorry, what should the task be called?"))
    response = sqlite_provider.chat("add a task")
    assert response.status_code == 200, response.text
    [call] = response.json()["messages"][-1]["tool_calls"]
    assert call["tool_name"] == "add_task" and isinstance(call["result"], str) and "error" in call["result"].lower()
    assert sqlite_provider.tasks()["count"] == 0
    [told] = sqlite_provider.fake.requests[1].tool_messages()
    assert "error" in message_text(told["content"]).lower()


def test_call_of_an_unknown_tool_is_agent_error(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(tool_call("drop_all_tasks", {}), reply("Done."))
    body = assert_error(sqlite_provider.chat("wipe everything"), 500, "agent_error")
    assert_failed_turn(sqlite_provider, body["conversation_id"], "wipe everything", "agent_error")
    assert len(sqlite_provider.fake.requests) == 1


def test_failure_after_a_tool_ran_keeps_the_tool_call_on_the_failed_answer(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(tool_call("add_task", {"title": "Buy groceries"}, call_id="call_f1"),
                                failure(503, "The engine is currently overloaded."))
    body = assert_error(sqlite_provider.chat("Add task: Buy groceries"), 500, "agent_error")
    user, answer = sqlite_provider.conversation(body["conversation_id"])["messages"]
    assert (answer["status"], answer["error_code"], answer["content"], answer["reply_to"]) == (
        "failed", "agent_error", "", user["id"]
    )
    [call] = answer["tool_calls"]
    assert call["tool_name"] == "add_task" and call["parameters"] == {"title": "Buy groceries"}
    assert call["result"] == {"task_id": 1, "status": "created", "title": "Buy groceries", "description": None}
    assert sqlite_provider.tasks()["count"] == 1


# --- streamed turns -------------------------------------------------------


def test_streamed_text_deltas_concatenate_to_the_stored_reply(provider: Provider) -> None:
    text = "Nothing on your list yet. Want me to add something?"
    provider.fake.script(reply(text, pieces=5))
    events = provider.stream("what's on my list?")
    names = [event.name for event in events]
    assert names[0] == "user_message" and names[-1] == "done"
    assert names[1:-1] == ["text_delta"] * len(names[1:-1])  # nothing else in between
    deltas = [data["delta"] for data in named(events, "text_delta")]
    assert 1 <= len(deltas) <= 5 and all(deltas)  # the 5 model deltas may be coalesced, never split or empty
    assert "".join(deltas) == text
    done = events[-1].data
    assert stored_messages(provider.engine, done["conversation_id"]) == [
        (1, "user", "what's on my list?"), (2, "assistant", text),
    ]
    [request] = provider.fake.requests
    assert request.stream


def test_streamed_user_message_event_is_the_stored_user_message(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(reply("Hello."))
    events = sqlite_provider.stream("hello")
    first = events[0]
    assert first.name == "user_message"
    stored = sqlite_provider.conversation(first.data["conversation_id"])
    assert set(first.data) == {"conversation_id", "message", "answer_id"}
    assert first.data["message"] == stored["messages"][0]
    assert first.data["message"]["seq"] == 1 and first.data["message"]["role"] == "user"
    assert first.data["answer_id"] == stored["messages"][1]["id"]


def test_streamed_done_event_equals_the_stored_conversation(provider: Provider) -> None:
    provider.fake.script(tool_call("add_task", {"title": "Buy groceries"}), reply("Added it.", pieces=2))
    done = named(provider.stream("Add task: Buy groceries"), "done")
    assert len(done) == 1
    body = done[0]
    assert set(body) == SUCCESS_KEYS and body["status"] == "success" and body["has_more"] is False
    assert all(set(message) == MESSAGE_KEYS for message in body["messages"])
    stored = provider.conversation(body["conversation_id"])
    assert body["messages"] == stored["messages"]
    assert body["messages"][-1]["content"] == "Added it."
    assert body["messages"][-1]["tool_calls"][0]["result"]["task_id"] == 1


def test_streamed_tool_call_emits_tool_call_then_tool_result_events(provider: Provider) -> None:
    provider.fake.script(tool_call("add_task", {"title": "Buy groceries"}, call_id="call_s1"), reply("Added it."))
    events = provider.stream("Add task: Buy groceries")
    names = [event.name for event in events]
    assert names[0] == "user_message" and names[-1] == "done"
    assert names.index("tool_call") < names.index("tool_result") < names.index("text_delta")
    [started] = named(events, "tool_call")
    [finished] = named(events, "tool_result")
    assert started == {"call_id": "call_s1", "tool_name": "add_task", "parameters": {"title": "Buy groceries"}}
    assert finished["call_id"] == "call_s1" and finished["tool_name"] == "add_task"
    assert finished["result"] == {"task_id": 1, "status": "created", "title": "Buy groceries", "description": None}
    assert events[-1].data["messages"][-1]["tool_calls"][0]["result"] == finished["result"]
    assert provider.tasks()["count"] == 1


def test_streamed_tool_turn_sends_the_tool_result_back_in_a_streamed_request(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(tool_call("add_task", {"title": "Buy groceries"}, call_id="call_s2"), reply("Added."))
    sqlite_provider.stream("Add task: Buy groceries")
    first, second = sqlite_provider.fake.requests
    assert first.stream and second.stream
    [told] = second.tool_messages()
    assert told["tool_call_id"] == "call_s2" and tool_output(told)["task_id"] == 1


# --- provider failures ----------------------------------------------------


@pytest.mark.parametrize("step", PROVIDER_FAILURES)
def test_provider_failure_is_500_agent_error_and_stores_a_failed_answer(provider: Provider, step: Step) -> None:
    provider.fake.script(step)
    body = assert_error(provider.chat("Add task: Buy groceries"), 500, "agent_error")
    assert body["conversation_id"]
    assert_failed_turn(provider, body["conversation_id"], "Add task: Buy groceries", "agent_error")


@pytest.mark.parametrize("step", PROVIDER_FAILURES[:4])
def test_provider_failure_is_not_retried(sqlite_provider: Provider, step: Step) -> None:
    sqlite_provider.fake.script(step, reply("This must not be requested."))
    assert_error(sqlite_provider.chat("hi"), 500, "agent_error")
    assert len(sqlite_provider.fake.requests) == 1 and sqlite_provider.fake.remaining == 1


@pytest.mark.parametrize("step", PROVIDER_FAILURES)
def test_conversation_goes_on_after_a_provider_failure(sqlite_provider: Provider, step: Step) -> None:
    sqlite_provider.fake.script(step, reply("Back again."))
    conversation_id = assert_error(sqlite_provider.chat("first try"), 500, "agent_error")["conversation_id"]
    response = sqlite_provider.chat("second try", conversation_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["conversation_id"] == conversation_id
    assert [(m["seq"], m["role"], m["content"], m["status"]) for m in body["messages"]] == [
        (1, "user", "first try", "complete"), (2, "assistant", "", "failed"),
        (3, "user", "second try", "complete"), (4, "assistant", "Back again.", "complete"),
    ]
    assert body["messages"][3]["reply_to"] == body["messages"][2]["id"]
    sent = sqlite_provider.fake.requests[-1]
    assert [message["role"] for message in sent.messages] == ["system", "user", "user"]  # the failed answer adds nothing
    assert [message["content"] for message in sent.role("user")] == ["first try", "second try"]


def test_hanging_provider_is_500_timeout_within_seconds(engine: Engine, fake_openai: FakeOpenAI) -> None:
    with connected(engine, fake_openai, turn_timeout_seconds=SHORT_TIMEOUT) as wired:
        fake_openai.script(hang())
        started = time.monotonic()
        body = assert_error(wired.chat("what's left?"), 500, "timeout")
        assert time.monotonic() - started < 5
        assert_failed_turn(wired, body["conversation_id"], "what's left?", "timeout")


def test_conversation_goes_on_after_a_timeout(sqlite_engine: Engine, fake_openai: FakeOpenAI) -> None:
    with connected(sqlite_engine, fake_openai, turn_timeout_seconds=SHORT_TIMEOUT) as wired:
        fake_openai.script(hang(), reply("Sorry for the wait."))
        conversation_id = assert_error(wired.chat("hello?"), 500, "timeout")["conversation_id"]
        response = wired.chat("hello again", conversation_id)
        assert response.status_code == 200, response.text
        assert [(m["seq"], m["content"], m["status"], m["error_code"]) for m in response.json()["messages"]] == [
            (1, "hello?", "complete", None), (2, "", "failed", "timeout"),
            (3, "hello again", "complete", None), (4, "Sorry for the wait.", "complete", None),
        ]


@pytest.mark.parametrize("step", STREAMED_FAILURES)
def test_provider_failure_while_streaming_is_an_error_event(sqlite_provider: Provider, step: Step) -> None:
    provider = sqlite_provider  # the storage side of a failure runs on both databases above
    provider.fake.script(step)
    events = provider.stream("Add task: Buy groceries")
    assert [event.name for event in events] == ["user_message", "error"]
    error = events[-1].data
    assert set(error) == ERROR_KEYS and error["status"] == "error" and error["error_code"] == "agent_error"
    assert error["error"] and error["conversation_id"] == events[0].data["conversation_id"]
    answer = assert_failed_turn(provider, error["conversation_id"], "Add task: Buy groceries", "agent_error")
    assert answer["id"] == events[0].data["answer_id"]


def test_hang_while_streaming_is_a_timeout_error_event(sqlite_engine: Engine, fake_openai: FakeOpenAI) -> None:
    with connected(sqlite_engine, fake_openai, turn_timeout_seconds=SHORT_TIMEOUT) as wired:
        fake_openai.script(hang())
        started = time.monotonic()
        events = wired.stream("what's left?")
        assert time.monotonic() - started < 5
        assert [event.name for event in events] == ["user_message", "error"]
        error = events[-1].data
        assert set(error) == ERROR_KEYS and error["error_code"] == "timeout"
        answer = assert_failed_turn(wired, error["conversation_id"], "what's left?", "timeout")
        assert answer["id"] == events[0].data["answer_id"]


@pytest.mark.parametrize("step", [STREAMED_FAILURES[3], STREAMED_FAILURES[4]])
def test_streamed_conversation_goes_on_after_a_failure(sqlite_provider: Provider, step: Step) -> None:
    sqlite_provider.fake.script(step, reply("Back again."))
    conversation_id = named(sqlite_provider.stream("first try"), "error")[0]["conversation_id"]
    events = sqlite_provider.stream("second try", conversation_id)
    [done] = named(events, "done")
    assert events[0].data["message"]["seq"] == 3
    assert [(m["seq"], m["role"], m["content"], m["status"]) for m in done["messages"]] == [
        (1, "user", "first try", "complete"), (2, "assistant", "", "failed"),
        (3, "user", "second try", "complete"), (4, "assistant", "Back again.", "complete"),
    ]
    assert done["messages"][3]["id"] == events[0].data["answer_id"]


# --- the provider's key ---------------------------------------------------


def test_api_key_is_sent_as_a_bearer_token(sqlite_engine: Engine, fake_openai: FakeOpenAI) -> None:
    with connected(sqlite_engine, fake_openai, openai_api_key="sk-test-provider-key-123") as wired:
        fake_openai.script(reply("Plain."), reply("Streamed."))
        assert wired.chat("hi").status_code == 200
        assert named(wired.stream("hi again"), "done")
    assert [request.headers.get("authorization") for request in fake_openai.requests] == [
        "Bearer sk-test-provider-key-123", "Bearer sk-test-provider-key-123",
    ]


def test_without_a_key_only_a_placeholder_is_sent(sqlite_provider: Provider) -> None:
    sqlite_provider.fake.script(reply("Hi."))
    assert sqlite_provider.chat("hi").status_code == 200
    assert sqlite_provider.fake.requests[0].headers.get("authorization") == "Bearer not-needed"


# --- empty answers ------------------------------------------------------


@pytest.mark.parametrize(
    ("streamed", "step"),
    [
        pytest.param(False, reply(""), id="chat-empty-content"),
        pytest.param(True, reply(""), id="stream-empty-content"),
        pytest.param(True, malformed("no_choices"), id="stream-no-choices"),
    ],
)
def test_empty_model_output_is_agent_error(sqlite_provider: Provider, streamed: bool, step: Step) -> None:
    sqlite_provider.fake.script(step)
    if streamed:
        events = sqlite_provider.stream("hi")
        assert [event.name for event in events] == ["user_message", "error"]
        error = events[-1].data
        assert error["error_code"] == "agent_error"
    else:
        error = assert_error(sqlite_provider.chat("hi"), 500, "agent_error")
    assert_failed_turn(sqlite_provider, error["conversation_id"], "hi", "agent_error")
