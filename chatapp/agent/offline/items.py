"""Reading the model input: the runner hands the model a list of items
(messages, function calls and their outputs) as dicts or pydantic models;
the planner only ever sees plain dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from chatapp.agent.assistant import parse_arguments
from chatapp.agent.tool_output import ParsedOutput, parse_tool_output

__all__ = [
    "FinishedCall", "Item", "finished_calls", "is_message", "last_user_index", "message_text", "normalize_input",
]

Item: TypeAlias = dict[str, Any]

_TEXT_PART_TYPES = {"text", "input_text", "output_text"}


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


def message_text(item: Item) -> str:
    """Text of a message whose content is a string or a list of text parts."""
    content = item.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [_as_dict(part) for part in content]
        return "".join(str(part.get("text") or "") for part in parts if part.get("type") in _TEXT_PART_TYPES)
    return ""


def is_message(item: Item, role: str) -> bool:
    return item.get("role") == role and item.get("type") in (None, "message")


def last_user_index(items: Sequence[Item]) -> int | None:
    for index in range(len(items) - 1, -1, -1):
        if is_message(items[index], "user"):
            return index
    return None


@dataclass(frozen=True)
class FinishedCall:
    """One tool call made earlier in this turn, with its parsed result."""

    name: str
    arguments: dict[str, Any]
    result: ParsedOutput


def finished_calls(steps: Sequence[Item]) -> list[FinishedCall]:
    """This turn's tool calls that have an output, in order."""
    calls = {str(item.get("call_id")): item for item in steps if item.get("type") == "function_call"}
    finished: list[FinishedCall] = []
    for item in steps:
        if item.get("type") != "function_call_output":
            continue
        call = calls.get(str(item.get("call_id")), {})
        finished.append(
            FinishedCall(
                name=str(call.get("name") or ""),
                arguments=parse_arguments(call.get("arguments")),
                result=parse_tool_output(item.get("output")),
            )
        )
    return finished
