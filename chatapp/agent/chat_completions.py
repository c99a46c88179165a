"""The model for OpenAI-compatible servers (llama.cpp, vLLM, Ollama, ...):
Chat Completions through the official client, streamed at a low CPU cost.

The SDK's `OpenAIChatCompletionsModel` spends about 0.3 ms of CPU per
streamed token (the client's line-by-line SSE decoder and a pydantic chunk
per token, then several pydantic events per token in the SDK's stream
handler) plus ~8 ms per call building the request. Every token a worker
streams is CPU it cannot spend on other turns, so this model:

- builds the request body from the SDK's own converter (`Converter`) and
  posts it with the official client (`client.post`), so authentication,
  headers, timeouts, `max_retries` and HTTP error mapping stay the client's;
- reads the raw response bytes itself, splits server-sent events and decodes
  each chunk with orjson into plain dicts;
- coalesces deltas: text (likewise tool-call arguments) arriving within 5 ms
  of the last delta sent is held and sent with the next one, so a fast
  model's tokens reach the runner, the turn bus and the browser in a few
  events while the concatenated text stays exact. (httpx hands the body
  over one HTTP chunk, i.e. one token, at a time even when a network read
  brought many, so a time window is what finds the batches.) A held delta
  waits for the next chunk or the end of the stream; a steady model, a
  token every 10-50 ms, gets an event per token.

What it yields is the Responses event sequence the runner needs (created,
item/part added, deltas, part/item done, `response.completed` carrying the
full output and usage), like the SDK's `ChatCmplStreamHandler`. It covers
what a chat-completions provider streams for an agent: text, refusals, tool
calls, reasoning text (`reasoning_content` / `reasoning`, kept as a reasoning
item), usage and finish reasons (`content_filter` with no output becomes a
refusal, `length` with no output an error). Log probabilities, URL
annotations and Anthropic thinking blocks are not requested by chatapp and
are ignored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import orjson
from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import AgentsException, ModelBehaviorError
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.chatcmpl_converter import Converter
from agents.models.chatcmpl_helpers import HEADERS, HEADERS_OVERRIDE, ChatCmplHelpers
from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler
from agents.models.fake_id import FAKE_RESPONSES_ID
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.usage import Usage, _mark_request_completed_without_usage
from openai import APIConnectionError, APIError, APITimeoutError, AsyncOpenAI, AsyncStream, Omit
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.completion_usage import CompletionUsage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
    ResponseReasoningItem,
    ResponseRefusalDeltaEvent,
    ResponseTextDeltaEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam
from openai.types.responses.response_reasoning_item import Content, Summary

__all__ = ["ChatCompletionsModel", "ChunkAssembler", "split_events"]

logger = logging.getLogger(__name__)

# Deltas arriving within this long of the last one sent travel as one event.
# A steady model (a token every 10-50 ms) gets an event per token; a fast
# one, or a burst the network delivered at once, a few events in all.
COALESCE_SECONDS = 0.005
CONTENT_FILTER_REFUSAL = "Response withheld by the provider's content filter."
# After [DONE], how long the rest of an HTTP/1.1 body may take to arrive, so
# the connection goes back to the pool instead of being closed.
DRAIN_SECONDS = 0.1


def split_events(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Server-sent events' `data` payloads complete in `buffer`, and the
    unfinished rest. Line ends are LF or CRLF (a lone CR is normalised by
    the caller); comments and `event:`/`id:`/`retry:` fields are skipped,
    as the official client does for chat completions."""
    blocks = buffer.split(b"\n\n")
    rest = blocks.pop()
    payloads = []
    for block in blocks:
        if block.startswith(b"data: ") and b"\n" not in block:  # the usual one-line event
            payloads.append(block[6:])
            continue
        data = [
            line[6:] if line.startswith(b"data: ") else line[5:]
            for line in block.split(b"\n")
            if line.startswith(b"data:")
        ]
        if data:
            payloads.append(b"\n".join(data))
    return payloads, rest


class ChunkAssembler:
    """Chat-completion chunks (decoded dicts) in, Responses events out.

    `feed` takes chunks; text and argument deltas of consecutive chunks for
    the same item are coalesced until `flush` (or until another kind of
    event has to be sent). `finish` closes the open items and returns the
    events ending in `response.completed`."""

    def __init__(self, response: Response, *, model: str, require_finish_reason: bool) -> None:
        self.response = response
        self.model = model
        self.require_finish_reason = require_finish_reason
        self.sequence = 0
        self.started = False
        self.usage: dict[str, Any] | None = None
        self.provider_data: dict[str, Any] = {"model": model}
        self.finish_reasons: set[str] = set()
        self.warned_choices = False
        # Output items in the order they started: ("message", None) or ("call", index).
        self.order: list[tuple[str, int | None]] = []
        self.text: list[str] | None = None  # None until a non-empty text delta arrives
        self.refusal: list[str] | None = None
        self.content_kinds: list[str] = []  # "text" / "refusal", in content-index order
        self.calls: dict[int, dict[str, Any]] = {}
        self.reasoning_summary: list[str] = []
        self.reasoning_text: list[str] = []
        # The delta being coalesced: (kind, key, parts); kind is "text", "refusal" or "arguments".
        self.pending: tuple[str, int | None, list[str]] | None = None

    # --- per read -------------------------------------------------------

    def feed(self, chunks: list[dict[str, Any]]) -> list[TResponseStreamEvent]:
        events: list[TResponseStreamEvent] = []
        for chunk in chunks:
            if not self.started:
                self.started = True
                events.append(self._event(ResponseCreatedEvent, type="response.created", response=self.response))
            usage = chunk.get("usage")
            if usage is not None:
                self.usage = usage
            choices = chunk.get("choices")
            if not choices:
                continue
            choice = self._first_choice(choices)
            if choice is None:
                continue
            finish = choice.get("finish_reason")
            if finish is not None:
                self.finish_reasons.add(finish)
            delta = choice.get("delta")
            if not delta:
                continue
            if chunk.get("id"):
                self.provider_data["response_id"] = chunk["id"]
            self._delta(delta, events)
        return events

    def flush(self) -> list[TResponseStreamEvent]:
        """The delta coalesced so far, as one event (or none)."""
        events: list[TResponseStreamEvent] = []
        self._flush(events)
        return events

    def _first_choice(self, choices: list[dict[str, Any]]) -> dict[str, Any] | None:
        if len(choices) > 1 or choices[0].get("index", 0) != 0:
            if not self.warned_choices:
                logger.warning("Streaming with several choices: only choice index 0 is used.")
                self.warned_choices = True
            return next((choice for choice in choices if choice.get("index", 0) == 0), None)
        return choices[0]

    def _delta(self, delta: dict[str, Any], events: list[TResponseStreamEvent]) -> None:
        if delta.get("audio"):
            raise AgentsException("Audio is not currently supported")
        reasoning = delta.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            self.reasoning_summary.append(reasoning)
        reasoning = delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            self.reasoning_text.append(reasoning)
        content = delta.get("content")
        if content:
            if self.text is None:
                self._open_part("text", events)
            self._pending("text", None, content, events)
        refusal = delta.get("refusal")
        if refusal:
            if self.refusal is None:
                self._open_part("refusal", events)
            self._pending("refusal", None, refusal, events)
        for call in delta.get("tool_calls") or ():
            self._tool_call_delta(call, events)

    def _pending(self, kind: str, key: int | None, piece: str, events: list[TResponseStreamEvent]) -> None:
        pending = self.pending
        if pending is not None and pending[0] == kind and pending[1] == key:
            pending[2].append(piece)
            return
        self._flush(events)
        self.pending = (kind, key, [piece])

    def _flush(self, events: list[TResponseStreamEvent]) -> None:
        """Emit the coalesced delta, if any, as one event."""
        if self.pending is None:
            return
        kind, key, parts = self.pending
        self.pending = None
        delta = "".join(parts)
        if kind == "text":
            assert self.text is not None
            self.text.append(delta)
            events.append(self._event(
                ResponseTextDeltaEvent, type="response.output_text.delta", item_id=FAKE_RESPONSES_ID,
                output_index=self._message_index(), content_index=self.content_kinds.index("text"),
                delta=delta, logprobs=[],
            ))
        elif kind == "refusal":
            assert self.refusal is not None
            self.refusal.append(delta)
            events.append(self._event(
                ResponseRefusalDeltaEvent, type="response.refusal.delta", item_id=FAKE_RESPONSES_ID,
                output_index=self._message_index(), content_index=self.content_kinds.index("refusal"),
                delta=delta,
            ))
        else:
            self.calls[key]["arguments"].append(delta)  # type: ignore[index]
            events.append(self._event(
                ResponseFunctionCallArgumentsDeltaEvent, type="response.function_call_arguments.delta",
                item_id=FAKE_RESPONSES_ID, output_index=self._index_of(("call", key)), delta=delta,
            ))

    def _open_part(self, kind: str, events: list[TResponseStreamEvent]) -> None:
        self._flush(events)
        if not self.content_kinds:
            self.order.append(("message", None))
            events.append(self._event(
                ResponseOutputItemAddedEvent, type="response.output_item.added", output_index=self._message_index(),
                item=self._message([], "in_progress"),
            ))
        self.content_kinds.append(kind)
        if kind == "text":
            self.text = []
            part: ResponseOutputText | ResponseOutputRefusal = ResponseOutputText(
                text="", type="output_text", annotations=[], logprobs=[]
            )
        else:
            self.refusal = []
            part = ResponseOutputRefusal(refusal="", type="refusal")
        events.append(self._event(
            ResponseContentPartAddedEvent, type="response.content_part.added", item_id=FAKE_RESPONSES_ID,
            output_index=self._message_index(), content_index=len(self.content_kinds) - 1, part=part,
        ))

    def _tool_call_delta(self, delta: dict[str, Any], events: list[TResponseStreamEvent]) -> None:
        index = delta.get("index", 0)
        if delta.get("type") == "custom":
            return  # the SDK's converter cannot run custom tool calls either
        call = self.calls.get(index)
        if call is None:
            call = self.calls[index] = {"id": "", "name": "", "arguments": [], "streaming": False}
        function = delta.get("function") or {}
        if delta.get("id"):
            call["id"] = ChatCmplHelpers.clean_gemini_tool_call_id(delta["id"], self.model)
        if function.get("name"):
            call["name"] = function["name"]
        if not call["streaming"] and call["id"] and call["name"]:
            self._flush(events)
            call["streaming"] = True
            self.order.append(("call", index))
            events.append(self._event(
                ResponseOutputItemAddedEvent, type="response.output_item.added",
                output_index=self._index_of(("call", index)), item=self._call_item(call, ""),
            ))
            # Arguments that came before the name and id are sent with the first delta.
            if call["arguments"]:
                earlier = "".join(call["arguments"])
                call["arguments"] = []
                self._pending("arguments", index, earlier, events)
        arguments = function.get("arguments")
        if arguments:
            if call["streaming"]:
                self._pending("arguments", index, arguments, events)
            else:
                call["arguments"].append(arguments)

    # --- the end of the stream -----------------------------------------

    def finish(self) -> list[TResponseStreamEvent]:
        events: list[TResponseStreamEvent] = []
        self._flush(events)
        produced = self.text is not None or self.refusal is not None or bool(self.calls)
        if "content_filter" in self.finish_reasons and not produced:
            self._open_part("refusal", events)
            self._pending("refusal", None, CONTENT_FILTER_REFUSAL, events)
            self._flush(events)
        if self.require_finish_reason and not self.finish_reasons:
            raise ModelBehaviorError("Chat Completions stream ended before receiving a finish_reason for choice 0.")
        if "length" in self.finish_reasons and not produced:
            raise ModelBehaviorError(
                "Chat Completions stream terminated with finish_reason='length' "
                "but produced no assistant text, tool call, or refusal."
            )
        outputs: list[TResponseOutputItem] = []
        reasoning = self._reasoning_item()
        if reasoning is not None:
            outputs.append(reasoning)
        for kind, index in self.order:
            if kind == "message":
                parts = self._content_parts()
                for content_index, part in enumerate(parts):
                    events.append(self._event(
                        ResponseContentPartDoneEvent, type="response.content_part.done", item_id=FAKE_RESPONSES_ID,
                        output_index=self._message_index(), content_index=content_index, part=part,
                    ))
                message = self._message(parts, "completed")
                events.append(self._event(
                    ResponseOutputItemDoneEvent, type="response.output_item.done",
                    output_index=self._message_index(), item=message,
                ))
                outputs.append(message)
            else:
                call = self.calls[index]  # type: ignore[index]
                item = self._call_item(call, "".join(call["arguments"]))
                events.append(self._event(
                    ResponseOutputItemDoneEvent, type="response.output_item.done",
                    output_index=self._index_of((kind, index)), item=item,
                ))
                outputs.append(item)
        # A call whose name or id never came is still handed to the runner
        # (which rejects an unknown tool), as the SDK's handler does.
        for index, call in self.calls.items():
            if not call["streaming"]:
                item = self._call_item(call, "".join(call["arguments"]))
                output_index = len(outputs)
                events.append(self._event(
                    ResponseOutputItemAddedEvent, type="response.output_item.added", output_index=output_index,
                    item=item,
                ))
                events.append(self._event(
                    ResponseOutputItemDoneEvent, type="response.output_item.done", output_index=output_index,
                    item=item,
                ))
                outputs.append(item)
        final = self.response.model_copy()
        final.output = outputs
        if self.usage is not None:
            final.usage = ChatCmplStreamHandler._build_response_usage(CompletionUsage.model_validate(self.usage))
        else:
            _mark_request_completed_without_usage(final)
        if not self.started:
            events.insert(0, self._event(ResponseCreatedEvent, type="response.created", response=self.response))
        events.append(self._event(ResponseCompletedEvent, type="response.completed", response=final))
        return events

    # --- building blocks -------------------------------------------------

    def _event(self, cls: Any, **fields: Any) -> Any:
        # Validated construction costs ~7 µs; the openai types' own
        # `model_construct` walks the type hints and costs ~90 µs.
        event = cls(sequence_number=self.sequence, **fields)
        self.sequence += 1
        return event

    def _index_of(self, key: tuple[str, int | None]) -> int:
        return self.order.index(key) + (1 if self.reasoning_summary or self.reasoning_text else 0)

    def _message_index(self) -> int:
        return self._index_of(("message", None))

    def _content_parts(self) -> list[ResponseOutputText | ResponseOutputRefusal]:
        parts: list[ResponseOutputText | ResponseOutputRefusal] = []
        for kind in self.content_kinds:
            if kind == "text":
                parts.append(ResponseOutputText(
                    text="".join(self.text or ()), type="output_text", annotations=[], logprobs=[]
                ))
            else:
                parts.append(ResponseOutputRefusal(refusal="".join(self.refusal or ()), type="refusal"))
        return parts

    def _message(self, content: list[Any], status: str) -> ResponseOutputMessage:
        message = ResponseOutputMessage(
            id=FAKE_RESPONSES_ID, content=content, role="assistant", type="message", status=status  # type: ignore[arg-type]
        )
        message.provider_data = dict(self.provider_data)  # type: ignore[attr-defined]
        return message

    def _call_item(self, call: dict[str, Any], arguments: str) -> ResponseFunctionToolCall:
        item = ResponseFunctionToolCall(
            id=FAKE_RESPONSES_ID, call_id=call["id"], name=call["name"], arguments=arguments, type="function_call"
        )
        item.provider_data = dict(self.provider_data)  # type: ignore[attr-defined]
        return item

    def _reasoning_item(self) -> ResponseReasoningItem | None:
        if not self.reasoning_summary and not self.reasoning_text:
            return None
        item = ResponseReasoningItem(
            id=FAKE_RESPONSES_ID,
            summary=[Summary(text="".join(self.reasoning_summary), type="summary_text")]
            if self.reasoning_summary else [],
            content=[Content(text="".join(self.reasoning_text), type="reasoning_text")]
            if self.reasoning_text else None,
            type="reasoning",
        )
        item.provider_data = dict(self.provider_data)  # type: ignore[attr-defined]
        return item


class ChatCompletionsModel(Model):
    """An Agents SDK `Model` on the Chat Completions API of any
    OpenAI-compatible server, through the official `AsyncOpenAI` client."""

    def __init__(self, model: str, openai_client: AsyncOpenAI) -> None:
        self.model = model
        self._client = openai_client

    # --- the request -------------------------------------------------------

    def _request(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        *,
        stream: bool,
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """The JSON body and the client's request options, with the same
        parameters the SDK's `OpenAIChatCompletionsModel` sends."""
        messages: list[Any] = Converter.items_to_messages(input, model=self.model, base_url=str(self._client.base_url))
        if system_instructions:
            messages.insert(0, {"content": system_instructions, "role": "system"})
        converted_tools = [Converter.tool_to_openai(tool) for tool in tools]
        converted_tools += [Converter.convert_handoff_tool(handoff) for handoff in handoffs]
        reasoning = model_settings.reasoning
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "tools": converted_tools or None,
            "temperature": model_settings.temperature,
            "top_p": model_settings.top_p,
            "frequency_penalty": model_settings.frequency_penalty,
            "presence_penalty": model_settings.presence_penalty,
            "max_tokens": model_settings.max_tokens,
            "tool_choice": Converter.convert_tool_choice(model_settings.tool_choice),
            "response_format": Converter.convert_response_format(output_schema),
            "parallel_tool_calls": model_settings.parallel_tool_calls if converted_tools else None,
            "stream": True if stream else None,
            "stream_options": ChatCmplHelpers.get_stream_options_param(self._client, model_settings, stream=stream),
            "store": ChatCmplHelpers.get_store_param(self._client, model_settings),
            "reasoning_effort": reasoning.effort if reasoning is not None else None,
            "verbosity": model_settings.verbosity,
            "top_logprobs": model_settings.top_logprobs,
            "logprobs": True if model_settings.top_logprobs is not None else None,
            "prompt_cache_retention": model_settings.prompt_cache_retention,
            "prompt_cache_options": model_settings.prompt_cache_options,
            "metadata": model_settings.metadata,
        }
        body = {key: value for key, value in body.items() if value is not None and not isinstance(value, Omit)}
        body.update(model_settings.extra_args or {})
        options: dict[str, Any] = {
            "headers": {**HEADERS, **(model_settings.extra_headers or {}), **(HEADERS_OVERRIDE.get() or {})},
            "security": {"bearer_auth": True},
        }
        if model_settings.extra_query:
            options["params"] = model_settings.extra_query
        if model_settings.extra_body:
            options["extra_json"] = model_settings.extra_body
        return body, options

    # --- not streamed ------------------------------------------------------

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
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
        **kwargs: Any,
    ) -> ModelResponse:
        body, options = self._request(
            system_instructions, input, model_settings, tools, output_schema, handoffs, stream=False
        )
        completion = await self._client.post(
            "/chat/completions", cast_to=ChatCompletion, body=body, options=options  # type: ignore[arg-type]
        )
        if not completion.choices:
            raise ModelBehaviorError("ChatCompletion response has no choices (possible provider error payload)")
        choice = completion.choices[0]
        message = choice.message
        if choice.finish_reason == "content_filter" and not (message.content or message.refusal or message.tool_calls):
            message.refusal = CONTENT_FILTER_REFUSAL
        if choice.finish_reason == "length" and not (message.content or message.refusal or message.tool_calls):
            raise ModelBehaviorError(
                "Chat Completions response terminated with finish_reason='length' "
                "but produced no assistant text, tool call, or refusal."
            )
        usage = (
            Usage(
                requests=1,
                input_tokens=completion.usage.prompt_tokens or 0,
                output_tokens=completion.usage.completion_tokens or 0,
                total_tokens=completion.usage.total_tokens or 0,
                input_tokens_details=completion.usage.prompt_tokens_details,  # type: ignore[arg-type]
                output_tokens_details=completion.usage.completion_tokens_details,  # type: ignore[arg-type]
            )
            if completion.usage is not None
            else Usage(requests=1)
        )
        output = Converter.message_to_output_items(
            message, provider_data={"model": self.model, "response_id": completion.id}
        )
        return ModelResponse(
            output=output, usage=usage, response_id=None, request_id=getattr(completion, "_request_id", None)
        )

    # --- streamed ------------------------------------------------------------

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
        previous_response_id: str | None = None,
        conversation_id: str | None = None,
        prompt: ResponsePromptParam | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[TResponseStreamEvent]:
        body, options = self._request(
            system_instructions, input, model_settings, tools, output_schema, handoffs, stream=True
        )
        # The client raises its own errors (status, timeout, connection) here,
        # before any byte of the body is read.
        stream = await self._client.post(
            "/chat/completions", cast_to=ChatCompletion, body=body, options=options,  # type: ignore[arg-type]
            stream=True, stream_cls=AsyncStream[ChatCompletionChunk],
        )
        http = stream.response
        assembler = ChunkAssembler(
            self._pending_response(model_settings, bool(body.get("tools"))),
            model=self.model,
            require_finish_reason=ChatCmplHelpers.is_openai(self._client),
        )
        request_id = http.headers.get("x-request-id")
        if request_id is not None:
            assembler.response._request_id = request_id
        done = False
        flushed = float("-inf")
        reader = _read(http)
        try:
            buffer = b""
            async for data in reader:
                buffer += data
                if b"\r" in buffer:
                    buffer = _lf_line_ends(buffer)
                payloads, buffer = split_events(buffer)
                chunks = []
                for payload in payloads:
                    if payload.startswith(b"[DONE]"):
                        done = True
                        break
                    chunk = orjson.loads(payload)
                    if isinstance(chunk, dict) and chunk.get("error"):
                        raise _stream_error(chunk["error"], http)
                    chunks.append(chunk)
                events = assembler.feed(chunks)
                now = time.monotonic()
                if events or now - flushed >= COALESCE_SECONDS:
                    events += assembler.flush()
                    flushed = now
                for event in events:
                    yield event
                if done:
                    break
            for event in assembler.finish():
                yield event
        finally:
            await reader.aclose()
            await _close(http, drain=done)

    def _pending_response(self, model_settings: ModelSettings, has_tools: bool) -> Response:
        tool_choice = model_settings.tool_choice if model_settings.tool_choice in ("auto", "required", "none") else "auto"
        return Response(
            id=FAKE_RESPONSES_ID, created_at=time.time(), model=self.model, object="response", output=[],
            tool_choice=tool_choice,  # type: ignore[arg-type]
            top_p=model_settings.top_p, temperature=model_settings.temperature, tools=[],
            parallel_tool_calls=bool(model_settings.parallel_tool_calls) if has_tools else False,
            reasoning=model_settings.reasoning,
        )


def _lf_line_ends(buffer: bytes) -> bytes:
    """CRLF and lone CR line ends as LF. A CR at the very end is kept as it
    is: its LF may come with the next read."""
    if buffer.endswith(b"\r"):
        return buffer[:-1].replace(b"\r\n", b"\n").replace(b"\r", b"\n") + b"\r"
    return buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


async def _read(http: httpx2.Response) -> AsyncIterator[bytes]:
    """The body as it arrives, one item per network read, with the client's
    error types for a timeout or a broken connection mid-stream."""
    try:
        async for data in http.aiter_bytes():
            yield data
    except httpx2.TimeoutException as error:
        raise APITimeoutError(request=http.request) from error
    except httpx2.RequestError as error:
        raise APIConnectionError(request=http.request) from error


def _stream_error(error: Any, http: httpx2.Response) -> APIError:
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or not message:
        message = "An error occurred during streaming"
    return APIError(message=message, request=http.request, body=error)


async def _close(http: httpx2.Response, *, drain: bool) -> None:
    """Give the connection back: after [DONE] on HTTP/1.1 read the rest of
    the body (the chunked terminator) briefly, so the pooled connection is
    reused; otherwise (an error, a stop) just close it."""
    with anyio.CancelScope(shield=True):
        if drain and http.http_version == "HTTP/1.1" and not http.is_closed:
            try:
                with anyio.move_on_after(DRAIN_SECONDS):
                    async for _ in http.stream:  # type: ignore[union-attr]
                        await anyio.lowlevel.checkpoint()
            except (httpx2.RequestError, httpx2.StreamConsumed):
                pass
        await http.aclose()
