"""The task assistant: an Agents SDK `Agent` whose only tools are the MCP
task server's, run on a window of history rebuilt from the database."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from agents import Agent, ItemHelpers, RunConfig, Runner
from agents.items import MessageOutputItem, ToolCallItem, ToolCallOutputItem
from openai.types.responses import ResponseTextDeltaEvent

from agents.models.interface import Model

from chatapp.agent import sdk_identity
from chatapp.agent.task_tools import TaskTools, TurnContext
from chatapp.agent.tool_output import parse_tool_output

sdk_identity.install()

INSTRUCTIONS = """You are a friendly assistant that manages the user's todo list.
Use the task tools for every change or question about tasks; never invent task ids.
When the user says "it" or "that", use the task most recently mentioned in the conversation.
Confirm what you did in one or two short sentences. Use Markdown lists for several tasks."""
MAX_AGENT_STEPS = 8


class EmptyReply(Exception):
    """The model answered with nothing: a failed turn, not an empty message."""


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


class Assistant:
    """The agent is data (instructions, model, tool schemas), identical for
    every turn: built once per worker, on its first turn, whose tool token
    fetches the tool list (/mcp is a protected resource, and the server is
    this same process, so it cannot be asked before it serves).

    Each run borrows a copy of its own (`lease`). The SDK guards against an
    agent's tools changing under concurrent runs by comparing every run of
    the same agent object with every other, at each step: with one shared
    agent a tool-list snapshot cost 2.2 µs per turn in flight (0.66 ms at
    300). Copies are kept and reused, so there are as many as the most runs
    at once. A run closed early gives its copy back as it cancels, so the
    next run may share it with the cancelled one's last steps for a moment:
    that costs a comparison, never a wrong answer (the SDK objects only to
    tools that change)."""

    def __init__(self, tools: TaskTools, model: Model) -> None:
        self.tools, self.model = tools, model
        self._agent: Agent[TurnContext] | None = None
        self._idle: list[Agent[TurnContext]] = []

    async def agent(self, context: TurnContext) -> Agent[TurnContext]:
        if self._agent is None:
            tools = await self.tools.function_tools(context.tool_token)
            self._agent = Agent(name="Task assistant", instructions=INSTRUCTIONS, model=self.model, tools=list(tools))
        return self._agent

    @asynccontextmanager
    async def lease(self, context: TurnContext) -> AsyncIterator[Agent[TurnContext]]:
        """A copy of the agent for one run, returned when the run ends."""
        if self._idle:
            agent = self._idle.pop()
        else:
            prototype = await self.agent(context)
            agent = prototype.clone(tools=list(prototype.tools))
        try:
            yield agent
        finally:
            self._idle.append(agent)


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
            call = tool_call_record(item)
            calls[call.call_id] = call
        elif isinstance(item, ToolCallOutputItem):
            call_id = output_call_id(item)
            if call_id in calls:
                calls[call_id].result = parse_tool_output(item.output)
    text = final_output if isinstance(final_output, str) else ""
    if not text:
        messages = [item for item in new_items if isinstance(item, MessageOutputItem)]
        if messages:
            text = ItemHelpers.text_message_output(messages[-1])
    if not text.strip() and not calls:
        raise EmptyReply("the model returned neither text nor a tool call")
    return AgentReply(text=text, tool_calls=list(calls.values()))


@dataclass
class TextDelta:
    text: str


@dataclass
class ToolStarted:
    call: ToolCallRecord


@dataclass
class ToolFinished:
    call: ToolCallRecord


AgentEvent = TextDelta | ToolStarted | ToolFinished | AgentReply


def tool_call_record(item: ToolCallItem) -> ToolCallRecord:
    raw = item.raw_item
    field_of = (lambda name: raw.get(name)) if isinstance(raw, dict) else (lambda name: getattr(raw, name, None))
    return ToolCallRecord(
        call_id=str(field_of("call_id") or f"call_{uuid.uuid4().hex}"),
        tool_name=str(field_of("name") or "tool"),
        parameters=parse_arguments(field_of("arguments")),
    )


def output_call_id(item: ToolCallOutputItem) -> str | None:
    raw = item.raw_item
    return raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)


async def stream_assistant(
    assistant: Assistant, context: TurnContext, history: list[dict[str, Any]]
) -> AsyncIterator[AgentEvent]:
    """The run as it happens: text deltas, each tool call as it starts and as
    it finishes, and last the complete `AgentReply`. Closing the iterator
    early cancels the run."""
    async with assistant.lease(context) as agent:
        result = Runner.run_streamed(
            agent, input=history, context=context, max_turns=MAX_AGENT_STEPS, run_config=run_config()
        )
        started: dict[str, ToolCallRecord] = {}
        try:
            async for event in result.stream_events():
                if event.type == "raw_response_event" and isinstance(event.data, ResponseTextDeltaEvent):
                    yield TextDelta(event.data.delta)
                elif event.type == "run_item_stream_event" and isinstance(event.item, ToolCallItem):
                    call = tool_call_record(event.item)
                    started[call.call_id] = call
                    yield ToolStarted(call)
                elif event.type == "run_item_stream_event" and isinstance(event.item, ToolCallOutputItem):
                    call_id = output_call_id(event.item)
                    if call_id in started:
                        started[call_id].result = parse_tool_output(event.item.output)
                        yield ToolFinished(started[call_id])
        finally:
            if not result.is_complete:
                result.cancel()
    yield collect_reply(result.new_items, result.final_output)
