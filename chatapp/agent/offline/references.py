"""Which task a request means when it does not give a number: "it" (the
task the conversation last talked about) or a title ("mark call mom done")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chatapp.agent.assistant import parse_arguments
from chatapp.agent.offline.grammar import QUOTES
from chatapp.agent.offline.items import Item, is_message, message_text
from chatapp.agent.offline.replies import confirmed_task_id
from chatapp.agent.tool_output import ParsedOutput, parse_tool_output

__all__ = ["as_task_id", "find_task_by_title", "is_error", "last_mentioned_task_id"]


def as_task_id(value: Any) -> int | None:
    """A task id as a tool result or argument spells it (7 or "7"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def is_error(result: ParsedOutput) -> bool:
    return isinstance(result, str) or (isinstance(result, dict) and result.get("status") == "error")


def _single_task_id(result: ParsedOutput) -> int | None:
    """The one task a tool result is about, if it is about exactly one."""
    if isinstance(result, list):
        ids = {task_id for part in result if (task_id := _single_task_id(part)) is not None}
        return ids.pop() if len(ids) == 1 else None
    if not isinstance(result, dict) or is_error(result):
        return None
    tasks = result.get("tasks")
    if isinstance(tasks, list):
        return as_task_id(tasks[0].get("task_id")) if len(tasks) == 1 and isinstance(tasks[0], dict) else None
    return as_task_id(result.get("task_id"))


def last_mentioned_task_id(history: Sequence[Item]) -> int | None:
    """The task "it" means: the most recent tool result (or call) about one
    task. Failed calls and multi-task lists are skipped. Histories saved
    without tool items fall back to the last assistant confirmation."""
    failed_calls: set[str] = set()
    for item in reversed(history):
        kind = item.get("type")
        if kind == "function_call_output":
            result = parse_tool_output(item.get("output"))
            if is_error(result):
                failed_calls.add(str(item.get("call_id")))
                continue
            task_id = _single_task_id(result)
            if task_id is not None:
                return task_id
        elif kind == "function_call" and str(item.get("call_id")) not in failed_calls:
            task_id = as_task_id(parse_arguments(item.get("arguments")).get("task_id"))
            if task_id is not None:
                return task_id
    for item in reversed(history):
        if is_message(item, "assistant"):
            task_id = confirmed_task_id(message_text(item))
            if task_id is not None:
                return task_id
    return None


def find_task_by_title(tasks: Sequence[Mapping[str, Any]], query: str, *, prefer_pending: bool) -> int | None:
    """Best title match, case-insensitive: exact, then the query inside a
    title, then a title inside the query. Ties go to pending tasks when
    completing (completing a finished task again helps nobody)."""
    wanted = query.strip().strip(QUOTES).casefold()
    if not wanted:
        return None

    def title(task: Mapping[str, Any]) -> str:
        return str(task.get("title") or "").strip().casefold()

    tiers = (
        [task for task in tasks if title(task) == wanted],
        [task for task in tasks if wanted in title(task)],
        [task for task in tasks if title(task) and title(task) in wanted],
    )
    for tier in tiers:
        if prefer_pending:
            tier = sorted(tier, key=lambda task: bool(task.get("completed")))
        for task in tier:
            task_id = as_task_id(task.get("task_id"))
            if task_id is not None:
                return task_id
    return None
