"""A deterministic, network-free stand-in for an LLM.

Without an API key the app still has to behave like a real assistant: the
agent runner must see genuine tool calls (so the MCP tools really run and the
turn is recorded like any other) and the reply must be written from what the
tools returned, not from what the model guessed. `OfflineModel` does that with
a small phrase grammar: each call it reads the conversation, decides the next
step (one tool call, or the final reply) and answers in the Responses format
the Agents SDK expects, streamed or not.

Every call is a pure function of its input, so replaying the same history gives
the same step; ids are derived from a hash of the whole input, so they differ
from one turn (or step) to the next.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import hashlib
import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, cast

from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.usage import Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

__all__ = [
    "HELP_TEXT",
    "Intent",
    "OfflineModel",
    "Reply",
    "ToolCall",
    "describe_result",
    "find_task_by_title",
    "format_task_list",
    "last_mentioned_task_id",
    "normalize_input",
    "parse_intent",
    "parse_tool_output",
    "plan_next_step",
    "stream_events",
]

Action: TypeAlias = Literal["add", "list", "complete", "delete", "update", "help"]
ListFilter: TypeAlias = Literal["all", "pending", "completed"]
Item: TypeAlias = dict[str, Any]
ParsedOutput: TypeAlias = dict[str, Any] | list[Any] | str

MODEL_NAME = "offline-task-model"
# A title lookup needs two calls; anything beyond this is a loop, so reply.
MAX_TOOL_CALLS_PER_TURN = 3
_MAX_UNWRAP_DEPTH = 6
_TEXT_PART_TYPES = {"text", "input_text", "output_text"}

HELP_TEXT = (
    "Hi! I can manage your to-do list. Try:\n"
    '- "Add task: Buy groceries"\n'
    '- "Show my pending tasks"\n'
    '- "Mark task 1 as done"\n'
    '- "Rename task 1 to Buy oat milk"\n'
    '- "Delete task 1"'
)


# --------------------------------------------------------------------------- #
# What the person asked for
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Intent:
    """One parsed request. A task is named by `task_id`, by `target_title`
    (looked up with list_tasks first) or as "it" (`refers_to_last`)."""

    action: Action
    task_id: int | None = None
    target_title: str | None = None
    refers_to_last: bool = False
    title: str | None = None  # add: the new task's title; update: the new title
    description: str | None = None  # update: the new description
    status: ListFilter = "all"  # list: which tasks

    @property
    def names_a_task(self) -> bool:
        """Whether the request identified its task in any way at all."""
        return self.task_id is not None or self.refers_to_last or bool(self.target_title)


_FLAGS = re.IGNORECASE
_LEADING_POLITENESS = re.compile(
    r"^(?:(?:hey|ok|okay|so|now|and|also|then)\b[\s,]*|"
    r"(?:please|pls|kindly)\b[\s,]*|"
    r"(?:can|could|would|will)\s+you\s+(?:please\s+)?)",
    _FLAGS,
)
_TRAILING_POLITENESS = re.compile(r"[\s,]*\b(?:please|pls|thanks|thank you|for me|now)$", _FLAGS)
_TRAILING_PUNCTUATION = re.compile(r"[\s.!?…]+$")

_ADD_PATTERNS = [
    re.compile(
        r"^(?:add|create|new)\b\s*(?:a\s+|an\s+|one\s+)?(?:new\s+)?"
        r"(?:(?:task|todo|to-do|item|reminder)\b)?\s*"
        r"(?:(?:called|named|titled|to|for)\s+)?[:\-]?\s*(?P<title>.*)$",
        _FLAGS,
    ),
    re.compile(r"^(?:remind me to|remember to|don'?t let me forget to)\s+(?P<title>.+)$", _FLAGS),
]
_RENAME_PATTERN = re.compile(
    r"^(?:rename|change|update|edit|retitle)\s+(?P<target>.+?)\s+"
    r"(?:(?P<field>title|name|description|details|notes?)\s+)?(?:to|into)\s*:?\s+(?P<value>.+)$",
    _FLAGS,
)
_FIELD_OF_PREFIX = re.compile(r"^(?:the\s+)?(?P<field>title|name|description|details|notes?)\s+of\s+", _FLAGS)
_LIST_VERB = re.compile(r"^(?:list|show|display|view|give me|tell me)\b", _FLAGS)
_LIST_QUESTION = re.compile(r"^(?:what|whats|which|how many|do i have|are there|is there)\b", _FLAGS)
_LIST_QUESTION_CONTEXT = re.compile(r"\b(?:on my|have i|did i|to do|should i)\b", _FLAGS)
_LIST_WORDS = re.compile(
    r"\b(?:tasks?|todos?|to-dos?|list|pending|completed|remaining|left|done|finished)\b", _FLAGS
)
_DELETE_PATTERN = re.compile(
    r"^(?:delete|remove|erase|drop|trash|get rid of|discard)\s+(?P<target>.+)$", _FLAGS
)
_DONE_WORDS = r"(?:done|complete|completed|finished)"
_COMPLETE_PATTERNS = [
    re.compile(rf"^(?:mark|set|flag)\s+(?P<target>.+?)\s+(?:as\s+)?{_DONE_WORDS}$", _FLAGS),
    re.compile(r"^(?:complete|finish|check off|tick off|cross off|close)\s+(?P<target>.+)$", _FLAGS),
    re.compile(r"^(?:i(?:'m| am)\s+)?done with\s+(?P<target>.+)$", _FLAGS),
    re.compile(r"^i(?:'ve| have)?\s+(?:finished|completed|done)\s+(?P<target>.+)$", _FLAGS),
    re.compile(rf"^(?P<target>.+?)\s+(?:is|are)\s+(?:now\s+)?{_DONE_WORDS}$", _FLAGS),
    re.compile(rf"^(?P<target>(?:task\s*)?#?\d+|it|that)\s+{_DONE_WORDS}$", _FLAGS),
]
_PENDING_WORDS = re.compile(
    r"\b(?:pending|left|remaining|incomplete|open|outstanding|unfinished|undone|"
    r"not (?:yet )?(?:done|completed|finished)|still to do)\b",
    _FLAGS,
)
_COMPLETED_WORDS = re.compile(r"\b(?:completed|complete|done|finished|ticked off|checked off)\b", _FLAGS)
_IT_WORDS = re.compile(
    r"^(?:it|that|this|that one|this one|that task|this task|the task|the last one|"
    r"the last task|last one|the one i just added)$",
    _FLAGS,
)
_TASK_NUMBER = re.compile(r"^(?:task|todo|item|number|no\.?)?\s*(?:#|number\s+)?(?P<id>\d+)$", _FLAGS)
_LIST_SUFFIX = re.compile(
    r"\s+(?:to|from|off|on|in)\s+(?:my|the)\s+(?:to-?do\s+|task\s+)?(?:list|tasks)$", _FLAGS
)
_LIST_PREFIX_FOR_TITLE = re.compile(r"^(?:to|on)\s+(?:my|the)\s+(?:to-?do\s+|task\s+)?list\s*:?\s*", _FLAGS)
_QUOTES = "\"'“”‘’`"


def _strip_politeness(text: str) -> str:
    """Drop "please", "can you", trailing "thanks" and punctuation so the
    grammar only sees the request itself."""
    text = text.strip()
    previous = None
    while previous != text:
        previous = text
        text = _TRAILING_PUNCTUATION.sub("", text)
        text = _TRAILING_POLITENESS.sub("", text)
        text = _LEADING_POLITENESS.sub("", text).strip()
    return text


def _clean_title(raw: str) -> str:
    """The task's title as the person wrote it, minus list/quote noise."""
    title = _LIST_SUFFIX.sub("", raw.strip())
    title = _LIST_PREFIX_FOR_TITLE.sub("", title)
    title = _TRAILING_PUNCTUATION.sub("", title).strip()
    return title.strip(_QUOTES).strip()


def _parse_target(raw: str) -> tuple[int | None, bool, str | None]:
    """Read how a request names its task: (task_id, refers_to_last, title)."""
    target = _clean_title(raw)
    target = re.sub(r"^(?:the|my)\s+", "", target, flags=_FLAGS)
    target = re.sub(r"\s+(?:task|item|todo|one)$", "", target, flags=_FLAGS).strip()
    if _IT_WORDS.match(target) or target.lower() in {"it", "that", "this", "last", "task", ""}:
        return None, True, None
    number = _TASK_NUMBER.match(target)
    if number:
        return int(number.group("id")), False, None
    title = re.sub(r"^(?:task|todo|item)\s*:?\s+", "", target, flags=_FLAGS).strip(_QUOTES).strip()
    return None, False, title or None


def _intent_for_target(action: Action, raw_target: str, **extra: Any) -> Intent:
    task_id, refers_to_last, title = _parse_target(raw_target)
    return Intent(action, task_id=task_id, refers_to_last=refers_to_last, target_title=title, **extra)


def _list_filter(text: str) -> ListFilter:
    """"what's left" means pending; "what have I done" means completed."""
    if _PENDING_WORDS.search(text):
        return "pending"
    if _COMPLETED_WORDS.search(text):
        return "completed"
    return "all"


def _parse_add(text: str) -> Intent | None:
    for pattern in _ADD_PATTERNS:
        match = pattern.match(text)
        if match:
            return Intent("add", title=_clean_title(match.group("title")))
    return None


def _parse_rename(text: str) -> Intent | None:
    match = _RENAME_PATTERN.match(text)
    if not match:
        return None
    target, field_name = match.group("target"), match.group("field")
    field_prefix = _FIELD_OF_PREFIX.match(target)
    if field_prefix:
        field_name = field_name or field_prefix.group("field")
        target = target[field_prefix.end() :]
    value = _clean_title(match.group("value"))
    if field_name and field_name.lower() in {"description", "details", "note", "notes"}:
        return _intent_for_target("update", target, description=value)
    return _intent_for_target("update", target, title=value)


def _parse_complete(text: str) -> Intent | None:
    for pattern in _COMPLETE_PATTERNS:
        match = pattern.match(text)
        if match:
            return _intent_for_target("complete", match.group("target"))
    return None


def _parse_delete(text: str) -> Intent | None:
    match = _DELETE_PATTERN.match(text)
    return _intent_for_target("delete", match.group("target")) if match else None


def _is_list_question(text: str) -> bool:
    """"show ..." always lists; "what ..." only when it is about tasks, so
    "what's up?" gets the help reply instead."""
    if _LIST_VERB.match(text):
        return True
    return bool(_LIST_QUESTION.match(text)) and bool(
        _LIST_WORDS.search(text) or _LIST_QUESTION_CONTEXT.search(text)
    )


def _parse_list(text: str, *, keywords_only: bool) -> Intent | None:
    is_list = bool(_LIST_WORDS.search(text)) if keywords_only else _is_list_question(text)
    return Intent("list", status=_list_filter(text)) if is_list else None


def parse_intent(message: str) -> Intent:
    """Map one user message to an intent. Order matters: explicit "add ..."
    wins (its title may contain any word), questions ("what/show/list ...")
    win over verbs, and bare list words come last."""
    # One line: a title typed over two lines (Shift+Enter) is still one title.
    text = _strip_politeness(" ".join(message.split()))
    if not text:
        return Intent("help")
    for parse in (
        _parse_add,
        _parse_rename,
        lambda t: _parse_list(t, keywords_only=False),
        _parse_delete,
        _parse_complete,
        lambda t: _parse_list(t, keywords_only=True),
    ):
        intent = parse(text)
        if intent is not None:
            return intent
    return Intent("help")


# --------------------------------------------------------------------------- #
# Reading the input items
# --------------------------------------------------------------------------- #


def _as_dict(item: Any) -> Item:
    """The runner passes dicts or pydantic models; treat them all as dicts."""
    if isinstance(item, Mapping):
        return dict(item)
    model_dump = getattr(item, "model_dump", None)
    if callable(model_dump):
        dumped = model_dump()
        if isinstance(dumped, Mapping):
            return dict(dumped)
    return {"role": "user", "content": str(item)}


def normalize_input(input: str | Sequence[Any]) -> list[Item]:
    """The model input as a list of plain dict items, oldest first."""
    if isinstance(input, str):
        return [{"role": "user", "content": input}]
    return [_as_dict(item) for item in input]


def _message_text(item: Item) -> str:
    """Text of a message whose content is a string or a list of text parts."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_as_dict(part) for part in content]
        return "".join(str(part.get("text") or "") for part in parts if part.get("type") in _TEXT_PART_TYPES)
    return ""


def _is_message(item: Item, role: str) -> bool:
    return item.get("role") == role and item.get("type") in (None, "message")


def _last_user_index(items: Sequence[Item]) -> int | None:
    for index in range(len(items) - 1, -1, -1):
        if _is_message(items[index], "user"):
            return index
    return None


def _parse_arguments(arguments: Any) -> dict[str, Any]:
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        decoded = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}


def _looks_like_python_literal(text: str) -> bool:
    return text[:1] in "{[" and text[-1:] in "}]"


def parse_tool_output(output: Any, _depth: int = 0) -> ParsedOutput:
    """Unwrap a function_call_output's `output` down to the tool's result.

    The same MCP result reaches us in several wrappings depending on who built
    the item: the runner turns MCP text content into
    `[{"type": "input_text", "text": "<json>"}]`, the database may hold the
    JSON of `{"type": "text", "text": "<json>"}` (or a list of those, or the
    bare result JSON), a plain function tool returning a dict is stringified
    with `str()` (a Python repr), and a failing tool yields free error text.
    Returns the result dict/list, or the text when it is not structured.
    """
    if _depth > _MAX_UNWRAP_DEPTH:
        return output if isinstance(output, (dict, list, str)) else str(output)
    if hasattr(output, "model_dump") and not isinstance(output, Mapping):
        output = output.model_dump()
    if isinstance(output, Mapping):
        if output.get("type") in _TEXT_PART_TYPES and isinstance(output.get("text"), str):
            return parse_tool_output(output["text"], _depth + 1)
        return dict(output)
    if isinstance(output, (list, tuple)):
        parsed = [parse_tool_output(part, _depth + 1) for part in output]
        return parsed[0] if len(parsed) == 1 else parsed
    if output is None:
        return ""
    if not isinstance(output, str):
        return str(output)
    text = output.strip()
    try:
        decoded: Any = json.loads(text)
    except ValueError:
        decoded = None
        if _looks_like_python_literal(text):
            try:
                decoded = ast.literal_eval(text)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                decoded = None
    if isinstance(decoded, (dict, list)):
        return parse_tool_output(decoded, _depth + 1)
    if isinstance(decoded, str) and decoded != output:
        return parse_tool_output(decoded, _depth + 1)
    return output


def _task_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _is_error(result: ParsedOutput) -> bool:
    return isinstance(result, str) or (isinstance(result, dict) and result.get("status") == "error")


def _single_task_id(result: ParsedOutput) -> int | None:
    """The one task a tool result is about, if it is about exactly one."""
    if isinstance(result, list):
        ids = {task_id for part in result if (task_id := _single_task_id(part)) is not None}
        return ids.pop() if len(ids) == 1 else None
    if not isinstance(result, dict) or _is_error(result):
        return None
    tasks = result.get("tasks")
    if isinstance(tasks, list):
        return _task_id(tasks[0].get("task_id")) if len(tasks) == 1 and isinstance(tasks[0], dict) else None
    return _task_id(result.get("task_id"))


# Our own confirmations ("I've added task 3: ...") name exactly one task; help
# text and questions mention example numbers, so only these count.
_CONFIRMED_TASK = re.compile(r"^(?:I've added|Marked|Deleted|Renamed|Updated) task (\d+)\b")


def last_mentioned_task_id(history: Sequence[Item]) -> int | None:
    """The task "it" means: the most recent tool result (or call) about one
    task. Failed calls and multi-task lists are skipped. Histories saved
    without tool items fall back to the last assistant confirmation."""
    failed_calls: set[str] = set()
    for item in reversed(history):
        kind = item.get("type")
        if kind == "function_call_output":
            result = parse_tool_output(item.get("output"))
            if _is_error(result):
                failed_calls.add(str(item.get("call_id")))
                continue
            task_id = _single_task_id(result)
            if task_id is not None:
                return task_id
        elif kind == "function_call" and str(item.get("call_id")) not in failed_calls:
            task_id = _task_id(_parse_arguments(item.get("arguments")).get("task_id"))
            if task_id is not None:
                return task_id
    for item in reversed(history):
        if _is_message(item, "assistant"):
            confirmed = _CONFIRMED_TASK.match(_message_text(item).strip())
            if confirmed:
                return int(confirmed.group(1))
    return None


# --------------------------------------------------------------------------- #
# Deciding the next step
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ToolCall:
    """The next step is a tool call; the runner executes it and calls back."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """The next step is the final answer; the turn ends with it."""

    text: str


Step: TypeAlias = ToolCall | Reply


@dataclass(frozen=True)
class _Done:
    """One tool call made earlier in this turn, with its parsed result."""

    name: str
    arguments: dict[str, Any]
    result: ParsedOutput


def _turn_results(steps: Sequence[Item]) -> list[_Done]:
    """This turn's tool calls that have an output, in order."""
    calls = {
        str(item.get("call_id")): item for item in steps if item.get("type") == "function_call"
    }
    done: list[_Done] = []
    for item in steps:
        if item.get("type") != "function_call_output":
            continue
        call = calls.get(str(item.get("call_id")), {})
        done.append(
            _Done(
                name=str(call.get("name") or ""),
                arguments=_parse_arguments(call.get("arguments")),
                result=parse_tool_output(item.get("output")),
            )
        )
    return done


_VERBS: dict[Action, str] = {"complete": "complete", "delete": "delete", "update": "rename"}


def _ask_which_task(intent: Intent) -> Reply:
    verb = _VERBS.get(intent.action, "change")
    return Reply(f'Which task do you mean? Tell me its number, for example "{verb} task 2".')


def _action_call(intent: Intent, task_id: int) -> Step:
    if intent.action == "complete":
        return ToolCall("complete_task", {"task_id": task_id})
    if intent.action == "delete":
        return ToolCall("delete_task", {"task_id": task_id})
    arguments: dict[str, Any] = {"task_id": task_id}
    if intent.title is not None:
        arguments["title"] = intent.title
    if intent.description is not None:
        arguments["description"] = intent.description
    return ToolCall("update_task", arguments)


def _first_step(intent: Intent, history: Sequence[Item]) -> Step:
    """The first tool call for a request (or a reply when none is needed)."""
    if intent.action == "help":
        return Reply(HELP_TEXT)
    if intent.action == "add":
        if not intent.title:
            return Reply('What should the task say? For example: "Add task: Buy groceries".')
        return ToolCall("add_task", {"title": intent.title})
    if intent.action == "list":
        return ToolCall("list_tasks", {"status": intent.status})
    if intent.action == "update" and not (intent.title or intent.description):
        return Reply('What should I rename it to? For example: "Rename task 1 to Buy oat milk".')
    if intent.task_id is not None:
        return _action_call(intent, intent.task_id)
    if intent.target_title:
        return ToolCall("list_tasks", {"status": "all"})
    task_id = last_mentioned_task_id(history) if intent.refers_to_last else None
    return _action_call(intent, task_id) if task_id is not None else _ask_which_task(intent)


def _tasks_of(result: ParsedOutput) -> list[dict[str, Any]]:
    if isinstance(result, dict) and isinstance(result.get("tasks"), list):
        return [task for task in result["tasks"] if isinstance(task, dict)]
    return []


def find_task_by_title(tasks: Sequence[Mapping[str, Any]], query: str, *, prefer_pending: bool) -> int | None:
    """Best title match, case-insensitive: exact, then the query inside a
    title, then a title inside the query. Ties go to pending tasks when
    completing (completing a finished task again helps nobody)."""
    wanted = query.strip().strip(_QUOTES).casefold()
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
            task_id = _task_id(task.get("task_id"))
            if task_id is not None:
                return task_id
    return None


def _after_title_lookup(intent: Intent, lookup: _Done) -> Step:
    if isinstance(lookup.result, str):
        return Reply(_error_text(lookup.result))
    task_id = find_task_by_title(
        _tasks_of(lookup.result), intent.target_title or "", prefer_pending=intent.action == "complete"
    )
    if task_id is None:
        return Reply(f'I couldn\'t find a task matching "{intent.target_title}".')
    return _action_call(intent, task_id)


def plan_next_step(input: str | Sequence[Any]) -> Step:
    """Decide the next step from the whole model input: the request is the
    last user message, and the items after it are this turn's work so far."""
    items = normalize_input(input)
    user_index = _last_user_index(items)
    if user_index is None:
        return Reply(HELP_TEXT)
    intent = parse_intent(_message_text(items[user_index]))
    history, steps = items[:user_index], items[user_index + 1 :]
    done = _turn_results(steps)
    if not done:
        return _first_step(intent, history)
    last = done[-1]
    is_lookup = last.name.endswith("list_tasks") and intent.action != "list" and bool(intent.target_title)
    if is_lookup and len(done) < MAX_TOOL_CALLS_PER_TURN:
        return _after_title_lookup(intent, last)
    return Reply(describe_result(last.name, last.arguments, last.result))


# --------------------------------------------------------------------------- #
# Writing the reply from tool results
# --------------------------------------------------------------------------- #


def _error_text(text: str) -> str:
    return f"Sorry, that didn't work: {text.strip()}"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def format_task_list(result: Mapping[str, Any]) -> str:
    """A Markdown checklist headed by how many tasks the filter matched."""
    tasks = _tasks_of(dict(result))
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
        return _error_text(str(result.get("message") or result.get("error") or "unknown error"))
    if "tasks" in result:
        return format_task_list(result)
    if status == "created":
        return f"I've added task {task_id}: {title}."
    if status == "completed":
        return f"Marked task {task_id} as done: {title}."
    if status == "deleted":
        return f"Deleted task {task_id}: {title}."
    if status == "updated":
        if "title" in arguments:
            return f"Renamed task {task_id} to {title}."
        return f"Updated task {task_id}: {title}."
    return "Done."


def describe_result(tool_name: str, arguments: Mapping[str, Any], result: ParsedOutput) -> str:
    """The reply for a tool result: written only from what the tool said."""
    if isinstance(result, str):
        return _error_text(result) if result.strip() else "Done."
    if isinstance(result, list):
        parts = [describe_result(tool_name, arguments, part) for part in result]
        return "\n".join(part for part in parts if part) or "Done."
    return _describe_one(result, arguments)


# --------------------------------------------------------------------------- #
# The SDK model
# --------------------------------------------------------------------------- #


def _digest(items: Sequence[Item]) -> str:
    """Stable hash of the whole input: the same input gives the same ids, and
    a longer (later) input gives new ones."""
    encoded = json.dumps(items, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _resolve_tool_name(name: str, tools: Iterable[Tool]) -> str:
    """Use the agent's own spelling of the tool when it is prefixed
    (e.g. "tasks_add_task"); otherwise the plain MCP name."""
    names = [str(getattr(tool, "name", "")) for tool in tools]
    if name in names:
        return name
    suffixed = [candidate for candidate in names if candidate.endswith(f"_{name}") or candidate.endswith(f".{name}")]
    return suffixed[0] if len(suffixed) == 1 else name


def _output_item(step: Step, digest: str, tools: Iterable[Tool]) -> TResponseOutputItem:
    if isinstance(step, ToolCall):
        return ResponseFunctionToolCall(
            id=f"fc_{digest[:24]}",
            call_id=f"call_{digest[:24]}",
            type="function_call",
            name=_resolve_tool_name(step.name, tools),
            arguments=json.dumps(step.arguments, ensure_ascii=False),
            status="completed",
        )
    return ResponseOutputMessage(
        id=f"msg_{digest[:24]}",
        type="message",
        role="assistant",
        status="completed",
        content=[ResponseOutputText(text=step.text, annotations=[], type="output_text", logprobs=[])],
    )


def _text_chunks(text: str) -> list[str]:
    """Word-ish pieces (each word with its trailing whitespace) that
    concatenate back to exactly `text`."""
    return re.findall(r"\s*\S+\s*", text) or [text]


def _response(digest: str, output: list[TResponseOutputItem], *, completed: bool) -> Response:
    return Response(
        id=f"resp_{digest[:24]}",
        created_at=0,
        model=MODEL_NAME,
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status="completed" if completed else "in_progress",
    )


def _function_call_events(item: ResponseFunctionToolCall, seq: int) -> list[TResponseStreamEvent]:
    item_id = item.id or item.call_id
    return [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
            output_index=0,
            sequence_number=seq,
        ),
        ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta",
            item_id=item_id,
            output_index=0,
            delta=item.arguments,
            sequence_number=seq + 1,
        ),
        # `name` is required by older openai releases and kept as an extra by newer ones.
        ResponseFunctionCallArgumentsDoneEvent.model_validate(
            {
                "type": "response.function_call_arguments.done",
                "item_id": item_id,
                "output_index": 0,
                "arguments": item.arguments,
                "name": item.name,
                "sequence_number": seq + 2,
            }
        ),
    ]


def _message_events(item: ResponseOutputMessage, seq: int) -> list[TResponseStreamEvent]:
    part = cast(ResponseOutputText, item.content[0])
    events: list[TResponseStreamEvent] = [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=0,
            sequence_number=seq,
        ),
        ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=item.id,
            output_index=0,
            content_index=0,
            part=part.model_copy(update={"text": "", "annotations": [], "logprobs": []}),
            sequence_number=seq + 1,
        ),
    ]
    seq += 2
    for chunk in _text_chunks(part.text):
        events.append(
            ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=item.id,
                output_index=0,
                content_index=0,
                delta=chunk,
                logprobs=[],
                sequence_number=seq,
            )
        )
        seq += 1
    events += [
        ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=item.id,
            output_index=0,
            content_index=0,
            text=part.text,
            logprobs=[],
            sequence_number=seq,
        ),
        ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=item.id,
            output_index=0,
            content_index=0,
            part=copy.deepcopy(part),
            sequence_number=seq + 1,
        ),
    ]
    return events


def stream_events(item: TResponseOutputItem, digest: str) -> list[TResponseStreamEvent]:
    """The Responses stream a real model would send for one output item:
    created, in_progress, item added, argument or text deltas, done events,
    then response.completed carrying the full output (what the runner reads)."""
    pending = _response(digest, [], completed=False)
    events: list[TResponseStreamEvent] = [
        ResponseCreatedEvent(type="response.created", response=pending, sequence_number=0),
        ResponseInProgressEvent(
            type="response.in_progress", response=pending.model_copy(), sequence_number=1
        ),
    ]
    if isinstance(item, ResponseFunctionToolCall):
        events += _function_call_events(item, len(events))
    else:
        events += _message_events(cast(ResponseOutputMessage, item), len(events))
    events.append(
        ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=copy.deepcopy(item),
            output_index=0,
            sequence_number=len(events),
        )
    )
    events.append(
        ResponseCompletedEvent(
            type="response.completed",
            response=_response(digest, [item], completed=True),
            sequence_number=len(events),
        )
    )
    return events


class OfflineModel(Model):
    """An Agents SDK `Model` that never leaves the process: it plans one
    step per call with `plan_next_step` and answers in Responses format.

    `stream_delay_ms` paces streamed text deltas like a real model's tokens
    (OFFLINE_STREAM_DELAY_MS), so streaming and Stop can be seen and tested;
    it is 0 by default."""

    def __init__(self, stream_delay_ms: int = 0) -> None:
        self.stream_delay = max(stream_delay_ms, 0) / 1000

    def _next_output(self, input: str | list[TResponseInputItem], tools: list[Tool]) -> tuple[TResponseOutputItem, str]:
        items = normalize_input(input)
        digest = _digest(items)
        return _output_item(plan_next_step(items), digest, tools), digest

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
        **kwargs: Any,
    ) -> ModelResponse:
        item, _ = self._next_output(input, tools)
        return ModelResponse(output=[item], usage=Usage(), response_id=None)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        item, digest = self._next_output(input, tools)
        for event in stream_events(item, digest):
            if self.stream_delay and isinstance(event, ResponseTextDeltaEvent):
                await asyncio.sleep(self.stream_delay)
            yield event
