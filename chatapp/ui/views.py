"""What the page shows, as plain typed records.

The service layer returns typed values (and, for messages, the shape turn
events carry); the page needs a few things of its own (pretty JSON, a
one-line summary of a tool call, whether it failed). Computing them here,
once, keeps the components free of logic and lets `rx.foreach` see typed
fields.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime
from typing import Any

from chatapp.services.conversations import StoredConversation
from chatapp.services.errors import failure_for
from chatapp.services.search import MessageHit
from chatapp.services.tasks import StoredTask
from chatapp.services.tool_calls import AuditedCall

# A tool call's one-line summary stops here; the full JSON is one click away.
SUMMARY_CHARS = 80
# A list item (or task checkbox, perhaps with its number) begun with nothing
# after it yet, at the end of a reply cut short: an empty bullet on screen.
DANGLING_ITEM = re.compile(r"(?:^|\n)[ \t]*(?:[-*+]|\d+[.)])(?:[ \t]+\[[ xX]?\]?(?:[ \t]+\d+[.)]?)?)?[ \t]*$")


@dataclasses.dataclass
class ToolCallView:
    """One tool call under an assistant message."""

    id: str = ""
    tool_name: str = ""
    summary: str = ""
    parameters_json: str = "{}"
    result_json: str = "null"
    failed: bool = False
    pending: bool = False  # streamed: the tool is still running
    imported: bool = False  # came in with an imported conversation


@dataclasses.dataclass
class MessageView:
    """One message of the thread. `pending` marks the optimistic copy of a
    message being sent, shown before the database has answered. An answer's
    `status` is its lifecycle: "in_progress" (being written), "complete",
    "stopped" (the person stopped it part-way) or "failed", with `error`
    saying why."""

    id: str = ""
    seq: int = 0
    role: str = "user"
    content: str = ""
    created_at: str = ""
    tool_calls: list[ToolCallView] = dataclasses.field(default_factory=list)
    pending: bool = False
    status: str = "complete"
    error: str = ""


@dataclasses.dataclass
class ConversationView:
    """One row of the sidebar."""

    id: str = ""
    title: str = ""
    updated_at: str = ""


@dataclasses.dataclass
class TaskView:
    """One row of the tasks panel."""

    task_id: int = 0
    title: str = ""
    description: str = ""
    completed: bool = False


def iso_time(value: datetime) -> str:
    """A UTC time as the page's relative-time formatter reads it."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def short_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def summarize_parameters(parameters: dict[str, Any]) -> str:
    """`title: Buy groceries, task_id: 3`, cut to one line."""
    text = ", ".join(f"{key}: {short_value(value)}" for key, value in parameters.items())
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1].rstrip() + "…"


def result_failed(result: Any) -> bool:
    return isinstance(result, dict) and (result.get("status") == "error" or "error" in result)


def tool_call_view(call: dict[str, Any]) -> ToolCallView:
    parameters = call.get("parameters") or {}
    return ToolCallView(
        id=str(call.get("id", "")),
        tool_name=str(call.get("tool_name", "tool")),
        summary=summarize_parameters(parameters) if isinstance(parameters, dict) else short_value(parameters),
        parameters_json=pretty_json(parameters),
        result_json=pretty_json(call.get("result")),
        failed=result_failed(call.get("result")),
        imported=bool(call.get("imported", False)),
    )


def tidy_partial(text: str) -> str:
    """A reply cut off mid-stream (live, or stored as stopped) as it should
    read: without a trailing empty list item or trailing blank space."""
    return DANGLING_ITEM.sub("", text.rstrip(" \t")).rstrip()


def started_tool_call(event: dict[str, Any]) -> ToolCallView:
    """A streamed `tool_call` event: the card, waiting for its result."""
    view = tool_call_view({**event, "id": event.get("call_id", ""), "result": None})
    view.result_json = ""
    view.pending = True
    return view


def finished_tool_call(call: ToolCallView, event: dict[str, Any]) -> ToolCallView:
    """The same card once its `tool_result` event has arrived."""
    result = event.get("result")
    return dataclasses.replace(call, result_json=pretty_json(result), failed=result_failed(result), pending=False)


def message_view(message: dict[str, Any]) -> MessageView:
    """From `StoredMessage.view()`."""
    status = str(message.get("status") or "complete")
    content = str(message.get("content") or "")
    return MessageView(
        id=str(message["id"]),
        seq=int(message["seq"]),
        role=str(message["role"]),
        content=tidy_partial(content) if status in ("stopped", "failed") else content,
        created_at=str(message.get("created_at") or ""),
        tool_calls=[tool_call_view(call) for call in message.get("tool_calls") or []],
        status=status,
        error=failure_for(message.get("error_code")).message if status == "failed" else "",
    )


def pending_message(text: str) -> MessageView:
    """The optimistic copy of a message being sent: shown at once, replaced
    by what the database stored as soon as the turn ends."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return MessageView(id="pending", seq=0, role="user", content=text.strip(), created_at=now, pending=True)


def conversation_view(conversation: StoredConversation) -> ConversationView:
    return ConversationView(id=str(conversation.id), title=conversation.title, updated_at=iso_time(conversation.updated_at))


def task_view(task: StoredTask) -> TaskView:
    return TaskView(task_id=task.task_id, title=task.title, description=task.description or "", completed=task.completed)


@dataclasses.dataclass
class SnippetPartView:
    text: str = ""
    match: bool = False


@dataclasses.dataclass
class SearchHitView:
    """One search result in the sidebar: where it is, and its snippet."""

    conversation_id: str = ""
    conversation_title: str = ""
    message_id: str = ""
    role: str = "user"
    seq: int = 0
    created_at: str = ""
    snippet: list[SnippetPartView] = dataclasses.field(default_factory=list)


def search_hit_view(hit: MessageHit) -> SearchHitView:
    return SearchHitView(
        conversation_id=str(hit.conversation_id), conversation_title=hit.conversation_title,
        message_id=str(hit.message_id), role=hit.role, seq=hit.seq, created_at=iso_time(hit.created_at),
        snippet=[SnippetPartView(part.text, part.match) for part in hit.snippet],
    )


@dataclasses.dataclass
class TaskEventView:
    """One change to a task in its history: what happened, when, and the
    turn (conversation and answer) that did it."""

    id: str = ""
    task_id: int = 0
    label: str = ""
    title: str = ""
    executed_at: str = ""
    href: str = ""
    failed: bool = False


# What a task tool's success is called in a task's history.
TASK_CHANGES = {"created": "Created", "completed": "Completed", "deleted": "Deleted"}
# The verb for a failed attempt, by tool.
TASK_VERBS = {"add_task": "add", "update_task": "change", "complete_task": "complete", "delete_task": "delete"}


def task_event_label(tool_name: str, parameters: dict[str, Any], result: Any) -> tuple[str, bool]:
    """("Renamed", False), ("Could not complete: not found", True), ..."""
    status = result.get("status") if isinstance(result, dict) else None
    if status == "updated":
        return ("Renamed" if "title" in parameters else "Edited"), False
    if status in TASK_CHANGES:
        return TASK_CHANGES[status], False
    reason = str(result.get("error", "failed")).replace("_", " ") if isinstance(result, dict) else "failed"
    return f"Could not {TASK_VERBS.get(tool_name, tool_name)}: {reason}", True


def task_event_view(call: AuditedCall) -> TaskEventView:
    """From an audit-trail entry; its result is what the tool told the model."""
    parameters = call.parameters if isinstance(call.parameters, dict) else {}
    result = call.result
    label, failed = task_event_label(call.tool_name, parameters, result)
    title = (result.get("title") if isinstance(result, dict) else None) or parameters.get("title") or ""
    return TaskEventView(
        id=str(call.id),
        task_id=call.task_id or 0,
        label=label,
        title=str(title),
        executed_at=iso_time(call.executed_at),
        # The turn: its conversation, the answer that made the change named in the fragment.
        href=f"/chat/{call.conversation_id}#answer-{call.message_id}",
        failed=failed,
    )
