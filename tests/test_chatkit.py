"""POST /api/chatkit, driven as the ChatKit web component drives it: the
openai-chatkit SDK's own request types, sent over HTTP to the served app,
its own event types parsed from the stream — on SQLite and PostgreSQL.
Threads are conversations, items their messages and tool calls, and a
ChatKit turn is the pipeline's turn, stored exactly like a /chat turn."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
from chatkit.types import (
    AssistantMessageItem, AttachmentsCreateReq, AttachmentCreateParams, ErrorEvent, InferenceOptions,
    ItemFeedbackParams, ItemsFeedbackReq, ItemsListParams, ItemsListReq, Page, TaskItem, Thread,
    ThreadAddUserMessageParams, ThreadCreateParams, ThreadCreatedEvent, ThreadDeleteParams, ThreadGetByIdParams,
    ThreadItem, ThreadItemAddedEvent, ThreadItemDoneEvent, ThreadItemUpdatedEvent, ThreadListParams,
    ThreadMetadata, ThreadRetryAfterItemParams, ThreadsAddUserMessageReq, ThreadsCreateReq, ThreadsDeleteReq,
    ThreadsGetByIdReq, ThreadsListReq, ThreadsRetryAfterItemReq, ThreadStreamEvent, ThreadsUpdateReq,
    ThreadUpdatedEvent, ThreadUpdateParams, UserMessageInput, UserMessageItem, UserMessageTextContent,
)
from pydantic import BaseModel, TypeAdapter
from sqlalchemy import Engine

from tests.support.api import Account, register, send, serve
from tests.support.streams import LONG

EVENTS: TypeAdapter[Any] = TypeAdapter(ThreadStreamEvent)
ITEMS: TypeAdapter[Any] = TypeAdapter(Page[ThreadItem])
THREADS: TypeAdapter[Any] = TypeAdapter(Page[Thread])
# ---- a ChatKit client, as the web component speaks ------------------------------------

def user_input(text: str) -> UserMessageInput:
    return UserMessageInput(content=[UserMessageTextContent(text=text)], attachments=[],
                            inference_options=InferenceOptions())


def post(client: httpx.Client, account: Account, request: BaseModel | dict | bytes, **headers: str) -> httpx.Response:
    content = request if isinstance(request, bytes) else (
        json.dumps(request) if isinstance(request, dict) else request.model_dump_json(exclude_none=True))
    return client.post("/api/chatkit", headers={**account.headers, **headers, "Content-Type": "application/json"},
                       content=content)


def read_events(response: httpx.Response) -> Iterator[Any]:
    assert response.status_code == 200, response.read()
    assert response.headers["content-type"].startswith("text/event-stream")
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield EVENTS.validate_json(line.removeprefix("data: "))


def stream(client: httpx.Client, account: Account, request: BaseModel, **headers: str) -> list[Any]:
    with client.stream("POST", "/api/chatkit", headers={**account.headers, **headers},
                       content=request.model_dump_json(exclude_none=True)) as response:
        return list(read_events(response))


def create_thread(client: httpx.Client, account: Account, text: str, **headers: str) -> list[Any]:
    return stream(client, account, ThreadsCreateReq(params=ThreadCreateParams(input=user_input(text))), **headers)


def add_message(client: httpx.Client, account: Account, thread_id: str, text: str, **headers: str) -> list[Any]:
    request = ThreadsAddUserMessageReq(params=ThreadAddUserMessageParams(thread_id=thread_id, input=user_input(text)))
    return stream(client, account, request, **headers)


def thread_id_of(events: list[Any]) -> str:
    return next(e for e in events if isinstance(e, ThreadCreatedEvent)).thread.id


def done_items(events: list[Any]) -> list[Any]:
    return [e.item for e in events if isinstance(e, ThreadItemDoneEvent)]


def list_items(client: httpx.Client, account: Account, thread_id: str, *, limit: int | None = None,
               after: str | None = None, order: str = "asc") -> Page:
    response = post(client, account, ItemsListReq(params=ItemsListParams(thread_id=thread_id, limit=limit, after=after,
                                                                          order=order)))
    assert response.status_code == 200, response.text
    return ITEMS.validate_json(response.content)


def all_items(client: httpx.Client, account: Account, thread_id: str, *, limit: int, order: str = "asc") -> list[Any]:
    items: list[Any] = []
    after = None
    for _ in range(50):
        page = list_items(client, account, thread_id, limit=limit, after=after, order=order)
        assert len(page.data) <= limit
        items.extend(page.data)
        if not page.has_more:
            return items
        after = page.after
    raise AssertionError("paging did not end")


def rest_conversation(client: httpx.Client, account: Account, conversation_id: str) -> httpx.Response:
    return client.get(f"/api/{account.user_id}/conversations/{conversation_id}", headers=account.headers)


def comparable(messages: list[dict]) -> list[tuple]:
    """A stored turn without what is unique to it (ids, times)."""
    ids = {m["id"]: m["seq"] for m in messages}
    return [(m["seq"], m["role"], m["content"], m["status"], m["error_code"], ids.get(m["reply_to"]),
             [(c["tool_name"], c["parameters"], c["result"]) for c in m["tool_calls"]]) for m in messages]


# ---- a turn -------------------------------------------------------------------------

def test_new_thread_streams_the_turn_as_chatkit_events(client: httpx.Client, alice: Account) -> None:
    events = create_thread(client, alice, "hello")
    kinds = [type(e).__name__ for e in events]
    assert kinds[0] == "ThreadCreatedEvent"
    user, answer = done_items(events)
    assert isinstance(user, UserMessageItem) and user.content[0].text == "hello"
    assert isinstance(answer, AssistantMessageItem)
    deltas = [e.update.delta for e in events if isinstance(e, ThreadItemUpdatedEvent)
              and e.update.type == "assistant_message.content_part.text_delta"]
    assert "".join(deltas) == answer.content[0].text
    assert not any(isinstance(e, ErrorEvent) for e in events)


def test_new_thread_is_stored_exactly_like_a_chat_turn(client: httpx.Client, alice: Account, bob: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "Add task: Buy groceries"))
    via_chatkit = rest_conversation(client, alice, thread_id).json()
    chat_id = send(client, bob, "Add task: Buy groceries").json()["conversation_id"]
    via_chat = rest_conversation(client, bob, chat_id).json()
    assert comparable(via_chatkit["messages"]) == comparable(via_chat["messages"])
    assert [len(comparable(via_chat["messages"])), via_chat["messages"][1]["tool_calls"][0]["tool_name"]] == [2, "add_task"]
    fields = ("title", "message_count")
    assert {f: via_chatkit["conversation"][f] for f in fields} == {f: via_chat["conversation"][f] for f in fields}


def test_streamed_items_carry_the_stored_ids(client: httpx.Client, alice: Account) -> None:
    events = create_thread(client, alice, "Add task: Buy groceries")
    user, task, answer = done_items(events)
    stored = rest_conversation(client, alice, thread_id_of(events)).json()["messages"]
    assert [user.id, answer.id] == [m["id"] for m in stored]
    assert isinstance(task, TaskItem) and task.id == f"{answer.id}.tool0"
    assert [item.id for item in list_items(client, alice, thread_id_of(events)).data] == [user.id, task.id, answer.id]


def test_new_thread_gets_the_title_the_pipeline_stored(client: httpx.Client, alice: Account) -> None:
    events = create_thread(client, alice, "Add task: Buy groceries")
    updated = [e for e in events if isinstance(e, ThreadUpdatedEvent)]
    assert updated and updated[-1].thread.title == "Add task: Buy groceries"


def test_tool_call_streams_as_a_task_item_that_finishes(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    events = add_message(client, alice, thread_id, "Add task: Buy groceries")
    added = [e.item for e in events if isinstance(e, ThreadItemAddedEvent) and isinstance(e.item, TaskItem)]
    finished = [item for item in done_items(events) if isinstance(item, TaskItem)]
    assert [item.task.status_indicator for item in added + finished] == ["loading", "complete"]
    assert added[0].id == finished[0].id and finished[0].task.title == "add_task"
    assert '"task_id": 1' in finished[0].task.content
    assert done_items(events)[-1].content[0].text == "I've added task 1: Buy groceries."
    tasks = client.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).json()
    assert [t["title"] for t in tasks["tasks"]] == ["Buy groceries"]


def test_message_added_to_a_thread_continues_its_seq(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "add buy milk"))
    add_message(client, alice, thread_id, "mark it done")
    stored = rest_conversation(client, alice, thread_id).json()["messages"]
    assert [m["seq"] for m in stored] == [1, 2, 3, 4]
    assert stored[-1]["content"] == "Marked task 1 as done: buy milk."


def test_each_message_is_stored_once(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "Add task: Buy groceries"))
    add_message(client, alice, thread_id, "what's left?")
    stored = rest_conversation(client, alice, thread_id).json()["messages"]
    assert [(m["role"], m["status"]) for m in stored] == [("user", "complete"), ("assistant", "complete")] * 2
    assert sum(len(m["tool_calls"]) for m in stored) == 2


def test_a_resent_message_with_the_same_idempotency_key_is_one_turn(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    first = add_message(client, alice, thread_id, "Add task: Buy groceries", **{"Idempotency-Key": "k-1"})
    again = add_message(client, alice, thread_id, "Add task: Buy groceries", **{"Idempotency-Key": "k-1"})
    assert done_items(first)[0].id == done_items(again)[0].id
    assert done_items(again)[-1].content == done_items(first)[-1].content
    stored = rest_conversation(client, alice, thread_id).json()["messages"]
    assert len(stored) == 4
    tasks = client.get(f"/api/{alice.user_id}/tasks", headers=alice.headers).json()["tasks"]
    assert len(tasks) == 1


def test_a_resent_new_thread_with_the_same_idempotency_key_is_one_thread(client: httpx.Client, alice: Account) -> None:
    first = create_thread(client, alice, "Add task: Buy groceries", **{"Idempotency-Key": "k-2"})
    again = create_thread(client, alice, "Add task: Buy groceries", **{"Idempotency-Key": "k-2"})
    assert thread_id_of(first) == thread_id_of(again)
    listed = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"]
    assert len(listed) == 1 and listed[0]["message_count"] == 2


# ---- threads and items ----------------------------------------------------------------

def test_items_page_forwards_and_backwards(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "Add task: Buy groceries"))
    add_message(client, alice, thread_id, "hello")
    add_message(client, alice, thread_id, "Add task: Walk the dog")
    everything = list_items(client, alice, thread_id, limit=100).data
    assert [type(i).__name__ for i in everything] == [
        "UserMessageItem", "TaskItem", "AssistantMessageItem", "UserMessageItem", "AssistantMessageItem",
        "UserMessageItem", "TaskItem", "AssistantMessageItem"]
    forwards = all_items(client, alice, thread_id, limit=3)
    backwards = all_items(client, alice, thread_id, limit=2, order="desc")
    assert [i.id for i in forwards] == [i.id for i in everything]
    assert [i.id for i in backwards] == [i.id for i in reversed(everything)]


def test_thread_by_id_has_its_items(client: httpx.Client, alice: Account) -> None:
    events = create_thread(client, alice, "hello")
    response = post(client, alice, ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id_of(events))))
    thread = Thread.model_validate_json(response.content)
    assert thread.title == "hello"
    assert [item.id for item in thread.items.data] == [item.id for item in done_items(events)]


def test_threads_list_pages_most_recent_first_like_rest(client: httpx.Client, alice: Account) -> None:
    made = [thread_id_of(create_thread(client, alice, f"note {n}")) for n in range(3)]
    made.append(send(client, alice, "made over REST").json()["conversation_id"])
    first = THREADS.validate_json(post(client, alice, ThreadsListReq(params=ThreadListParams(limit=3))).content)
    rest = THREADS.validate_json(post(client, alice, ThreadsListReq(params=ThreadListParams(limit=3, after=first.after))).content)
    assert first.has_more and not rest.has_more
    listed = [t.id for t in first.data + rest.data]
    assert listed == list(reversed(made))
    over_rest = client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"]
    assert listed == [c["id"] for c in over_rest]
    oldest_first = THREADS.validate_json(post(client, alice, ThreadsListReq(params=ThreadListParams(order="asc"))).content)
    assert [t.id for t in oldest_first.data] == made


def test_a_page_size_written_as_a_whole_float_is_an_integer(client: httpx.Client, alice: Account) -> None:
    """JSON Schema counts 2.0 as an integer, and so does the SDK."""
    for n in range(3):
        create_thread(client, alice, f"note {n}")
    page = THREADS.validate_json(post(client, alice, {"type": "threads.list", "params": {"limit": 2.0}}).content)
    assert len(page.data) == 2 and page.has_more
    assert post(client, alice, {"type": "threads.list", "params": {"limit": True}}).status_code == 400


def test_a_rest_conversation_reads_as_a_thread(client: httpx.Client, alice: Account) -> None:
    conversation_id = send(client, alice, "Add task: Buy groceries").json()["conversation_id"]
    items = list_items(client, alice, conversation_id).data
    assert [type(i).__name__ for i in items] == ["UserMessageItem", "TaskItem", "AssistantMessageItem"]
    events = add_message(client, alice, conversation_id, "what's left?")
    assert "Buy groceries" in done_items(events)[-1].content[0].text


def test_rename_thread_renames_the_conversation(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    response = post(client, alice, ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread_id, title="Groceries")))
    assert response.status_code == 200
    assert ThreadMetadata.model_validate_json(response.content).title == "Groceries"
    assert rest_conversation(client, alice, thread_id).json()["conversation"]["title"] == "Groceries"


def test_rename_to_a_blank_title_is_a_400(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    response = post(client, alice, ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread_id, title="   ")))
    assert response.status_code == 400 and response.json()["error_code"] == "invalid_request"


def test_delete_thread_deletes_the_conversation(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "Add task: Buy groceries"))
    response = post(client, alice, ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread_id)))
    assert response.status_code == 200
    assert rest_conversation(client, alice, thread_id).status_code == 404
    gone = post(client, alice, ItemsListReq(params=ItemsListParams(thread_id=thread_id)))
    assert gone.status_code == 404 and gone.json()["error_code"] == "not_found"


# ---- retry ---------------------------------------------------------------------------------

def test_retry_after_the_last_message_answers_it_again_in_place(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    before = rest_conversation(client, alice, thread_id).json()["messages"]
    user_id = before[0]["id"]
    events = stream(client, alice, ThreadsRetryAfterItemReq(params=ThreadRetryAfterItemParams(
        thread_id=thread_id, item_id=user_id)))
    answer = done_items(events)[-1]
    after = rest_conversation(client, alice, thread_id).json()["messages"]
    assert [(m["id"], m["seq"], m["status"]) for m in after] == [(m["id"], m["seq"], m["status"]) for m in before]
    assert answer.id == after[1]["id"] and answer.content[0].text == after[1]["content"]


def test_retry_of_a_tool_turn_runs_the_tool_once_more_and_keeps_one_call(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "Add task: Buy groceries"))
    user_id = rest_conversation(client, alice, thread_id).json()["messages"][0]["id"]
    stream(client, alice, ThreadsRetryAfterItemReq(params=ThreadRetryAfterItemParams(thread_id=thread_id, item_id=user_id)))
    stored = rest_conversation(client, alice, thread_id).json()["messages"]
    assert len(stored) == 2 and len(stored[1]["tool_calls"]) == 1
    assert [i.id for i in list_items(client, alice, thread_id).data] == [user_id, f"{stored[1]['id']}.tool0", stored[1]["id"]]


def test_retry_after_an_earlier_message_is_a_conflict(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    add_message(client, alice, thread_id, "what's left?")
    first_user = rest_conversation(client, alice, thread_id).json()["messages"][0]["id"]
    response = post(client, alice, ThreadsRetryAfterItemReq(params=ThreadRetryAfterItemParams(
        thread_id=thread_id, item_id=first_user)))
    assert response.status_code == 409 and response.json()["error_code"] == "conflict"
    assert len(rest_conversation(client, alice, thread_id).json()["messages"]) == 4


def test_a_failed_turn_is_an_error_event_and_retry_answers_it(engine: Engine) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    for api in serve(engine, openai_base_url=f"http://127.0.0.1:{closed}/v1"):
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            dave = register(http)
            events = create_thread(http, dave, "hello")
            thread_id = thread_id_of(events)
            stored = rest_conversation(http, dave, thread_id).json()["messages"]
    errors = [e for e in events if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].allow_retry and "try again" in (errors[0].message or "")
    assert [(m["role"], m["status"], m["error_code"]) for m in stored] == [
        ("user", "complete", None), ("assistant", "failed", "agent_error")]
    assert [i.id for i in done_items(events)] == [stored[0]["id"]]  # no text, so no assistant item
    for api in serve(engine):  # the model is back
        with httpx.Client(base_url=api.base_url, timeout=30) as http:
            retried = stream(http, dave, ThreadsRetryAfterItemReq(params=ThreadRetryAfterItemParams(
                thread_id=thread_id, item_id=stored[0]["id"])))
            after = rest_conversation(http, dave, thread_id).json()["messages"]
    assert [(m["id"], m["status"]) for m in after] == [(stored[0]["id"], "complete"), (stored[1]["id"], "complete")]
    assert done_items(retried)[-1].id == stored[1]["id"]


# ---- cancel = stop -------------------------------------------------------------------------

def wait_for_answer(client: httpx.Client, account: Account, thread_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        messages = rest_conversation(client, account, thread_id).json()["messages"]
        if messages and messages[-1]["status"] != "in_progress":
            return messages[-1]
        assert time.monotonic() < deadline, messages
        time.sleep(0.05)


def test_cancelling_the_stream_mid_reply_stores_it_as_stopped(http: httpx.Client) -> None:
    carol = register(http)
    request = ThreadsCreateReq(params=ThreadCreateParams(input=user_input(LONG)))
    seen: list[str] = []
    thread_id = ""
    with http.stream("POST", "/api/chatkit", headers=carol.headers, content=request.model_dump_json()) as response:
        for event in read_events(response):
            if isinstance(event, ThreadCreatedEvent):
                thread_id = event.thread.id
            if isinstance(event, ThreadItemUpdatedEvent) and event.update.type.endswith("text_delta"):
                seen.append(event.update.delta)
                if len(seen) >= 3:
                    break  # leaving the block closes the connection, as the web component's cancel does
    answer = wait_for_answer(http, carol, thread_id)
    assert answer["status"] == "stopped"
    assert answer["content"].startswith("".join(seen))
    full = send(http, carol, LONG).json()["messages"][-1]["content"]
    assert len(answer["content"]) < len(full)


def test_a_chat_stream_that_disconnects_still_finishes(http: httpx.Client) -> None:
    """Only ChatKit's disconnect means Stop: /chat/stream's keeps running."""
    carol = register(http)
    with http.stream("POST", f"{carol.chat_path()}/stream", headers=carol.headers, json={"message": LONG}) as response:
        lines = response.iter_lines()
        for line in lines:
            if line.startswith("event: text_delta"):
                break
    listed = http.get(f"/api/{carol.user_id}/conversations", headers=carol.headers).json()["conversations"]
    assert wait_for_answer(http, carol, listed[0]["id"], timeout=60)["status"] == "complete"


# ---- isolation -----------------------------------------------------------------------------

def test_another_users_thread_is_not_found(client: httpx.Client, alice: Account, bob: Account) -> None:
    events = create_thread(client, alice, "hello")
    thread_id, user_item = thread_id_of(events), done_items(events)[0]
    requests: list[BaseModel] = [
        ThreadsGetByIdReq(params=ThreadGetByIdParams(thread_id=thread_id)),
        ItemsListReq(params=ItemsListParams(thread_id=thread_id)),
        ThreadsUpdateReq(params=ThreadUpdateParams(thread_id=thread_id, title="mine now")),
        ThreadsDeleteReq(params=ThreadDeleteParams(thread_id=thread_id)),
        ThreadsAddUserMessageReq(params=ThreadAddUserMessageParams(thread_id=thread_id, input=user_input("hi"))),
        ThreadsRetryAfterItemReq(params=ThreadRetryAfterItemParams(thread_id=thread_id, item_id=user_item.id)),
    ]
    for request in requests:
        response = post(client, bob, request)
        assert response.status_code == 404, (request.type, response.text)
        assert response.json()["error_code"] == "not_found"
    mine = THREADS.validate_json(post(client, bob, ThreadsListReq(params=ThreadListParams())).content)
    assert mine.data == []
    assert rest_conversation(client, alice, thread_id).json()["conversation"]["title"] == "hello"
    assert len(rest_conversation(client, alice, thread_id).json()["messages"]) == 2


# ---- malformed and declined requests -------------------------------------------------------

def assert_refused(response: httpx.Response, status: int = 400) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error" and body["error_code"] == {400: "invalid_request", 401: "invalid_auth",
                                                                404: "not_found"}[status]


def test_malformed_requests_are_a_400(client: httpx.Client, alice: Account) -> None:
    for body in [b"not json", b"[]", b"{}", b'{"type": "threads.explode", "params": {}}',
                 b'{"type": "threads.create", "params": {}}', b'{"type": "items.list", "params": {"thread_id": 5}}',
                 b'{"type": "threads.list", "params": {"limit": "many"}}', b'{"type": "threads.list", "params": {}, "x": 1}']:
        assert_refused(post(client, alice, body))


def test_a_message_is_one_text_part(client: httpx.Client, alice: Account) -> None:
    two_parts = user_input("hello").model_copy(update={"content": [UserMessageTextContent(text="a"),
                                                                    UserMessageTextContent(text="b")]})
    assert_refused(post(client, alice, ThreadsCreateReq(params=ThreadCreateParams(input=two_parts))))


def test_a_blank_or_oversized_message_is_a_400_before_any_thread(client: httpx.Client, alice: Account) -> None:
    for text in ["   ", "x" * 5001, "nul\x00"]:
        assert_refused(post(client, alice, ThreadsCreateReq(params=ThreadCreateParams(input=user_input(text)))))
    assert client.get(f"/api/{alice.user_id}/conversations", headers=alice.headers).json()["conversations"] == []


def test_attachments_are_declined(client: httpx.Client, alice: Account) -> None:
    create = AttachmentsCreateReq(params=AttachmentCreateParams(name="a.png", size=3, mime_type="image/png"))
    response = post(client, alice, create)
    assert_refused(response)
    assert "threads.create" in response.json()["error"]  # names what is served
    message = user_input("look").model_copy(update={"attachments": ["atc_1"]})
    assert_refused(post(client, alice, ThreadsCreateReq(params=ThreadCreateParams(input=message))))


def test_feedback_is_declined(client: httpx.Client, alice: Account) -> None:
    events = create_thread(client, alice, "hello")
    feedback = ItemsFeedbackReq(params=ItemFeedbackParams(
        thread_id=thread_id_of(events), item_ids=[done_items(events)[-1].id], kind="positive"))
    assert_refused(post(client, alice, feedback))


def test_unknown_threads_and_cursors(client: httpx.Client, alice: Account) -> None:
    assert_refused(post(client, alice, ItemsListReq(params=ItemsListParams(thread_id="thr_nope"))), 404)
    assert_refused(post(client, alice, ItemsListReq(params=ItemsListParams(thread_id=str(uuid.uuid4())))), 404)
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    assert_refused(post(client, alice, ItemsListReq(params=ItemsListParams(thread_id=thread_id, after="msg_x"))), 404)
    assert_refused(post(client, alice, ItemsListReq(params=ItemsListParams(thread_id=thread_id, limit=-1))))
    assert_refused(post(client, alice, ThreadsListReq(params=ThreadListParams(after=str(uuid.uuid4())))), 404)
    assert_refused(post(client, alice, ThreadsAddUserMessageReq(params=ThreadAddUserMessageParams(
        thread_id="nope", input=user_input("hi")))), 404)


def test_a_page_larger_than_100_is_cut_to_100(client: httpx.Client, alice: Account) -> None:
    thread_id = thread_id_of(create_thread(client, alice, "hello"))
    assert len(list_items(client, alice, thread_id, limit=10**9).data) == 2


def test_without_a_token_it_is_a_401(client: httpx.Client) -> None:
    response = client.post("/api/chatkit", content=ThreadsListReq(params=ThreadListParams()).model_dump_json())
    assert response.status_code == 401 and response.json()["error_code"] == "invalid_auth"
