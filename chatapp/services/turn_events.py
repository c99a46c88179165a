"""What a turn says while it runs: typed events every surface forwards.

REST drains them, `/chat/stream` and the resume route serialise them as
server-sent events, the web UI applies them to the page. Each has the SSE
`name` and the JSON `data` it carries; `decode` rebuilds one from the bus.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

import orjson

from chatapp.services.errors import ServiceError, failure_for


@dataclass(frozen=True, slots=True)
class UserMessageStored:
    """The turn has started: its user message is stored, its answer is
    `answer_id` (in progress)."""

    conversation_id: str
    message: dict[str, Any]
    answer_id: str
    name: ClassVar[str] = "user_message"

    @property
    def data(self) -> dict[str, Any]:
        return {"conversation_id": self.conversation_id, "message": self.message, "answer_id": self.answer_id}


@dataclass(frozen=True, slots=True)
class TextDelta:
    delta: str
    name: ClassVar[str] = "text_delta"

    @property
    def data(self) -> dict[str, Any]:
        return {"delta": self.delta}


@dataclass(frozen=True, slots=True)
class ToolStarted:
    call_id: str
    tool_name: str
    parameters: dict[str, Any]
    name: ClassVar[str] = "tool_call"

    @property
    def data(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "tool_name": self.tool_name, "parameters": self.parameters}


@dataclass(frozen=True, slots=True)
class ToolFinished:
    call_id: str
    tool_name: str
    result: Any
    name: ClassVar[str] = "tool_result"

    @property
    def data(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "tool_name": self.tool_name, "result": self.result}


@dataclass(frozen=True, slots=True)
class TurnDone:
    """The stored answer: `result` is exactly the `/chat` success body."""

    result: dict[str, Any]
    name: ClassVar[str] = "done"

    @property
    def data(self) -> dict[str, Any]:
        return self.result


@dataclass(frozen=True, slots=True)
class TurnFailed:
    """The answer is stored as failed (or, for a replay, was); `error` says
    why, in the same shape every surface reports."""

    error: ServiceError
    name: ClassVar[str] = "error"

    @property
    def data(self) -> dict[str, Any]:
        return self.error.body()


TurnEvent = UserMessageStored | TextDelta | ToolStarted | ToolFinished | TurnDone | TurnFailed
FINAL = (TurnDone, TurnFailed)


def to_json(value: Any) -> bytes:
    """orjson, since every streamed batch is encoded twice (for the bus and
    for its server-sent event) and the stdlib encoder costs a Python object
    per call; the stdlib for what orjson refuses (an integer beyond 64 bits,
    a lone surrogate), which it writes as escapes."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":")).encode()


def encode(event: TurnEvent) -> bytes:
    return to_json({"name": event.name, "data": event.data})


def decode(raw: str | bytes) -> TurnEvent:
    payload = json.loads(raw)
    name, data = payload["name"], payload["data"]
    if name == "user_message":
        return UserMessageStored(data["conversation_id"], data["message"], data["answer_id"])
    if name == "text_delta":
        return TextDelta(data["delta"])
    if name == "tool_call":
        return ToolStarted(data["call_id"], data["tool_name"], data["parameters"])
    if name == "tool_result":
        return ToolFinished(data["call_id"], data["tool_name"], data["result"])
    if name == "done":
        return TurnDone(data)
    return TurnFailed(failure_for(data.get("error_code"), data.get("conversation_id"), message=data.get("error")))


def server_sent_event(event: TurnEvent) -> bytes:
    return b"event: " + event.name.encode() + b"\ndata: " + to_json(event.data) + b"\n\n"
