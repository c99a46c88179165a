"""Deciding the offline model's next step from the whole model input.

The request is the last user message and the items after it are this turn's
work so far, so every call is a pure function of its input: no tool call yet
means the request's first call (or a reply when none is needed), a finished
title lookup means the action on the task it found, anything else means the
reply describing the last result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from chatapp.agent.offline.grammar import Action, Intent, parse_intent
from chatapp.agent.offline.items import FinishedCall, Item, finished_calls, last_user_index, message_text, normalize_input
from chatapp.agent.offline.references import find_task_by_title, last_mentioned_task_id
from chatapp.agent.offline.replies import (
    ASK_NEW_TITLE, ASK_TITLE, HELP_TEXT, ask_which_task, describe_result, error_text, no_title_match, tasks_of,
)

__all__ = ["MAX_TOOL_CALLS_PER_TURN", "PlannedCall", "Reply", "Step", "plan_next_step"]

# A title lookup needs two calls; anything beyond this is a loop, so reply.
MAX_TOOL_CALLS_PER_TURN = 3


@dataclass(frozen=True)
class PlannedCall:
    """The next step is a tool call; the runner executes it and calls back."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """The next step is the final answer; the turn ends with it."""

    text: str


Step: TypeAlias = PlannedCall | Reply

_VERBS: dict[Action, str] = {"complete": "complete", "delete": "delete", "update": "rename"}


def _action_call(intent: Intent, task_id: int) -> PlannedCall:
    if intent.action == "complete":
        return PlannedCall("complete_task", {"task_id": task_id})
    if intent.action == "delete":
        return PlannedCall("delete_task", {"task_id": task_id})
    arguments: dict[str, Any] = {"task_id": task_id}
    if intent.title is not None:
        arguments["title"] = intent.title
    if intent.description is not None:
        arguments["description"] = intent.description
    return PlannedCall("update_task", arguments)


def _first_step(intent: Intent, history: Sequence[Item]) -> Step:
    """The first tool call for a request (or a reply when none is needed)."""
    if intent.action == "help":
        return Reply(HELP_TEXT)
    if intent.action == "add":
        return PlannedCall("add_task", {"title": intent.title}) if intent.title else Reply(ASK_TITLE)
    if intent.action == "list":
        return PlannedCall("list_tasks", {"status": intent.status})
    if intent.action == "update" and not (intent.title or intent.description):
        return Reply(ASK_NEW_TITLE)
    if intent.task_id is not None:
        return _action_call(intent, intent.task_id)
    if intent.target_title:
        return PlannedCall("list_tasks", {"status": "all"})
    task_id = last_mentioned_task_id(history) if intent.refers_to_last else None
    if task_id is None:
        return Reply(ask_which_task(_VERBS.get(intent.action, "change")))
    return _action_call(intent, task_id)


def _after_title_lookup(intent: Intent, lookup: FinishedCall) -> Step:
    if isinstance(lookup.result, str):
        return Reply(error_text(lookup.result))
    task_id = find_task_by_title(
        tasks_of(lookup.result), intent.target_title or "", prefer_pending=intent.action == "complete"
    )
    if task_id is None:
        return Reply(no_title_match(intent.target_title))
    return _action_call(intent, task_id)


def plan_next_step(input: str | Sequence[Any]) -> Step:
    """The next step for this model input (see the module's note)."""
    items = normalize_input(input)
    user_index = last_user_index(items)
    if user_index is None:
        return Reply(HELP_TEXT)
    intent = parse_intent(message_text(items[user_index]))
    history, steps = items[:user_index], items[user_index + 1 :]
    finished = finished_calls(steps)
    if not finished:
        return _first_step(intent, history)
    last = finished[-1]
    is_lookup = last.name.endswith("list_tasks") and intent.action != "list" and bool(intent.target_title)
    if is_lookup and len(finished) < MAX_TOOL_CALLS_PER_TURN:
        return _after_title_lookup(intent, last)
    return Reply(describe_result(last.name, last.arguments, last.result))
