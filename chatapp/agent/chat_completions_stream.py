"""From a Chat Completions stream's bytes to the Responses events the Agents
SDK runner reads: `split_events` cuts the server-sent events apart and
`ChunkAssembler` turns the decoded chunks into the event sequence (created,
item/part added, deltas, part/item done, `response.completed` carrying the
full output and usage), coalescing deltas on the way. It does no I/O:
`chat_completions.ChatCompletionsModel` does the HTTP and the timing, and
its opening note says why this is done by hand and what is covered.

`ChunkAssembler` is one class of some 300 lines on purpose: its methods
share the open items' state, one state machine that would be harder to
follow spread over several files.
"""

from __future__ import annotations

import logging
from typing import Any

from agents.exceptions import AgentsException, ModelBehaviorError
from agents.items import TResponseOutputItem, TResponseStreamEvent
from agents.models.chatcmpl_helpers import ChatCmplHelpers
from agents.models.chatcmpl_stream_handler import ChatCmplStreamHandler
from agents.models.fake_id import FAKE_RESPONSES_ID
from agents.usage import _mark_request_completed_without_usage
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
from openai.types.responses.response_reasoning_item import Content, Summary

__all__ = ["CONTENT_FILTER_REFUSAL", "ChunkAssembler", "split_events"]

logger = logging.getLogger(__name__)

CONTENT_FILTER_REFUSAL = "Response withheld by the provider's content filter."


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
