"""The offline model as an Agents SDK `Model`: each call plans one step
with `plan_next_step` and answers it in the Responses format, streamed or
not. Ids come from a hash of the whole input, so replaying a history gives
the same ids and each later step (a longer input) gets new ones."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from agents.agent_output import AgentOutputSchemaBase
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.usage import Usage
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from chatapp.agent.offline.items import Item, normalize_input
from chatapp.agent.offline.planner import PlannedCall, Step, plan_next_step
from chatapp.agent.offline.stream import stream_events

__all__ = ["OfflineModel"]


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
    if isinstance(step, PlannedCall):
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


class OfflineModel(Model):
    """An Agents SDK `Model` that never leaves the process: it plans one
    step per call with `plan_next_step` and answers in Responses format.

    `stream_delay_ms` paces streamed text deltas like a real model's tokens
    (OFFLINE_STREAM_DELAY_MS), so streaming and Stop can be seen and tested;
    it is 0 by default. Unpaced, the reply is one delta, as the provider
    client (chatapp/agent/provider_http.py) hands over every token that
    arrived by its read as one piece: splitting an instant reply into words
    would cost the runner, the bus and the browser an event per word that
    nobody could see arrive."""

    def __init__(self, stream_delay_ms: int = 0, *, word_by_word: bool | None = None) -> None:
        self.stream_delay = max(stream_delay_ms, 0) / 1000
        # A delta per word when paced; a benchmark may ask for them unpaced.
        self.word_by_word = bool(self.stream_delay) if word_by_word is None else word_by_word

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
        for event in stream_events(item, digest, word_by_word=self.word_by_word):
            if self.stream_delay and isinstance(event, ResponseTextDeltaEvent):
                await asyncio.sleep(self.stream_delay)
            yield event
