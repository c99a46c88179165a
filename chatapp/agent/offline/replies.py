"""Everything the offline model says, written only from what the tools
returned. The confirmations are templates, and `CONFIRMED_TASK` is built
from them, so a reworded confirmation still tells "it" which task it named."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chatapp.agent.tool_output import ParsedOutput

__all__ = [
    "ASK_NEW_TITLE", "ASK_TITLE", "CONFIRMATIONS", "CONFIRMED_TASK", "HELP_TEXT", "ask_which_task",
    "confirmed_task_id", "describe_result", "error_text", "format_task_list", "no_title_match", "tasks_of",
]

HELP_TEXT = (
    "Hi! I can manage your to-do list. Try:\n"
    '- "Add task: Buy groceries"\n'
    '- "Show my pending tasks"\n'
    '- "Mark task 1 as done"\n'
    '- "Rename task 1 to Buy oat milk"\n'
    '- "Delete task 1"'
)
ASK_TITLE = 'What should the task say? For example: "Add task: Buy groceries".'
ASK_NEW_TITLE = 'What should I rename it to? For example: "Rename task 1 to Buy oat milk".'

# What a successful single-task call says, by the result's status ("renamed"
# is an update that changed the title).
CONFIRMATIONS: dict[str, str] = {
    "created": "I've added task {task_id}: {title}.",
    "completed": "Marked task {task_id} as done: {title}.",
    "deleted": "Deleted task {task_id}: {title}.",
    "renamed": "Renamed task {task_id} to {title}.",
    "updated": "Updated task {task_id}: {title}.",
}

# Only confirmations name exactly one task (help text and questions mention
# example numbers): the start of any confirmation, up to its task number.
CONFIRMED_TASK = re.compile(
    "^(?:" + "|".join(re.escape(template.split("{task_id}")[0]) for template in CONFIRMATIONS.values()) + r")(\d+)\b"
)


def confirmed_task_id(text: str) -> int | None:
    """The task one of our own confirmations named, if `text` is one."""
    confirmed = CONFIRMED_TASK.match(text.strip())
    return int(confirmed.group(1)) if confirmed else None


def ask_which_task(verb: str) -> str:
    return f'Which task do you mean? Tell me its number, for example "{verb} task 2".'


def no_title_match(title: str | None) -> str:
    return f'I couldn\'t find a task matching "{title}".'


def error_text(text: str) -> str:
    return f"Sorry, that didn't work: {text.strip()}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def tasks_of(result: ParsedOutput) -> list[dict[str, Any]]:
    """The tasks a list_tasks result holds; none for any other result."""
    if isinstance(result, dict) and isinstance(result.get("tasks"), list):
        return [task for task in result["tasks"] if isinstance(task, dict)]
    return []


def format_task_list(result: Mapping[str, Any]) -> str:
    """A Markdown checklist headed by how many tasks the filter matched."""
    tasks = tasks_of(dict(result))
    status = str(result.get("filter") or result.get("status_filter") or "all")
    kind = f"{status} " if status in ("pending", "completed") else ""
    if not tasks:
        return f"You have no {kind}tasks." if kind else "Your list is empty."
    lines = [
        f"- [{'x' if task.get('completed') else ' '}] {task.get('task_id')}. {task.get('title')}"
        for task in tasks
    ]
    return f"You have {_plural(len(tasks), kind + 'task')}:\n" + "\n".join(lines)


def _describe_one(result: Mapping[str, Any], arguments: Mapping[str, Any]) -> str:
    task_id, title, status = result.get("task_id"), result.get("title"), result.get("status")
    if status == "error":
        if result.get("error") == "not_found":
            return f"I couldn't find task {task_id if task_id is not None else arguments.get('task_id')}."
        return error_text(str(result.get("message") or result.get("error") or "unknown error"))
    if "tasks" in result:
        return format_task_list(result)
    if status not in ("created", "completed", "deleted", "updated"):
        return "Done."
    template = CONFIRMATIONS["renamed" if status == "updated" and "title" in arguments else str(status)]
    return template.format(task_id=task_id, title=title)


def describe_result(tool_name: str, arguments: Mapping[str, Any], result: ParsedOutput) -> str:
    """The reply for a tool result: written only from what the tool said."""
    if isinstance(result, str):
        return error_text(result) if result.strip() else "Done."
    if isinstance(result, list):
        parts = [describe_result(tool_name, arguments, part) for part in result]
        return "\n".join(part for part in parts if part) or "Done."
    return _describe_one(result, arguments)
