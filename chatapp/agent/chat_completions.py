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

What it yields (assembled in `chat_completions_stream`, which has no I/O) is
the Responses event sequence the runner needs (created, item/part added,
deltas, part/item done, `response.completed` carrying the full output and
usage), like the SDK's `ChatCmplStreamHandler`. It covers
what a chat-completions provider streams for an agent: text, refusals, tool
calls, reasoning text (`reasoning_content` / `reasoning`, kept as a reasoning
item), usage and finish reasons (`content_filter` with no output becomes a
refusal, `length` with no output an error). Log probabilities, URL
annotations and Anthropic thinking blocks are not requested by chatapp and
are ignored.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import httpx2
import orjson
from agents.agent_output import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from agents.handoffs import Handoff
from agents.items import ModelResponse, TResponseInputItem, TResponseStreamEvent
from agents.model_settings import ModelSettings
from agents.models.chatcmpl_converter import Converter
from agents.models.chatcmpl_helpers import HEADERS, HEADERS_OVERRIDE, ChatCmplHelpers
from agents.models.fake_id import FAKE_RESPONSES_ID
from agents.models.interface import Model, ModelTracing
from agents.tool import Tool
from agents.usage import Usage
from openai import APIConnectionError, APIError, APITimeoutError, AsyncOpenAI, AsyncStream, Omit
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response
from openai.types.responses.response_prompt_param import ResponsePromptParam

from chatapp.agent.chat_completions_stream import CONTENT_FILTER_REFUSAL, ChunkAssembler, split_events

__all__ = ["ChatCompletionsModel"]

# Deltas arriving within this long of the last one sent travel as one event.
# A steady model (a token every 10-50 ms) gets an event per token; a fast
# one, or a burst the network delivered at once, a few events in all.
COALESCE_SECONDS = 0.005
# After [DONE], how long the rest of an HTTP/1.1 body may take to arrive, so
# the connection goes back to the pool instead of being closed.
DRAIN_SECONDS = 0.1


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
