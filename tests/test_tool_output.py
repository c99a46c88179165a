"""Reading a task tool's result back out of a function_call_output: MCP
results are JSON in any of the wrappings the runner or the database use, and
anything else is kept as text (a failed tool's message)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent
from agents.items import ToolCallItem, ToolCallOutputItem
from openai.types.responses import ResponseFunctionToolCall

from chatapp.agent.assistant import collect_reply
from chatapp.agent.tool_output import parse_tool_output

RESULT = {"task_id": 1, "status": "created", "title": "Buy groceries", "description": None}


@pytest.mark.parametrize(
    "wrapped",
    [
        json.dumps(RESULT),
        RESULT,
        json.dumps({"type": "text", "text": json.dumps(RESULT)}),
        json.dumps([{"type": "text", "text": json.dumps(RESULT)}]),
        [{"type": "input_text", "text": json.dumps(RESULT)}],
        {"type": "text", "text": json.dumps(RESULT)},
    ],
    ids=["json", "dict", "text-part-json", "text-part-list-json", "runner-input-text", "text-part-dict"],
)
def test_parse_tool_output_unwraps_to_the_result(wrapped: Any) -> None:
    assert parse_tool_output(wrapped) == RESULT


def test_parse_tool_output_keeps_error_text() -> None:
    text = "An error occurred while running the tool. Please try again."
    assert parse_tool_output(text) == text


def test_parse_tool_output_keeps_several_parts_as_a_list() -> None:
    parts = [{"type": "text", "text": json.dumps(RESULT)}, {"type": "text", "text": json.dumps({"a": 1})}]
    assert parse_tool_output(json.dumps(parts)) == [RESULT, {"a": 1}]


@pytest.mark.parametrize("text", [str(RESULT), "{not json}", "[1, 2", "{'task_id': 1}"])
def test_non_json_output_is_kept_as_text_not_evaluated(text: str) -> None:
    assert parse_tool_output(text) == text


def test_non_json_text_inside_a_text_part_is_kept_as_text() -> None:
    assert parse_tool_output([{"type": "input_text", "text": "Error: boom"}]) == "Error: boom"


def test_no_output_is_empty_text() -> None:
    assert parse_tool_output(None) == ""


def test_endlessly_nested_json_strings_stop_unwrapping() -> None:
    nested: Any = RESULT
    for _ in range(20):
        nested = json.dumps(nested)
    assert isinstance(parse_tool_output(nested), (dict, str))


def test_a_turn_records_a_non_json_tool_output_as_its_text() -> None:
    agent: Agent[Any] = Agent(name="test")
    call = ResponseFunctionToolCall(call_id="c1", name="add_task", arguments='{"title": "Milk"}', type="function_call")
    output = {"type": "function_call_output", "call_id": "c1", "output": "Error: boom"}
    reply = collect_reply(
        [ToolCallItem(agent=agent, raw_item=call), ToolCallOutputItem(agent=agent, raw_item=output, output="Error: boom")],
        "Sorry, that didn't work: Error: boom",
    )
    assert [(c.tool_name, c.parameters, c.result) for c in reply.tool_calls] == [("add_task", {"title": "Milk"}, "Error: boom")]
