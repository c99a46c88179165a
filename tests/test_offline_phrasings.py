"""The offline model's phrasings, end to end: each goes through the API, the
agent and the real MCP server, and changes the stored tasks."""

from __future__ import annotations

import httpx
import pytest

from tests.support.api import Account, send


def tasks_of(client: httpx.Client, account: Account) -> dict[int, tuple[str, bool]]:
    listed = client.get(f"/api/{account.user_id}/tasks", headers=account.headers).json()["tasks"]
    return {task["task_id"]: (task["title"], task["completed"]) for task in listed}


class Conversation:
    def __init__(self, client: httpx.Client, account: Account) -> None:
        self.client, self.account, self.id = client, account, None

    def say(self, message: str) -> dict:
        body = send(self.client, self.account, message, self.id).json()
        assert body["status"] == "success", body
        self.id = body["conversation_id"]
        return body["messages"][-1]


@pytest.fixture
def chat(client: httpx.Client, alice: Account) -> Conversation:
    return Conversation(client, alice)


@pytest.mark.parametrize(
    ("message", "title"),
    [("Add task: Buy groceries", "Buy groceries"), ("add buy milk", "buy milk"), ("remind me to call mom", "call mom")],
)
def test_adding_phrasings_create_a_task(chat: Conversation, client: httpx.Client, alice: Account, message: str, title: str) -> None:
    reply = chat.say(message)
    assert reply["tool_calls"][0]["tool_name"] == "add_task"
    assert tasks_of(client, alice) == {1: (title, False)}


def test_list_and_pending_phrasings_answer_from_the_list(chat: Conversation) -> None:
    chat.say("add buy milk")
    chat.say("add call mom")
    chat.say("mark task 1 as done")
    everything = chat.say("what's on my list?")
    assert everything["tool_calls"][0]["parameters"] == {"status": "all"}
    assert "buy milk" in everything["content"] and "call mom" in everything["content"]
    pending = chat.say("show pending tasks")
    assert pending["tool_calls"][0]["parameters"] == {"status": "pending"}
    assert "call mom" in pending["content"] and "buy milk" not in pending["content"]


def test_mark_task_n_as_done_completes_it(chat: Conversation, client: httpx.Client, alice: Account) -> None:
    chat.say("add buy milk")
    chat.say("add call mom")
    chat.say("mark task 2 as done")
    assert tasks_of(client, alice) == {1: ("buy milk", False), 2: ("call mom", True)}


def test_complete_by_title_looks_the_task_up_first(chat: Conversation, client: httpx.Client, alice: Account) -> None:
    chat.say("add call mom")
    chat.say("add buy milk")
    reply = chat.say("complete buy milk")
    assert [call["tool_name"] for call in reply["tool_calls"]] == ["list_tasks", "complete_task"]
    assert tasks_of(client, alice)[2] == ("buy milk", True)


def test_mark_it_done_uses_the_task_last_mentioned(chat: Conversation, client: httpx.Client, alice: Account) -> None:
    chat.say("add call mom")
    chat.say("add buy milk")
    chat.say("mark it done")
    assert tasks_of(client, alice) == {1: ("call mom", False), 2: ("buy milk", True)}


def test_delete_task_n_and_remove_it(chat: Conversation, client: httpx.Client, alice: Account) -> None:
    for title in ("one", "two", "three"):
        chat.say(f"add {title}")
    chat.say("delete task 3")
    assert set(tasks_of(client, alice)) == {1, 2}
    chat.say("rename task 1 to First thing")
    chat.say("remove it")
    assert tasks_of(client, alice) == {2: ("two", False)}


def test_rename_task_changes_its_title(chat: Conversation, client: httpx.Client, alice: Account) -> None:
    chat.say("add buy milk")
    reply = chat.say("rename task 1 to Buy oat milk")
    assert reply["tool_calls"][0]["parameters"] == {"task_id": 1, "title": "Buy oat milk"}
    assert tasks_of(client, alice) == {1: ("Buy oat milk", False)}


def test_unknown_task_number_is_answered_politely(chat: Conversation) -> None:
    reply = chat.say("delete task 9")
    assert reply["tool_calls"][0]["result"]["error"] == "not_found"
    assert "9" in reply["content"]


def test_anything_else_gets_a_short_help_reply(chat: Conversation) -> None:
    reply = chat.say("what is the meaning of life")
    assert reply["tool_calls"] == []
    assert "Add task" in reply["content"]
