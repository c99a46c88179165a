"""Rebuilding the model's input from stored messages, under a token budget.

Earlier tool calls come back as real function_call / function_call_output
items, so the model sees what it did ("mark it done" can find "it"). The
window is cut only at turn boundaries (a user message starts a turn), so a
tool call is never separated from its result.
"""

from __future__ import annotations

import json
from typing import Any

from chatapp.services.messages import StoredMessage

# About four characters a token for English text: a documented estimate, as
# tokenizer encodings cannot be downloaded on an offline machine.
CHARS_PER_TOKEN = 4
ITEM_OVERHEAD_TOKENS = 4


def estimate_tokens(text: str) -> int:
    return ITEM_OVERHEAD_TOKENS + (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN


def message_items(message: StoredMessage) -> list[dict[str, Any]]:
    if message.role == "user":
        return [{"role": "user", "content": message.content}]
    items: list[dict[str, Any]] = []
    for call in message.tool_calls:
        items.append(
            {"type": "function_call", "call_id": call.call_id, "name": call.tool_name,
             "arguments": json.dumps(call.parameters)}
        )
        items.append({"type": "function_call_output", "call_id": call.call_id, "output": json.dumps(call.result)})
    if message.content:
        items.append({"role": "assistant", "content": message.content})
    return items


def item_tokens(item: dict[str, Any]) -> int:
    text = item.get("content") or item.get("arguments") or item.get("output") or ""
    return estimate_tokens(text if isinstance(text, str) else json.dumps(text))


def split_turns(messages: list[StoredMessage]) -> list[list[StoredMessage]]:
    """Group messages into turns; assistant messages before the first user
    message in the window belong to a turn cut off by the window, so they go."""
    turns: list[list[StoredMessage]] = []
    for message in messages:
        if message.role == "user":
            turns.append([message])
        elif turns:
            turns[-1].append(message)
    return turns


def rebuild_history(messages: list[StoredMessage], *, token_budget: int) -> list[dict[str, Any]]:
    """Model input from stored messages (oldest first): whole turns, newest
    kept first, until the budget is spent. The newest turn (the message being
    answered) is always kept."""
    kept: list[list[dict[str, Any]]] = []
    spent = 0
    for turn in reversed(split_turns(messages)):
        items = [item for message in turn for item in message_items(message)]
        cost = sum(item_tokens(item) for item in items)
        if kept and spent + cost > token_budget:
            break
        kept.append(items)
        spent += cost
    return [item for items in reversed(kept) for item in items]
