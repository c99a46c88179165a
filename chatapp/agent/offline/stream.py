"""The Responses stream a real model sends for one output item, built by
hand so the Agents SDK runner streams the offline model like any other:
created, in_progress, item added, argument or text deltas, done events, then
response.completed carrying the full output (which is what the runner reads)."""

from __future__ import annotations

import copy
import re
from typing import cast

from agents.items import TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseInProgressEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)

__all__ = ["MODEL_NAME", "stream_events"]

MODEL_NAME = "offline-task-model"


def _text_chunks(text: str) -> list[str]:
    """Word-ish pieces (each word with its trailing whitespace) that
    concatenate back to exactly `text`."""
    return re.findall(r"\s*\S+\s*", text) or [text]


def _response(digest: str, output: list[TResponseOutputItem], *, completed: bool) -> Response:
    return Response(
        id=f"resp_{digest[:24]}",
        created_at=0,
        model=MODEL_NAME,
        object="response",
        output=output,
        tool_choice="auto",
        tools=[],
        top_p=None,
        parallel_tool_calls=False,
        status="completed" if completed else "in_progress",
    )


def _function_call_events(item: ResponseFunctionToolCall, seq: int) -> list[TResponseStreamEvent]:
    item_id = item.id or item.call_id
    return [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
            output_index=0,
            sequence_number=seq,
        ),
        ResponseFunctionCallArgumentsDeltaEvent(
            type="response.function_call_arguments.delta",
            item_id=item_id,
            output_index=0,
            delta=item.arguments,
            sequence_number=seq + 1,
        ),
        # `name` is required by older openai releases and kept as an extra by newer ones.
        ResponseFunctionCallArgumentsDoneEvent.model_validate(
            {
                "type": "response.function_call_arguments.done",
                "item_id": item_id,
                "output_index": 0,
                "arguments": item.arguments,
                "name": item.name,
                "sequence_number": seq + 2,
            }
        ),
    ]


def _message_events(item: ResponseOutputMessage, seq: int, *, word_by_word: bool) -> list[TResponseStreamEvent]:
    part = cast(ResponseOutputText, item.content[0])
    events: list[TResponseStreamEvent] = [
        ResponseOutputItemAddedEvent(
            type="response.output_item.added",
            item=item.model_copy(update={"content": [], "status": "in_progress"}),
            output_index=0,
            sequence_number=seq,
        ),
        ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=item.id,
            output_index=0,
            content_index=0,
            part=part.model_copy(update={"text": "", "annotations": [], "logprobs": []}),
            sequence_number=seq + 1,
        ),
    ]
    seq += 2
    for chunk in _text_chunks(part.text) if word_by_word else [part.text]:
        events.append(
            ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=item.id,
                output_index=0,
                content_index=0,
                delta=chunk,
                logprobs=[],
                sequence_number=seq,
            )
        )
        seq += 1
    events += [
        ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=item.id,
            output_index=0,
            content_index=0,
            text=part.text,
            logprobs=[],
            sequence_number=seq,
        ),
        ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=item.id,
            output_index=0,
            content_index=0,
            part=copy.deepcopy(part),
            sequence_number=seq + 1,
        ),
    ]
    return events


def stream_events(item: TResponseOutputItem, digest: str, *, word_by_word: bool = True) -> list[TResponseStreamEvent]:
    """The Responses stream a real model would send for one output item:
    created, in_progress, item added, argument or text deltas, done events,
    then response.completed carrying the full output (what the runner reads).
    Without `word_by_word` the text is one delta: what a reader gets when the
    whole reply has arrived by its next read."""
    pending = _response(digest, [], completed=False)
    events: list[TResponseStreamEvent] = [
        ResponseCreatedEvent(type="response.created", response=pending, sequence_number=0),
        ResponseInProgressEvent(
            type="response.in_progress", response=pending.model_copy(), sequence_number=1
        ),
    ]
    if isinstance(item, ResponseFunctionToolCall):
        events += _function_call_events(item, len(events))
    else:
        events += _message_events(cast(ResponseOutputMessage, item), len(events), word_by_word=word_by_word)
    events.append(
        ResponseOutputItemDoneEvent(
            type="response.output_item.done",
            item=copy.deepcopy(item),
            output_index=0,
            sequence_number=len(events),
        )
    )
    events.append(
        ResponseCompletedEvent(
            type="response.completed",
            response=_response(digest, [item], completed=True),
            sequence_number=len(events),
        )
    )
    return events
