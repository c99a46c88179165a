"""Each edge shapes the services' typed results on its own: the MCP tool
result (what the model sees), the REST body (the public API) and the page's
view records. Fast, no database: the shapes as they are sent, field by field
and in order, so a change to one edge shows up here and nowhere else."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from chatapp.api.schemas import AuditedToolCall, ConversationOut, SearchHit, TaskList, ToolCallPage
from chatapp.services.conversations import StoredConversation
from chatapp.services.search import MessageHit, SnippetPart
from chatapp.services.tasks import StoredTask, TaskChanged, TaskNotFound
from chatapp.services.tool_calls import AuditedCall, AuditPage
from chatapp.tools.results import invalid_request, task_change, task_listing
from chatapp.ui.views import conversation_view, search_hit_view, task_event_view, task_view

MILK = StoredTask(task_id=3, title="Buy milk", description="2 litres", completed=False)
DONE = StoredTask(task_id=4, title="Call mom", description=None, completed=True)
AT = datetime(2026, 11, 23, 9, 30, 0, 123456, tzinfo=timezone.utc)
CONVERSATION_ID = uuid.UUID("11111111-1111-4111-8111-111111111111")
MESSAGE_ID = uuid.UUID("22222222-2222-4222-8222-222222222222")
CALL_ID = uuid.UUID("33333333-3333-4333-8333-333333333333")


def sent(value: object) -> str:
    """JSON text, keys in the order the edge put them."""
    return json.dumps(value)


# ------------------------------------------------------------------ MCP tools
def test_mcp_created_task_tells_the_model_its_id_title_and_description() -> None:
    assert sent(task_change(TaskChanged("created", MILK))) == (
        '{"task_id": 3, "status": "created", "title": "Buy milk", "description": "2 litres"}'
    )


def test_mcp_updated_task_tells_the_model_its_title_and_description() -> None:
    assert task_change(TaskChanged("updated", DONE)) == {
        "task_id": 4, "status": "updated", "title": "Call mom", "description": None,
    }


def test_mcp_completed_and_deleted_tasks_leave_the_description_out() -> None:
    assert sent(task_change(TaskChanged("completed", MILK))) == '{"task_id": 3, "status": "completed", "title": "Buy milk"}'
    assert sent(task_change(TaskChanged("deleted", MILK))) == '{"task_id": 3, "status": "deleted", "title": "Buy milk"}'


def test_mcp_missing_task_is_a_structured_error_naming_it() -> None:
    assert sent(task_change(TaskNotFound(99))) == (
        '{"task_id": 99, "status": "error", "error": "not_found", "message": "Task 99 not found."}'
    )


def test_mcp_bad_arguments_are_a_structured_error() -> None:
    assert invalid_request("A task needs a title.") == {
        "status": "error", "error": "invalid_request", "message": "A task needs a title.",
    }


def test_mcp_listing_carries_the_filter_the_count_and_every_task() -> None:
    assert sent(task_listing("all", [MILK, DONE])) == (
        '{"status": "ok", "filter": "all", "count": 2, "tasks": ['
        '{"task_id": 3, "title": "Buy milk", "description": "2 litres", "completed": false}, '
        '{"task_id": 4, "title": "Call mom", "description": null, "completed": true}]}'
    )


# ----------------------------------------------------------------------- REST
def test_rest_task_list_body() -> None:
    assert TaskList.of("pending", [MILK]).model_dump_json() == (
        '{"status":"ok","filter":"pending","count":1,'
        '"tasks":[{"task_id":3,"title":"Buy milk","description":"2 litres","completed":false}]}'
    )


def test_rest_conversation_body_has_z_times_and_the_message_count() -> None:
    conversation = StoredConversation(CONVERSATION_ID, "Groceries", AT, AT, 7)
    assert ConversationOut.of(conversation).model_dump_json() == (
        '{"id":"11111111-1111-4111-8111-111111111111","title":"Groceries",'
        '"created_at":"2026-11-23T09:30:00.123Z","updated_at":"2026-11-23T09:30:00.123Z","message_count":7}'
    )


def test_rest_audited_tool_call_body_names_its_turn_and_task() -> None:
    call = AuditedCall(
        CALL_ID, "complete_task", {"task_id": 3}, {"task_id": 3, "status": "completed", "title": "Buy milk"},
        AT, False, CONVERSATION_ID, MESSAGE_ID, 3,
    )
    body = json.loads(ToolCallPage.of(AuditPage([call], next_before="123.abc")).model_dump_json())
    assert body == {
        "tool_calls": [{
            "id": str(CALL_ID), "tool_name": "complete_task", "parameters": {"task_id": 3},
            "result": {"task_id": 3, "status": "completed", "title": "Buy milk"},
            "executed_at": "2026-11-23T09:30:00.123Z", "imported": False,
            "conversation_id": str(CONVERSATION_ID), "message_id": str(MESSAGE_ID), "task_id": 3,
        }],
        "next_before": "123.abc",
    }
    assert list(body["tool_calls"][0]) == list(AuditedToolCall.model_fields)


def test_rest_search_hit_body_carries_the_snippet_in_parts() -> None:
    hit = MessageHit(CONVERSATION_ID, "Groceries", MESSAGE_ID, "user", 2, AT,
                     [SnippetPart("buy ", False), SnippetPart("milk", True)])
    assert SearchHit.of(hit).model_dump_json() == (
        '{"conversation_id":"11111111-1111-4111-8111-111111111111","conversation_title":"Groceries",'
        '"message_id":"22222222-2222-4222-8222-222222222222","role":"user","seq":2,'
        '"created_at":"2026-11-23T09:30:00.123Z",'
        '"snippet":[{"text":"buy ","match":false},{"text":"milk","match":true}]}'
    )


# ------------------------------------------------------- one task, three shapes
def test_the_same_task_is_shaped_apart_for_the_model_and_the_api() -> None:
    """The MCP listing and the REST body agree today; each comes from its
    own function, so changing what the model sees leaves the API alone."""
    for_model = task_listing("all", [DONE])
    for_api = json.loads(TaskList.of("all", [DONE]).model_dump_json())
    assert for_model == for_api


# ------------------------------------------------------------------------- UI
def test_ui_task_row_shows_no_description_as_empty_text() -> None:
    view = task_view(DONE)
    assert (view.task_id, view.title, view.description, view.completed) == (4, "Call mom", "", True)


def test_ui_sidebar_row_links_the_conversation_and_its_last_activity() -> None:
    view = conversation_view(StoredConversation(CONVERSATION_ID, "Groceries", AT, AT, 7))
    assert (view.id, view.title, view.updated_at) == (str(CONVERSATION_ID), "Groceries", "2026-11-23T09:30:00.123Z")


def test_ui_search_hit_keeps_the_matching_parts() -> None:
    hit = MessageHit(CONVERSATION_ID, "Groceries", MESSAGE_ID, "assistant", 2, AT, [SnippetPart("milk", True)])
    view = search_hit_view(hit)
    assert (view.conversation_id, view.seq, view.created_at) == (str(CONVERSATION_ID), 2, "2026-11-23T09:30:00.123Z")
    assert [(part.text, part.match) for part in view.snippet] == [("milk", True)]


def test_ui_task_history_links_the_answer_that_made_the_change() -> None:
    call = AuditedCall(
        CALL_ID, "update_task", {"task_id": 3, "title": "Buy oat milk"},
        {"task_id": 3, "status": "updated", "title": "Buy oat milk", "description": None},
        AT, False, CONVERSATION_ID, MESSAGE_ID, 3,
    )
    view = task_event_view(call)
    assert (view.label, view.title, view.failed, view.task_id) == ("Renamed", "Buy oat milk", False, 3)
    assert view.href == f"/chat/{CONVERSATION_ID}#answer-{MESSAGE_ID}"
    assert view.executed_at == "2026-11-23T09:30:00.123Z"
