"""The offline model's phrase grammar: one user message in, one `Intent` out.

Order matters in `parse_intent`: an explicit "add ..." wins (a title may hold
any word), questions ("what/show/list ...") win over verbs, and bare list
words come last. New phrasings go here, with a case in test_offline_phrasings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

__all__ = ["QUOTES", "Action", "Intent", "ListFilter", "parse_intent"]

Action: TypeAlias = Literal["add", "list", "complete", "delete", "update", "help"]
ListFilter: TypeAlias = Literal["all", "pending", "completed"]


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
QUOTES = "\"'“”‘’`"


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
    return title.strip(QUOTES).strip()


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
    title = re.sub(r"^(?:task|todo|item)\s*:?\s+", "", target, flags=_FLAGS).strip(QUOTES).strip()
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
    """Map one user message to an intent (the order is the module's note)."""
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
