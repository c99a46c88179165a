"""The task assistant: an Agents SDK `Agent` whose only tools are the MCP
task server's, run on a window of history rebuilt from the database."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from agents import Agent, ItemHelpers, RunConfig, Runner
from agents.items import MessageOutputItem, ToolCallItem, ToolCallOutputItem
from agents.mcp import MCPServer

from chatapp.config import Settings
from chatapp.agent.models import select_model
from chatapp.agent.offline import parse_tool_output

INSTRUCTIONS = """You are a friendly assistant that manages the user's todo list.
Use the task tools for every change or question about tasks; never invent task ids.
When the user says "it" or "that", use the task most recently mentioned in the conversation.
Confirm what you did in one or two short sentences. Use Markdown lists for several tasks."""
MAX_AGENT_STEPS = 8


@dataclass
class ToolCallRecord:
    call_id: str
    tool_name: str
    parameters: dict[str, Any]
    result: Any = None


@dataclass
class AgentReply:
    text: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)


def build_agent(settings: Settings, tools: MCPServer) -> Agent:
    return Agent(name="Task assistant", instructions=INSTRUCTIONS, model=select_model(settings), mcp_servers=[tools])


def run_config() -> RunConfig:
    return RunConfig(workflow_name="chatapp turn", trace_include_sensitive_data=False)


def parse_arguments(arguments: str | None) -> dict[str, Any]:
    try:
        decoded = json.loads(arguments or "{}")
    except ValueError:
        return {"raw": arguments}
    return decoded if isinstance(decoded, dict) else {"value": decoded}


def collect_reply(new_items: list[Any], final_output: Any) -> AgentReply:
    calls: dict[str, ToolCallRecord] = {}
    for item in new_items:
        if isinstance(item, ToolCallItem):
            raw = item.raw_item
            call_id = getattr(raw, "call_id", None) or (raw.get("call_id") if isinstance(raw, dict) else None)
            name = getattr(raw, "name", None) or (raw.get("name") if isinstance(raw, dict) else "tool")
            arguments = getattr(raw, "arguments", None) or (raw.get("arguments") if isinstance(raw, dict) else None)
            call_id = call_id or f"call_{uuid.uuid4().hex}"
            calls[call_id] = ToolCallRecord(call_id, str(name), parse_arguments(arguments))
        elif isinstance(item, ToolCallOutputItem):
            raw = item.raw_item
            call_id = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
            if call_id in calls:
                calls[call_id].result = parse_tool_output(item.output)
    text = final_output if isinstance(final_output, str) else ""
    if not text:
        messages = [item for item in new_items if isinstance(item, MessageOutputItem)]
        if messages:
            text = ItemHelpers.text_message_output(messages[-1])
    return AgentReply(text=text, tool_calls=list(calls.values()))


async def run_assistant(settings: Settings, tools: MCPServer, history: list[dict[str, Any]]) -> AgentReply:
    result = await Runner.run(
        build_agent(settings, tools), input=history, max_turns=MAX_AGENT_STEPS, run_config=run_config()
    )
    return collect_reply(result.new_items, result.final_output)
