"""Export a conversation (JSON, Markdown) and import the JSON as a new
conversation: on SQLite and PostgreSQL, over HTTP, each user seeing only
their own."""

from __future__ import annotations

import copy
import io
import json
import zipfile
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from chatapp.db import Conversation, Message, ToolCall
from chatapp.services.tokens import message_tokens
from tests.support.api import Account, LiveApi, assert_error, register, send, serve, without_ids_and_times


def conversation_with_a_tool_call(client: httpx.Client, account: Account) -> str:
    conversation_id = send(client, account, "add buy oat milk").json()["conversation_id"]
    assert send(client, account, "what's left?", conversation_id).status_code == 200
    return conversation_id


def export(client: httpx.Client, account: Account, conversation_id: str, format: str = "json") -> httpx.Response:
    return client.get(f"/api/{account.user_id}/conversations/{conversation_id}/export?format={format}",
                      headers=account.headers)


def import_(client: httpx.Client, account: Account, document: Any) -> httpx.Response:
    return client.post(f"/api/{account.user_id}/conversations/import", headers=account.headers, json=document)


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        return tuple(connection.execute(select(func.count()).select_from(table)).scalar_one()  # type: ignore[return-value]
                     for table in (Conversation, Message, ToolCall))


# ---- export ---------------------------------------------------------------------------

def test_json_export_holds_every_message_status_and_tool_call(client: httpx.Client, alice: Account) -> None:
    conversation_id = conversation_with_a_tool_call(client, alice)
    response = export(client, alice, conversation_id)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].startswith('attachment; filename="add-buy-oat-milk.json"')
    document = response.json()
    assert document["format_version"] == 1 and document["type"] == "chatapp.conversation"
    assert document["conversation"]["id"] == conversation_id and document["conversation"]["title"] == "add buy oat milk"
    assert [(m["seq"], m["role"], m["status"]) for m in document["messages"]] == [
        (1, "user", "complete"), (2, "assistant", "complete"), (3, "user", "complete"), (4, "assistant", "complete")]
    add, listing = document["messages"][1]["tool_calls"][0], document["messages"][3]["tool_calls"][0]
    assert add["tool_name"] == "add_task" and add["parameters"] == {"title": "buy oat milk"}
    assert add["result"]["status"] == "created" and add["executed_at"].endswith("Z") and add["imported"] is False
    assert listing["tool_name"] == "list_tasks"
    assert document["messages"][1]["reply_to"] == document["messages"][0]["id"]


def test_markdown_export_is_a_transcript_with_tool_calls_as_details(client: httpx.Client, alice: Account) -> None:
    conversation_id = conversation_with_a_tool_call(client, alice)
    response = export(client, alice, conversation_id, "markdown")
    assert response.status_code == 200 and response.headers["content-type"] == "text/markdown; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="add-buy-oat-milk.md"')
    text = response.text
    assert text.startswith("# add buy oat milk\n")
    assert text.count("## You · ") == 2 and text.count("## Assistant · ") == 2
    assert "add buy oat milk" in text and "I've added task 1: buy oat milk." in text
    assert text.count("<details>") == 2 and "<summary>Tool call: <code>add_task</code></summary>" in text
    assert '```json\n{\n  "title": "buy oat milk"\n}\n```' in text


def test_markdown_fences_are_longer_than_any_backticks_in_a_tool_result(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "add fix the ``` fence").json()["conversation_id"]
    text = export(client, alice, conversation_id, "markdown").text
    assert '````json\n{\n  "title": "fix the ``` fence"\n}\n````' in text


def test_unknown_export_format_is_400(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    assert_error(export(client, alice, conversation_id, "pdf"), 400, "invalid_request")


def test_someone_elses_conversation_cannot_be_exported(client: httpx.Client, alice: Account, bob: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    assert_error(export(client, bob, conversation_id), 404, "not_found")
    response = client.get(f"/api/{alice.user_id}/conversations/{conversation_id}/export", headers=bob.headers)
    assert_error(response, 403, "forbidden")


def test_export_needs_a_token(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    assert_error(client.get(f"/api/{alice.user_id}/conversations/{conversation_id}/export"), 401, "invalid_auth")


# ---- import ---------------------------------------------------------------------------

def test_round_trip_export_import_export_keeps_the_content(client: httpx.Client, alice: Account) -> None:
    first = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    imported = import_(client, alice, first)
    assert imported.status_code == 201, imported.text
    second = export(client, alice, imported.json()["id"]).json()
    assert without_ids_and_times(second) == without_ids_and_times(first)
    assert {m["id"] for m in second["messages"]}.isdisjoint(m["id"] for m in first["messages"])
    calls = [call for message in second["messages"] for call in message["tool_calls"]]
    assert len(calls) == 2 and all(call["imported"] for call in calls)


def test_import_creates_a_new_conversation_of_the_callers(client: httpx.Client, alice: Account, bob: Account) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    response = import_(client, bob, document)
    assert response.status_code == 201
    created = response.json()
    assert created["title"] == "add buy oat milk" and created["message_count"] == 4
    listed = client.get(f"/api/{bob.user_id}/conversations", headers=bob.headers).json()["conversations"]
    assert [c["id"] for c in listed] == [created["id"]]
    assert_error(export(client, alice, created["id"]), 404, "not_found")


def test_imported_tool_calls_are_marked_where_messages_are_listed(client: httpx.Client, alice: Account) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    imported_id = import_(client, alice, document).json()["id"]
    opened = client.get(f"/api/{alice.user_id}/conversations/{imported_id}", headers=alice.headers).json()
    calls = [call for message in opened["messages"] for call in message["tool_calls"]]
    assert [call["tool_name"] for call in calls] == ["add_task", "list_tasks"] and all(c["imported"] for c in calls)
    answered = send(client, alice, "add buy bread", imported_id).json()
    assert answered["messages"][-1]["seq"] == 6 and answered["messages"][-1]["tool_calls"][0]["imported"] is False
    assert answered["messages"][1]["tool_calls"][0]["imported"] is True


def test_imported_tool_calls_are_marked_in_the_audit_trail(client: httpx.Client, alice: Account) -> None:
    original = conversation_with_a_tool_call(client, alice)
    imported_id = import_(client, alice, export(client, alice, original).json()).json()["id"]
    trail = client.get(f"/api/{alice.user_id}/tool-calls", headers=alice.headers).json()["tool_calls"]
    marks = {(call["conversation_id"], call["tool_name"]): call["imported"] for call in trail}
    assert marks == {(original, "add_task"): False, (original, "list_tasks"): False,
                     (imported_id, "add_task"): True, (imported_id, "list_tasks"): True}


def test_imported_tool_calls_are_marked_in_the_account_export(client: httpx.Client, alice: Account) -> None:
    imported_id = import_(client, alice, export(client, alice, conversation_with_a_tool_call(client, alice)).json()).json()["id"]
    response = client.get(f"/api/{alice.user_id}/export", headers=alice.headers)
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    document = json.loads(archive.read(f"conversations/{imported_id}.json"))
    calls = [call for message in document["messages"] for call in message["tool_calls"]]
    assert len(calls) == 2 and all(call["imported"] for call in calls)


def test_the_audit_trail_pages_past_imported_calls_from_any_century(client: httpx.Client, alice: Account) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    calls = [call for message in document["messages"] for call in message["tool_calls"]]
    calls[0]["executed_at"], calls[1]["executed_at"] = "1960-05-01T00:00:00Z", "2999-01-01T00:00:00Z"
    import_(client, alice, document)
    seen, before = [], None
    for _ in range(10):
        query = {"limit": 1, **({"before": before} if before else {})}
        page = client.get(f"/api/{alice.user_id}/tool-calls", params=query, headers=alice.headers)
        assert page.status_code == 200, page.text
        seen += [call["executed_at"][:4] for call in page.json()["tool_calls"]]
        before = page.json()["next_before"]
        if before is None:
            break
    assert seen[0] == "2999" and seen[-1] == "1960" and len(seen) == 4


def test_an_imported_conversation_goes_on_with_gap_free_seq(client: httpx.Client, alice: Account) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    imported_id = import_(client, alice, document).json()["id"]
    send(client, alice, "hello", imported_id)
    opened = client.get(f"/api/{alice.user_id}/conversations/{imported_id}", headers=alice.headers).json()
    assert [m["seq"] for m in opened["messages"]] == [1, 2, 3, 4, 5, 6]


def test_import_recounts_token_totals(client: httpx.Client, alice: Account, engine: Engine) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    document["conversation"]["token_total"] = 1  # a lie in the file is not believed
    imported_id = uuid.UUID(import_(client, alice, document).json()["id"])
    expected = sum(message_tokens(m["content"], [(c["tool_name"], c["parameters"], c["result"]) for c in m["tool_calls"]])
                   for m in document["messages"])
    with engine.connect() as connection:
        total = connection.execute(select(Conversation.token_total).where(Conversation.id == imported_id)).scalar_one()
        rows = connection.execute(select(Message.token_count, Message.tokens_before)
                                  .where(Message.conversation_id == imported_id).order_by(Message.seq)).all()
    assert total == expected == sum(row.token_count for row in rows)
    assert [row.tokens_before for row in rows] == [sum(r.token_count for r in rows[:i]) for i in range(len(rows))]


def test_an_answer_exported_mid_reply_is_imported_as_interrupted(client: httpx.Client, alice: Account) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    document["messages"][-1].update(status="in_progress", content="partial")
    imported_id = import_(client, alice, document).json()["id"]
    last = client.get(f"/api/{alice.user_id}/conversations/{imported_id}", headers=alice.headers).json()["messages"][-1]
    assert (last["status"], last["error_code"], last["content"]) == ("failed", "interrupted", "partial")


def broken(document: dict[str, Any], change: str) -> Any:
    document = copy.deepcopy(document)
    messages = document["messages"]
    if change == "seq_gap":
        messages[2]["seq"] = 7
    elif change == "reply_to_unknown":
        messages[1]["reply_to"] = "not-a-message-in-this-file"
    elif change == "nul_in_content":
        messages[0]["content"] = "a\x00b"
    elif change == "nul_in_parameters":
        messages[1]["tool_calls"][0]["parameters"] = {"title": "a\x00b"}
    elif change == "version_2":
        document["format_version"] = 2
    elif change == "no_messages":
        document["messages"] = []
    elif change == "unknown_field":
        document["extra"] = True
    elif change == "bad_role":
        messages[0]["role"] = "system"
    elif change == "content_too_long":
        messages[1]["content"] = " ".join(f"w{number}" for number in range(120_000))[:100_001]
    elif change == "not_an_object":
        return [document]
    return document


@pytest.mark.parametrize("change", ["seq_gap", "reply_to_unknown", "nul_in_content", "nul_in_parameters", "version_2",
                                    "no_messages", "unknown_field", "bad_role", "content_too_long", "not_an_object"])
def test_malformed_import_is_400_and_stores_nothing(client: httpx.Client, alice: Account, engine: Engine, change: str) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    before = counts(engine)
    assert_error(import_(client, alice, broken(document, change)), 400, "invalid_request")
    assert counts(engine) == before


@pytest.mark.parametrize("body", [b"{not json", b'{"format_version": 1, "conversation": {"title": "x"}, "messages": NaN}',
                                  b"[" * 100_000, b""])
def test_import_of_something_that_is_not_an_export_is_400(client: httpx.Client, alice: Account, engine: Engine, body: bytes) -> None:
    before = counts(engine)
    response = client.post(f"/api/{alice.user_id}/conversations/import", content=body,
                           headers={**alice.headers, "Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")
    assert counts(engine) == before


def test_nan_in_a_tool_result_is_400(client: httpx.Client, alice: Account, engine: Engine) -> None:
    document = export(client, alice, conversation_with_a_tool_call(client, alice)).json()
    raw = json.dumps(document).replace('"status": "created"', '"status": NaN', 1)
    before = counts(engine)
    response = client.post(f"/api/{alice.user_id}/conversations/import", content=raw,
                           headers={**alice.headers, "Content-Type": "application/json"})
    assert_error(response, 400, "invalid_request")
    assert counts(engine) == before


@pytest.fixture
def small_import_api(engine: Engine) -> Any:
    yield from serve(engine, import_max_bytes=4096)


def test_import_over_import_max_bytes_is_413_and_stores_nothing(small_import_api: LiveApi, engine: Engine) -> None:
    with httpx.Client(base_url=small_import_api.base_url, timeout=60) as http:
        carol = register(http)
        document = export(http, carol, send(http, carol, "hello").json()["conversation_id"]).json()
        document["messages"][0]["content"] = "x" * 5000
        before = counts(engine)
        assert_error(import_(http, carol, document), 413, "payload_too_large")
        assert counts(engine) == before


def test_import_may_be_larger_than_the_general_body_cap(client: httpx.Client, alice: Account, live_api: LiveApi) -> None:
    document = export(client, alice, send(client, alice, "hello").json()["conversation_id"]).json()
    document["messages"][1]["content"] = "y" * (live_api.settings.max_body_bytes + 1000)
    response = import_(client, alice, document)
    assert response.status_code == 201, response.text
    assert len(export(client, alice, response.json()["id"]).json()["messages"][1]["content"]) > live_api.settings.max_body_bytes


def test_the_general_body_cap_still_holds_elsewhere(client: httpx.Client, alice: Account, live_api: LiveApi) -> None:
    response = client.post(alice.chat_path(), headers=alice.headers,
                           json={"message": "z" * (live_api.settings.max_body_bytes + 10)})
    assert_error(response, 413, "payload_too_large")


def test_import_into_someone_elses_path_is_403(client: httpx.Client, alice: Account, bob: Account, engine: Engine) -> None:
    document = export(client, alice, send(client, alice, "hello").json()["conversation_id"]).json()
    before = counts(engine)
    response = client.post(f"/api/{alice.user_id}/conversations/import", headers=bob.headers, json=document)
    assert_error(response, 403, "forbidden")
    assert counts(engine) == before
