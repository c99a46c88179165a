"""Edit and resend: the last user message gets new text and is answered
again through the one turn pipeline, like regenerate (its answer replaced
in place, seq gap-free), JSON or streamed by Accept."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import Engine, select

from chatapp.db import Conversation, Message
from tests.support.api import Account, assert_error, send
from tests.support.streams import LONG, Stream, start_stream


def edit_path(account: Account, conversation_id: str, message_id: str) -> str:
    return f"/api/{account.user_id}/conversations/{conversation_id}/messages/{message_id}"


def edit(client: httpx.Client, account: Account, conversation_id: str, message_id: str, content: str,
         headers: dict[str, str] | None = None) -> httpx.Response:
    return client.patch(edit_path(account, conversation_id, message_id), headers={**account.headers, **(headers or {})},
                        json={"content": content})


def opened(client: httpx.Client, account: Account, conversation_id: str) -> list[dict]:
    return client.get(f"/api/{account.user_id}/conversations/{conversation_id}", headers=account.headers).json()["messages"]


def test_edit_replaces_the_text_and_answers_again_in_place(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "add buy milk").json()
    conversation_id = first["conversation_id"]
    question, answer = first["messages"]
    response = edit(client, alice, conversation_id, question["id"], "add buy oat milk")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and body["conversation_id"] == conversation_id
    edited, new_answer = body["messages"]
    assert (edited["id"], edited["seq"], edited["content"]) == (question["id"], 1, "add buy oat milk")
    assert (new_answer["id"], new_answer["seq"], new_answer["status"]) == (answer["id"], 2, "complete")
    assert new_answer["content"] == "I've added task 2: buy oat milk."  # answered from the new text
    assert [(m["seq"], m["content"]) for m in opened(client, alice, conversation_id)] == [
        (1, "add buy oat milk"), (2, "I've added task 2: buy oat milk.")]


def test_edit_keeps_seq_gap_free(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    last = send(client, alice, "add buy milk", conversation_id).json()["messages"][-2]
    edit(client, alice, conversation_id, last["id"], "add buy bread")
    send(client, alice, "what's left?", conversation_id)
    assert [m["seq"] for m in opened(client, alice, conversation_id)] == [1, 2, 3, 4, 5, 6]


def test_edit_discards_the_old_answers_tool_calls(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "add buy milk").json()
    conversation_id, question = first["conversation_id"], first["messages"][0]
    edit(client, alice, conversation_id, question["id"], "hello")
    answer = opened(client, alice, conversation_id)[-1]
    assert answer["tool_calls"] == [] and answer["status"] == "complete"


def test_edit_keeps_the_token_totals_exact(client: httpx.Client, alice: Account, engine: Engine) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    last = send(client, alice, "hi", conversation_id).json()["messages"][-2]
    edit(client, alice, conversation_id, last["id"], "add a much longer task title than the short greeting it replaces")
    with engine.connect() as connection:
        total = connection.execute(select(Conversation.token_total)
                                   .where(Conversation.id == uuid.UUID(conversation_id))).scalar_one()
        rows = connection.execute(select(Message.token_count, Message.tokens_before)
                                  .where(Message.conversation_id == uuid.UUID(conversation_id)).order_by(Message.seq)).all()
    assert total == sum(row.token_count for row in rows)
    assert [row.tokens_before for row in rows] == [sum(r.token_count for r in rows[:i]) for i in range(len(rows))]


def test_editing_an_earlier_message_is_409(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "hello").json()
    conversation_id = first["conversation_id"]
    send(client, alice, "add buy milk", conversation_id)
    before = opened(client, alice, conversation_id)
    assert_error(edit(client, alice, conversation_id, first["messages"][0]["id"], "changed"), 409, "conflict")
    assert opened(client, alice, conversation_id) == before


def test_editing_an_answer_is_409(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "hello").json()
    assert_error(edit(client, alice, first["conversation_id"], first["messages"][1]["id"], "changed"), 409, "conflict")


def test_editing_a_message_not_in_the_conversation_is_404(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "hello").json()["conversation_id"]
    other = send(client, alice, "hello again").json()["messages"][0]["id"]
    assert_error(edit(client, alice, conversation_id, other, "changed"), 404, "not_found")
    assert_error(edit(client, alice, conversation_id, str(uuid.uuid4()), "changed"), 404, "not_found")


def test_someone_else_cannot_edit(client: httpx.Client, alice: Account, bob: Account) -> None:
    first = send(client, alice, "hello").json()
    conversation_id, message_id = first["conversation_id"], first["messages"][0]["id"]
    assert_error(edit(client, bob, conversation_id, message_id, "mine now"), 404, "not_found")
    response = client.patch(edit_path(alice, conversation_id, message_id), headers=bob.headers, json={"content": "x"})
    assert_error(response, 403, "forbidden")
    assert opened(client, alice, conversation_id)[0]["content"] == "hello"


def test_blank_or_oversized_or_malformed_edit_is_400(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "hello").json()
    conversation_id, message_id = first["conversation_id"], first["messages"][0]["id"]
    for content in ("   ", "x" * 5001):
        assert_error(edit(client, alice, conversation_id, message_id, content), 400, "invalid_request")
    assert_error(edit(client, alice, conversation_id, "not-a-uuid", "x"), 400, "invalid_request")
    response = client.patch(edit_path(alice, conversation_id, message_id), headers=alice.headers, json={"text": "x"})
    assert_error(response, 400, "invalid_request")
    assert opened(client, alice, conversation_id)[0]["content"] == "hello"


def test_edit_with_an_idempotency_key_is_answered_once(client: httpx.Client, alice: Account) -> None:
    first = send(client, alice, "add buy milk").json()
    conversation_id, message_id = first["conversation_id"], first["messages"][0]["id"]
    key = {"Idempotency-Key": str(uuid.uuid4())}
    once = edit(client, alice, conversation_id, message_id, "add buy bread", key).json()
    again = edit(client, alice, conversation_id, message_id, "add buy bread", key).json()
    def turn(body: dict) -> list[tuple]:
        return [(m["id"], m["seq"], m["content"], m["status"]) for m in body["messages"]]

    assert turn(once) == turn(again) and once["messages"][-1]["content"] == "I've added task 2: buy bread."
    tasks = client.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).json()
    assert len(tasks["tasks"]) == 2  # the tool ran once for the edit
    assert_error(edit(client, alice, conversation_id, message_id, "add buy jam", key), 422, "idempotency_mismatch")


def test_edit_streams_with_accept_event_stream(http: httpx.Client, carol: Account) -> None:
    first = http.post(carol.chat_path(), headers=carol.headers, json={"message": "add buy milk"}).json()
    conversation_id, message_id = first["conversation_id"], first["messages"][0]["id"]
    stream = Stream(http, "PATCH", edit_path(carol, conversation_id, message_id),
                    {**carol.headers, "Accept": "text/event-stream"}, {"content": "add buy tea"})
    events = stream.finish()
    names = [name for name, _ in events]
    assert names[0] == "user_message" and names[-1] == "done" and names.count("done") == 1
    assert events[0][1]["message"]["content"] == "add buy tea"
    assert stream.text() == events[-1][1]["messages"][-1]["content"] == "I've added task 2: buy tea."


def test_edit_while_the_answer_is_written_is_409(http: httpx.Client, carol: Account) -> None:
    live = start_stream(http, carol, LONG)
    live.wait_for("text_delta")
    conversation_id, message = live.events[0][1]["conversation_id"], live.events[0][1]["message"]
    assert_error(edit(http, carol, conversation_id, message["id"], "changed"), 409, "conflict")
    live.finish()
    assert opened(http, carol, conversation_id)[0]["content"] == LONG
