"""Reading a task tool's result back out of a `function_call_output` item.

The tools are MCP tools and their results are JSON, but the same JSON reaches
the agent in different wrappings depending on who built the item: the runner
turns MCP text content into `[{"type": "input_text", "text": "<json>"}]`,
and history rebuilt from the database holds the bare result JSON. Anything
that is not JSON is the text of a failure (the SDK reports a tool that raised
as "An error occurred while running the tool...") and is kept as that text,
so a turn records and describes it instead of crashing on it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeAlias

__all__ = ["ParsedOutput", "parse_tool_output"]

ParsedOutput: TypeAlias = dict[str, Any] | list[Any] | str

# JSON inside a text part inside JSON is as deep as real wrappings go; the
# bound only stops a pathological output from recursing without end.
_MAX_UNWRAP_DEPTH = 6
_TEXT_PART_TYPES = {"text", "input_text", "output_text"}


def parse_tool_output(output: Any, _depth: int = 0) -> ParsedOutput:
    """The tool's result (a dict, or a list for several content parts) or,
    when the output is not JSON, its text unchanged."""
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
    try:
        decoded: Any = json.loads(output)
    except ValueError:
        return output
    if isinstance(decoded, (dict, list)):
        return parse_tool_output(decoded, _depth + 1)
    if isinstance(decoded, str) and decoded != output:
        return parse_tool_output(decoded, _depth + 1)
    return output
